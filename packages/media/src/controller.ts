/**
 * {@link InProcessMediaController}: core's `MediaController` served in
 * process — the B2BUA hands it every SDP, and it anchors the media of each
 * call on local ports, relaying RTP between the legs.
 *
 * ```text
 *  A ──RTP──► [port facing A] ─ relay ─ [port facing B] ◄──RTP── B
 *            offer(from:'a', to:'b1', sdpA)  → sdpA' (address/port facing B)
 *            answer(from:'b1', to:'a', sdpB) → sdpB' (address/port facing A)
 * ```
 *
 * It also implements core's `TerminatingMediaController`: a leg can be
 * terminated here ({@link InProcessMediaController.terminate}) — answered by
 * the media plane itself, played to, recorded and listened to for DTMF
 * through a {@link TerminatedLeg} — and later handed over to the relay
 * ({@link InProcessMediaController.bridgeLegs}). Every player and recorder
 * runs on one shared 20 ms {@link MediaClock}.
 *
 * ```text
 *  A ──RTP──► [port facing A] ── TerminatedLeg (player, recorder, DTMF)
 *            terminate({leg:'a', sdp: sdpA}) → answer      play / record / stopPlay / stopRecord
 *            bridgeLegs({leg:'a', to:'b1'})  → offer for B; answer({from:'b1', to:'a'}) → relay A ⇄ B
 * ```
 *
 * Every request and result is plain JSON, so a media worker process can
 * serve the same interface over IPC: nothing here depends on the caller
 * sharing its event loop (the byte sink of `record` is the one in-process
 * option; see core's `MediaRecordOptions`).
 *
 * @module
 */

import {
  ErrorCode,
  Metrics,
  Service,
  silentLogger,
  throwIfAborted,
  VoxmeshError,
  type Clock,
  type Counter,
  type DtmfMode,
  type Gauge,
  type Logger,
  type MediaAnswerRequest,
  type MediaBridgeLegsRequest,
  type MediaControllerEvents,
  type MediaLegId,
  type MediaLegRequest,
  type MediaOfferRequest,
  type MediaOperationOptions,
  type MediaPlayRequest,
  type MediaPlayResult,
  type MediaRecordOptions,
  type MediaRecordRequest,
  type MediaRecordResult,
  type MediaSdpResult,
  type MediaTeardownRequest,
  type MediaTerminateAnswerRequest,
  type MediaTerminateRequest,
  type MediaTerminateResult,
  type MediaUpdateRequest,
  type TerminatingMediaController,
  type Timer,
  type WorkToken,
} from '@voxmesh/core';
import { isAudioCodec, type AudioCodecName, type PayloadFormat } from './codecs.js';
import { MediaErrorCode } from './errors.js';
import { MediaLeg } from './leg.js';
import { MediaClock } from './media-clock.js';
import { PortAllocator, type PortAllocatorOptions } from './ports.js';
import { RtpRelay, type RelayLegMedia, type RelayTap } from './relay.js';
import {
  createAnswer,
  isTelephoneEvent,
  parseSdp,
  sameCodec,
  writeSdp,
  type SdpMedia,
  type SdpSession,
} from './sdp.js';
import { PromptCache, promptSamples, TerminatedLeg } from './terminated-leg.js';

/** Options of {@link InProcessMediaController}. */
export interface InProcessMediaControllerOptions {
  /**
   * Where RTP ports come from: an allocator (shared with other components)
   * or the options to create one.
   * @defaultValue ephemeral ports on `127.0.0.1`
   */
  ports?: PortAllocator | PortAllocatorOptions | undefined;
  /**
   * The address written into rewritten SDP (the public address of this media
   * node when it differs from the bind address).
   * @defaultValue the allocator's bind address
   */
  advertisedAddress?: string | undefined;
  /**
   * The codecs the relay may use on a leg, in order of preference. PCMU and
   * PCMA are transcoded into each other when the legs pick different ones.
   * @defaultValue `['PCMU', 'PCMA']`
   */
  codecs?: readonly AudioCodecName[] | undefined;
  /**
   * The DTMF mode of new sessions.
   * @defaultValue `'pass-through'`
   */
  dtmf?: DtmfMode | undefined;
  /**
   * A leg that received no RTP for this long emits `timeout` (once).
   * @defaultValue `30000`
   */
  mediaTimeoutMs?: number | undefined;
  /**
   * How often RTCP reports are sent and `stats` events emitted.
   * @defaultValue `5000`
   */
  statsIntervalMs?: number | undefined;
  /**
   * Consecutive packets from a new source before a leg re-latches.
   * @defaultValue `5`
   */
  probationPackets?: number | undefined;
  /**
   * Whether a leg's socket is `connect()`ed to its latched peer (cheaper
   * sends; a moved peer is then learned after `relatchSilenceMs` of silence
   * instead of after probation).
   * @defaultValue `true`
   */
  connect?: boolean | undefined;
  /**
   * Silence after which a connected leg may latch onto a new source.
   * @defaultValue `1000`
   */
  relatchSilenceMs?: number | undefined;
  /**
   * The clock for timeouts and statistics.
   * @defaultValue `systemClock`
   */
  clock?: Clock | undefined;
  /**
   * The shared 20 ms clock that paces the players and recorders of
   * terminated legs (share one with other media components of the process).
   * @defaultValue a new `MediaClock` on `clock`
   */
  mediaClock?: MediaClock | undefined;
  /**
   * How many decoded prompt files are kept in memory (a file is re-read
   * when its size or modification time changes).
   * @defaultValue `256`
   */
  promptCacheEntries?: number | undefined;
  /**
   * Where logs go.
   * @defaultValue `silentLogger`
   */
  logger?: Logger | undefined;
  /**
   * Where metrics are registered.
   * @defaultValue a private `Metrics`
   */
  metrics?: Metrics | undefined;
}

