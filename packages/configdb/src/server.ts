/**
 * The HTTP face of a replica and the discovery endpoint.
 *
 * ```text
 * GET    /v1/shards                          the shard map (discovery)
 * GET    /v1/kv?key=K                        { value } or 404
 * PUT    /v1/kv?key=K        { value }       WriteResult
 * DELETE /v1/kv?key=K                        WriteResult
 * POST   /v1/batch           { operations }  WriteResult
 * GET    /v1/list?prefix=P                   { entries: [[k, v], ...] }
 * GET    /v1/snapshot?prefix=P               { epoch, cursor, state: [[k, v], ...] }
 * GET    /v1/changes?prefix=&cursor=&epoch=&progressIntervalMs=
 *                                            NDJSON: one ChangeEvent per line; a
 *                                            final { error } line if the feed fails
 * ```
 *
 * Errors are `{ error: { code, message, retryable } }` with a matching status
 * (400 INVALID_INPUT, 401 UNAUTHORIZED, 404 NOT_FOUND, 409 EPOCH_MISMATCH,
 * 410 COMPACTED, 503 UNAVAILABLE).
 *
 * @module
 */

import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { ErrorCode, type Logger, Service, VoxmeshError, silentLogger } from '@voxmesh/core';
import { ConfigDbErrorCode } from './errors.js';
import type { ShardMap } from './shard-map.js';
import type { BatchOperation, ChangeEvent, ConfigBackend } from './types.js';

/** Options of the {@link ConfigServer} constructor. */
export interface ConfigServerOptions {
  /**
   * The store served under `/v1/kv`, `/v1/changes`, ...
   * @defaultValue none (discovery only)
   */
  backend?: ConfigBackend | undefined;
  /**
   * The shard map served at `/v1/shards` (a function is called per request,
   * so the map can change).
   * @defaultValue none (404)
   */
  shardMap?: ShardMap | (() => ShardMap) | undefined;
  /**
   * A bearer token clients must send (`Authorization: Bearer <token>`).
   * @defaultValue no authentication
   */
  token?: string | undefined;
  /**
   * @defaultValue `'127.0.0.1'`
   */
  host?: string | undefined;
  /**
   * `0` picks a free port (see {@link ConfigServer.url}).
   * @defaultValue `0`
   */
  port?: number | undefined;
  /**
   * Largest accepted request body.
   * @defaultValue `1 MiB`
   */
  maxBodyBytes?: number | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
}

const STATUS: Record<string, number> = {
  [ErrorCode.INVALID_INPUT]: 400,
  UNAUTHORIZED: 401,
  [ErrorCode.NOT_FOUND]: 404,
  [ConfigDbErrorCode.EPOCH_MISMATCH]: 409,
  [ConfigDbErrorCode.COMPACTED]: 410,
  [ConfigDbErrorCode.UNAVAILABLE]: 503,
  [ErrorCode.NOT_ACCEPTING_WORK]: 503,
  [ConfigDbErrorCode.SHARD_NOT_FOUND]: 404,
};

function errorBody(error: unknown): { code: string; message: string; retryable: boolean } {
  if (VoxmeshError.is(error)) {
    return { code: error.code, message: error.message, retryable: error.retryable };
  }
  return { code: 'INTERNAL', message: 'Internal error', retryable: true };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendError(res: http.ServerResponse, error: unknown): void {
  const body = errorBody(error);
  sendJson(res, STATUS[body.code] ?? 500, { error: body });
}

function integer(value: string | null, name: string): number | undefined {
  if (value === null || value === '') return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new VoxmeshError(ErrorCode.INVALID_INPUT, `${name} must be a non-negative integer`);
  }
  return n;
}

/**
 * Serves a {@link ConfigBackend} and/or the shard map over HTTP; clients use
 * {@link RemoteConfigClient} and {@link RoutingClient}.
 */
export class ConfigServer extends Service {
  readonly #options: ConfigServerOptions;
  readonly #logger: Logger;
  readonly #streams = new Set<AbortController>();
  #server: http.Server | undefined;

  constructor(options: ConfigServerOptions) {
    super({ name: 'configdb-server' });
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
  }

