/**
 * The `BlobStore` interface: media objects (prompts, recordings, voicemails,
 * reports) stored under string keys, streamed in and out with backpressure —
 * no implementation holds a whole object in memory on the way through (the
 * memory store, by its nature, keeps stored objects in memory).
 *
 * Implementations extend {@link AbstractBlobStore}, whose public methods
 * validate and normalise their input (key rules, metadata, content type,
 * ranges, aborted signals) and call the protected `_put`, `_get`, ... methods
 * with exact input, in the style of abstract-level. Every implementation runs
 * the conformance suite `blobStoreSuite` from `@voxmesh/storage/testing`.
 *
 * @module
 */

import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ErrorCode, VoxmeshError, throwIfAborted } from '@voxmesh/core';
import { StorageErrorCode } from './errors.js';
import { validateContentType, validateKey, validateMetadata } from './keys.js';

/**
 * What {@link BlobStore.put} accepts as a body: a Node stream, a web
 * `ReadableStream`, any async iterable of bytes, or bytes/text in memory.
 * Streams are consumed with backpressure.
 */
export type BlobBody =
  Readable | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Uint8Array | string;

/** What a store knows about a stored object. */
export interface BlobInfo {
  /** The object's key. */
  key: string;
  /** The size in bytes. */
  size: number;
  /** The content type given when the object was stored. */
  contentType: string;
  /**
   * A strong entity tag, quoted as in an HTTP `ETag` header (RFC 9110 §8.8.3):
   * it changes whenever the content changes.
   */
  etag: string;
  /** When the object was last written (second precision on some backends). */
  lastModified: Date;
  /** The metadata given when the object was stored. */
  metadata: Record<string, string>;
}

/** One entry of {@link BlobStore.list}. */
export interface BlobListEntry {
  /** The object's key. */
  key: string;
  /** The size in bytes. */
  size: number;
  /** The entity tag (see {@link BlobInfo.etag}). */
  etag: string;
  /** When the object was last written. */
  lastModified: Date;
}

/** An absolute, inclusive byte range: bytes `start` to `end` (`end` ≥ `start`). */
export interface ByteRange {
  /** The first byte, from 0. */
  start: number;
  /**
   * The last byte, inclusive. Clipped to the object's last byte when beyond it.
   * @defaultValue the object's last byte
   */
  end?: number | undefined;
}

/** Options of {@link BlobStore.put}. */
export interface PutOptions {
  /**
   * The content type, an RFC 9110 media type.
   * @defaultValue `'application/octet-stream'`
   */
  contentType?: string | undefined;
  /**
   * Metadata stored with the object (lowercase identifier names, printable
   * ASCII values, at most 2 KiB).
   * @defaultValue `{}`
   */
  metadata?: Record<string, string> | undefined;
  /**
   * The body's length when known in advance. A body of another length fails
   * the put; some backends upload more efficiently when it is given.
   * @defaultValue unknown
   */
  contentLength?: number | undefined;
  /** Aborts the upload; nothing is stored and the previous object (if any) stays. */
  signal?: AbortSignal | undefined;
}

/** Options of {@link BlobStore.get}. */
export interface GetOptions {
  /**
   * Only these bytes. A range starting at or beyond the end rejects with
   * `RANGE_NOT_SATISFIABLE`. Suffix ranges are resolved by the caller (head
   * first), because backends disagree on them.
   * @defaultValue the whole object
   */
  range?: ByteRange | undefined;
  /** Aborts the request, and the body stream once it has been returned. */
  signal?: AbortSignal | undefined;
}

/** The result of {@link BlobStore.get}. */
export interface BlobObject {
  /** The object's information (its whole size, not the range's). */
  info: BlobInfo;
  /** The absolute, inclusive range of bytes in `body`. */
  range: { start: number; end: number } | undefined;
  /** The bytes, streamed with backpressure. Consume or destroy it. */
  body: Readable;
}

/** Options of operations that only take a signal. */
export interface SignalOptions {
  /** Aborts the operation. */
  signal?: AbortSignal | undefined;
}

/** Options of {@link BlobStore.list}. */
export interface ListOptions {
  /**
   * Only keys starting with this string (not necessarily at a `/`).
   * @defaultValue `''` (every key)
   */
  prefix?: string | undefined;
  /**
   * At most this many entries.
   * @defaultValue no limit
   */
  limit?: number | undefined;
  /** Aborts the listing. */
  signal?: AbortSignal | undefined;
}

