import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AbstractBlobStore,
  FileHandler,
  FsBlobStore,
  type BlobInfo,
  type BlobListEntry,
  type BlobObject,
  type NormalizedPut,
} from '@voxmesh/storage';

// Streaming end to end with backpressure: a 50 MB object never sits in memory.
// The doubles below count bytes at both ends of the FileHandler; if it
// buffered a whole body, the producer would run ~50 MB ahead of the consumer.
const SIZE = 50 * 1024 * 1024;
const CHUNK = 64 * 1024;
const MAX_GAP = 20 * 1024 * 1024; // socket buffers and stream high-water marks, far below SIZE

const info = (key: string): BlobInfo => ({
  key,
  size: SIZE,
  contentType: 'audio/wav',
  etag: '"fixed"',
  lastModified: new Date(0),
  metadata: {},
});

/** Produces a 50 MB object on demand and consumes uploads slowly, counting bytes. */
class CountingStore extends AbstractBlobStore {
  readonly supports = { signedUrls: false };
  produced = 0;
  received = 0;
  onReceive: (() => void) | undefined;

  protected _put(key: string, input: NormalizedPut): Promise<BlobInfo> {
    return (async () => {
      for await (const chunk of input.body) {
        this.received += (chunk as Buffer).byteLength;
        this.onReceive?.();
        await new Promise((r) => setImmediate(r)); // a slow backend
      }
      return { ...info(key), size: this.received };
    })();
  }

  protected _get(key: string): Promise<BlobObject> {
    const body = new Readable({
      highWaterMark: CHUNK,
      read: () => {
        if (this.produced >= SIZE) {
          body.push(null);
          return;
        }
        this.produced += CHUNK;
        body.push(Buffer.alloc(CHUNK, 1));
      },
    });
    return Promise.resolve({ info: info(key), range: undefined, body });
  }

  protected _head(key: string): Promise<BlobInfo> {
    return Promise.resolve(info(key));
  }

  protected _delete(): Promise<void> {
    return Promise.resolve();
  }

  // eslint-disable-next-line require-yield
  protected async *_list(): AsyncIterable<BlobListEntry> {
    await Promise.resolve();
  }
}

const secret = 'streaming test secret, 32 bytes or more';

describe('FileHandler streaming', () => {
  it('serves a 50 MB object to a slow client without running ahead of it', async () => {
    const store = new CountingStore();
    await using handler = new FileHandler({ store, secret });
    await handler.start();
    const url = handler.signUrl({ tenant: 't', key: 'big.wav' });
    let consumed = 0;
    let maxGap = 0;
    let chunks = 0;
    await new Promise<void>((resolve, reject) => {
      request(url, { agent: false }, (res) => {
        expect(res.statusCode).toBe(200);
        res.on('data', (chunk: Buffer) => {
          consumed += chunk.byteLength;
          chunks++;
          maxGap = Math.max(maxGap, store.produced - consumed);
          if (chunks % 16 === 0) {
            res.pause();
            setTimeout(() => res.resume(), 2); // a slow client
          }
        });
        res.on('end', resolve);
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    expect(consumed).toBe(SIZE);
    expect(store.produced).toBe(SIZE);
    expect(maxGap).toBeLessThan(MAX_GAP);
  });

  it('streams a 50 MB upload into a slow store without buffering it', async () => {
    const store = new CountingStore();
    await using handler = new FileHandler({ store, secret, maxUploadBytes: SIZE });
    await handler.start();
    const url = handler.signUrl({ method: 'PUT', tenant: 't', key: 'up.wav' });
    let sent = 0;
    let maxGap = 0;
    store.onReceive = () => {
      maxGap = Math.max(maxGap, sent - store.received);
    };
    async function* source(): AsyncGenerator<Buffer> {
      const chunk = Buffer.alloc(CHUNK, 2);
      while (sent < SIZE) {
        sent += CHUNK;
        maxGap = Math.max(maxGap, sent - store.received);
        yield chunk;
        await Promise.resolve();
      }
    }
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'PUT',
          agent: false,
          headers: { 'Content-Type': 'audio/wav', 'Content-Length': String(SIZE) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      pipeline(Readable.from(source()), req).catch(reject);
    });
    expect(status).toBe(200);
    expect(store.received).toBe(SIZE);
    expect(maxGap).toBeLessThan(MAX_GAP);
  });

  describe('over the filesystem', () => {
    const root = mkdtempSync(join(tmpdir(), 'voxmesh-streaming-'));
    afterAll(() => rmSync(root, { recursive: true, force: true }));

    it('round-trips 50 MB through PUT and GET byte for byte', async () => {
      const store = new FsBlobStore({ root, fsync: false });
      await using handler = new FileHandler({ store, secret, maxUploadBytes: SIZE });
      await handler.start();
      const sentHash = createHash('sha256');
      function* source(): Generator<Buffer> {
        for (let i = 0; i < SIZE / CHUNK; i++) {
          const chunk = Buffer.alloc(CHUNK, i % 251);
          sentHash.update(chunk);
          yield chunk;
        }
      }
      const put = handler.signUrl({ method: 'PUT', tenant: 't', key: 'rec/big.wav' });
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          put,
          { method: 'PUT', agent: false, headers: { 'Content-Type': 'audio/wav' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        pipeline(Readable.from(source()), req).catch(reject);
      });
      expect(status).toBe(201);
      const got = createHash('sha256');
      let size = 0;
      await new Promise<void>((resolve, reject) => {
        request(handler.signUrl({ tenant: 't', key: 'rec/big.wav' }), { agent: false }, (res) => {
          res.on('data', (chunk: Buffer) => {
            size += chunk.byteLength;
            got.update(chunk);
          });
          res.on('end', resolve);
          res.on('error', reject);
        })
          .on('error', reject)
          .end();
      });
      expect(size).toBe(SIZE);
      expect(got.digest('hex')).toBe(sentHash.digest('hex'));
    });
  });
});
