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
 * A {@link TerminatingMediaController} can also *terminate* a leg: the media
 * plane itself answers the leg's offer (or makes the offer) and becomes that
 * leg's peer, so call logic can play prompts to it, record it and collect its
 * DTMF — an IVR or voicemail — and later hand the leg over to the relay
 * towards another leg:
 *
 * ```text
 *  A ──INVITE(sdpA)──► UAS   terminate({leg:'a', sdp: sdpA})          → answer (media-plane port)
 *  A ◄──200(answer)──        play({leg:'a', prompts}) / record({leg:'a'}, {sink}) / dtmf events
 *                            bridgeLegs({leg:'a', to:'b1'})            → offer for B (A keeps its port)
 *                      UAC ──INVITE(offer)──► B
 *                            answer({from:'b1', to:'a', sdp: sdpB})   → relay A ⇄ B
 * ```
 *
 * @module
 */

import type { Writable } from 'node:stream';
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

// ---- terminated legs ---------------------------------------------------

/**
 * Makes the media plane the peer of one leg. With `sdp` (the leg's offer,
 * e.g. from an INVITE) the result is the answer; without it (an INVITE
 * without SDP, RFC 3261 §13.2.1 late offer) the result is an offer, and the
 * leg's answer (from the ACK) goes to {@link TerminatingMediaController.terminateAnswer}.
 * Terminating a leg that is already terminated is a new offer/answer
 * exchange on it (a re-INVITE, e.g. hold): its port stays the same.
 */
export interface MediaTerminateRequest extends MediaRequestBase {
  /** The leg to terminate. */
  leg: MediaLegId;
  /** The leg's offer; omitted when the media plane must make the offer. */
  sdp?: string | undefined;
}

/** The SDP the media plane sends on a terminated leg. */
export interface MediaTerminateResult extends MediaSdpResult {
  /** Whether {@link MediaSdpResult.sdp} answers the leg's offer or is an offer awaiting its answer. */
  type: 'answer' | 'offer';
}

/** The answer of a leg to the offer the media plane made in {@link TerminatingMediaController.terminate}. */
export interface MediaTerminateAnswerRequest extends MediaRequestBase {
  /** The terminated leg. */
  leg: MediaLegId;
  /** The leg's answer (e.g. the body of the ACK). */
  sdp: string;
}

/**
 * Something the media plane plays: an audio file on the media node (8 kHz
 * mono WAV: PCM 16-bit, µ-law or A-law), a pure tone, or silence.
 */
export type MediaPrompt =
  | {
      /** The path of a WAV file, as the media node sees it. */
      file: string;
    }
  | {
      /** A sine tone of this frequency, in hertz. */
      toneHz: number;
      /** Its length, in milliseconds. */
      durationMs: number;
    }
  | {
      /** Silence, in milliseconds. */
      silenceMs: number;
    };

/** Plays prompts to a terminated leg. */
export interface MediaPlayRequest extends MediaRequestBase {
  /** The terminated leg. */
  leg: MediaLegId;
  /** The prompts, played one after the other. */
  prompts: MediaPrompt[];
  /**
   * Which input stops the playback at once: `'dtmf'` a digit from the leg
   * (of `bargeInKeys`; it is also reported as a `dtmf` event, before the
   * play result); `'any'` also the leg speaking (audio above the
   * implementation's silence level for about 100 ms).
   * @defaultValue `'none'`
   */
  bargeIn?: 'none' | 'dtmf' | 'any' | undefined;
  /**
   * With `bargeIn` `'dtmf'`, only these keys interrupt.
   * @defaultValue every key
   */
  bargeInKeys?: string | undefined;
  /**
   * How many times to play the prompts; `'forever'` until stopped (music on hold).
   * @defaultValue `1`
   */
  loop?: number | 'forever' | undefined;
}

/** How a playback ended. */
export interface MediaPlayResult {
  /**
   * `completed`: every prompt was played; `interrupted`: a digit barged in;
   * `stopped`: {@link TerminatingMediaController.stopPlay}, another play or
   * a hand-over to the relay; `hangup`: the leg or session was torn down.
   */
  reason: 'completed' | 'interrupted' | 'stopped' | 'hangup';
  /** How long audio was sent, in milliseconds. */
  playedMs: number;
  /** The digit that interrupted the playback. */
  digit?: string | undefined;
}

/** Names a terminated leg (to stop what it plays or records). */
export interface MediaLegRequest extends MediaRequestBase {
  /** The terminated leg. */
  leg: MediaLegId;
}

