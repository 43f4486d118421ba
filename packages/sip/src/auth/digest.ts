/**
 * The digest computations of RFC 7616 §3.4.1–3.4.3 (MD5 and SHA-256, RFC 8760
 * for SIP), shared by the server ({@link DigestAuthenticator}) and the client
 * ({@link DigestClient}).
 *
 * @module
 */

import { createHash } from 'node:crypto';
import type { DigestAlgorithm } from './auth-header.js';

/** `H(data)`: the algorithm's hash as lower-case hex (RFC 7616 §3.4.1). */
export function digestHash(algorithm: DigestAlgorithm, data: string | Uint8Array): string {
  const base = algorithm.startsWith('SHA-256') ? 'sha256' : 'md5';
  return createHash(base).update(data).digest('hex');
}

/** Options of {@link computeHA1}. */
export interface ComputeHA1Options {
  algorithm: DigestAlgorithm;
  username: string;
  realm: string;
  password: string;
}

/**
 * `H(A1)` for the non-session algorithms: `H(username ":" realm ":" password)`
 * (RFC 7616 §3.4.2). Stores may keep this value instead of the password.
 */
export function computeHA1(options: ComputeHA1Options): string {
  return digestHash(options.algorithm, `${options.username}:${options.realm}:${options.password}`);
}

/** Options of {@link computeDigestResponse}. */
export interface ComputeDigestResponseOptions {
  algorithm: DigestAlgorithm;
  /** `H(username:realm:password)` for the algorithm's hash. */
  ha1: string;
  method: string;
  uri: string;
  nonce: string;
  /** `auth`, `auth-int`, or `undefined` for RFC 2069 style digests. */
  qop?: string | undefined;
  nc?: string | undefined;
  cnonce?: string | undefined;
  /** The message body, needed for `qop=auth-int`. @defaultValue empty */
  body?: string | Uint8Array | undefined;
}

/** The request digest (`response=`), lower-case hex. */
export function computeDigestResponse(options: ComputeDigestResponseOptions): string {
  const { algorithm, method, uri, nonce, qop, nc, cnonce } = options;
  let ha1 = options.ha1;
  // RFC 7616 §3.4.2: for "-sess" algorithms A1 = H(user:realm:pass) ":" nonce ":" cnonce
  if (algorithm.endsWith('-sess')) ha1 = digestHash(algorithm, `${ha1}:${nonce}:${cnonce ?? ''}`);
  // RFC 7616 §3.4.3: A2 = Method ":" request-uri, plus ":" H(entity-body) for auth-int
  const a2 =
    qop === 'auth-int'
      ? `${method}:${uri}:${digestHash(algorithm, options.body ?? '')}`
      : `${method}:${uri}`;
  const ha2 = digestHash(algorithm, a2);
  // RFC 7616 §3.4.1: response = KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2));
  // RFC 2069 (no qop): KD(H(A1), nonce ":" H(A2))
  const data =
    qop === undefined ? `${nonce}:${ha2}` : `${nonce}:${nc ?? ''}:${cnonce ?? ''}:${qop}:${ha2}`;
  return digestHash(algorithm, `${ha1}:${data}`);
}
