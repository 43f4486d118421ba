/**
 * The seam between signalling and media.
 *
 * The B2BUA (in `@voxmesh/sip`) never touches RTP: it hands every SDP it
 * receives to a {@link MediaController} and sends on the SDP it gets back.
 * `@voxmesh/media` implements the interface in-process; because every request
 * and result is plain JSON, a media worker process (or an rtpengine adapter)
 * can serve the same interface over IPC later.
 *
 * A media session anchors one call. Each signalling leg of the call is a
 * *leg* of the session, named by the caller of the interface (the B2BUA uses
 * `'a'` for the caller and one id per forked B leg). The flow of a bridged
 * call:
 *
 * ```text
 *  A ──INVITE(sdpA)──► B2BUA  offer({from:'a', to:'b1', sdp: sdpA})  → sdpA' (relay ports facing B)
 *                      B2BUA ──INVITE(sdpA')──► B
 *  A ◄──200(sdpB')──── B2BUA  answer({from:'b1', to:'a', sdp: sdpB}) → sdpB' (relay ports facing A)
 *                      ... re-INVITE from either side: offer()/answer() again ...
 *                      B2BUA  teardown({sessionId})
 * ```
 *
 * @module
 */

import type { TypedEvents } from './events.js';

/** Identifies a media session: one per call, chosen by the caller (e.g. the SIP Call-ID of the A leg). */
export type MediaSessionId = string;

/** Identifies one leg of a media session (e.g. `'a'`, `'b1'`). */
export type MediaLegId = string;

/** Common fields of media requests. */
export interface MediaRequestBase {
  /** The session; created by the first `offer` that names it. */
  sessionId: MediaSessionId;
  /** The tenant the call belongs to (for limits, metrics and logs). */
  tenantId?: string | undefined;
}

/** An SDP offer received on leg `from`, to be forwarded to leg `to`. */
export interface MediaOfferRequest extends MediaRequestBase {
  /** The leg the offer came from. */
  from: MediaLegId;
  /** The leg the rewritten offer will be sent to. */
  to: MediaLegId;
  /** The offer as received (an SDP body). */
  sdp: string;
}

/** An SDP answer received on leg `from` (the `to` of an earlier offer), to be forwarded to leg `to`. */
export interface MediaAnswerRequest extends MediaRequestBase {
  /** The leg the answer came from. */
  from: MediaLegId;
  /** The leg that made the offer. */
  to: MediaLegId;
  /** The answer as received (an SDP body). */
  sdp: string;
}

/** The SDP to send on, and what the media plane made of it. */
export interface MediaSdpResult {
  /** The SDP to send to the other leg (addresses and ports of the media plane). */
  sdp: string;
}

/** How a leg's DTMF is handled. */
export type DtmfMode = 'pass-through' | 'intercept';

/** A change to a running session that is not an offer/answer exchange. */
export interface MediaUpdateRequest extends MediaRequestBase {
  /** The leg the change applies to; all legs when omitted. */
  leg?: MediaLegId | undefined;
  /** Stop (`true`) or resume (`false`) forwarding media from this leg, e.g. for a local hold. */
  hold?: boolean | undefined;
  /** Whether DTMF is forwarded to the other leg or only reported as events. */
  dtmf?: DtmfMode | undefined;
}

/** Ends a session, or one leg of it (e.g. a losing fork). */
export interface MediaTeardownRequest extends MediaRequestBase {
  /** Only this leg; the whole session when omitted. */
  leg?: MediaLegId | undefined;
  /** Why, for logs and statistics (e.g. `'bye'`, `'cancel'`, `'timeout'`). */
  reason?: string | undefined;
}

/** Options every media operation accepts. */
export interface MediaOperationOptions {
  /** Aborts the operation (it then rejects with an `AbortError`). */
  signal?: AbortSignal | undefined;
}

/** A DTMF digit seen on a leg. */
export interface DtmfEvent {
  /** `0`–`9`, `*`, `#`, `A`–`D`. */
  digit: string;
  /** How long the key was pressed, in milliseconds. */
  durationMs: number;
  /** How the digit was carried. */
  source: 'rfc4733' | 'inband' | 'info';
}

/** Media quality of one leg, from RTP and RTCP. */
export interface MediaLegStats {
  packetsReceived: number;
  packetsLost: number;
  /** Interarrival jitter, in milliseconds (RFC 3550 §6.4.1). */
  jitterMs: number;
  /** Round-trip time from RTCP, in milliseconds, when known. */
  rttMs?: number | undefined;
  /** Mean opinion score estimate (1–4.5) from a simplified E-model. */
  mos?: number | undefined;
}

/** Events of a {@link MediaController}. */
export interface MediaControllerEvents {
  /** A DTMF digit arrived on a leg (intercepted or passed through). */
  dtmf: [sessionId: MediaSessionId, leg: MediaLegId, event: DtmfEvent];
  /** No media arrived on a leg for the configured time (a dead peer). */
  timeout: [sessionId: MediaSessionId, leg: MediaLegId];
  /** Periodic or final quality figures of a leg. */
  stats: [sessionId: MediaSessionId, leg: MediaLegId, stats: MediaLegStats];
  /** A session ended and its resources were released. */
  ended: [sessionId: MediaSessionId, reason: string];
}

/**
 * Anchors the media of calls: rewrites SDP so RTP flows through the media
 * plane, and reports what it sees. Implemented by `@voxmesh/media`.
 */
export interface MediaController extends TypedEvents<MediaControllerEvents> {
  /** Takes an offer from one leg and returns the offer to send to the other. */
  offer(request: MediaOfferRequest, options?: MediaOperationOptions): Promise<MediaSdpResult>;
  /** Takes the answer to an earlier offer and returns the answer to send back. */
  answer(request: MediaAnswerRequest, options?: MediaOperationOptions): Promise<MediaSdpResult>;
  /** Changes a running session (hold, DTMF mode) without an SDP exchange. */
  update(request: MediaUpdateRequest, options?: MediaOperationOptions): Promise<void>;
  /** Ends a session or one leg, releasing ports. Tearing down an unknown session does nothing. */
  teardown(request: MediaTeardownRequest, options?: MediaOperationOptions): Promise<void>;
}