/** Options of {@link BlobStore.signedUrl}. */
export interface SignedUrlOptions {
  /**
   * What the URL allows: reading (`GET`, also `HEAD`) or writing (`PUT`).
   * @defaultValue `'GET'`
   */
  method?: 'GET' | 'PUT' | undefined;
  /**
   * How long the URL is valid, in seconds (1 to 604800).
   * @defaultValue `900`
   */
  expiresInSeconds?: number | undefined;
  /** Aborts the operation. */
  signal?: AbortSignal | undefined;
}

/** What a {@link BlobStore} implementation supports beyond the common operations. */
export interface BlobStoreSupports {
  /** {@link BlobStore.signedUrl} returns URLs the backend itself serves. */
  signedUrls: boolean;
}

/**
 * Media objects under string keys. All operations accept `{ signal }`; a
 * missing object rejects with `NOT_FOUND`, an invalid key with `INVALID_KEY`.
 */
export interface BlobStore {
  /** What this store supports. */
  readonly supports: BlobStoreSupports;
  /**
   * Stores `body` under `key`, replacing any previous object atomically:
   * readers see the old object or the new one, never a mixture; a failed or
   * aborted put leaves the old object in place.
   */
  put(key: string, body: BlobBody, options?: PutOptions): Promise<BlobInfo>;
  /** Reads an object, or one byte range of it. */
  get(key: string, options?: GetOptions): Promise<BlobObject>;
  /** The object's information, without its bytes. */
  head(key: string, options?: SignalOptions): Promise<BlobInfo>;
  /** Deletes an object. Deleting a missing object succeeds. */
  delete(key: string, options?: SignalOptions): Promise<void>;
  /** Entries whose key starts with `prefix`, in ascending key order (UTF-8 byte order). */
  list(options?: ListOptions): AsyncIterable<BlobListEntry>;
  /**
   * A URL of the backend itself that allows `method` on `key` until it
   * expires. Rejects with `NOT_SUPPORTED` unless `supports.signedUrls`.
   */
  signedUrl(key: string, options?: SignedUrlOptions): Promise<string>;
  /** Releases the store's resources (clients, handles). */
  close(): Promise<void>;
}

/** Turns any {@link BlobBody} into a Node `Readable`. */
export function toReadable(body: BlobBody): Readable {
  if (body instanceof Readable) return body;
  if (typeof body === 'string') return Readable.from([Buffer.from(body, 'utf8')]);
  if (body instanceof Uint8Array) return Readable.from(body.byteLength === 0 ? [] : [body]);
  if (typeof (body as ReadableStream<Uint8Array>).getReader === 'function') {
    return Readable.fromWeb(body as WebReadableStream<Uint8Array>);
  }
  if (typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    return Readable.from(body as AsyncIterable<Uint8Array>, { objectMode: false });
  }
  throw new TypeError(
    'A blob body must be a stream, an async iterable of bytes, bytes or a string',
  );
}

/** Input of {@link AbstractBlobStore._put}, validated and normalised. */
export interface NormalizedPut {
  /** The body as a Node stream. */
  body: Readable;
  /** A valid content type. */
  contentType: string;
  /** Valid metadata (a copy). */
  metadata: Record<string, string>;
  /** The announced length, if any. */
  contentLength: number | undefined;
  /** The caller's signal. */
  signal: AbortSignal | undefined;
}

function checkRange(
  range: ByteRange | undefined,
): { start: number; end: number | undefined } | undefined {
  if (range === undefined) return undefined;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new RangeError(`A range start must be a non-negative integer, got ${String(start)}`);
  }
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw new RangeError(`A range end must be an integer ≥ start (${start}), got ${String(end)}`);
  }
  return { start, end };
}

/**
 * The base of every {@link BlobStore}: validates and normalises input, then
 * calls the protected methods implementations override.
 */
export abstract class AbstractBlobStore implements BlobStore {
  abstract readonly supports: BlobStoreSupports;

  async put(key: string, body: BlobBody, options: PutOptions = {}): Promise<BlobInfo> {
    validateKey(key);
    const contentType = validateContentType(options.contentType);
    const metadata = validateMetadata(options.metadata);
    const { contentLength, signal } = options;
    if (
      contentLength !== undefined &&
      (!Number.isSafeInteger(contentLength) || contentLength < 0)
    ) {
      throw new RangeError(
        `contentLength must be a non-negative integer, got ${String(contentLength)}`,
      );
    }
    const stream = toReadable(body);
    try {
      throwIfAborted(signal);
    } catch (error) {
      stream.destroy();
      throw error;
    }
    return this._put(key, { body: stream, contentType, metadata, contentLength, signal });
  }

