/**
 * Error codes of the SIP codec and transports.
 *
 * @module
 */

/**
 * Error codes that `@voxmesh/sip` adds to core's `ErrorCode`. Each is
 * documented in `docs/errors.md` with how to fix it.
 */
export const SipErrorCode = {
  /** A SIP message, or one of its headers, does not follow the grammar of RFC 3261 §25. */
  SIP_INVALID_MESSAGE: 'SIP_INVALID_MESSAGE',
  /** A URI or name-addr given by a caller or a peer does not parse. */
  SIP_INVALID_URI: 'SIP_INVALID_URI',
  /** A message exceeds a configured size limit (header bytes, body bytes, datagram size). */
  SIP_MESSAGE_TOO_LARGE: 'SIP_MESSAGE_TOO_LARGE',
  /** No listener or connection can carry a message to the requested destination. */
  SIP_NO_TRANSPORT: 'SIP_NO_TRANSPORT',
  /** A connection limit was reached (per transport layer). */
  SIP_CONNECTION_LIMIT: 'SIP_CONNECTION_LIMIT',
  /** A flow was closed, or its buffered-bytes limit was exceeded, before a send finished. */
  SIP_FLOW_CLOSED: 'SIP_FLOW_CLOSED',
  /** Connecting to a remote transport address failed. */
  SIP_CONNECT_FAILED: 'SIP_CONNECT_FAILED',
} as const;

/** The union of all {@link SipErrorCode} values. */
export type SipErrorCode = (typeof SipErrorCode)[keyof typeof SipErrorCode];
