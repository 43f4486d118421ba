/**
 * `@voxmesh/media`: media plane: RTP/RTCP, SDP offer/answer, relay, G.711, player, recorder, DTMF.
 *
 * This package is being built; its first API lands with its issue.
 *
 * @packageDocumentation
 */

export {};
