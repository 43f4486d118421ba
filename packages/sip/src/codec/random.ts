/**
 * Random identifiers (branches, tags, Call-IDs) from a pooled source: one
 * `randomFillSync` fills a few kilobytes, and each identifier takes the next
 * bytes of it, so that a call costs a few slices instead of a system call
 * per identifier. The bytes come from the same CSPRNG as `randomBytes`.
 *
 * @module
 */

import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4_096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let offset = POOL_BYTES;

/** The start of `bytes` fresh random bytes in the pool. */
function take(bytes: number): number {
  if (bytes > POOL_BYTES) throw new RangeError(`At most ${POOL_BYTES} random bytes at a time`);
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const start = offset;
  offset += bytes;
  return start;
}

/** `bytes` random bytes as lowercase hex (2 characters per byte). */
export function randomHex(bytes: number): string {
  const start = take(bytes);
  return pool.toString('hex', start, start + bytes);
}

/** `bytes` random bytes as unpadded base64url (RFC 4648 §5; token characters of RFC 3261 §25.1). */
export function randomBase64url(bytes: number): string {
  const start = take(bytes);
  return pool.toString('base64url', start, start + bytes);
}
