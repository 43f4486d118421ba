/**
 * Stream helpers shared by the stores and the FileHandler.
 *
 * @module
 */

import { PassThrough, Transform, pipeline, type Readable } from 'node:stream';
import { ErrorCode, VoxmeshError } from '@voxmesh/core';
import { rangeNotSatisfiable } from './blob-store.js';
import { StorageErrorCode } from './errors.js';

/** Throws `INVALID_INPUT` when a body's length differs from its announced length. */
export function checkLength(key: string, expected: number | undefined, actual: number): void {
  if (expected !== undefined && expected !== actual) {
    throw new VoxmeshError(
      ErrorCode.INVALID_INPUT,
      `The body of ${JSON.stringify(key)} was ${actual} bytes, but contentLength said ${expected}`,
    );
  }
}

/**
 * Reads `body` in parts of exactly `partSize` bytes (the last one shorter,
 * possibly empty when the body is empty), holding at most one part in memory.
 */
export async function* readParts(
  body: AsyncIterable<unknown>,
  partSize: number,
): AsyncGenerator<Buffer, void, undefined> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let yielded = false;
  for await (const raw of body) {
    let chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as Uint8Array);
    while (pendingBytes + chunk.byteLength >= partSize) {
      const take = partSize - pendingBytes;
      pending.push(chunk.subarray(0, take));
      chunk = chunk.subarray(take);
      yield Buffer.concat(pending, partSize);
      yielded = true;
      pending = [];
      pendingBytes = 0;
    }
    if (chunk.byteLength > 0) {
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
    }
  }
  if (pendingBytes > 0 || !yielded) yield Buffer.concat(pending, pendingBytes);
}

/**
 * The bytes `skip` to `skip + length - 1` of `source`, as a new stream; the
 * source is destroyed once they have passed (or when the result is destroyed).
 * Used when a backend answers a range request with a wider range.
 */
export function sliceStream(source: Readable, skip: number, length: number): Readable {
  let toSkip = skip;
  let left = length;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      let bytes = chunk;
      if (toSkip > 0) {
        const n = Math.min(toSkip, bytes.byteLength);
        toSkip -= n;
        bytes = bytes.subarray(n);
      }
      if (left > 0 && bytes.byteLength > 0) {
        const part = bytes.subarray(0, left);
        left -= part.byteLength;
        this.push(part);
      }
      if (left === 0) {
        this.push(null);
        source.unpipe(this);
        source.destroy();
      }
      callback();
    },
  });
  source.on('error', (error) => out.destroy(error));
  out.on('close', () => source.destroy());
  if (length === 0) out.end();
  else source.pipe(out);
  return out;
}

/**
 * `source` behind a stream of our own, so every store's bodies behave alike:
 * destroying the result destroys the source at once (an HTTP response would
 * otherwise close later and may emit `aborted`), and the source's errors
 * reach the result.
 */
export function ownStream(source: Readable, highWaterMark = 65_536): Readable {
  const out = new PassThrough({ highWaterMark });
  pipeline(source, out, () => undefined);
  return out;
}

/** Quotes a bare entity tag (Azure lists them without quotes). */
export function quoteEtag(etag: string | undefined): string {
  if (etag === undefined || etag === '') return '""';
  return etag.startsWith('"') || etag.startsWith('W/"') ? etag : `"${etag}"`;
}

/**
 * The whole object's size from a backend's answer to a get: the total of its
 * `Content-Range` (`bytes a-b/total`) when it answered a range, else its
 * `Content-Length`.
 */
export function objectSize(
  contentRange: string | undefined,
  contentLength: number | undefined,
): number {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange ?? '');
  return match ? Number(match[3]) : (contentLength ?? 0);
}

/**
 * Checks a backend's answer to a range request against the range asked for,
 * and returns the exact range and body: `RANGE_NOT_SATISFIABLE` when the range
 * starts at or beyond `size`; a body cut down locally when the backend sent
 * more than asked (backends differ on edge cases such as `bytes=0-0` or a
 * range at the very end); `STORAGE_BACKEND_ERROR` when it sent less.
 */
export function fitRange(
  key: string,
  range: { start: number; end: number | undefined } | undefined,
  size: number,
  contentRange: string | undefined,
  body: Readable,
): { range: { start: number; end: number } | undefined; body: Readable } {
  if (range === undefined) return { range: undefined, body };
  if (range.start >= size) {
    body.destroy();
    throw rangeNotSatisfiable(key, range.start, size);
  }
  const wanted = { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange ?? '');
  const got = match
    ? { start: Number(match[1]), end: Number(match[2]) }
    : { start: 0, end: size - 1 };
  if (got.start > wanted.start || got.end < wanted.end) {
    body.destroy();
    throw new VoxmeshError(
      StorageErrorCode.STORAGE_BACKEND_ERROR,
      `The backend sent bytes ${got.start}-${got.end} of ${JSON.stringify(key)} for ${wanted.start}-${wanted.end}`,
      { retryable: true },
    );
  }
  if (got.start === wanted.start && got.end === wanted.end) return { range: wanted, body };
  return {
    range: wanted,
    body: sliceStream(body, wanted.start - got.start, wanted.end - wanted.start + 1),
  };
}
