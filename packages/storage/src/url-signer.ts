/**
 * Short-lived signed URLs of the FileHandler: an HMAC-SHA256 over the
 * method, tenant, key and expiry, compared in constant time.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { VoxmeshError } from '@voxmesh/core';
import { StorageErrorCode } from './errors.js';

/** The methods a signed URL can allow. `GET` also allows `HEAD`. */
export type SignedMethod = 'GET' | 'PUT' | 'DELETE';

/** The query parameter holding the expiry (Unix time, seconds). */
export const EXPIRES_PARAM = 'expires';
/** The query parameter holding the signature (base64url). */
export const SIGNATURE_PARAM = 'signature';

/** The string a signature covers: version, method, tenant, key and expiry, one per line. */
export function canonicalString(
  method: SignedMethod,
  tenant: string,
  key: string,
  expires: number,
): string {
  return `voxmesh-file-v1\n${method}\n${tenant}\n${key}\n${expires}`;
}

/** The base64url HMAC-SHA256 of {@link canonicalString} under `secret`. */
export function sign(
  secret: Uint8Array,
  method: SignedMethod,
  tenant: string,
  key: string,
  expires: number,
): string {
  return createHmac('sha256', secret)
    .update(canonicalString(method, tenant, key, expires))
    .digest('base64url');
}

/** What {@link verifySignature} checks. */
export interface VerifyInput {
  secrets: readonly Uint8Array[];
  method: SignedMethod;
  tenant: string;
  key: string;
  expires: string | null;
  signature: string | null;
  nowMs: number;
  maxTtlMs: number;
}

/**
 * Throws `SIGNATURE_INVALID` or `SIGNATURE_EXPIRED` unless the signature is
 * valid for one of `secrets` (the first signs; the others are accepted so a
 * secret can be rotated without breaking URLs in flight).
 */
export function verifySignature(input: VerifyInput): void {
  const invalid = (why: string): VoxmeshError =>
    new VoxmeshError(StorageErrorCode.SIGNATURE_INVALID, `Invalid signed URL: ${why}`);
  if (input.expires === null || input.signature === null)
    throw invalid('expires and signature are both required');
  if (!/^\d{1,12}$/.test(input.expires)) throw invalid('expires must be a Unix time in seconds');
  const expires = Number(input.expires);
  if (!/^[A-Za-z0-9_-]{43}$/.test(input.signature)) throw invalid('malformed signature');
  const given = Buffer.from(input.signature, 'base64url');
  let valid = false;
  for (const secret of input.secrets) {
    const expected = Buffer.from(
      sign(secret, input.method, input.tenant, input.key, expires),
      'base64url',
    );
    // Constant-time comparison; every secret is tried so timing does not reveal which matched.
    if (expected.byteLength === given.byteLength && timingSafeEqual(expected, given)) valid = true;
  }
  if (!valid) throw invalid('the signature does not match this method, tenant, key and expiry');
  if (expires * 1000 <= input.nowMs) {
    throw new VoxmeshError(StorageErrorCode.SIGNATURE_EXPIRED, 'The signed URL has expired');
  }
  // Expiries are whole seconds, rounded up when signing: allow that second.
  if (expires * 1000 - input.nowMs > input.maxTtlMs + 1000) {
    throw invalid('its expiry lies further ahead than the longest allowed lifetime');
  }
}