  /** The base URL clients use (after `start()`). */
  get url(): string {
    const address = this.#server?.address();
    if (!address || typeof address === 'string')
      throw new TypeError('ConfigServer is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  protected async onStart(): Promise<void> {
    const server = http.createServer((req, res) => {
      void this.#handle(req, res);
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port ?? 0, this.#options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  protected override onDrain(): Promise<void> {
    this.#server?.close();
    for (const stream of this.#streams) stream.abort();
    return Promise.resolve();
  }

  protected async onStop(): Promise<void> {
    for (const stream of this.#streams) stream.abort();
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #authorised(req: http.IncomingMessage): boolean {
    const token = this.#options.token;
    if (token === undefined) return true;
    const given = Buffer.from(req.headers.authorization ?? '', 'utf8');
    const expected = Buffer.from(`Bearer ${token}`, 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  async #body(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const max = this.#options.maxBodyBytes ?? 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) {
        throw new VoxmeshError(ErrorCode.INVALID_INPUT, `Request body exceeds ${max} bytes`);
      }
      chunks.push(chunk);
    }
    let value: unknown;
    try {
      value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'Request body is not JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'Request body must be a JSON object');
    }
    return value as Record<string, unknown>;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let work: { release(): void } | undefined;
    try {
      work = this.beginWork();
    } catch (error) {
      res.setHeader('retry-after', '1');
      sendError(res, error);
      return;
    }
    try {
      if (!this.#authorised(req)) {
        throw new VoxmeshError('UNAUTHORIZED', 'Missing or wrong bearer token');
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      const route = `${req.method ?? 'GET'} ${url.pathname}`;
      if (route === 'GET /v1/shards') {
        const map = this.#options.shardMap;
        if (!map) throw new VoxmeshError(ErrorCode.NOT_FOUND, 'This server has no shard map');
        sendJson(res, 200, (typeof map === 'function' ? map() : map).toJSON());
        return;
      }
      const backend = this.#options.backend;
      if (!backend || !url.pathname.startsWith('/v1/')) {
        throw new VoxmeshError(ErrorCode.NOT_FOUND, `No route ${route}`);
      }
      const signal = this.signal;
      const key = url.searchParams.get('key') ?? '';
      const prefix = url.searchParams.get('prefix') ?? '';
      switch (route) {
        case 'GET /v1/kv': {
          const value = await backend.get(key, { signal });
          if (value === undefined) throw new VoxmeshError(ErrorCode.NOT_FOUND, 'No such key');
          sendJson(res, 200, { value });
          return;
        }
        case 'PUT /v1/kv': {
          const body = await this.#body(req);
          sendJson(res, 200, await backend.put(key, body.value, { signal }));
          return;
        }
        case 'DELETE /v1/kv':
          sendJson(res, 200, await backend.del(key, { signal }));
          return;
        case 'POST /v1/batch': {
          const body = await this.#body(req);
          if (!Array.isArray(body.operations)) {
            throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'operations must be an array');
          }
          const operations = body.operations as BatchOperation[];
          for (const op of operations as unknown[]) {
            if (typeof op !== 'object' || op === null) {
              throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'Each operation must be an object');
            }
          }
          sendJson(res, 200, await backend.batch(operations, { signal }));
          return;
        }
        case 'GET /v1/list':
          sendJson(res, 200, { entries: await backend.list({ prefix, signal }) });
          return;
        case 'GET /v1/snapshot': {
          const snap = await backend.snapshot({ prefix, signal });
          sendJson(res, 200, { epoch: snap.epoch, cursor: snap.cursor, state: [...snap.state] });
          return;
        }
        case 'GET /v1/changes':
          work.release();
          work = undefined;
          await this.#stream(res, backend, url);
          return;
        default:
          throw new VoxmeshError(ErrorCode.NOT_FOUND, `No route ${route}`);
      }
    } catch (error) {
      if (!VoxmeshError.is(error)) this.#logger.error({ err: error }, 'config request failed');
      if (!res.headersSent) {
        // A request whose body was not read cannot be followed on this connection.
        if (!req.complete) res.setHeader('connection', 'close');
        sendError(res, error);
      } else res.destroy();
    } finally {
      work?.release();
    }
  }

  async #stream(res: http.ServerResponse, backend: ConfigBackend, url: URL): Promise<void> {
    const controller = new AbortController();
    this.#streams.add(controller);
    const close = (): void => {
      controller.abort();
    };
    res.on('close', close);
    try {
      const iterator = backend.changes({
        prefix: url.searchParams.get('prefix') ?? '',
        cursor: integer(url.searchParams.get('cursor'), 'cursor'),
        epoch: url.searchParams.get('epoch') ?? undefined,
        progressIntervalMs: integer(
          url.searchParams.get('progressIntervalMs'),
          'progressIntervalMs',
        ),
        signal: controller.signal,
      });
      // The first step registers the listener: COMPACTED / EPOCH_MISMATCH answer as HTTP errors.
      const first = iterator.next();
      await Promise.race([first, this.clock.sleep(20)]);
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
      res.flushHeaders();
      const write = (event: ChangeEvent): Promise<void> | undefined => {
        if (res.write(`${JSON.stringify(event)}\n`)) return undefined;
        return new Promise<void>((resolve) => res.once('drain', resolve));
      };
      try {
        for (let next = await first; !next.done; next = await iterator.next()) {
          await write(next.value);
        }
      } catch (error) {
        if (!controller.signal.aborted)
          res.write(`${JSON.stringify({ error: errorBody(error) })}\n`);
      }
      res.end();
    } catch (error) {
      if (!res.headersSent) sendError(res, error);
      else res.end();
    } finally {
      res.off('close', close);
      this.#streams.delete(controller);
    }
  }
}
