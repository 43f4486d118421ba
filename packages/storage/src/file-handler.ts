/**
 * The FileHandler: an HTTP service (node:http) that exposes a
 * {@link BlobStore} per tenant, safely.
 *
 * ```text
 *   GET|HEAD  {basePath}/{tenant}/{key}   read (Range, If-Range, If-None-Match, If-Match)
 *   PUT       {basePath}/{tenant}/{key}   upload (Content-Type allow-list, size limit)
 *   DELETE    {basePath}/{tenant}/{key}   delete
 * ```
 *
 * - **Tenant isolation**: the object behind `/{tenant}/{key}` is stored under
 *   `{tenant}/{key}`; tenants are single path segments and keys follow the
 *   key rules (no `..`, no encoded `/` or `\`), so no URL of tenant A names an
 *   object of tenant B, and a signature covers the tenant.
 * - **Access**: a request is served when it carries a valid signed URL
 *   ({@link FileHandler.signUrl}: HMAC-SHA256 over method, tenant, key and
 *   expiry, compared in constant time) or when the `authorize` hook accepts
 *   it (e.g. the integrator's bearer tokens). Otherwise `401`/`403`.
 * - **Streaming**: bodies go through `pipeline` in both directions, with
 *   backpressure; no object is ever held in memory.
 * - **Errors**: every bad request gets a 4xx with a JSON body
 *   `{"error":{"code","message"}}` (see `docs/errors.md`).
 *
 * @module
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortError,
  ErrorCode,
  Metrics,
  Service,
  VoxmeshError,
  silentLogger,
  type Clock,
  type Logger,
} from '@voxmesh/core';
import type { BlobInfo, BlobStore } from './blob-store.js';
import { StorageErrorCode } from './errors.js';
import { evaluateRange, ifRangeAllows, parseEntityTags, weakMatch } from './http-range.js';
import { essence, validateKey } from './keys.js';
import {
  EXPIRES_PARAM,
  SIGNATURE_PARAM,
  sign,
  verifySignature,
  type SignedMethod,
} from './url-signer.js';

/** What the `authorize` hook of the {@link FileHandler} is asked about. */
export interface AuthorizeRequest {
  /** The HTTP method (`HEAD` is asked as `HEAD`). */
  method: 'GET' | 'HEAD' | 'PUT' | 'DELETE';
  /** The tenant named by the path. */
  tenant: string;
  /** The key within the tenant. */
  key: string;
  /** The request, for its headers (e.g. `authorization`). */
  request: IncomingMessage;
}

/** Options of the {@link FileHandler} constructor. */
export interface FileHandlerOptions {
  /** The store objects live in (keys `{tenant}/{key}`). */
  store: BlobStore;
  /**
   * The secret(s) signed URLs are signed with, each at least 32 bytes. The
   * first signs; all verify, so secrets can be rotated.
   */
  secret: string | Uint8Array | readonly (string | Uint8Array)[];
  /**
   * The address to listen on.
   * @defaultValue `'127.0.0.1'`
   */
  host?: string | undefined;
  /**
   * The port to listen on; `0` picks a free one (see {@link FileHandler.url}).
   * @defaultValue `0`
   */
  port?: number | undefined;
  /**
   * The path prefix of every URL.
   * @defaultValue `'/files'`
   */
  basePath?: string | undefined;
  /**
   * The largest upload, in bytes.
   * @defaultValue `104857600` (100 MiB)
   */
  maxUploadBytes?: number | undefined;
  /**
   * The media types uploads may have (compared without parameters,
   * case-insensitively).
   * @defaultValue common audio types: `audio/wav`, `audio/x-wav`, `audio/wave`, `audio/mpeg`, `audio/ogg`, `audio/opus`, `audio/webm`, `audio/basic`, `audio/l16`, `audio/flac`
   */
  allowedContentTypes?: readonly string[] | undefined;
  /**
   * The longest lifetime of a signed URL, in milliseconds; URLs expiring
   * later are rejected even when their signature is valid.
   * @defaultValue `3600000` (1 hour)
   */
  maxUrlTtlMs?: number | undefined;
  /**
   * Accepts requests that carry no signature (e.g. by checking a bearer
   * token against the tenant). Without it, only signed URLs are served.
   * @defaultValue none: unsigned requests get `401`
   */
  authorize?: ((request: AuthorizeRequest) => boolean | Promise<boolean>) | undefined;
  /**
   * Prepended to the paths {@link FileHandler.signUrl} returns (the public
   * address of this service, e.g. `https://media.example.com`).
   * @defaultValue the service's own `url` once started, else none (a path)
   */
  publicUrl?: string | undefined;
  /**
   * The clock that decides whether signed URLs have expired.
   * @defaultValue `systemClock`
   */
  clock?: Clock | undefined;
  /**
   * Where requests that fail on the server side are logged.
   * @defaultValue `silentLogger`
   */
  logger?: Logger | undefined;
  /**
   * Where request counters are registered (`voxmesh_file_handler_*`).
   * @defaultValue a private `Metrics`
   */
  metrics?: Metrics | undefined;
}