interface LegState {
  id: MediaLegId;
  leg: MediaLeg;
  /** What the peer of this leg last described (its audio m-line). */
  remote?: SdpMedia | undefined;
  timedOut: boolean;
  createdAt: number;
  /** Set when the media plane terminates this leg. */
  terminated?: TerminatedLeg | undefined;
  /** The formats of a terminated leg's offer that await its answer (late offer). */
  offeredTerminated?: PayloadFormat[] | undefined;
}

interface PendingOffer {
  from: MediaLegId;
  to: MediaLegId;
  offer: SdpSession;
  audioIndex: number;
  /** The formats offered to `to` (what its answer must choose from). */
  offeredTo: PayloadFormat[];
}

interface SessionState {
  id: string;
  legs: Map<MediaLegId, LegState>;
  relays: { relay: RtpRelay; a: MediaLegId; b: MediaLegId }[];
  /** Offers awaiting an answer, by the leg they went to (parallel forks each have one). */
  pending: Map<MediaLegId, PendingOffer>;
  dtmf: DtmfMode;
  work: WorkToken;
  version: number;
  originId: string;
  taps: Set<RelayTap>;
}

const TELEPHONE_EVENT_PT = 101;

function invalidState(message: string): VoxmeshError {
  return new VoxmeshError(MediaErrorCode.UNKNOWN_SESSION, message);
}

/**
 * Anchors call media in this process: implements core's `MediaController`.
 * Start it before use; `drain()` waits until every session was torn down.
 *
 * @example
 * ```ts
 * const media = new InProcessMediaController({ ports: { address: '0.0.0.0', minPort: 20000, maxPort: 29999 }, advertisedAddress: '198.51.100.7' });
 * await media.start();
 * const { sdp } = await media.offer({ sessionId: callId, from: 'a', to: 'b1', sdp: inviteSdp });
 * ```
 */
