/**
 * Error codes of `@voxmesh/media`. Every code is documented in
 * `docs/errors.md` under `## @voxmesh/media`.
 *
 * @module
 */

/** Error codes `@voxmesh/media` throws, in addition to core's `ErrorCode`. */
export const MediaErrorCode = {
  /** An SDP body could not be parsed or is missing required lines. */
  SDP_INVALID: 'MEDIA_SDP_INVALID',
  /** An SDP offer and the local capabilities have no codec in common. */
  SDP_NO_COMMON_CODEC: 'MEDIA_SDP_NO_COMMON_CODEC',
  /** No free RTP port is left in the configured range. */
  PORTS_EXHAUSTED: 'MEDIA_PORTS_EXHAUSTED',
  /** An RTP or RTCP packet is malformed. */
  PACKET_INVALID: 'MEDIA_PACKET_INVALID',
  /** A WAV file is malformed or uses an encoding the player cannot play. */
  WAV_INVALID: 'MEDIA_WAV_INVALID',
  /** An answer names a session or leg that has no pending offer. */
  UNKNOWN_SESSION: 'MEDIA_UNKNOWN_SESSION',
} as const;

/** The union of all {@link MediaErrorCode} values. */
export type MediaErrorCode = (typeof MediaErrorCode)[keyof typeof MediaErrorCode];
