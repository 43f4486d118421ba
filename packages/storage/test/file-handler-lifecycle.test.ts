import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock, Metrics, VoxmeshError } from '@voxmesh/core';
import { FileHandler, FsBlobStore } from '@voxmesh/storage';

const root = mkdtempSync(join(tmpdir(), 'voxmesh-fh-lifecycle-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const secret = 'lifecycle test secret, at least 32 bytes';

function status(url: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { method, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

describe('FileHandler lifecycle', () => {
  it('a client that disconnects mid-upload stores nothing, and the service keeps serving', async () => {
    const store = new FsBlobStore({ root: join(root, 'abort') });
    await using handler = new FileHandler({ store, secret });
    await handler.start();
    await store.put('t/keep.wav', 'original', { contentType: 'audio/wav' });
    const url = handler.signUrl({ method: 'PUT', tenant: 't', key: 'keep.wav' });
    await new Promise<void>((resolve) => {
      const req = request(url, {
        method: 'PUT',
        agent: false,
        headers: { 'Content-Type': 'audio/wav', 'Content-Length': String(10 * 1024 * 1024) },
      });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(256 * 1024, 1), () => {
        // Wait until the server is writing the temp file, then hang up.
        const poll = setInterval(() => {
          if (readdirSync(join(root, 'abort', 't')).some((n) => n.startsWith('.tmp-'))) {
            clearInterval(poll);
            req.destroy();
          }
        }, 5);
      });
    });
    // The upload's work ends once the store has cleaned up.
    for (let i = 0; i < 1000 && handler.inFlight > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(handler.inFlight).toBe(0);
    const chunks: Buffer[] = [];
    for await (const chunk of (await store.get('t/keep.wav')).body) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('original');
    expect(readdirSync(join(root, 'abort', 't')).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect(await status(handler.signUrl({ tenant: 't', key: 'keep.wav' }))).toBe(200);
  });

  it('drain lets a download in flight finish, then refuses new connections', async () => {
    const store = new FsBlobStore({ root: join(root, 'drain') });
    await store.put('t/big.wav', Buffer.alloc(8 * 1024 * 1024, 3), { contentType: 'audio/wav' });
    const handler = new FileHandler({ store, secret });
    await handler.start();
    const url = handler.signUrl({ tenant: 't', key: 'big.wav' });
    let drained: Promise<void> | undefined;
    const received = await new Promise<number>((resolve, reject) => {
      request(url, { agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.byteLength;
          if (drained === undefined) {
            drained = handler.drain();
            expect(handler.state).toBe('draining');
          }
        });
        res.on('end', () => resolve(bytes));
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    expect(received).toBe(8 * 1024 * 1024);
    await drained;
    expect(handler.state).toBe('stopped');
    await expect(status(url)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('mounted in another server before start, it answers 503 NOT_ACCEPTING_WORK', async () => {
    const handler = new FileHandler({
      store: new FsBlobStore({ root: join(root, 'idle') }),
      secret,
    });
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => void handler.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      expect(await status(`http://127.0.0.1:${port}/files/t/x.wav`)).toBe(503);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('counts requests by method and status on the injected registry', async () => {
    const metrics = new Metrics();
    await using handler = new FileHandler({
      store: new FsBlobStore({ root: join(root, 'metrics') }),
      secret,
      metrics,
    });
    await handler.start();
    await status(handler.signUrl({ tenant: 't', key: 'none.wav' }));
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/voxmesh_file_handler_requests_total\{method="GET",status="404"\} 1/);
  });

  it('accepts a URL signed for exactly maxUrlTtlMs at any fraction of a second', async () => {
    const clock = new FakeClock({ now: Date.UTC(2026, 10, 22, 1, 2, 3, 1) });
    const store = new FsBlobStore({ root: join(root, 'ttl') });
    await store.put('t/x.wav', 'x');
    await using handler = new FileHandler({ store, secret, clock, maxUrlTtlMs: 60_000 });
    await handler.start();
    for (const ms of [1, 500, 999]) {
      clock.setSystemTime(Date.UTC(2026, 10, 22, 1, 2, 3, ms));
      expect(
        await status(handler.signUrl({ tenant: 't', key: 'x.wav', expiresInMs: 60_000 })),
      ).toBe(200);
    }
  });

  it('refuses short secrets and bad options', () => {
    const store = new FsBlobStore({ root });
    expect(() => new FileHandler({ store, secret: 'short' })).toThrow(RangeError);
    expect(() => new FileHandler({ store, secret, basePath: 'no-slash' })).toThrow(TypeError);
    const handler = new FileHandler({ store, secret, maxUrlTtlMs: 1000 });
    expect(() => handler.signUrl({ tenant: 't', key: 'x', expiresInMs: 5000 })).toThrow(RangeError);
    expect(() => handler.signUrl({ tenant: 'a/b', key: 'x' })).toThrow(TypeError);
    try {
      handler.signUrl({ tenant: 't', key: '../x' });
      expect.unreachable();
    } catch (error) {
      expect(VoxmeshError.is(error, 'INVALID_KEY')).toBe(true);
    }
  });
});