/** Records what a terminated leg sends. */
export interface MediaRecordRequest extends MediaRequestBase {
  /** The terminated leg. */
  leg: MediaLegId;
  /**
   * The longest recording, in milliseconds.
   * @defaultValue `120000`
   */
  maxDurationMs?: number | undefined;
  /**
   * End after this much continuous silence, in milliseconds; the trailing
   * silence is left out of the recording.
   * @defaultValue no silence detection
   */
  silenceTimeoutMs?: number | undefined;
  /**
   * DTMF keys that end the recording.
   * @defaultValue none
   */
  finishOnKey?: string | undefined;
  /**
   * Play a beep (250 ms of 1 kHz) to the leg before recording starts.
   * @defaultValue `false`
   */
  beep?: boolean | undefined;
  /**
   * The sample encoding of the WAV written.
   * @defaultValue `'pcm16'`
   */
  encoding?: 'pcm16' | 'ulaw' | 'alaw' | undefined;
}

/**
 * Options of {@link TerminatingMediaController.record}: where the bytes go.
 *
 * The byte sink is an in-process option beside `signal`, not part of the
 * JSON request. An implementation that serves the interface over IPC keeps
 * it on the client side: the client sends the JSON request, the media worker
 * streams the WAV back as ordered data messages (`{ sessionId, leg, seq,
 * bytes }`) that the client writes to `sink` (pausing the worker with a
 * credit window when `sink.write()` returns `false`), and the final message
 * carries the {@link MediaRecordResult}.
 */
export interface MediaRecordOptions extends MediaOperationOptions {
  /**
   * Receives the recording as a WAV file: the header first (declaring an
   * unknown length, as streamed WAV files do), then the audio. The sink is
   * ended when the recording ends.
   */
  sink: Writable;
}

/** How a recording ended. */
export interface MediaRecordResult {
  /** `stopped`: {@link TerminatingMediaController.stopRecord}; `hangup`: the leg or session was torn down. */
  reason: 'max-duration' | 'silence' | 'finish-key' | 'stopped' | 'hangup';
  /** The length of the audio written, in milliseconds. */
  durationMs: number;
  /** The bytes written to the sink, header included. */
  bytes: number;
}

/**
 * Hands a terminated leg over to the relay towards a new leg `to` (the IVR
 * bridges the caller onwards). Whatever the leg was playing or recording
 * stops. The result is an offer for `to` (media-plane address, the
 * terminated leg's codecs first); send it to the far end and pass its answer
 * to {@link MediaController.answer} with `from: to, to: leg`. The terminated
 * leg keeps its port, so its peer needs no re-INVITE.
 */
export interface MediaBridgeLegsRequest extends MediaRequestBase {
  /** The terminated leg. */
  leg: MediaLegId;
  /** The new leg. */
  to: MediaLegId;
}

/**
 * A {@link MediaController} that can also terminate legs: answer (or offer)
 * SDP itself, play prompts, record, report DTMF (RFC 4733 and in-band, as
 * `dtmf` events) and re-anchor a terminated leg to another leg. Every
 * request and result is JSON, as for the base interface; tearing a
 * terminated leg or its session down settles its play and record with
 * `hangup`.
 */
export interface TerminatingMediaController extends MediaController {
  /** Terminates a leg: answers its offer, or makes an offer when `sdp` is omitted. */
  terminate(
    request: MediaTerminateRequest,
    options?: MediaOperationOptions,
  ): Promise<MediaTerminateResult>;
  /** Takes the leg's answer to the offer made by {@link TerminatingMediaController.terminate}. */
  terminateAnswer(
    request: MediaTerminateAnswerRequest,
    options?: MediaOperationOptions,
  ): Promise<void>;
  /**
   * Plays prompts to a terminated leg; resolves when they ended. A new play
   * on the leg stops the current one (`stopped`).
   */
  play(request: MediaPlayRequest, options?: MediaOperationOptions): Promise<MediaPlayResult>;
  /** Stops what a leg plays (its play resolves `stopped`); does nothing when nothing plays. */
  stopPlay(request: MediaLegRequest, options?: MediaOperationOptions): Promise<void>;
  /** Records a terminated leg into `options.sink`; resolves when the recording ended. */
  record(request: MediaRecordRequest, options: MediaRecordOptions): Promise<MediaRecordResult>;
  /** Stops a leg's recording (it resolves `stopped`); does nothing when nothing records. */
  stopRecord(request: MediaLegRequest, options?: MediaOperationOptions): Promise<void>;
  /** Re-anchors a terminated leg to a new leg; returns the offer for the new leg. */
  bridgeLegs(
    request: MediaBridgeLegsRequest,
    options?: MediaOperationOptions,
  ): Promise<MediaSdpResult>;
}

/** Whether a media controller can terminate legs (implements {@link TerminatingMediaController}). */
export function isTerminatingMediaController(
  controller: MediaController,
): controller is TerminatingMediaController {
  const c = controller as Partial<TerminatingMediaController>;
  return (
    typeof c.terminate === 'function' &&
    typeof c.terminateAnswer === 'function' &&
    typeof c.play === 'function' &&
    typeof c.record === 'function' &&
    typeof c.bridgeLegs === 'function'
  );
}
