/**
 * Error codes of the B2BUA engine and trunks.
 *
 * @module
 */

/**
 * Error codes of the B2BUA engine and trunks of `@voxmesh/sip`. Each is
 * documented in `docs/errors.md` with how to fix it.
 */
export const SipB2buaErrorCode = {
  /** A bridge target (or a transfer target) has a URI that does not parse, or no targets were given. */
  SIP_B2BUA_INVALID_TARGET: 'SIP_B2BUA_INVALID_TARGET',
  /** The media controller refused an offer or answer, or a leg sent SDP that is not a session description. */
  SIP_B2BUA_MEDIA_FAILED: 'SIP_B2BUA_MEDIA_FAILED',
  /** A trunk's registration with its carrier failed (it keeps retrying with backoff). */
  SIP_TRUNK_REGISTRATION_FAILED: 'SIP_TRUNK_REGISTRATION_FAILED',
} as const;

/** The union of all {@link SipB2buaErrorCode} values. */
export type SipB2buaErrorCode = (typeof SipB2buaErrorCode)[keyof typeof SipB2buaErrorCode];