export class InProcessMediaController
  extends Service<MediaControllerEvents>
  implements TerminatingMediaController
{
  readonly #ports: PortAllocator;
  readonly #address: string;
  readonly #codecs: readonly AudioCodecName[];
  readonly #dtmf: DtmfMode;
  readonly #mediaTimeoutMs: number;
  readonly #statsIntervalMs: number;
  readonly #probation: number;
  readonly #connect: boolean;
  readonly #relatchSilenceMs: number;
  readonly #logger: Logger;
  readonly #sessions = new Map<string, SessionState>();
  readonly #sessionsGauge: Gauge;
  readonly #sessionsEnded: Counter;
  readonly #plays: Counter<'reason'>;
  readonly #recordings: Counter<'reason'>;
  readonly #recordedSeconds: Counter;
  readonly #mediaClock: MediaClock;
  readonly #prompts: PromptCache;
  #timer: Timer | undefined;

  constructor(options: InProcessMediaControllerOptions = {}) {
    super({ name: 'media-controller', clock: options.clock });
    this.#ports =
      options.ports instanceof PortAllocator ? options.ports : new PortAllocator(options.ports);
    this.#address = options.advertisedAddress ?? this.#ports.address;
    this.#codecs = options.codecs ?? ['PCMU', 'PCMA'];
    if (this.#codecs.length === 0) throw new RangeError('codecs must name at least one codec');
    this.#dtmf = options.dtmf ?? 'pass-through';
    this.#mediaTimeoutMs = options.mediaTimeoutMs ?? 30_000;
    this.#statsIntervalMs = options.statsIntervalMs ?? 5_000;
    this.#probation = options.probationPackets ?? 5;
    this.#connect = options.connect ?? true;
    this.#relatchSilenceMs = options.relatchSilenceMs ?? 1000;
    this.#logger = options.logger ?? silentLogger;
    this.#mediaClock = options.mediaClock ?? new MediaClock({ clock: this.clock });
    this.#prompts = new PromptCache({ maxEntries: options.promptCacheEntries });
    const metrics = options.metrics ?? new Metrics();
    this.#sessionsGauge = metrics.gauge({
      name: 'media_sessions',
      help: 'Media sessions anchored',
    });
    this.#sessionsEnded = metrics.counter({
      name: 'media_sessions_ended_total',
      help: 'Media sessions ended',
    });
    this.#plays = metrics.counter({
      name: 'media_plays_total',
      help: 'Prompts played to terminated legs, by how they ended',
      labelNames: ['reason'],
    });
    this.#recordings = metrics.counter({
      name: 'media_recordings_total',
      help: 'Recordings of terminated legs, by how they ended',
      labelNames: ['reason'],
    });
    this.#recordedSeconds = metrics.counter({
      name: 'media_recorded_seconds_total',
      help: 'Audio recorded from terminated legs, in seconds',
    });
  }

  /** The number of sessions anchored. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  protected onStart(): Promise<void> {
    this.#timer = this.clock.setInterval(
      () => {
        this.#housekeeping();
      },
      Math.min(1000, this.#statsIntervalMs),
    );
    this.#timer.unref();
    return Promise.resolve();
  }

  protected onStop(): Promise<void> {
    this.#timer?.cancel();
    for (const id of [...this.#sessions.keys()]) this.#end(id, 'stopped');
    return Promise.resolve();
  }

  async offer(
    request: MediaOfferRequest,
    options: MediaOperationOptions = {},
  ): Promise<MediaSdpResult> {
    throwIfAborted(options.signal);
    checkRequest(request);
    if (request.from === request.to) throw new TypeError('offer: from and to must differ');
    const offer = parseSdp(request.sdp);
    const audioIndex = offer.media.findIndex(
      (m) => m.type === 'audio' && m.port !== 0 && /^RTP\/AVPF?$/.test(m.protocol),
    );
    const audio = offer.media[audioIndex];
    if (audio === undefined) {
      throw new VoxmeshError(
        MediaErrorCode.SDP_NO_COMMON_CODEC,
        'The offer has no RTP audio stream to anchor',
      );
    }
    const known = audio.formats.filter((f) =>
      this.#codecs.some((c) => sameCodec(f, STATIC_FORMAT[c])),
    );
    if (known.length === 0) {
      throw new VoxmeshError(
        MediaErrorCode.SDP_NO_COMMON_CODEC,
        `The offer shares no codec with ${this.#codecs.join(', ')}`,
      );
    }
    const session = this.#session(request.sessionId);
    const fromLeg = await this.#leg(session, request.from, audio.rtcpMux);
    const toLeg = await this.#leg(session, request.to, true);
    if (options.signal?.aborted) {
      this.#dropLegIfIdle(session, request.from);
      this.#dropLegIfIdle(session, request.to);
      throwIfAborted(options.signal);
    }
    fromLeg.remote = audio;
    fromLeg.leg.setRemote(
      { address: audio.address, port: audio.port },
      audio.rtcpMux
        ? undefined
        : { address: audio.address, port: audio.rtcpPort ?? audio.port + 1 },
    );
    // Offer the caller's codecs we can relay, then the ones we can transcode to.
    const offered: PayloadFormat[] = [...known];
    for (const name of this.#codecs) {
      if (!offered.some((f) => sameCodec(f, STATIC_FORMAT[name])) && name !== 'L16')
        offered.push(STATIC_FORMAT[name]);
    }
    const te = audio.formats.find((f) => isTelephoneEvent(f) && f.clockRate === 8000) ?? {
      payloadType: freePayloadType(offered),
      name: 'telephone-event',
      clockRate: 8000,
      fmtp: '0-16',
    };
    offered.push(te);
    const media: SdpMedia[] = offer.media.map((m, i) =>
      i === audioIndex
        ? {
            type: 'audio',
            port: toLeg.leg.port,
            protocol: m.protocol,
            formats: offered,
            address: this.#address,
            direction: m.direction,
            ptime: m.ptime,
            rtcpMux: true,
            rtcpPort: toLeg.leg.ports.rtcpPort,
          }
        : { ...m, port: 0, address: this.#address, rtcpMux: false, rtcpPort: undefined },
    );
    session.pending.set(request.to, {
      from: request.from,
      to: request.to,
      offer,
      audioIndex,
      offeredTo: offered,
    });
    this.#logger.debug(
      { sessionId: session.id, from: request.from, to: request.to },
      'media offer anchored',
    );
    return { sdp: writeSdp(this.#sessionSdp(session, media)) };
  }

  answer(
    request: MediaAnswerRequest,
    options: MediaOperationOptions = {},
  ): Promise<MediaSdpResult> {
    throwIfAborted(options.signal);
    checkRequest(request);
    const session = this.#sessions.get(request.sessionId);
    const pending = session?.pending.get(request.from);
    if (session === undefined || pending === undefined || pending.from !== request.to) {
      return Promise.reject(
        invalidState(
          `No offer from '${request.to}' to '${request.from}' is pending in session '${request.sessionId}'`,
        ),
      );
    }
    const answer = parseSdp(request.sdp);
    const offerAudio = pending.offer.media[pending.audioIndex] as SdpMedia;
    const answerAudio = answer.media[pending.audioIndex];
    const offerer = session.legs.get(pending.from) as LegState;
    const answerer = session.legs.get(pending.to) as LegState;
    const rejectAll = (): MediaSdpResult => ({
      sdp: writeSdp(
        this.#sessionSdp(
          session,
          pending.offer.media.map((m) => ({
            ...m,
            port: 0,
            address: this.#address,
            rtcpMux: false,
            rtcpPort: undefined,
          })),
        ),
      ),
    });
    session.pending.delete(request.from);
    if (answerAudio === undefined || answerAudio.port === 0) {
      // RFC 3264 §6: the answerer rejected the stream; so do we, towards the offerer.
      return Promise.resolve(rejectAll());
    }
    // The answerer's codec: the first format of its answer that we offered and know.
    const chosen = answerAudio.formats.find(
      (f) => !isTelephoneEvent(f) && pending.offeredTo.some((o) => sameCodec(o, f)),
    );
    const chosenName = chosen && codecName(chosen);
    if (chosen === undefined || chosenName === undefined) {
      return Promise.reject(
        new VoxmeshError(
          MediaErrorCode.SDP_NO_COMMON_CODEC,
          'The answer chose no codec that was offered',
        ),
      );
    }
    const answerTe = answerAudio.formats.find((f) => isTelephoneEvent(f));
    answerer.remote = answerAudio;
    answerer.leg.setRemote(
      { address: answerAudio.address, port: answerAudio.port },
      answerAudio.rtcpMux
        ? undefined
        : { address: answerAudio.address, port: answerAudio.rtcpPort ?? answerAudio.port + 1 },
    );
    // The offerer's codec: the same one if it offered it, else one we transcode from.
    const offererFormat =
      offerAudio.formats.find((f) => sameCodec(f, chosen)) ??
      offerAudio.formats.find(
        (f) => codecName(f) !== undefined && this.#codecs.includes(codecName(f) as AudioCodecName),
      );
    const offererName = offererFormat && codecName(offererFormat);
    if (offererFormat === undefined || offererName === undefined) {
      return Promise.reject(
        new VoxmeshError(MediaErrorCode.SDP_NO_COMMON_CODEC, 'No codec for the offerer'),
      );
    }
    const offererTe = offerAudio.formats.find((f) => isTelephoneEvent(f) && f.clockRate === 8000);
    const receives = (d: string): boolean => d === 'sendrecv' || d === 'recvonly';
    const offMedia: RelayLegMedia = {
      codec: offererName,
      payloadType: offererFormat.payloadType,
      telephoneEventPayloadType: offererTe?.payloadType,
      receives: receives(offerAudio.direction) && offerAudio.address !== '0.0.0.0',
    };
    const ansMedia: RelayLegMedia = {
      codec: chosenName,
      payloadType: chosen.payloadType,
      telephoneEventPayloadType: answerTe?.payloadType,
      receives: receives(answerAudio.direction) && answerAudio.address !== '0.0.0.0',
    };
    this.#bind(session, offerer, answerer, offMedia, ansMedia);
    const media: SdpMedia[] = pending.offer.media.map((m, i) =>
      i === pending.audioIndex
        ? {
            type: 'audio',
            port: offerer.leg.port,
            protocol: m.protocol,
            formats: offererTe ? [offererFormat, offererTe] : [offererFormat],
            address: this.#address,
            direction: answerAudio.direction,
            ptime: answerAudio.ptime ?? m.ptime,
            // RFC 5761 §5.1.1: mux in the answer only if the offer had it.
            rtcpMux: m.rtcpMux,
            rtcpPort: offerer.leg.ports.rtcpPort,
          }
        : { ...m, port: 0, address: this.#address, rtcpMux: false, rtcpPort: undefined },
    );
    return Promise.resolve({ sdp: writeSdp(this.#sessionSdp(session, media)) });
  }

  update(request: MediaUpdateRequest, options: MediaOperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    checkRequest(request);
    const session = this.#sessions.get(request.sessionId);
    if (session === undefined) {
      return Promise.reject(
        new VoxmeshError(ErrorCode.NOT_FOUND, `No media session '${request.sessionId}'`),
      );
    }
    if (request.dtmf !== undefined) session.dtmf = request.dtmf;
    for (const { relay, a, b } of session.relays) {
      if (request.dtmf !== undefined) relay.dtmfMode = request.dtmf;
      if (request.hold !== undefined) {
        if (request.leg === undefined || request.leg === a) relay.setHold('a', request.hold);
        if (request.leg === undefined || request.leg === b) relay.setHold('b', request.hold);
      }
    }
    return Promise.resolve();
  }

  teardown(request: MediaTeardownRequest, options: MediaOperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    checkRequest(request);
    const session = this.#sessions.get(request.sessionId);
    if (session === undefined) return Promise.resolve();
    const reason = request.reason ?? 'teardown';
    if (request.leg === undefined) {
      this.#end(session.id, reason);
      return Promise.resolve();
    }
    const state = session.legs.get(request.leg);
    if (state !== undefined) {
      this.emit('stats', session.id, state.id, state.leg.stats());
      state.terminated?.close();
      state.leg.close(reason);
      session.legs.delete(request.leg);
      session.relays = session.relays.filter(({ a, b, relay }) => {
        if (a !== request.leg && b !== request.leg) return true;
        relay.a.onRtp = undefined;
        relay.b.onRtp = undefined;
        return false;
      });
      // A leg the media plane terminated before, now relayed to nothing (its
      // partner is gone, or the bridge never got an answer), terminates again.
      for (const other of session.legs.values()) {
        const media = other.terminated?.media;
        if (
          media !== undefined &&
          other.terminated?.attached === false &&
          !session.relays.some(({ a, b }) => a === other.id || b === other.id)
        ) {
          other.terminated.attach(media);
        }
      }
      for (const [to, p] of session.pending) {
        if (to === request.leg || p.from === request.leg) session.pending.delete(to);
      }
    }
    if (session.legs.size === 0) this.#end(session.id, reason);
    return Promise.resolve();
  }

  // ---- terminated legs (core's TerminatingMediaController) --------------

  /**
   * Terminates a leg here: answers its offer (RFC 3264 §6, the first audio
   * stream sharing a codec, telephone-event accepted) or, without `sdp`,
   * makes an offer whose answer goes to {@link InProcessMediaController.terminateAnswer}.
   * A malformed offer is refused with `MEDIA_SDP_INVALID`, one without a
   * usable codec with `MEDIA_SDP_NO_COMMON_CODEC`, before any port is bound.
   */
  async terminate(
    request: MediaTerminateRequest,
    options: MediaOperationOptions = {},
  ): Promise<MediaTerminateResult> {
    throwIfAborted(options.signal);
    checkRequest(request);
    checkLeg(request.leg);
    if (request.sdp !== undefined && typeof request.sdp !== 'string')
      throw new TypeError('sdp must be a string when given');
    const formats = this.#codecs.map((c) => STATIC_FORMAT[c]);
    // Validate before anything is allocated: a hostile offer costs no port.
    const offer = request.sdp === undefined ? undefined : parseSdp(request.sdp);
    if (offer !== undefined) {
      createAnswer({ offer, codecs: formats, address: this.#address, port: 9 });
    }
    const session = this.#session(request.sessionId);
    let state: LegState;
    try {
      state = await this.#leg(session, request.leg, true);
    } catch (error) {
      if (session.legs.size === 0) this.#end(session.id, 'aborted');
      throw error;
    }
    if (options.signal?.aborted) {
      this.#dropLegIfIdle(session, request.leg);
      throwIfAborted(options.signal);
    }
    if (session.relays.some(({ a, b }) => a === request.leg || b === request.leg)) {
      throw new VoxmeshError(
        ErrorCode.INVALID_STATE,
        `Leg '${request.leg}' is relayed; tear down the other leg before terminating it again`,
      );
    }
    const terminated = (state.terminated ??= new TerminatedLeg({
      leg: state.leg,
      mediaClock: this.#mediaClock,
      onDtmf: (event) => {
        this.emit('dtmf', session.id, request.leg, event);
      },
    }));
    const origin = this.#sessionSdp(session, []).origin;
    if (offer === undefined) {
      // RFC 3264 §5: our offer, every codec we take plus telephone-event.
      const offered: PayloadFormat[] = [
        ...formats,
        {
          payloadType: freePayloadType(formats),
          name: 'telephone-event',
          clockRate: 8000,
          fmtp: '0-16',
        },
      ];
      state.offeredTerminated = offered;
      const sdp = writeSdp({
        origin,
        name: '-',
        media: [
          {
            type: 'audio',
            port: state.leg.port,
            protocol: 'RTP/AVP',
            formats: offered,
            address: this.#address,
            direction: 'sendrecv',
            ptime: 20,
            rtcpMux: true,
            rtcpPort: state.leg.ports.rtcpPort,
          },
        ],
      });
      return { type: 'offer', sdp };
    }
    const answer = createAnswer({
      offer,
      codecs: formats,
      address: this.#address,
      port: state.leg.port,
      rtcpPort: state.leg.ports.rtcpPort,
      origin,
    });
    state.offeredTerminated = undefined;
    this.#terminateWith(state, terminated, answer.remote, answer.codec, answer.telephoneEvent);
    this.#logger.debug({ sessionId: session.id, leg: request.leg }, 'media leg terminated');
    return { type: 'answer', sdp: answer.sdp };
  }

  /** Takes a terminated leg's answer to the offer {@link InProcessMediaController.terminate} made. */
  terminateAnswer(
    request: MediaTerminateAnswerRequest,
    options: MediaOperationOptions = {},
  ): Promise<void> {
    throwIfAborted(options.signal);
    checkRequest(request);
    checkLeg(request.leg);
    const state = this.#sessions.get(request.sessionId)?.legs.get(request.leg);
    const offered = state?.offeredTerminated;
    if (state?.terminated === undefined || offered === undefined) {
      return Promise.reject(
        invalidState(`No offer to leg '${request.leg}' awaits an answer in '${request.sessionId}'`),
      );
    }
    const answer = parseSdp(request.sdp);
    const audio = answer.media.find((m) => m.type === 'audio' && m.port !== 0);
    // RFC 3264 §6.1: the answer picks from what was offered, with our payload types.
    const codec = audio?.formats.find(
      (f) => !isTelephoneEvent(f) && offered.some((o) => sameCodec(o, f)),
    );
    if (audio === undefined || codec === undefined) {
      return Promise.reject(
        new VoxmeshError(
          MediaErrorCode.SDP_NO_COMMON_CODEC,
          'The answer accepted no audio codec that was offered',
        ),
      );
    }
    state.offeredTerminated = undefined;
    const te = audio.formats.find((f) => isTelephoneEvent(f) && f.clockRate === 8000);
    this.#terminateWith(state, state.terminated, audio, codec, te);
    return Promise.resolve();
  }

  #terminateWith(
    state: LegState,
    terminated: TerminatedLeg,
    remote: SdpMedia,
    codec: PayloadFormat,
    te: PayloadFormat | undefined,
  ): void {
    const name = codecName(codec);
    if (name === undefined) {
      throw new VoxmeshError(MediaErrorCode.SDP_NO_COMMON_CODEC, `Cannot play ${codec.name}`);
    }
    state.remote = { ...remote, formats: te === undefined ? [codec] : [codec, te] };
    state.leg.setRemote(
      { address: remote.address, port: remote.port },
      remote.rtcpMux
        ? undefined
        : { address: remote.address, port: remote.rtcpPort ?? remote.port + 1 },
    );
    terminated.attach({
      codec: name,
      payloadType: codec.payloadType,
      telephoneEventPayloadType: te?.payloadType,
      // RFC 3264 §6.1: nothing is sent to a peer that is sendonly or inactive (or at the hold address).
      sends:
        (remote.direction === 'sendrecv' || remote.direction === 'recvonly') &&
        remote.address !== '0.0.0.0' &&
        remote.address !== '::',
    });
  }

  /**
   * Plays prompts to a terminated leg, paced by the shared media clock.
   * Rejects with `NOT_FOUND` for an unknown session or leg, `INVALID_STATE`
   * for a leg that is not terminated (or relayed), `INVALID_INPUT` for a
   * malformed prompt, `MEDIA_WAV_INVALID` for a file that is not 8 kHz WAV.
   */
  async play(
    request: MediaPlayRequest,
    options: MediaOperationOptions = {},
  ): Promise<MediaPlayResult> {
    throwIfAborted(options.signal);
    const terminated = this.#terminated(request);
    const bargeIn = request.bargeIn ?? 'none';
    if (bargeIn !== 'none' && bargeIn !== 'dtmf' && bargeIn !== 'any')
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, `Unknown bargeIn '${String(bargeIn)}'`);
    const playing = terminated.play(() => promptSamples(request.prompts, this.#prompts), {
      bargeIn,
      bargeInKeys: request.bargeInKeys,
      loop: request.loop,
    });
    void playing.then(
      (result) => {
        this.#plays.inc({ reason: result.reason });
      },
      () => undefined,
    );
    if (options.signal === undefined) return playing;
    const signal = options.signal;
    const onAbort = (): void => {
      terminated.stopPlay();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await playing;
      throwIfAborted(signal);
      return result;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Stops what a terminated leg plays. */
  stopPlay(request: MediaLegRequest, options: MediaOperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#terminatedIfAny(request)?.stopPlay();
    return Promise.resolve();
  }

  /**
   * Records a terminated leg into `options.sink` (a WAV: header, then the
   * audio on the sender's RTP timeline — gaps in the timestamps filled with
   * silence, late packets dropped — so a busy event loop does not change the
   * recording's length).
   */
  async record(
    request: MediaRecordRequest,
    options: MediaRecordOptions,
  ): Promise<MediaRecordResult> {
    throwIfAborted(options.signal);
    const terminated = this.#terminated(request);
    const sink = options.sink as unknown;
    if (
      typeof sink !== 'object' ||
      sink === null ||
      typeof (sink as { write?: unknown }).write !== 'function'
    ) {
      throw new TypeError('record() needs a writable sink');
    }
    const encoding = request.encoding ?? 'pcm16';
    if (encoding !== 'pcm16' && encoding !== 'ulaw' && encoding !== 'alaw')
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, `Unknown encoding '${String(encoding)}'`);
    const recording = terminated.record({
      sink: options.sink,
      maxDurationMs: request.maxDurationMs,
      silenceTimeoutMs: request.silenceTimeoutMs,
      finishOnKey: request.finishOnKey,
      beep: request.beep,
      encoding,
    });
    void recording.then(
      (result) => {
        this.#recordings.inc({ reason: result.reason });
        this.#recordedSeconds.inc(result.durationMs / 1000);
      },
      () => undefined,
    );
    if (options.signal === undefined) return recording;
    const signal = options.signal;
    const onAbort = (): void => {
      terminated.stopRecord();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await recording;
      throwIfAborted(signal);
      return result;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Stops a terminated leg's recording. */
  stopRecord(request: MediaLegRequest, options: MediaOperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    this.#terminatedIfAny(request)?.stopRecord();
    return Promise.resolve();
  }

  /**
   * Hands a terminated leg over to the relay towards new leg `to`: returns
   * the offer for `to`, carrying the codec the terminated leg negotiated
   * first (a different choice of the far end is transcoded).
   */
  async bridgeLegs(
    request: MediaBridgeLegsRequest,
    options: MediaOperationOptions = {},
  ): Promise<MediaSdpResult> {
    throwIfAborted(options.signal);
    checkLeg(request.to);
    const terminated = this.#terminated(request);
    const state = this.#sessions.get(request.sessionId)?.legs.get(request.leg);
    const remote = state?.remote;
    if (remote === undefined) throw invalidState(`Leg '${request.leg}' has no negotiated media`);
    // The terminated leg described as if it had just offered what it negotiated.
    const described = writeSdp({
      origin: { username: '-', sessionId: '0', sessionVersion: 0, address: remote.address },
      name: '-',
      media: [{ ...remote, direction: 'sendrecv' }],
    });
    terminated.detach();
    return this.offer(
      {
        sessionId: request.sessionId,
        tenantId: request.tenantId,
        from: request.leg,
        to: request.to,
        sdp: described,
      },
      options,
    );
  }

  #terminated(request: MediaLegRequest): TerminatedLeg {
    checkRequest(request);
    checkLeg(request.leg);
    const session = this.#sessions.get(request.sessionId);
    if (session === undefined)
      throw new VoxmeshError(ErrorCode.NOT_FOUND, `No media session '${request.sessionId}'`);
    const state = session.legs.get(request.leg);
    if (state === undefined)
      throw new VoxmeshError(
        ErrorCode.NOT_FOUND,
        `No leg '${request.leg}' in media session '${request.sessionId}'`,
      );
    if (state.terminated === undefined)
      throw new VoxmeshError(ErrorCode.INVALID_STATE, `Leg '${request.leg}' is not terminated`);
    return state.terminated;
  }

  #terminatedIfAny(request: MediaLegRequest): TerminatedLeg | undefined {
    checkRequest(request);
    return this.#sessions.get(request.sessionId)?.legs.get(request.leg)?.terminated;
  }

  /**
   * Taps the audio relayed in a session (e.g. for a {@link Recorder}): the
   * tap receives the decoded samples of every packet, after it was sent.
   * Returns a `Disposable` that removes the tap.
   */
  tap(sessionId: string, tap: RelayTap): Disposable {
    const session = this.#sessions.get(sessionId);
    if (session === undefined)
      throw new VoxmeshError(ErrorCode.NOT_FOUND, `No media session '${sessionId}'`);
    session.taps.add(tap);
    const subs = session.relays.map(({ relay }) => relay.tap(tap));
    return {
      [Symbol.dispose]: () => {
        session.taps.delete(tap);
        for (const s of subs) s[Symbol.dispose]();
      },
    };
  }

  /** Quality figures of one leg, or `undefined` when there is no such leg. */
  legStats(sessionId: string, leg: MediaLegId): ReturnType<MediaLeg['stats']> | undefined {
    return this.#sessions.get(sessionId)?.legs.get(leg)?.leg.stats();
  }

  /** The local RTP port facing a leg's peer (diagnostics and tests). */
  legPort(sessionId: string, leg: MediaLegId): number | undefined {
    return this.#sessions.get(sessionId)?.legs.get(leg)?.leg.port;
  }

  #session(id: string): SessionState {
    let session = this.#sessions.get(id);
    if (session === undefined) {
      const work = this.beginWork();
      session = {
        id,
        legs: new Map(),
        relays: [],
        pending: new Map(),
        dtmf: this.#dtmf,
        work,
        version: 0,
        originId: String(Math.floor(Math.random() * 1e12)),
        taps: new Set(),
      };
      this.#sessions.set(id, session);
      this.#sessionsGauge.set(this.#sessions.size);
    }
    return session;
  }

  async #leg(session: SessionState, id: MediaLegId, _rtcpMux: boolean): Promise<LegState> {
    const existing = session.legs.get(id);
    if (existing !== undefined) return existing;
    const ports = await this.#ports.allocate({ rtcp: true });
    // The session may have been torn down while the port was bound.
    if (this.#sessions.get(session.id) !== session) {
      ports.release();
      throw invalidState(`Media session '${session.id}' ended during the offer`);
    }
    const raced = session.legs.get(id);
    if (raced !== undefined) {
      ports.release();
      return raced;
    }
    const state: LegState = {
      id,
      leg: new MediaLeg({
        ports,
        rtcpMux: true,
        probationPackets: this.#probation,
        connect: this.#connect,
        relatchSilenceMs: this.#relatchSilenceMs,
        clock: this.clock,
      }),
      timedOut: false,
      createdAt: this.clock.monotonic(),
    };
    session.legs.set(id, state);
    return state;
  }

  #dropLegIfIdle(session: SessionState, id: MediaLegId): void {
    const state = session.legs.get(id);
    if (state === undefined || state.remote !== undefined) return;
    state.leg.close();
    session.legs.delete(id);
    if (session.legs.size === 0) this.#end(session.id, 'aborted');
  }

  #bind(
    session: SessionState,
    offerer: LegState,
    answerer: LegState,
    off: RelayLegMedia,
    ans: RelayLegMedia,
  ): void {
    const same = session.relays.find(({ a, b }) => a === offerer.id && b === answerer.id);
    if (same) {
      same.relay.setMedia(off, ans);
      return;
    }
    const swapped = session.relays.find(({ a, b }) => a === answerer.id && b === offerer.id);
    if (swapped) {
      swapped.relay.setMedia(ans, off);
      return;
    }
    // A new pairing (e.g. another fork answered): it replaces relays using either leg.
    session.relays = session.relays.filter(({ a, b, relay }) => {
      const involved = [a, b].some((l) => l === offerer.id || l === answerer.id);
      if (involved) {
        relay.a.onRtp = undefined;
        relay.b.onRtp = undefined;
      }
      return !involved;
    });
    const relay = new RtpRelay({
      a: offerer.leg,
      b: answerer.leg,
      mediaA: off,
      mediaB: ans,
      onDtmf: (from, event) => {
        this.emit('dtmf', session.id, from === 'a' ? offerer.id : answerer.id, event);
      },
    });
    relay.dtmfMode = session.dtmf;
    for (const tap of session.taps) relay.tap(tap);
    session.relays.push({ relay, a: offerer.id, b: answerer.id });
  }

  #sessionSdp(session: SessionState, media: SdpMedia[]): SdpSession {
    session.version++;
    return {
      origin: {
        username: 'voxmesh',
        sessionId: session.originId,
        sessionVersion: session.version,
        address: this.#address,
      },
      name: '-',
      media,
    };
  }

  #end(id: string, reason: string): void {
    const session = this.#sessions.get(id);
    if (session === undefined) return;
    this.#sessions.delete(id);
    for (const state of session.legs.values()) {
      this.emit('stats', id, state.id, state.leg.stats());
      state.terminated?.close();
      state.leg.close(reason);
    }
    session.legs.clear();
    session.relays = [];
    session.work.release();
    this.#sessionsGauge.set(this.#sessions.size);
    this.#sessionsEnded.inc();
    this.emit('ended', id, reason);
  }

  #tick = 0;

  #housekeeping(): void {
    const now = this.clock.monotonic();
    const period = Math.min(1000, this.#statsIntervalMs);
    const reportNow = ++this.#tick % Math.max(1, Math.round(this.#statsIntervalMs / period)) === 0;
    for (const session of this.#sessions.values()) {
      for (const state of session.legs.values()) {
        state.leg.maintain();
        const last = state.leg.lastPacketAt ?? state.createdAt;
        if (!state.timedOut && now - last >= this.#mediaTimeoutMs) {
          state.timedOut = true;
          this.emit('timeout', session.id, state.id);
        } else if (state.timedOut && now - last < this.#mediaTimeoutMs) {
          state.timedOut = false;
        }
        if (reportNow) {
          state.leg.sendRtcp(`voxmesh@${this.#address}`);
          this.emit('stats', session.id, state.id, state.leg.stats());
        }
      }
    }
  }
}

