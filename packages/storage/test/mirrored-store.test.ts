import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, FakeClock, VoxmeshError } from '@voxmesh/core';
import {
  FsBlobStore,
  MemoryBlobStore,
  MirroredBlobStore,
  StorageErrorCode,
} from '@voxmesh/storage';
import { FaultyBlobStore, blobStoreSuite } from '@voxmesh/storage/testing';

const root = mkdtempSync(join(tmpdir(), 'voxmesh-mirror-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const copies = [
  new MemoryBlobStore(),
  new FsBlobStore({ root }),
  new MemoryBlobStore({ chunkSize: 1000 }),
];
blobStoreSuite({
  test: it,
  name: 'MirroredBlobStore: ',
  factory: () => new MirroredBlobStore({ stores: copies }),
});

async function text(store: MirroredBlobStore | MemoryBlobStore, key: string): Promise<string> {
  const { body } = await store.get(key);
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString();
}

function setup(options: { minWrites?: number } = {}) {
  const clock = new FakeClock();
  const inner = [new MemoryBlobStore(), new MemoryBlobStore(), new MemoryBlobStore()];
  const faulty = inner.map((store) => new FaultyBlobStore({ inner: store }));
  const mirror = new MirroredBlobStore({ stores: faulty, clock, retryAfterMs: 1000, ...options });
  return { clock, inner, faulty, mirror };
}

describe('MirroredBlobStore', () => {
  it('writes every copy', async () => {
    const { inner, mirror } = setup();
    await mirror.put('t/a.wav', 'three copies', { contentType: 'audio/wav' });
    for (const store of inner) expect(await text(store, 't/a.wav')).toBe('three copies');
  });

  it('reads from the first healthy store and skips a failed one until retryAfterMs', async () => {
    const { clock, faulty, mirror } = setup();
    await mirror.put('t/a', 'x');
    faulty[0]!.fail();
    expect(await text(mirror, 't/a')).toBe('x');
    expect(mirror.isHealthy(0)).toBe(false);
    faulty[0]!.heal();
    const before = faulty[0]!.calls.get;
    expect(await text(mirror, 't/a')).toBe('x');
    expect(faulty[0]!.calls.get).toBe(before); // skipped while unhealthy
    clock.advance(1000);
    expect(mirror.isHealthy(0)).toBe(true);
    expect(await text(mirror, 't/a')).toBe('x');
    expect(faulty[0]!.calls.get).toBe(before + 1);
  });

  it('falls through to a copy that has the object when the first lacks it', async () => {
    const { inner, mirror } = setup();
    await inner[2]!.put('t/only-third', 'late copy');
    expect(await text(mirror, 't/only-third')).toBe('late copy');
    expect((await mirror.head('t/only-third')).size).toBe(9);
  });

  it('rejects with NOT_FOUND only when no store has the object', async () => {
    const { mirror } = setup();
    await expect(mirror.head('t/none')).rejects.toSatisfy((e) =>
      VoxmeshError.is(e, ErrorCode.NOT_FOUND),
    );
  });

  it('rejects reads with STORAGE_BACKEND_ERROR when every store fails', async () => {
    const { faulty, mirror } = setup();
    await mirror.put('t/a', 'x');
    for (const f of faulty) f.fail();
    await expect(mirror.get('t/a')).rejects.toSatisfy((e) =>
      VoxmeshError.is(e, StorageErrorCode.STORAGE_BACKEND_ERROR),
    );
  });

  it('fails a put below minWrites with MIRROR_WRITE_FAILED, succeeds at or above it', async () => {
    const strict = setup();
    strict.faulty[1]!.fail({ operations: ['put'] });
    await expect(strict.mirror.put('t/a', 'x')).rejects.toSatisfy(
      (e) => VoxmeshError.is(e, StorageErrorCode.MIRROR_WRITE_FAILED) && e.retryable,
    );
    const lenient = setup({ minWrites: 2 });
    lenient.faulty[1]!.fail({ operations: ['put'] });
    const info = await lenient.mirror.put('t/a', 'two of three');
    expect(info.size).toBe(12);
    expect(await text(lenient.inner[0]!, 't/a')).toBe('two of three');
    expect(await text(lenient.inner[2]!, 't/a')).toBe('two of three');
    await expect(lenient.inner[1]!.head('t/a')).rejects.toThrow(/No blob/);
  });

  it('keeps streaming to the other stores when one fails mid-upload', async () => {
    const { inner, faulty, mirror } = setup({ minWrites: 2 });
    let failAfter = 5;
    const failing = {
      supports: { signedUrls: false },
      put: async (_key: string, body: Readable) => {
        for await (const _chunk of body) if (--failAfter === 0) throw new Error('disk full');
        throw new Error('unreachable');
      },
    };
    const mixed = new MirroredBlobStore({
      stores: [faulty[0]!, failing as unknown as MemoryBlobStore, faulty[2]!],
      minWrites: 2,
    });
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(10_000, i));
    const info = await mixed.put('t/big', Readable.from(chunks));
    expect(info.size).toBe(500_000);
    expect((await inner[0]!.head('t/big')).size).toBe(500_000);
    expect((await inner[2]!.head('t/big')).size).toBe(500_000);
    expect(mirror.stores).toHaveLength(3);
  });

  it('deletes every copy and reports a store that could not delete', async () => {
    const { inner, faulty, mirror } = setup();
    await mirror.put('t/a', 'x');
    await mirror.delete('t/a');
    for (const store of inner) expect(store.size).toBe(0);
    await mirror.put('t/b', 'y');
    faulty[2]!.fail({ operations: ['delete'] });
    await expect(mirror.delete('t/b')).rejects.toSatisfy((e) =>
      VoxmeshError.is(e, StorageErrorCode.MIRROR_WRITE_FAILED),
    );
  });

  it('lists from the first healthy store', async () => {
    const { faulty, mirror } = setup();
    await mirror.put('t/1', 'a');
    await mirror.put('t/2', 'b');
    faulty[0]!.fail({ operations: ['list'] });
    const keys: string[] = [];
    for await (const entry of mirror.list({ prefix: 't/' })) keys.push(entry.key);
    expect(keys).toEqual(['t/1', 't/2']);
  });

  it('validates its options', () => {
    expect(() => new MirroredBlobStore({ stores: [] })).toThrow(TypeError);
    expect(() => new MirroredBlobStore({ stores: [new MemoryBlobStore()], minWrites: 2 })).toThrow(
      RangeError,
    );
  });
});
