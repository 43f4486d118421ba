/**
 * `@voxmesh/sip`: signalling: an RFC 3261 SIP stack, registrar, B2BUA engine and trunks.
 *
 * @packageDocumentation
 */

// Codec: the message model, URIs, headers and parsing.
export { SipErrorCode } from './codec/errors.js';
export {
  SipUri,
  TelUri,
  AbsoluteUri,
  parseUri,
  tryParseUri,
  parseSipUri,
  parseHostPort,
} from './codec/uri.js';
export type { Uri, SipUriInit, HostPort } from './codec/uri.js';
export { NameAddr, parseNameAddr, tryParseNameAddr } from './codec/name-addr.js';
export type { NameAddrInit } from './codec/name-addr.js';
export { SipHeaders, headerKey, canonicalHeaderName } from './codec/headers.js';
export type { HeaderField } from './codec/headers.js';
export { Via, tryParseVia, tryParseCSeq, parseTokenList } from './codec/header-values.js';
export type { ViaInit, CSeq } from './codec/header-values.js';
export { parseParams, formatParams, splitTopLevel, quote, unquote } from './codec/grammar.js';
export type { SipParams } from './codec/grammar.js';
export {
  SipMessageBase,
  SipRequest,
  SipResponse,
  createResponse,
  reasonPhrase,
} from './message.js';
export type {
  SipMessage,
  SipMessageInit,
  SipRequestInit,
  SipResponseInit,
  HeadersInit,
  CreateResponseOptions,
} from './message.js';
export { parseMessage } from './codec/parser.js';
export { SipStreamFramer } from './codec/framer.js';
export type { SipStreamFramerOptions, StreamFrame } from './codec/framer.js';
export type { ParseResult, ParseSuccess, ParseDrop, ParseReject } from './codec/parser.js';

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