/** Options of {@link FileHandler.signUrl}. */
export interface SignUrlOptions {
  /**
   * What the URL allows. `GET` also allows `HEAD`.
   * @defaultValue `'GET'`
   */
  method?: SignedMethod | undefined;
  /** The tenant. */
  tenant: string;
  /** The key within the tenant. */
  key: string;
  /**
   * How long the URL is valid, in milliseconds (rounded up to a second; at
   * most `maxUrlTtlMs`).
   * @defaultValue `300000` (5 minutes)
   */
  expiresInMs?: number | undefined;
}

const DEFAULT_TYPES = [
  'audio/wav',
  'audio/x-wav',
  'audio/wave',
  'audio/mpeg',
  'audio/ogg',
  'audio/opus',
  'audio/webm',
  'audio/basic',
  'audio/l16',
  'audio/flac',
];

const TENANT = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$/;

const STATUS: Record<string, number> = {
  [StorageErrorCode.INVALID_KEY]: 400,
  [ErrorCode.INVALID_INPUT]: 400,
  [StorageErrorCode.ACCESS_DENIED]: 401,
  [StorageErrorCode.SIGNATURE_INVALID]: 403,
  [StorageErrorCode.SIGNATURE_EXPIRED]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [StorageErrorCode.UPLOAD_TOO_LARGE]: 413,
  [StorageErrorCode.CONTENT_TYPE_NOT_ALLOWED]: 415,
  [StorageErrorCode.RANGE_NOT_SATISFIABLE]: 416,
  [StorageErrorCode.STORAGE_BACKEND_ERROR]: 502,
  [StorageErrorCode.MIRROR_WRITE_FAILED]: 502,
  [ErrorCode.NOT_ACCEPTING_WORK]: 503,
};

/** An error answered with a status and a JSON body. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function toBytes(secret: string | Uint8Array): Uint8Array {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (bytes.byteLength < 32) throw new RangeError('A FileHandler secret must be at least 32 bytes');
  return bytes;
}

/** A request header as one string (the first, when repeated). */
function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Encodes a key for a URL path: each segment percent-encoded, `/` kept. */
function encodePath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** The FileHandler HTTP service. Start it, or mount {@link FileHandler.handle} in your own server. */
export class FileHandler extends Service {
  readonly #store: BlobStore;
  readonly #secrets: Uint8Array[];
  readonly #host: string;
  readonly #port: number;
  readonly #basePath: string;
  readonly #maxUploadBytes: number;
  readonly #allowed: Set<string>;
  readonly #maxUrlTtlMs: number;
  readonly #authorize: FileHandlerOptions['authorize'];
  readonly #publicUrl: string | undefined;
  readonly #logger: Logger;
  readonly #requests: ReturnType<Metrics['counter']>;
  readonly #bytesSent: ReturnType<Metrics['counter']>;
  readonly #bytesReceived: ReturnType<Metrics['counter']>;
  #server: Server | undefined;
  #url: string | undefined;