const STATIC_FORMAT: Record<AudioCodecName, PayloadFormat> = {
  PCMU: { payloadType: 0, name: 'PCMU', clockRate: 8000 },
  PCMA: { payloadType: 8, name: 'PCMA', clockRate: 8000 },
  L16: { payloadType: 96, name: 'L16', clockRate: 8000 },
};

function codecName(format: PayloadFormat): AudioCodecName | undefined {
  const upper = format.name.toUpperCase();
  return isAudioCodec(upper) && format.clockRate === 8000 && (format.channels ?? 1) === 1
    ? upper
    : undefined;
}

function freePayloadType(formats: readonly PayloadFormat[]): number {
  for (let pt = TELEPHONE_EVENT_PT; pt < 128; pt++)
    if (!formats.some((f) => f.payloadType === pt)) return pt;
  for (let pt = 96; pt < TELEPHONE_EVENT_PT; pt++)
    if (!formats.some((f) => f.payloadType === pt)) return pt;
  return TELEPHONE_EVENT_PT;
}

function checkLeg(leg: unknown): void {
  if (typeof leg !== 'string' || leg === '') throw new TypeError('leg must be a non-empty string');
}

function checkRequest(request: { sessionId: unknown }): void {
  if (typeof request !== 'object' || request === null)
    throw new TypeError('A request object is required');
  if (typeof request.sessionId !== 'string' || request.sessionId === '') {
    throw new TypeError('sessionId must be a non-empty string');
  }
}
