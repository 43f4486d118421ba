/**
 * Stream helpers shared by the stores and the FileHandler.
 *
 * @module
 */

import { ErrorCode, VoxmeshError } from '@voxmesh/core';

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
