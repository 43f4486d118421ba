/**
 * HTTP tests of the {@link FileHandler} over a given {@link BlobStore}
 * (exported from `@voxmesh/storage/testing`): real requests on loopback
 * covering ranges, conditional requests, signed URLs (tampered, expired,
 * cross-tenant), traversal attempts, uploads and their limits.
 *
 * @module
 */

import { deepStrictEqual, equal, ok } from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { FakeClock } from '@voxmesh/core';
import type { BlobStore } from './blob-store.js';
import type { SuiteTest } from './conformance.js';
import { FileHandler, type FileHandlerOptions } from './file-handler.js';

/** Options of {@link fileHandlerSuite}. */
export interface FileHandlerSuiteOptions {
  /** Registers one test. */
  test: SuiteTest;
  /** Creates the store the FileHandler serves (once per test; closed after it). */
  factory: () => BlobStore | Promise<BlobStore>;
  /**
   * A prefix for the test names.
   * @defaultValue `'FileHandler: '`
   */
  name?: string | undefined;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP/1.1 request with a raw path (no normalisation), on a fresh connection. */
function send(
  base: string,
  options: {
    method?: string;
    path: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
  },
): Promise<Reply> {
  const url = new URL(base);
  return new Promise<Reply>((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function pathOf(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
}

function errorCode(reply: Reply): string | undefined {
  try {
    return (JSON.parse(reply.body.toString('utf8')) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

function expectError(reply: Reply, status: number, code: string | undefined, what: string): void {
  equal(
    reply.status,
    status,
    `${what}: status (body ${reply.body.toString('utf8').slice(0, 200)})`,
  );
  ok(
    String(reply.headers['content-type']).startsWith('application/json'),
    `${what}: JSON error body`,
  );
  if (code !== undefined) equal(errorCode(reply), code, `${what}: error code`);
}

/**
 * Registers HTTP tests of the FileHandler serving the store from `factory`.
 *
 * @example
 * ```ts
 * fileHandlerSuite({ test: it, factory: () => new MyBlobStore({ ... }) });
 * ```
 */
export function fileHandlerSuite(options: FileHandlerSuiteOptions): void {
  const name = options.name ?? 'FileHandler: ';
  type Ctx = {
    handler: FileHandler;
    clock: FakeClock;
    base: string;
    a: string;
    b: string;
    store: BlobStore;
  };
  const test = (
    title: string,
    fn: (ctx: Ctx) => Promise<void>,
    extra: Partial<FileHandlerOptions> = {},
  ): void => {
    options.test(name + title, async () => {
      const store = await options.factory();
      const clock = new FakeClock({ now: Date.UTC(2026, 10, 22, 12, 0, 0) });
      const handler = new FileHandler({
        store,
        secret: 'test secret of at least thirty-two bytes!',
        clock,
        maxUploadBytes: 1024 * 1024,
        ...extra,
      });
      await handler.start();
      const run = randomBytes(4).toString('hex');
      try {
        await fn({
          handler,
          clock,
          base: handler.url as string,
          a: `tenant-a-${run}`,
          b: `tenant-b-${run}`,
          store,
        });
      } finally {
        await handler.stop();
        await store.close();
      }
    });
  };

  const upload = async (
    ctx: Ctx,
    tenant: string,
    key: string,
    body: Buffer | string,
    type = 'audio/wav',
  ): Promise<Reply> =>
    send(ctx.base, {
      method: 'PUT',
      path: pathOf(ctx.handler.signUrl({ method: 'PUT', tenant, key })),
      headers: { 'Content-Type': type },
      body,
    });
  const get = (
    ctx: Ctx,
    tenant: string,
    key: string,
    headers: Record<string, string> = {},
  ): Promise<Reply> =>
    send(ctx.base, { path: pathOf(ctx.handler.signUrl({ tenant, key })), headers });

  test('uploads with a signed PUT, then serves GET and HEAD with type, length, ETag and Last-Modified', async (ctx) => {
    const body = randomBytes(5000);
    const created = await upload(ctx, ctx.a, 'prompts/welcome.wav', body);
    equal(created.status, 201, created.body.toString());
    const json = JSON.parse(created.body.toString()) as { key: string; size: number; etag: string };
    equal(json.key, 'prompts/welcome.wav');
    equal(json.size, 5000);
    const reply = await get(ctx, ctx.a, 'prompts/welcome.wav');
    equal(reply.status, 200);
    ok(reply.body.equals(body), 'served bytes equal the upload');
    equal(reply.headers['content-type'], 'audio/wav');
    equal(reply.headers['content-length'], '5000');
    equal(reply.headers['accept-ranges'], 'bytes');
    equal(reply.headers.etag, json.etag);
    ok(!Number.isNaN(Date.parse(String(reply.headers['last-modified']))));
    const head = await send(ctx.base, {
      method: 'HEAD',
      path: pathOf(ctx.handler.signUrl({ tenant: ctx.a, key: 'prompts/welcome.wav' })),
    });
    equal(head.status, 200);
    equal(head.headers['content-length'], '5000');
    equal(head.body.byteLength, 0);
    const replaced = await upload(ctx, ctx.a, 'prompts/welcome.wav', 'new', 'audio/mpeg');
    equal(replaced.status, 200, 'replacing an object answers 200');
    equal((await get(ctx, ctx.a, 'prompts/welcome.wav')).headers['content-type'], 'audio/mpeg');
  });

  test('serves single byte ranges, resolving suffix ranges itself (206, Content-Range)', async (ctx) => {
    const body = randomBytes(10_000);
    await upload(ctx, ctx.a, 'rec.wav', body);
    const cases: [string, number, number][] = [
      ['bytes=0-9', 0, 9],
      ['bytes=9990-', 9990, 9999],
      ['bytes=100-199', 100, 199],
      ['bytes=-500', 9500, 9999],
      ['bytes=-20000', 0, 9999],
      ['bytes=9000-20000', 9000, 9999],
      ['bytes = 5 - 5', 5, 5],
    ];
    for (const [range, start, end] of cases) {
      const reply = await get(ctx, ctx.a, 'rec.wav', { Range: range });
      equal(reply.status, 206, range);
      equal(reply.headers['content-range'], `bytes ${start}-${end}/10000`, range);
      equal(reply.headers['content-length'], String(end - start + 1), range);
      ok(reply.body.equals(body.subarray(start, end + 1)), `bytes of ${range}`);
    }
  });

  test('answers 416 with Content-Range bytes */size, and ignores ranges it does not serve', async (ctx) => {
    const body = randomBytes(1000);
    await upload(ctx, ctx.a, 'r.wav', body);
    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
      const reply = await get(ctx, ctx.a, 'r.wav', { Range: range });
      expectError(reply, 416, 'RANGE_NOT_SATISFIABLE', range);
      equal(reply.headers['content-range'], 'bytes */1000', range);
    }
    for (const range of [
      'bytes=0-1,5-6',
      'bytes=abc',
      'items=0-5',
      'bytes=9-2',
      'bytes=',
      'bytes=--5',
    ]) {
      const reply = await get(ctx, ctx.a, 'r.wav', { Range: range });
      equal(reply.status, 200, `${range} is ignored`);
      ok(reply.body.equals(body), `${range}: whole body`);
    }
    await upload(ctx, ctx.a, 'empty.wav', '');
    const empty = await get(ctx, ctx.a, 'empty.wav', { Range: 'bytes=0-' });
    expectError(empty, 416, 'RANGE_NOT_SATISFIABLE', 'range of an empty object');
    equal(empty.headers['content-range'], 'bytes */0');
    const whole = await get(ctx, ctx.a, 'empty.wav');
    equal(whole.status, 200);
    equal(whole.body.byteLength, 0);
  });

  test('honours If-Range, If-None-Match and If-Match', async (ctx) => {
    const body = randomBytes(2000);
    const etag = (
      JSON.parse((await upload(ctx, ctx.a, 'c.wav', body)).body.toString()) as { etag: string }
    ).etag;
    const matching = await get(ctx, ctx.a, 'c.wav', { Range: 'bytes=0-9', 'If-Range': etag });
    equal(matching.status, 206);
    const stale = await get(ctx, ctx.a, 'c.wav', { Range: 'bytes=0-9', 'If-Range': '"stale"' });
    equal(stale.status, 200, 'a stale If-Range sends the whole object');
    equal(stale.body.byteLength, 2000);
    const weak = await get(ctx, ctx.a, 'c.wav', { Range: 'bytes=0-9', 'If-Range': `W/${etag}` });
    equal(weak.status, 200, 'If-Range needs a strong match');
    const oldDate = await get(ctx, ctx.a, 'c.wav', {
      Range: 'bytes=0-9',
      'If-Range': 'Thu, 01 Jan 1970 00:00:00 GMT',
    });
    equal(oldDate.status, 200);
    const notModified = await get(ctx, ctx.a, 'c.wav', { 'If-None-Match': `"other", ${etag}` });
    equal(notModified.status, 304);
    equal(notModified.body.byteLength, 0);
    const modified = await get(ctx, ctx.a, 'c.wav', { 'If-None-Match': '"other"' });
    equal(modified.status, 200);
    const failed = await get(ctx, ctx.a, 'c.wav', { 'If-Match': '"other"' });
    expectError(failed, 412, 'PRECONDITION_FAILED', 'If-Match');
  });

  test('rejects tampered, altered, misused and expired signatures', async (ctx) => {
    await upload(ctx, ctx.a, 'v.wav', 'voicemail');
    const url = new URL(ctx.handler.signUrl({ tenant: ctx.a, key: 'v.wav', expiresInMs: 60_000 }));
    const sig = url.searchParams.get('signature') as string;
    const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    const variants: [string, string, number, string][] = [
      [
        'tampered signature',
        `${url.pathname}?expires=${url.searchParams.get('expires')}&signature=${flipped}`,
        403,
        'SIGNATURE_INVALID',
      ],
      [
        'extended expiry',
        `${url.pathname}?expires=${Number(url.searchParams.get('expires')) + 60}&signature=${sig}`,
        403,
        'SIGNATURE_INVALID',
      ],
      [
        'other key',
        `${url.pathname.replace('v.wav', 'w.wav')}${url.search}`,
        403,
        'SIGNATURE_INVALID',
      ],
      [
        'other tenant',
        `${url.pathname.replace(ctx.a, ctx.b)}${url.search}`,
        403,
        'SIGNATURE_INVALID',
      ],
      [
        'truncated signature',
        `${url.pathname}?expires=${url.searchParams.get('expires')}&signature=${sig.slice(0, 20)}`,
        403,
        'SIGNATURE_INVALID',
      ],
      [
        'missing signature',
        `${url.pathname}?expires=${url.searchParams.get('expires')}`,
        403,
        'SIGNATURE_INVALID',
      ],
      ['no credentials', url.pathname, 401, 'ACCESS_DENIED'],
    ];
    for (const [what, path, status, code] of variants) {
      expectError(await send(ctx.base, { path }), status, code, what);
    }
    const asPut = await send(ctx.base, {
      method: 'PUT',
      path: pathOf(url.href),
      headers: { 'Content-Type': 'audio/wav' },
      body: 'x',
    });
    expectError(asPut, 403, 'SIGNATURE_INVALID', 'a GET signature used for PUT');
    const asDelete = await send(ctx.base, { method: 'DELETE', path: pathOf(url.href) });
    expectError(asDelete, 403, 'SIGNATURE_INVALID', 'a GET signature used for DELETE');
    const putUrl = ctx.handler.signUrl({ method: 'PUT', tenant: ctx.a, key: 'v.wav' });
    expectError(
      await send(ctx.base, { path: pathOf(putUrl) }),
      403,
      'SIGNATURE_INVALID',
      'a PUT signature used for GET',
    );
    equal((await send(ctx.base, { path: pathOf(url.href) })).status, 200, 'the genuine URL works');
    ctx.clock.advance(61_000);
    expectError(
      await send(ctx.base, { path: pathOf(url.href) }),
      403,
      'SIGNATURE_EXPIRED',
      'expired',
    );
  });

  test(
    'rejects URLs expiring beyond maxUrlTtlMs even when correctly signed',
    async (ctx) => {
      await upload(ctx, ctx.a, 'long.wav', 'x');
      const lenient = new FileHandler({
        store: ctx.store,
        secret: 'test secret of at least thirty-two bytes!',
        clock: ctx.clock,
        maxUrlTtlMs: 86_400_000,
      });
      const longLived = lenient.signUrl({
        tenant: ctx.a,
        key: 'long.wav',
        expiresInMs: 86_400_000,
      });
      expectError(
        await send(ctx.base, { path: pathOf(`http://x${longLived}`) }),
        403,
        'SIGNATURE_INVALID',
        'too long-lived',
      );
    },
    { maxUrlTtlMs: 600_000 },
  );

  test(
    'isolates tenants: a URL or credential of tenant A never yields tenant B’s object',
    async (ctx) => {
      await upload(ctx, ctx.a, 'secret.wav', 'A’s recording');
      await upload(ctx, ctx.b, 'secret.wav', 'B’s recording');
      equal((await get(ctx, ctx.a, 'secret.wav')).body.toString(), 'A’s recording');
      equal((await get(ctx, ctx.b, 'secret.wav')).body.toString(), 'B’s recording');
      const tokenA = { Authorization: `Bearer token-of-${ctx.a}` };
      equal(
        (
          await send(ctx.base, { path: `/files/${ctx.a}/secret.wav`, headers: tokenA })
        ).body.toString(),
        'A’s recording',
      );
      expectError(
        await send(ctx.base, { path: `/files/${ctx.b}/secret.wav`, headers: tokenA }),
        401,
        'ACCESS_DENIED',
        'token of A on B',
      );
    },
    {
      authorize: ({ tenant, request }) =>
        request.headers.authorization === `Bearer token-of-${tenant}`,
    },
  );

  test(
    'rejects path traversal, encoded or not, with 400 and a JSON body',
    async (ctx) => {
      await upload(ctx, ctx.b, 'secret.wav', 'B’s recording');
      const a = ctx.a;
      const b = ctx.b;
      const attempts = [
        `/files/${a}/../${b}/secret.wav`,
        `/files/${a}/%2e%2e/${b}/secret.wav`,
        `/files/${a}/%2E%2E/%2E%2E/etc/passwd`,
        `/files/${a}/..%2f${b}%2fsecret.wav`,
        `/files/${a}/..%2F..%2F${b}%2Fsecret.wav`,
        `/files/${a}/..%5c${b}%5csecret.wav`,
        `/files/${a}/..\\${b}\\secret.wav`,
        `/files/${a}/./secret.wav`,
        `/files/${a}//secret.wav`,
        `/files/${a}/secret.wav%00.txt`,
        `/files/${a}/%ZZ`,
        `/files/${a}/`,
        `/files/${a}`,
        `/files/../${b}/secret.wav`,
        `/files/%2e%2e/${b}/secret.wav`,
        `/files/${a}%2f..%2f${b}/secret.wav`,
        `/files/.%2e/${b}/secret.wav`,
      ];
      for (const path of attempts) {
        const reply = await send(ctx.base, { path, headers: { Authorization: 'Bearer any' } });
        expectError(reply, 400, 'INVALID_KEY', path);
        ok(!reply.body.toString().includes('B’s recording'), `${path} must not leak`);
      }
      expectError(
        await send(ctx.base, { path: '/elsewhere/x' }),
        404,
        'NOT_FOUND',
        'outside basePath',
      );
    },
    { authorize: () => true },
  );

  test('limits uploads: Content-Length and streamed size (413), content types (415)', async (ctx) => {
    await upload(ctx, ctx.a, 'keep.wav', 'original');
    const putPath = pathOf(ctx.handler.signUrl({ method: 'PUT', tenant: ctx.a, key: 'keep.wav' }));
    const announced = await send(ctx.base, {
      method: 'PUT',
      path: putPath,
      headers: {
        'Content-Type': 'audio/wav',
        'Content-Length': String(2 * 1024 * 1024),
        Expect: '100-continue',
      },
    });
    expectError(announced, 413, 'UPLOAD_TOO_LARGE', 'announced oversize');
    const streamed = await new Promise<Reply>((resolve, reject) => {
      const url = new URL(ctx.base);
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          method: 'PUT',
          path: putPath,
          agent: false,
          headers: { 'Content-Type': 'audio/wav', 'Transfer-Encoding': 'chunked' },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(parts),
            }),
          );
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 7);
      for (let i = 0; i < 24; i++) req.write(chunk); // 1.5 MiB, chunked, no Content-Length
      req.end();
    });
    expectError(streamed, 413, 'UPLOAD_TOO_LARGE', 'streamed oversize');
    equal(
      (await get(ctx, ctx.a, 'keep.wav')).body.toString(),
      'original',
      'a refused upload keeps the old object',
    );
    expectError(
      await upload(ctx, ctx.a, 'x.exe', 'MZ', 'application/x-msdownload'),
      415,
      'CONTENT_TYPE_NOT_ALLOWED',
      'exe',
    );
    const noType = await send(ctx.base, {
      method: 'PUT',
      path: pathOf(ctx.handler.signUrl({ method: 'PUT', tenant: ctx.a, key: 'n.wav' })),
      body: 'x',
    });
    expectError(noType, 415, 'CONTENT_TYPE_NOT_ALLOWED', 'no content type');
    equal(
      (await upload(ctx, ctx.a, 'p.wav', 'x', 'Audio/WAV; codec=1')).status,
      201,
      'types compare without parameters, case-insensitively',
    );
    expectError(await get(ctx, ctx.a, 'n.wav'), 404, 'NOT_FOUND', 'nothing stored');
  });

  test('deletes with a signed DELETE; missing objects get 404', async (ctx) => {
    await upload(ctx, ctx.a, 'd.wav', 'x');
    const del = pathOf(ctx.handler.signUrl({ method: 'DELETE', tenant: ctx.a, key: 'd.wav' }));
    equal((await send(ctx.base, { method: 'DELETE', path: del })).status, 204);
    expectError(await get(ctx, ctx.a, 'd.wav'), 404, 'NOT_FOUND', 'after delete');
    expectError(
      await send(ctx.base, { method: 'DELETE', path: del }),
      404,
      'NOT_FOUND',
      'delete again',
    );
    const head = await send(ctx.base, {
      method: 'HEAD',
      path: pathOf(ctx.handler.signUrl({ tenant: ctx.a, key: 'd.wav' })),
    });
    equal(head.status, 404);
    equal(head.body.byteLength, 0, 'HEAD has no body');
  });

  test('answers other methods with 405 and Allow', async (ctx) => {
    const reply = await send(ctx.base, {
      method: 'POST',
      path: `/files/${ctx.a}/x.wav`,
      body: 'x',
    });
    expectError(reply, 405, 'METHOD_NOT_ALLOWED', 'POST');
    deepStrictEqual(reply.headers.allow, 'GET, HEAD, PUT, DELETE');
  });
}