  async get(key: string, options: GetOptions = {}): Promise<BlobObject> {
    validateKey(key);
    const range = checkRange(options.range);
    throwIfAborted(options.signal);
    return this._get(key, range, options.signal);
  }

  async head(key: string, options: SignalOptions = {}): Promise<BlobInfo> {
    validateKey(key);
    throwIfAborted(options.signal);
    return this._head(key, options.signal);
  }

  async delete(key: string, options: SignalOptions = {}): Promise<void> {
    validateKey(key);
    throwIfAborted(options.signal);
    return this._delete(key, options.signal);
  }

  async *list(options: ListOptions = {}): AsyncIterable<BlobListEntry> {
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string') throw new TypeError('A list prefix must be a string');
    const limit = options.limit ?? Infinity;
    if (limit !== Infinity && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new RangeError(`A list limit must be a non-negative integer, got ${String(limit)}`);
    }
    throwIfAborted(options.signal);
    if (limit === 0) return;
    let count = 0;
    for await (const entry of this._list(prefix, options.signal)) {
      throwIfAborted(options.signal);
      yield entry;
      if (++count >= limit) return;
    }
  }

  async signedUrl(key: string, options: SignedUrlOptions = {}): Promise<string> {
    validateKey(key);
    const method = options.method ?? 'GET';
    if (method !== 'GET' && method !== 'PUT') {
      throw new TypeError(`A signed URL allows GET or PUT, got ${String(method)}`);
    }
    const expiresInSeconds = options.expiresInSeconds ?? 900;
    if (
      !Number.isSafeInteger(expiresInSeconds) ||
      expiresInSeconds < 1 ||
      expiresInSeconds > 604_800
    ) {
      throw new RangeError(
        `expiresInSeconds must be an integer from 1 to 604800, got ${String(expiresInSeconds)}`,
      );
    }
    throwIfAborted(options.signal);
    return this._signedUrl(key, method, expiresInSeconds, options.signal);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Stores a validated put. */
  protected abstract _put(key: string, input: NormalizedPut): Promise<BlobInfo>;
  /** Reads a valid key; `range` has been checked for shape, not against the size. */
  protected abstract _get(
    key: string,
    range: { start: number; end: number | undefined } | undefined,
    signal: AbortSignal | undefined,
  ): Promise<BlobObject>;
  /** Heads a valid key. */
  protected abstract _head(key: string, signal: AbortSignal | undefined): Promise<BlobInfo>;
  /** Deletes a valid key; a missing key is not an error. */
  protected abstract _delete(key: string, signal: AbortSignal | undefined): Promise<void>;
  /** Lists keys with `prefix` in ascending UTF-8 byte order. */
  protected abstract _list(
    prefix: string,
    signal: AbortSignal | undefined,
  ): AsyncIterable<BlobListEntry>;
  /** Signs a URL; the default rejects with `NOT_SUPPORTED`. */
  protected _signedUrl(
    _key: string,
    _method: 'GET' | 'PUT',
    _expiresInSeconds: number,
    _signal: AbortSignal | undefined,
  ): Promise<string> {
    return Promise.reject(notSupported(`${this.constructor.name} has no signed URLs`));
  }
}

function notSupported(message: string): VoxmeshError {
  return new VoxmeshError(ErrorCode.NOT_SUPPORTED, message);
}

/** A `NOT_FOUND` error for `key`. */
export function notFound(key: string, cause?: unknown): VoxmeshError {
  return new VoxmeshError(ErrorCode.NOT_FOUND, `No blob with key ${JSON.stringify(key)}`, {
    cause,
  });
}

/** A `RANGE_NOT_SATISFIABLE` error. */
export function rangeNotSatisfiable(
  key: string,
  start: number,
  size: number | undefined,
  cause?: unknown,
): VoxmeshError {
  return new VoxmeshError(
    StorageErrorCode.RANGE_NOT_SATISFIABLE,
    `Range starting at byte ${start} is beyond the end of ${JSON.stringify(key)}${size === undefined ? '' : ` (${size} bytes)`}`,
    { cause },
  );
}

/**
 * Resolves a checked range against an object's size: the absolute inclusive
 * range, `undefined` for the whole object; throws `RANGE_NOT_SATISFIABLE`
 * when it starts at or beyond the end.
 */
export function resolveRange(
  key: string,
  range: { start: number; end: number | undefined } | undefined,
  size: number,
): { start: number; end: number } | undefined {
  if (range === undefined) return undefined;
  if (range.start >= size) throw rangeNotSatisfiable(key, range.start, size);
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}

/** Orders keys by their UTF-8 bytes (the order S3 and Azure list in). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
