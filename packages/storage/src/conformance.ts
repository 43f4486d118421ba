/**
 * The conformance suite every {@link BlobStore} runs (exported from
 * `@voxmesh/storage/testing`). It only needs a `test(name, fn)` function —
 * vitest's `it`, node:test's `test`, tape — and uses `node:assert`.
 *
 * @module
 */

import {
  deepStrictEqual,
  equal,
  ok,
  rejects,
  strictEqual,
  notStrictEqual,
} from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ErrorCode, VoxmeshError } from '@voxmesh/core';
import type { BlobStore, BlobObject } from './blob-store.js';
import { StorageErrorCode } from './errors.js';

/** A test runner's `test` function (vitest `it`, node:test `test`, tape). */
export type SuiteTest = (name: string, fn: () => Promise<void>) => void;

/** Options of {@link blobStoreSuite}. */
export interface BlobStoreSuiteOptions {
  /** Registers one test. */
  test: SuiteTest;
  /**
   * Creates the store under test. Called once per test; the suite closes the
   * store after the test. Stores may share a backend: each test works under
   * its own random key prefix.
   */
  factory: () => BlobStore | Promise<BlobStore>;
  /**
   * The size of the large object (it should span several chunks or parts of
   * the backend's upload, e.g. more than one multipart part).
   * @defaultValue `3 * 1024 * 1024 + 17`
   */
  largeObjectBytes?: number | undefined;
  /**
   * Leaves out the test that concurrent puts to one key are atomic, for test
   * servers known not to be (s3rver writes objects in place). Register a
   * skipped test saying why instead.
   * @defaultValue `false`
   */
  skipConcurrentPuts?: boolean | undefined;
  /**
   * A prefix for the test names.
   * @defaultValue `'BlobStore: '`
   */
  name?: string | undefined;
}

function isCode(code: string): (error: unknown) => boolean {
  return (error) => {
    ok(
      VoxmeshError.is(error, code),
      `expected ${code}, got ${String((error as Error | undefined)?.stack ?? error)}`,
    );
    return true;
  };
}

async function readAll(
  object: BlobObject,
): Promise<{ bytes: Buffer; chunks: number; maxChunk: number }> {
  const parts: Buffer[] = [];
  let maxChunk = 0;
  for await (const chunk of object.body) {
    const bytes = chunk as Buffer;
    parts.push(bytes);
    maxChunk = Math.max(maxChunk, bytes.byteLength);
  }
  return { bytes: Buffer.concat(parts), chunks: parts.length, maxChunk };
}

async function getBytes(store: BlobStore, key: string): Promise<Buffer> {
  return (await readAll(await store.get(key))).bytes;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A deterministic pseudo-random body of `size` bytes, produced in 64 KiB chunks. */
function* pattern(size: number, seed = 1): Generator<Buffer> {
  let state = seed;
  let left = size;
  while (left > 0) {
    const n = Math.min(left, 65_536);
    const chunk = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      state = (state * 1_103_515_245 + 12_345) >>> 0;
      chunk[i] = state >>> 24;
    }
    left -= n;
    yield chunk;
  }
}

function patternBytes(size: number, seed = 1): Buffer {
  return Buffer.concat([...pattern(size, seed)]);
}

async function collectKeys(store: BlobStore, prefix: string, limit?: number): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of store.list({ prefix, limit })) keys.push(entry.key);
  return keys;
}

/**
 * Registers the conformance tests of the `BlobStore` contract.
 *
 * @example
 * ```ts
 * import { it } from 'vitest';
 * import { blobStoreSuite } from '@voxmesh/storage/testing';
 *
 * blobStoreSuite({ test: it, factory: () => new MyBlobStore({ ... }) });
 * ```
 */
