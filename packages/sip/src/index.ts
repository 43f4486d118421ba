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

// Transports (RFC 3261 §18, RFC 3581, RFC 5626 keep-alives, RFC 7118 WebSocket).
export { SipTransport } from './transport/transport.js';
export type {
  SipTransportOptions,
  SipTransportEvents,
  ListenerOptions,
  ListenerInfo,
} from './transport/transport.js';
export { TRANSPORT_PROTOCOLS } from './transport/types.js';
export type {
  TransportProtocol,
  TransportAddress,
  TransportTarget,
  Flow,
  SendOptions,
  SendResponseOptions,
  SipTransportLayer,
  SipTransportLayerEvents,
} from './transport/types.js';
export {
  stampReceived,
  responseTarget,
  replaceTopVia,
  defaultPort,
  protocolOf,
} from './transport/routing.js';

// ---- Transactions, dialogs, user agents and digest authentication ----

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

// Errors of the transaction, dialog and user-agent layers.
export { SipUaErrorCode, SipResponseError } from './ua/errors.js';
export type { SipResponseErrorOptions } from './ua/errors.js';

// Transactions (RFC 3261 §17, RFC 6026, RFC 4320).
export {
  BRANCH_MAGIC_COOKIE,
  generateBranch,
  resolveTimers,
  TransactionBase,
} from './transaction/transaction-base.js';
export type {
  TransactionTimerOptions,
  TransactionTimers,
  TransactionFlow,
  TransactionContext,
  TransactionEvents,
} from './transaction/transaction-base.js';
export {
  InviteClientTransaction,
  NonInviteClientTransaction,
  buildNonSuccessAck,
} from './transaction/client-transaction.js';
export type {
  InviteClientTransactionState,
  NonInviteClientTransactionState,
  ClientTransactionEvents,
  ClientTransactionOptions,
} from './transaction/client-transaction.js';
export {
  InviteServerTransaction,
  NonInviteServerTransaction,
} from './transaction/server-transaction.js';
export type {
  InviteServerTransactionState,
  NonInviteServerTransactionState,
  ServerTransactionEvents,
  ServerTransactionOptions,
} from './transaction/server-transaction.js';
export { TransactionLayer } from './transaction/transaction-layer.js';
export type {
  ClientTransaction,
  ServerTransaction,
  TransactionLayerOptions,
  SendRequestOptions,
  ReceivedRequest,
} from './transaction/transaction-layer.js';

// Dialogs (RFC 3261 §12).
export { Dialog, generateTag, generateCallId } from './dialog/dialog.js';
export type { DialogInit, DialogState, DialogRequestOptions } from './dialog/dialog.js';

// User agents and calls (RFC 3261 §8, §13–15; RFC 3262, 3311, 3515, 3891, 3892, 4028, 3326).
export { UserAgent } from './ua/user-agent.js';
export type {
  UserAgentOptions,
  UserAgentEvents,
  RequestContext,
  RequestHandler,
  UseOptions,
  UaRequestOptions,
  UaInviteOptions,
  UaRegisterOptions,
} from './ua/user-agent.js';
export { Call, formatReason, ALLOW } from './ua/call.js';
export type {
  CallState,
  CallEnd,
  CallEvents,
  CallDelegate,
  CallHost,
  CallRoute,
  InDialogRequest,
  ResponseSpec,
  ReasonOptions,
  CallProgressOptions,
  CallAcceptOptions,
  CallRejectOptions,
  CallEndOptions,
  CallRequestOptions,
  CallReferOptions,
  SessionTimerOptions,
} from './ua/call.js';
export type {
  UaTransport,
  UaFlow,
  UaTarget,
  UaProtocol,
  UaConnectOptions,
} from './ua/ua-transport.js';
export { userAgentTransport, isUaTransport } from './ua/transport-adapter.js';
// ---- end: transactions, dialogs, user agents and digest authentication ----

// Registrar and location service (RFC 3261 §10.3, RFC 5626 flows).
export { Registrar, canonicalAor } from './registrar/registrar.js';
export type {
  RegistrarOptions,
  RegistrarEvents,
  RegistrarFlow,
  RegistrarHandleOptions,
  RegistrarReply,
  RegistrarRequestContext,
  RealmQuery,
  AuthorizeQuery,
  LookupOptions,
  ContactRoute,
} from './registrar/registrar.js';
export { MemoryBindingStore } from './registrar/binding-store.js';
export type {
  Binding,
  BindingStore,
  BindingStoreOptions,
  ReceivedPath,
} from './registrar/binding-store.js';
export { RegistrarServer } from './registrar/registrar-server.js';
export type { RegistrarServerOptions } from './registrar/registrar-server.js';

// B2BUA engine and trunks.
export { SipB2buaErrorCode } from './b2bua/errors.js';
export { B2bua } from './b2bua/b2bua.js';
export type { B2buaOptions, B2buaEvents } from './b2bua/b2bua.js';
export { Bridge } from './b2bua/bridge.js';
export type {
  B2buaTarget,
  BridgeOptions,
  BridgeTransfer,
  BridgeState,
  BridgeOutcome,
  BridgeEnd,
  BridgeEvents,
  BridgeHost,
} from './b2bua/bridge.js';
export { passThroughHeaders, isEssentialHeader } from './b2bua/headers.js';
export type { HeaderPolicy } from './b2bua/headers.js';
export { isPlausibleSdp } from './b2bua/sdp.js';
export { Trunk, trunkTargets, trunkFailover } from './trunk/trunk.js';
export type {
  TrunkOptions,
  TrunkTargetOptions,
  TrunkTargetsOptions,
  TrunkEvents,
} from './trunk/trunk.js';

// SIP + media call channel: core's CallChannel over a Call and a TerminatingMediaController.
export { SipCallChannel, infoDigit } from './channel/sip-call-channel.js';
export type { SipCallChannelOptions, SipChannelBridge } from './channel/sip-call-channel.js';
export { SipChannelErrorCode } from './channel/errors.js';
export { uaBridge } from './channel/ua-bridge.js';
export type { UaBridgeOptions, UaBridgeDial } from './channel/ua-bridge.js';
