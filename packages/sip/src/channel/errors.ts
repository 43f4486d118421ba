/**
 * Error codes of {@link SipCallChannel}.
 *
 * @module
 */

/**
 * Error codes of the SIP call channel of `@voxmesh/sip`. Each is documented
 * in `docs/errors.md` with how to fix it.
 */
export const SipChannelErrorCode = {
  /**
   * The caller's session description was refused: malformed, without a
   * codec in common, or not SDP. The INVITE was answered 488 or 415.
   */
  SIP_CHANNEL_MEDIA_REFUSED: 'SIP_CHANNEL_MEDIA_REFUSED',
  /**
   * The INVITE had no SDP (a late offer) and the ACK brought no usable
   * answer to the media plane's offer; the call was ended with BYE.
   */
  SIP_CHANNEL_NO_SDP_ANSWER: 'SIP_CHANNEL_NO_SDP_ANSWER',
  /** A blind transfer failed: the caller refused the REFER and no bridge could take the call. */
  SIP_CHANNEL_TRANSFER_FAILED: 'SIP_CHANNEL_TRANSFER_FAILED',
} as const;

/** The union of all {@link SipChannelErrorCode} values. */
export type SipChannelErrorCode = (typeof SipChannelErrorCode)[keyof typeof SipChannelErrorCode];