export function blobStoreSuite(options: BlobStoreSuiteOptions): void {
  const { factory } = options;
  const name = options.name ?? 'BlobStore: ';
  const large = options.largeObjectBytes ?? 3 * 1024 * 1024 + 17;
  const test = (title: string, fn: (store: BlobStore, p: string) => Promise<void>): void => {
    options.test(name + title, async () => {
      const store = await factory();
      const p = `conformance-${randomBytes(6).toString('hex')}`;
      try {
        await fn(store, p);
      } finally {
        await store.close();
      }
    });
  };

  test('put then get and head return the bytes, content type, metadata and an entity tag', async (store, p) => {
    const key = `${p}/greeting.wav`;
    const info = await store.put(key, 'hello, world', {
      contentType: 'audio/wav',
      metadata: { tenant: 'demo', duration_ms: '1200' },
    });
    equal(info.key, key);
    equal(info.size, 12);
    equal(info.contentType, 'audio/wav');
    deepStrictEqual(info.metadata, { tenant: 'demo', duration_ms: '1200' });
    ok(/^"[^"]+"$/.test(info.etag), `etag ${info.etag} must be a quoted entity tag`);
    ok(info.lastModified instanceof Date && !Number.isNaN(info.lastModified.getTime()));
    const head = await store.head(key);
    equal(head.size, 12);
    equal(head.etag, info.etag);
    equal(head.contentType, 'audio/wav');
    deepStrictEqual(head.metadata, { tenant: 'demo', duration_ms: '1200' });
    const object = await store.get(key);
    equal(object.info.etag, info.etag);
    equal(object.info.size, 12);
    equal(object.range, undefined);
    equal((await readAll(object)).bytes.toString('utf8'), 'hello, world');
  });

  test('defaults the content type to application/octet-stream', async (store, p) => {
    await store.put(`${p}/x`, new Uint8Array([1, 2, 3]));
    equal((await store.head(`${p}/x`)).contentType, 'application/octet-stream');
  });

  test('streams a large object in and out in chunks', async (store, p) => {
    const key = `${p}/large.raw`;
    const expected = patternBytes(large, 7);
    const info = await store.put(key, Readable.from(pattern(large, 7)), {
      contentType: 'audio/basic',
    });
    equal(info.size, large);
    const { bytes, chunks, maxChunk } = await readAll(await store.get(key));
    equal(bytes.byteLength, large);
    equal(sha256(bytes), sha256(expected));
    ok(chunks > 1, `a ${large}-byte body must arrive in several chunks, got ${chunks}`);
    ok(maxChunk <= 1024 * 1024, `chunks must stay small, got one of ${maxChunk} bytes`);
  });

  test('accepts every body type: Readable, web ReadableStream, async iterable, bytes, string', async (store, p) => {
    const bytes = patternBytes(100_000, 3);
    const halves = [bytes.subarray(0, 50_000), bytes.subarray(50_000)];
    async function* iterable(): AsyncGenerator<Uint8Array> {
      await Promise.resolve();
      for (const half of halves) yield half;
    }
    await store.put(`${p}/readable`, Readable.from(halves));
    await store.put(
      `${p}/web`,
      Readable.toWeb(Readable.from(halves)) as ReadableStream<Uint8Array>,
    );
    await store.put(`${p}/iterable`, iterable());
    await store.put(`${p}/bytes`, new Uint8Array(bytes));
    await store.put(`${p}/string`, 'ünïcödé');
    for (const kind of ['readable', 'web', 'iterable', 'bytes']) {
      equal(sha256(await getBytes(store, `${p}/${kind}`)), sha256(bytes), kind);
    }
    equal((await getBytes(store, `${p}/string`)).toString('utf8'), 'ünïcödé');
  });

  test('stores empty objects', async (store, p) => {
    const info = await store.put(`${p}/empty`, Buffer.alloc(0));
    equal(info.size, 0);
    equal((await store.head(`${p}/empty`)).size, 0);
    equal((await getBytes(store, `${p}/empty`)).byteLength, 0);
    await rejects(
      store.get(`${p}/empty`, { range: { start: 0 } }),
      isCode(StorageErrorCode.RANGE_NOT_SATISFIABLE),
    );
  });

  test('reads absolute byte ranges, clipping the end to the object', async (store, p) => {
    const key = `${p}/ranged`;
    const bytes = patternBytes(200_000, 5);
    await store.put(key, bytes);
    const cases: [number, number | undefined, number, number][] = [
      [0, 0, 0, 0],
      [10, 19, 10, 19],
      [150_000, undefined, 150_000, 199_999],
      [199_999, 199_999, 199_999, 199_999],
      [190_000, 500_000, 190_000, 199_999],
      [1, 150_000, 1, 150_000],
    ];
    for (const [start, end, from, to] of cases) {
      const object = await store.get(key, { range: { start, end } });
      deepStrictEqual(object.range, { start: from, end: to }, `range ${start}-${String(end)}`);
      equal(object.info.size, 200_000, 'info.size is the whole object');
      const got = (await readAll(object)).bytes;
      ok(got.equals(bytes.subarray(from, to + 1)), `bytes of range ${start}-${String(end)}`);
    }
  });

  test('rejects ranges starting at or beyond the end with RANGE_NOT_SATISFIABLE', async (store, p) => {
    await store.put(`${p}/short`, 'abc');
    await rejects(
      store.get(`${p}/short`, { range: { start: 3 } }),
      isCode(StorageErrorCode.RANGE_NOT_SATISFIABLE),
    );
    await rejects(
      store.get(`${p}/short`, { range: { start: 1000, end: 2000 } }),
      isCode(StorageErrorCode.RANGE_NOT_SATISFIABLE),
    );
    await rejects(store.get(`${p}/short`, { range: { start: 2, end: 1 } }), RangeError);
    await rejects(store.get(`${p}/short`, { range: { start: -1 } }), RangeError);
  });

  test('overwrites atomically: new bytes, content type and entity tag', async (store, p) => {
    const key = `${p}/prompt`;
    const first = await store.put(key, 'first version', { contentType: 'text/plain' });
    const second = await store.put(key, 'second', {
      contentType: 'audio/wav',
      metadata: { v: '2' },
    });
    notStrictEqual(second.etag, first.etag);
    const head = await store.head(key);
    equal(head.etag, second.etag);
    equal(head.contentType, 'audio/wav');
    deepStrictEqual(head.metadata, { v: '2' });
    equal((await getBytes(store, key)).toString(), 'second');
  });

  if (options.skipConcurrentPuts !== true)
    test('concurrent puts to one key leave exactly one whole version', async (store, p) => {
      const key = `${p}/contended`;
      const a = patternBytes(300_000, 11);
      const b = patternBytes(300_000, 12);
      await Promise.all([
        store.put(key, Readable.from(pattern(300_000, 11))),
        store.put(key, Readable.from(pattern(300_000, 12))),
      ]);
      const got = sha256(await getBytes(store, key));
      ok(
        got === sha256(a) || got === sha256(b),
        'the object is one of the two versions, not a mixture',
      );
    });

  test('missing objects: head and get reject with NOT_FOUND, delete succeeds', async (store, p) => {
    await rejects(store.head(`${p}/missing`), isCode(ErrorCode.NOT_FOUND));
    await rejects(store.get(`${p}/missing`), isCode(ErrorCode.NOT_FOUND));
    await rejects(
      store.get(`${p}/missing`, { range: { start: 0, end: 1 } }),
      isCode(ErrorCode.NOT_FOUND),
    );
    await store.delete(`${p}/missing`);
  });

  test('delete removes an object', async (store, p) => {
    await store.put(`${p}/a/b/c`, 'x');
    await store.put(`${p}/a/keep`, 'y');
    await store.delete(`${p}/a/b/c`);
    await rejects(store.head(`${p}/a/b/c`), isCode(ErrorCode.NOT_FOUND));
    equal((await getBytes(store, `${p}/a/keep`)).toString(), 'y');
    deepStrictEqual(await collectKeys(store, `${p}/`), [`${p}/a/keep`]);
  });

  test('rejects invalid keys with INVALID_KEY and non-strings with TypeError', async (store, p) => {
    const bad = [
      '',
      '/abs',
      'trailing/',
      'a//b',
      `${p}/../escape`,
      '../escape',
      './x',
      'a/./b',
      'a\\b',
      '..\\..\\windows',
      'nul\u0000byte',
      'line\nfeed',
      'dot.',
      'x'.repeat(1025),
    ];
    for (const key of bad) {
      await rejects(store.put(key, 'x'), isCode(StorageErrorCode.INVALID_KEY), JSON.stringify(key));
      await rejects(store.get(key), isCode(StorageErrorCode.INVALID_KEY), JSON.stringify(key));
      await rejects(store.head(key), isCode(StorageErrorCode.INVALID_KEY), JSON.stringify(key));
      await rejects(store.delete(key), isCode(StorageErrorCode.INVALID_KEY), JSON.stringify(key));
    }
    await rejects(store.put(42 as unknown as string, 'x'), TypeError);
    deepStrictEqual(await collectKeys(store, p), []);
  });

  test('round-trips keys with spaces, punctuation, percent signs and non-ASCII', async (store, p) => {
    const keys = [
      `${p}/sub dir/file name (1).wav`,
      `${p}/ünïcödé/日本語.wav`,
      `${p}/percent%2F..%2Fencoded`,
      `${p}/a+b=c&d;e,f@g!h'i~j`,
      `${p}/a`,
      `${p}/a/b`,
      `${p}/.hidden/x.tmp-1`,
      `${p}/x.blob`,
    ];
    for (const [i, key] of keys.entries()) await store.put(key, `value ${i}`);
    for (const [i, key] of keys.entries())
      equal((await getBytes(store, key)).toString(), `value ${i}`, key);
    const listed = await collectKeys(store, `${p}/`);
    deepStrictEqual(new Set(listed), new Set(keys));
  });

  test('lists by prefix in ascending UTF-8 order, with sizes and entity tags, honouring limit', async (store, p) => {
    const keys = [
      `${p}/rec/2026/b.wav`,
      `${p}/rec/2026/a.wav`,
      `${p}/rec/2025/z.wav`,
      `${p}/recx`,
      `${p}/vm/1.wav`,
    ];
    const infos = new Map<string, string>();
    for (const key of keys) infos.set(key, (await store.put(key, key)).etag);
    const all = [];
    for await (const entry of store.list({ prefix: `${p}/rec` })) all.push(entry);
    deepStrictEqual(
      all.map((e) => e.key),
      [`${p}/rec/2025/z.wav`, `${p}/rec/2026/a.wav`, `${p}/rec/2026/b.wav`, `${p}/recx`],
    );
    for (const entry of all) {
      equal(entry.size, Buffer.byteLength(entry.key));
      equal(entry.etag, infos.get(entry.key));
      ok(entry.lastModified instanceof Date);
    }
    deepStrictEqual(await collectKeys(store, `${p}/rec/`), [
      `${p}/rec/2025/z.wav`,
      `${p}/rec/2026/a.wav`,
      `${p}/rec/2026/b.wav`,
    ]);
    deepStrictEqual(await collectKeys(store, `${p}/rec/2026/a`), [`${p}/rec/2026/a.wav`]);
    deepStrictEqual(await collectKeys(store, `${p}/rec`, 2), [
      `${p}/rec/2025/z.wav`,
      `${p}/rec/2026/a.wav`,
    ]);
    deepStrictEqual(await collectKeys(store, `${p}/none`), []);
  });

  test('rejects invalid metadata and content types with INVALID_INPUT', async (store, p) => {
    await rejects(
      store.put(`${p}/m`, 'x', { metadata: { 'Bad-Name': 'x' } }),
      isCode(ErrorCode.INVALID_INPUT),
    );
    await rejects(
      store.put(`${p}/m`, 'x', { metadata: { ok: 'line\nbreak' } }),
      isCode(ErrorCode.INVALID_INPUT),
    );
    await rejects(
      store.put(`${p}/m`, 'x', { metadata: { ok: 'x'.repeat(3000) } }),
      isCode(ErrorCode.INVALID_INPUT),
    );
    await rejects(
      store.put(`${p}/m`, 'x', { contentType: 'not a type' }),
      isCode(ErrorCode.INVALID_INPUT),
    );
    await rejects(
      store.put(`${p}/m`, 'x', { contentType: 'audio/wav\r\nX-Injected: 1' }),
      isCode(ErrorCode.INVALID_INPUT),
    );
    await rejects(store.head(`${p}/m`), isCode(ErrorCode.NOT_FOUND));
    equal(
      (await store.put(`${p}/m`, 'x', { contentType: 'audio/L16; rate=8000; channels=1' }))
        .contentType,
      'audio/L16; rate=8000; channels=1',
    );
  });

  test('a put whose body fails, or whose length differs from contentLength, stores nothing', async (store, p) => {
    const key = `${p}/failing`;
    await store.put(key, 'original');
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(70_000, 1);
      await Promise.resolve();
      throw new Error('microphone unplugged');
    }
    await rejects(store.put(key, broken()), /microphone unplugged/);
    await rejects(store.put(key, 'four', { contentLength: 5 }), isCode(ErrorCode.INVALID_INPUT));
    await rejects(
      store.put(`${p}/never`, 'four', { contentLength: 3 }),
      isCode(ErrorCode.INVALID_INPUT),
    );
    equal((await getBytes(store, key)).toString(), 'original');
    await rejects(store.head(`${p}/never`), isCode(ErrorCode.NOT_FOUND));
    equal((await store.put(`${p}/exact`, 'four', { contentLength: 4 })).size, 4);
  });

  test('an aborted put rejects with ABORTED and stores nothing', async (store, p) => {
    const key = `${p}/aborted`;
    await store.put(key, 'original');
    const already = new AbortController();
    already.abort(new Error('caller gave up'));
    await rejects(store.put(key, 'new', { signal: already.signal }), isCode(ErrorCode.ABORTED));
    const controller = new AbortController();
    async function* endless(): AsyncGenerator<Buffer> {
      for (let i = 0; ; i++) {
        if (i === 3) controller.abort(new Error('hang up'));
        yield Buffer.alloc(16_384, i);
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    await rejects(
      store.put(key, endless(), { signal: controller.signal }),
      isCode(ErrorCode.ABORTED),
    );
    await rejects(
      store.put(`${p}/fresh`, endless(), { signal: controller.signal }),
      isCode(ErrorCode.ABORTED),
    );
    equal((await getBytes(store, key)).toString(), 'original');
    await rejects(store.head(`${p}/fresh`), isCode(ErrorCode.NOT_FOUND));
    await rejects(store.head(key, { signal: already.signal }), isCode(ErrorCode.ABORTED));
    await rejects(store.get(key, { signal: already.signal }), isCode(ErrorCode.ABORTED));
  });

  test('signed URLs serve the object (or reject with NOT_SUPPORTED)', async (store, p) => {
    const key = `${p}/signed.wav`;
    await store.put(key, 'signed bytes', { contentType: 'audio/wav' });
    if (!store.supports.signedUrls) {
      await rejects(store.signedUrl(key), isCode(ErrorCode.NOT_SUPPORTED));
      return;
    }
    const url = await store.signedUrl(key, { expiresInSeconds: 60 });
    const response = await fetch(url);
    equal(response.status, 200);
    equal(await response.text(), 'signed bytes');
    const tampered = new URL(url);
    tampered.pathname = tampered.pathname.replace('signed.wav', 'other.wav');
    const denied = await fetch(tampered);
    ok(
      denied.status >= 400,
      `a URL signed for one key must not serve another (got ${denied.status})`,
    );
    await denied.arrayBuffer();
    await rejects(store.signedUrl(key, { expiresInSeconds: 0 }), RangeError);
  });

  test('get bodies can be destroyed early without leaking', async (store, p) => {
    const key = `${p}/partial`;
    await store.put(key, Readable.from(pattern(large, 9)));
    const object = await store.get(key);
    for await (const chunk of object.body) {
      ok((chunk as Buffer).byteLength > 0);
      break; // destroys the stream
    }
    // Some bodies (an HTTP response) close asynchronously after being destroyed.
    object.body.on('error', () => undefined);
    if (!object.body.closed) await new Promise((resolve) => object.body.once('close', resolve));
    strictEqual(object.body.destroyed, true);
    equal((await store.head(key)).size, large);
  });
}
