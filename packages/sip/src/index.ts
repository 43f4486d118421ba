/**
 * `@voxmesh/sip`: signalling: an RFC 3261 SIP stack, registrar, B2BUA engine and trunks.
 *
 * @packageDocumentation
 */

// Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760).
export {
  parseAuthHeader,
  parseDigestChallenge,
  parseDigestCredentials,
  serializeDigestChallenge,
  serializeDigestCredentials,
  normalizeDigestAlgorithm,
} from './auth/auth-header.js';
export type {
  AuthHeaderValue,
  DigestAlgorithm,
  DigestChallenge,
  DigestCredentials,
} from './auth/auth-header.js';
export { digestHash, computeHA1, computeDigestResponse } from './auth/digest.js';
export type { ComputeHA1Options, ComputeDigestResponseOptions } from './auth/digest.js';
export { DigestAuthenticator } from './auth/digest-server.js';
export type {
  DigestAuthenticatorOptions,
  DigestChallengeOptions,
  DigestVerifyOptions,
  DigestVerifyResult,
  DigestRejection,
  DigestFailureReason,
  DigestSecret,
  CredentialQuery,
  CredentialLookup,
  DigestThrottleOptions,
} from './auth/digest-server.js';
export { DigestClient } from './auth/digest-client.js';
export type {
  DigestClientOptions,
  DigestAuthorizeOptions,
  DigestAuthorization,
} from './auth/digest-client.js';