  constructor(options: FileHandlerOptions) {
    super({ name: 'file-handler', clock: options.clock });
    this.#store = options.store;
    const secrets = Array.isArray(options.secret) ? options.secret : [options.secret];
    if (secrets.length === 0) throw new TypeError('FileHandler needs a secret');
    this.#secrets = (secrets as (string | Uint8Array)[]).map(toBytes);
    this.#host = options.host ?? '127.0.0.1';
    this.#port = options.port ?? 0;
    const base = options.basePath ?? '/files';
    if (!/^(?:\/[A-Za-z0-9._~-]+)*$/.test(base))
      throw new TypeError(`Invalid basePath ${JSON.stringify(base)}`);
    this.#basePath = base;
    this.#maxUploadBytes = options.maxUploadBytes ?? 100 * 1024 * 1024;
    if (!Number.isSafeInteger(this.#maxUploadBytes) || this.#maxUploadBytes < 0) {
      throw new RangeError('maxUploadBytes must be a non-negative integer');
    }
    this.#allowed = new Set((options.allowedContentTypes ?? DEFAULT_TYPES).map((t) => essence(t)));
    this.#maxUrlTtlMs = options.maxUrlTtlMs ?? 3_600_000;
    this.#authorize = options.authorize;
    this.#publicUrl = options.publicUrl?.replace(/\/$/, '');
    this.#logger = options.logger ?? silentLogger;
    const metrics = options.metrics ?? new Metrics();
    this.#requests = metrics.counter({
      name: 'file_handler_requests_total',
      help: 'FileHandler requests by method and status',
      labelNames: ['method', 'status'],
    });
    this.#bytesSent = metrics.counter({
      name: 'file_handler_sent_bytes_total',
      help: 'Body bytes served',
    });
    this.#bytesReceived = metrics.counter({
      name: 'file_handler_received_bytes_total',
      help: 'Body bytes uploaded',
    });
  }

  /** The service's base URL (`http://host:port`) once started. */
  get url(): string | undefined {
    return this.#url;
  }

  /** The listening port once started. */
  get port(): number | undefined {
    const address = this.#server?.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  /**
   * A short-lived signed URL for one method on one tenant's key: the path and
   * query, prefixed with `publicUrl` (or the service's own URL once started).
   */
  signUrl(options: SignUrlOptions): string {
    const method = options.method ?? 'GET';
    if (method !== 'GET' && method !== 'PUT' && method !== 'DELETE') {
      throw new TypeError(`A signed URL allows GET, PUT or DELETE, got ${String(method)}`);
    }
    if (!TENANT.test(options.tenant))
      throw new TypeError(`Invalid tenant ${JSON.stringify(options.tenant)}`);
    validateKey(options.key);
    const ttl = options.expiresInMs ?? 300_000;
    if (!Number.isFinite(ttl) || ttl <= 0 || ttl > this.#maxUrlTtlMs) {
      throw new RangeError(
        `expiresInMs must be above 0 and at most maxUrlTtlMs (${this.#maxUrlTtlMs})`,
      );
    }
    const expires = Math.ceil((this.clock.now() + ttl) / 1000);
    const signature = sign(
      this.#secrets[0] as Uint8Array,
      method,
      options.tenant,
      options.key,
      expires,
    );
    const path = `${this.#basePath}/${encodeURIComponent(options.tenant)}/${encodePath(options.key)}`;
    return `${this.#publicUrl ?? this.#url ?? ''}${path}?${EXPIRES_PARAM}=${expires}&${SIGNATURE_PARAM}=${signature}`;
  }

  protected async onStart(): Promise<void> {
    const server = createServer({ requestTimeout: 0 }, (req, res) => {
      void this.handle(req, res);
    });
    // Answer `Expect: 100-continue` only after the request has been checked.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      void this.handle(req, res);
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, this.#host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { address, port } = server.address() as AddressInfo;
    this.#url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  }

  protected override onDrain(): Promise<void> {
    const server = this.#server;
    if (server) {
      server.close();
      server.closeIdleConnections();
    }
    return Promise.resolve();
  }

  protected async onStop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /**
   * Serves one request: the `node:http` request listener, for mounting the
   * FileHandler in an existing server (it must be started, or requests get
   * `503`).
   */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    try {
      using _work = this.beginWork();
      await this.#route(req, res, method);
    } catch (error) {
      await this.#fail(req, res, error);
    } finally {
      this.#requests.inc({ method, status: String(res.statusCode) });
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    if (method !== 'GET' && method !== 'HEAD' && method !== 'PUT' && method !== 'DELETE') {
      throw new HttpError(
        405,
        StorageErrorCode.METHOD_NOT_ALLOWED,
        `Method ${method} is not allowed`,
        {
          Allow: 'GET, HEAD, PUT, DELETE',
        },
      );
    }
    const { tenant, key, query } = this.#parseTarget(req.url ?? '/');
    await this.#authenticate(req, method, tenant, key, query);
    const storeKey = `${tenant}/${key}`;
    const signal = this.#requestSignal(req, res);
    switch (method) {
      case 'GET':
      case 'HEAD':
        return this.#read(req, res, method, storeKey, signal);
      case 'PUT':
        return this.#upload(req, res, storeKey, signal);
      case 'DELETE':
        return this.#delete(res, storeKey, signal);
    }
  }

  /** Splits `{basePath}/{tenant}/{key}?query`, rejecting traversal and ambiguous encodings. */
  #parseTarget(target: string): { tenant: string; key: string; query: URLSearchParams } {
    const q = target.indexOf('?');
    const rawPath = q === -1 ? target : target.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : target.slice(q + 1));
    if (!rawPath.startsWith(`${this.#basePath}/`)) {
      throw new HttpError(
        404,
        ErrorCode.NOT_FOUND,
        `Not found: paths start with ${this.#basePath}/`,
      );
    }
    const rawSegments = rawPath.slice(this.#basePath.length + 1).split('/');
    const segments = rawSegments.map((raw) => {
      // An encoded '/' or '\' inside a segment would make two spellings of one key (RFC 3986 §2.2).
      if (/%(?:2f|5c)/i.test(raw)) {
        throw new VoxmeshError(
          StorageErrorCode.INVALID_KEY,
          'Encoded slashes and backslashes are not allowed in paths',
        );
      }
      try {
        return decodeURIComponent(raw);
      } catch {
        throw new VoxmeshError(
          StorageErrorCode.INVALID_KEY,
          'Malformed percent-encoding in the path',
        );
      }
    });
    const [tenant, ...rest] = segments;
    if (tenant === undefined || !TENANT.test(tenant)) {
      throw new VoxmeshError(
        StorageErrorCode.INVALID_KEY,
        'Invalid tenant: one path segment of letters, digits, dots, dashes and underscores',
      );
    }
    const key = rest.join('/');
    validateKey(key);
    return { tenant, key, query };
  }

  async #authenticate(
    req: IncomingMessage,
    method: 'GET' | 'HEAD' | 'PUT' | 'DELETE',
    tenant: string,
    key: string,
    query: URLSearchParams,
  ): Promise<void> {
    if (query.has(SIGNATURE_PARAM) || query.has(EXPIRES_PARAM)) {
      verifySignature({
        secrets: this.#secrets,
        method: method === 'HEAD' ? 'GET' : method,
        tenant,
        key,
        expires: query.get(EXPIRES_PARAM),
        signature: query.get(SIGNATURE_PARAM),
        nowMs: this.clock.now(),
        maxTtlMs: this.#maxUrlTtlMs,
      });
      return;
    }
    if (this.#authorize && (await this.#authorize({ method, tenant, key, request: req }))) return;
    throw new VoxmeshError(
      StorageErrorCode.ACCESS_DENIED,
      'This request needs a signed URL or credentials',
    );
  }

  /** Aborts when the client goes away before the response is complete, or the service stops. */
  #requestSignal(req: IncomingMessage, res: ServerResponse): AbortSignal {
    const controller = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished)
        controller.abort(new AbortError('The client closed the connection'));
    };
    res.once('close', onClose);
    req.once('error', onClose);
    return AbortSignal.any([controller.signal, this.signal]);
  }

  #headers(info: BlobInfo): Record<string, string> {
    return {
      'Content-Type': info.contentType,
      ETag: info.etag,
      'Last-Modified': info.lastModified.toUTCString(),
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'private, no-cache',
      'X-Content-Type-Options': 'nosniff',
    };
  }

  async #read(
    req: IncomingMessage,
    res: ServerResponse,
    method: 'GET' | 'HEAD',
    storeKey: string,
    signal: AbortSignal,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const info = await this.#store.head(storeKey, { signal });
      const headers = this.#headers(info);
      // RFC 9110 §13.2.2: If-Match, then If-None-Match, then If-Range.
      const ifMatch = req.headers['if-match'];
      if (ifMatch !== undefined) {
        // §13.1.1: strong comparison; '*' matches any current representation.
        const tags = parseEntityTags(ifMatch);
        if (!tags.some((t) => t === '*' || (!t.startsWith('W/') && t === info.etag))) {
          throw new HttpError(
            412,
            StorageErrorCode.PRECONDITION_FAILED,
            'If-Match does not match the current entity tag',
          );
        }
      }
      const ifNoneMatch = req.headers['if-none-match'];
      if (ifNoneMatch !== undefined && weakMatch(ifNoneMatch, info.etag)) {
        // §13.1.2: GET/HEAD with a matching If-None-Match → 304 Not Modified.
        res.writeHead(304, {
          ETag: headers.ETag as string,
          'Last-Modified': headers['Last-Modified'] as string,
        });
        res.end();
        return;
      }
      // §14.2: Range is defined for GET only; §13.1.5: If-Range decides whether it applies.
      const rangeHeader =
        method === 'GET' && ifRangeAllows(header(req, 'if-range'), info.etag, info.lastModified)
          ? req.headers.range
          : undefined;
      const range = evaluateRange(rangeHeader, info.size);
      if (range.kind === 'unsatisfiable') {
        // §15.5.17: 416 with Content-Range: bytes */complete-length.
        throw new HttpError(
          416,
          StorageErrorCode.RANGE_NOT_SATISFIABLE,
          `The range is not satisfiable for an object of ${info.size} bytes`,
          { 'Content-Range': `bytes */${info.size}` },
        );
      }
      if (method === 'HEAD') {
        res.writeHead(200, { ...headers, 'Content-Length': String(info.size) });
        res.end();
        return;
      }
      const object = await this.#store.get(storeKey, {
        range: range.kind === 'partial' ? { start: range.start, end: range.end } : undefined,
        signal,
      });
      if (object.info.etag !== info.etag) {
        // Replaced between head and get: evaluate the conditions again on the new object.
        object.body.destroy();
        if (attempt < 3) continue;
        throw new VoxmeshError(
          StorageErrorCode.STORAGE_BACKEND_ERROR,
          'The object keeps changing',
          {
            retryable: true,
          },
        );
      }
      if (range.kind === 'partial') {
        // §14.4 / §15.3.7: 206 with Content-Range: bytes first-last/complete-length.
        res.writeHead(206, {
          ...headers,
          'Content-Length': String(range.end - range.start + 1),
          'Content-Range': `bytes ${range.start}-${range.end}/${info.size}`,
        });
      } else {
        res.writeHead(200, { ...headers, 'Content-Length': String(info.size) });
      }
      let sent = 0;
      object.body.on('data', (chunk: Buffer) => {
        sent += chunk.byteLength;
      });
      try {
        await pipeline(object.body, res, { signal });
      } finally {
        this.#bytesSent.inc(sent);
      }
      return;
    }
  }

  async #upload(
    req: IncomingMessage,
    res: ServerResponse,
    storeKey: string,
    signal: AbortSignal,
  ): Promise<void> {
    const contentType = req.headers['content-type'];
    if (contentType === undefined || !this.#allowed.has(essence(contentType))) {
      throw new VoxmeshError(
        StorageErrorCode.CONTENT_TYPE_NOT_ALLOWED,
        `Content-Type ${JSON.stringify(contentType ?? '')} is not allowed; allowed: ${[...this.#allowed].join(', ')}`,
      );
    }
    const lengthHeader = req.headers['content-length'];
    let contentLength: number | undefined;
    if (lengthHeader !== undefined) {
      if (!/^\d+$/.test(lengthHeader))
        throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'Invalid Content-Length');
      contentLength = Number(lengthHeader);
      if (contentLength > this.#maxUploadBytes) throw this.#tooLarge();
    }
    let existed = true;
    try {
      await this.#store.head(storeKey, { signal });
    } catch (error) {
      if (!VoxmeshError.is(error, ErrorCode.NOT_FOUND)) throw error;
      existed = false;
    }
    // RFC 9110 §10.1.1: the request passed every check, so ask for the body.
    if (/100-continue/i.test(req.headers.expect ?? '')) res.writeContinue();
    const body = new PassThrough({ highWaterMark: 65_536 });
    let received = 0;
    let tooLarge = false;
    let discarded = 0;
    const onData = (chunk: Buffer): void => {
      received += chunk.byteLength;
      if (tooLarge) {
        // Read and drop what the client still sends (bounded), so it gets the 413.
        discarded += chunk.byteLength;
        if (discarded > this.#maxUploadBytes) req.destroy();
        return;
      }
      if (received > this.#maxUploadBytes) {
        tooLarge = true;
        body.destroy(this.#tooLarge());
        return;
      }
      if (!body.write(chunk)) req.pause();
    };
    body.on('drain', () => req.resume());
    req.on('data', onData);
    req.once('end', () => body.end());
    let info: BlobInfo;
    try {
      info = await this.#store.put(storeKey, body, { contentType, contentLength, signal });
    } catch (error) {
      if (tooLarge) {
        req.resume();
        if (!req.complete && !req.destroyed)
          await new Promise((resolve) => req.once('close', resolve).once('end', resolve));
        throw this.#tooLarge();
      }
      throw error;
    } finally {
      this.#bytesReceived.inc(received);
    }
    const json = JSON.stringify({
      key: storeKey.slice(storeKey.indexOf('/') + 1),
      size: info.size,
      etag: info.etag,
      contentType: info.contentType,
    });
    res.writeHead(existed ? 200 : 201, {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(json)),
      ETag: info.etag,
    });
    res.end(json);
  }

  #tooLarge(): VoxmeshError {
    return new VoxmeshError(
      StorageErrorCode.UPLOAD_TOO_LARGE,
      `The upload is larger than the limit of ${this.#maxUploadBytes} bytes`,
    );
  }

  async #delete(res: ServerResponse, storeKey: string, signal: AbortSignal): Promise<void> {
    await this.#store.head(storeKey, { signal });
    await this.#store.delete(storeKey, { signal });
    res.writeHead(204);
    res.end();
  }

  async #fail(req: IncomingMessage, res: ServerResponse, error: unknown): Promise<void> {
    let status: number;
    let code: string;
    let message: string;
    let headers: Record<string, string> = {};
    if (error instanceof HttpError) {
      ({ status, code, message, headers } = error);
    } else if (VoxmeshError.is(error) && STATUS[error.code] !== undefined) {
      status = STATUS[error.code] as number;
      code = error.code;
      message = error.message;
      if (status === 503) headers = { 'Retry-After': '5' };
      if (status >= 500)
        this.#logger.warn({ err: error, url: req.url }, 'file handler: backend failure');
    } else if (
      VoxmeshError.is(error, ErrorCode.ABORTED) ||
      (error as Error | undefined)?.name === 'AbortError'
    ) {
      // The client went away or the service stopped: nobody to answer.
      res.destroy();
      return;
    } else {
      status = 500;
      code = StorageErrorCode.INTERNAL_ERROR;
      message = 'Internal error';
      this.#logger.error({ err: error, url: req.url }, 'file handler: request failed');
    }
    if (res.headersSent) {
      // The body was already streaming: cut the response so the client sees it is incomplete.
      res.destroy();
      return;
    }
    const json = JSON.stringify({ error: { code, message } });
    // An unread request body would be taken for the next request: close the connection.
    const unread = !req.complete;
    res.writeHead(status, {
      ...headers,
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(json)),
      ...(unread ? { Connection: 'close' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : json);
    await Promise.resolve();
  }
}
