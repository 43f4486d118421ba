/**
 * {@link SipCallChannel}: core's `CallChannel` over an incoming SIP
 * {@link Call} and a `TerminatingMediaController` — what lets the IVR
 * runtime and voicemail drive a real SIP call with real RTP.
 *
 * ```text
 *  caller ──INVITE(sdp)──► Call (ringing)        channel.answer():
 *                                                   media.terminate({ leg, sdp }) → answer
 *  caller ◄──200(answer)── ──ACK──► answered         (no SDP in the INVITE: offer in the 200, answer in the ACK)
 *  RTP ⇄ media plane        play / collectDigits / record → media.play / dtmf events / media.record
 *  DTMF: RFC 4733 and in-band (media `dtmf` events), SIP INFO (application/dtmf-relay, application/dtmf)
 *  bridge(target) → the integrator's `bridge` callback (e.g. the B2BUA), helped by bridgeOffer/bridgeAnswer
 *  transfer(target): unanswered → 302; answered → REFER (RFC 3515) then BYE; refused → the bridge callback
 *  hangup(): unanswered → final response (480); answered → BYE      caller BYE/CANCEL → ended('remote')
 * ```
 *
 * sip never imports media: the channel reaches the media plane only
 * through core's interface, so the media can run in a worker process.
 *
 * @module
 */

import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import {
  DigitCollector,
  ErrorCode,
  TypedEventEmitter,
  VoxmeshError,
  digitCollectorSettings,
  onAbort,
  silentLogger,
  systemClock,
  type AnswerOptions,
  type BridgeOptions,
  type BridgeResult,
  type BridgeTarget,
  type CallChannel,
  type CallChannelEvents,
  type CallParty,
  type CallState,
  type Clock,
  type CollectDigitsOptions,
  type CollectDigitsResult,
  type DtmfEvent,
  type HangupOptions,
  type Logger,
  type MediaLegId,
  type MediaPlayResult,
  type MediaPrompt,
  type MediaRecordResult,
  type MediaSessionId,
  type PlayOptions,
  type PlayResult,
  type PromptSource,
  type RecordOptions,
  type RecordResult,
  type TerminatingMediaController,
  type TransferOptions,
} from '@voxmesh/core';
import { SipUri, type Uri } from '../codec/uri.js';
import type { NameAddr } from '../codec/name-addr.js';
import type { Call, CallEnd, InDialogRequest, ResponseSpec } from '../ua/call.js';
import { SipResponseError } from '../ua/errors.js';
import { SipChannelErrorCode } from './errors.js';

/** The integrator's bridge: connects the channel's call to a target, resolves when that leg ended or failed. */
export type SipChannelBridge = (
  channel: SipCallChannel,
  target: BridgeTarget,
  options: BridgeOptions,
) => Promise<BridgeResult>;

/** Options of the {@link SipCallChannel} constructor. */
export interface SipCallChannelOptions {
  /** The incoming call, not yet answered (from the user agent's INVITE middleware or `invite` event). */
  call: Call;
  /** The media plane: a controller that can terminate legs (`InProcessMediaController` of `@voxmesh/media`). */
  media: TerminatingMediaController;
  /**
   * The tenant the call belongs to.
   * @defaultValue `'default'`
   */
  tenantId?: string | undefined;
  /**
   * The channel's id (logs, call history).
   * @defaultValue the Call-ID
   */
  id?: string | undefined;
  /**
   * The media session of the call.
   * @defaultValue the channel's id
   */
  sessionId?: MediaSessionId | undefined;
  /**
   * The caller's leg in the media session.
   * @defaultValue `'a'`
   */
  leg?: MediaLegId | undefined;
  /**
   * Resolves what call logic asks to play into what the media plane plays
   * (e.g. a prompt id and language into a file of the tenant's prompt set).
   * Returning `undefined` falls back to the default.
   * @defaultValue tones and silence as they are; a `url` that is a `file:`
   * URL or an absolute path as a file; a prompt id is refused with `NOT_SUPPORTED`
   */
  prompts?:
    | ((
        source: PromptSource,
        channel: SipCallChannel,
      ) =>
        | MediaPrompt
        | readonly MediaPrompt[]
        | undefined
        | Promise<MediaPrompt | readonly MediaPrompt[] | undefined>)
    | undefined;
  /**
   * Opens the writable a recording with storage key `key` goes to (a storage
   * adapter's upload stream). The channel's media plane ends it when the
   * recording ends.
   * @defaultValue none: `record()` rejects with `NOT_SUPPORTED`
   */
  recordingSink?:
    ((key: string, channel: SipCallChannel) => Writable | Promise<Writable>) | undefined;
  /**
   * Connects the call onwards (`bridge()`, and `transfer()` when the caller
   * refuses a REFER) — e.g. through the B2BUA, with
   * {@link SipCallChannel.bridgeOffer} and {@link SipCallChannel.bridgeAnswer}
   * for the media.
   * @defaultValue none: `bridge()` rejects with `NOT_SUPPORTED`
   */
  bridge?: SipChannelBridge | undefined;
  /**
   * The SIP URI a blind transfer sends the caller to.
   * @defaultValue a `uri` target as it is; others as `sip:<extension|number|group>@<host of the called URI>`
   */
  transferUri?: ((target: BridgeTarget, channel: SipCallChannel) => string) | undefined;
  /**
   * Hang up (by `'system'`) when the media plane reports no RTP from the
   * caller for its media timeout.
   * @defaultValue `false`
   */
  hangupOnMediaTimeout?: boolean | undefined;
  /**
   * The clock of the digit-collection timers.
   * @defaultValue `systemClock`
   */
  clock?: Clock | undefined;
  /**
   * Where logs go.
   * @defaultValue `silentLogger`
   */
  logger?: Logger | undefined;
}

interface Playing {
  bargeIn: NonNullable<PlayOptions['bargeIn']>;
  keys: string | undefined;
  outcome: PlayResult['reason'] | undefined;
}

interface Recording {
  finishOnKey: string;
  outcome: RecordResult['reason'] | undefined;
}

function party(addr: NameAddr | undefined, fallback: Uri | undefined): CallParty {
  let uri: Uri | undefined;
  try {
    uri = addr?.uri ?? fallback;
  } catch {
    uri = fallback;
  }
  const user =
    uri instanceof SipUri
      ? (uri.user ?? '')
      : uri !== undefined && 'number' in uri
        ? uri.number
        : '';
  return { user, displayName: addr?.displayName, uri: uri?.toString() };
}

function sdpType(contentType: string | undefined): boolean {
  return (contentType ?? '').trim().toLowerCase().startsWith('application/sdp');
}

const MEDIA_SDP_CODES = new Set(['MEDIA_SDP_INVALID', 'MEDIA_SDP_NO_COMMON_CODEC']);

/** What a channel hears from its media session. */
interface MediaSubscriber {
  dtmf(leg: string, event: DtmfEvent): void;
  timeout(leg: string): void;
  ended(reason: string): void;
}

/**
 * One set of listeners per media controller, dispatching by session id, so
 * thousands of concurrent channels neither add thousands of listeners to
 * the controller nor scan them all for every event.
 */
class MediaRouter {
  readonly sessions = new Map<string, MediaSubscriber>();
  readonly #media: TerminatingMediaController;
  readonly #dtmf = (sessionId: string, leg: string, event: DtmfEvent): void => {
    this.sessions.get(sessionId)?.dtmf(leg, event);
  };
  readonly #timeout = (sessionId: string, leg: string): void => {
    this.sessions.get(sessionId)?.timeout(leg);
  };
  readonly #ended = (sessionId: string, reason: string): void => {
    this.sessions.get(sessionId)?.ended(reason);
  };

  constructor(media: TerminatingMediaController) {
    this.#media = media;
  }

  add(sessionId: string, subscriber: MediaSubscriber): void {
    if (this.sessions.has(sessionId)) {
      throw new TypeError(`Media session '${sessionId}' already has a channel`);
    }
    if (this.sessions.size === 0) {
      this.#media.on('dtmf', this.#dtmf);
      this.#media.on('timeout', this.#timeout);
      this.#media.on('ended', this.#ended);
    }
    this.sessions.set(sessionId, subscriber);
  }

  delete(sessionId: string, subscriber: MediaSubscriber): void {
    if (this.sessions.get(sessionId) !== subscriber) return;
    this.sessions.delete(sessionId);
    if (this.sessions.size === 0) {
      this.#media.off('dtmf', this.#dtmf);
      this.#media.off('timeout', this.#timeout);
      this.#media.off('ended', this.#ended);
    }
  }
}

const routers = new WeakMap<TerminatingMediaController, MediaRouter>();

function routerOf(media: TerminatingMediaController): MediaRouter {
  let router = routers.get(media);
  if (router === undefined) {
    router = new MediaRouter(media);
    routers.set(media, router);
  }
  return router;
}

/** Parses the DTMF digit of an INFO body (application/dtmf-relay or application/dtmf). */
export function infoDigit(contentType: string | undefined, body: string): string | undefined {
  const type = (contentType ?? '').trim().toLowerCase();
  let value: string | undefined;
  if (type.startsWith('application/dtmf-relay')) {
    value = /^\s*signal\s*=\s*(\S+)\s*$/im.exec(body)?.[1];
  } else if (type.startsWith('application/dtmf')) {
    value = body.trim();
  }
  if (value === undefined) return undefined;
  const digit = value.toUpperCase();
  // Some phones send flash (16) or the event number of * and # (10, 11).
  const mapped = digit === '10' ? '*' : digit === '11' ? '#' : digit;
  return /^[0-9*#A-D]$/.test(mapped) ? mapped : undefined;
}

/**
 * A `CallChannel` over an incoming SIP call, with the media terminated by a
 * `TerminatingMediaController`. Runs core's `callChannelSuite`.
 *
 * @example
 * ```ts
 * ua.use({
 *   method: 'INVITE',
 *   handler: async ({ call }) => {
 *     const channel = new SipCallChannel({ call: call!, media, tenantId, recordingSink: (key) => storage.writer(key) });
 *     await runtime.run(flow, channel, { tenant });
 *   },
 * });
 * ```
 */
export class SipCallChannel extends TypedEventEmitter<CallChannelEvents> implements CallChannel {
  readonly id: string;
  readonly tenantId: string;
  readonly direction = 'inbound' as const;
  readonly from: CallParty;
  readonly to: CallParty;
  readonly variables = new Map<string, string>();
  /** The SIP call underneath. */
  readonly call: Call;
  /** The media plane. */
  readonly media: TerminatingMediaController;
  /** The media session of the call. */
  readonly sessionId: MediaSessionId;
  /** The caller's leg in the media session. */
  readonly leg: MediaLegId;
  readonly #options: SipCallChannelOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #state: CallState = 'ringing';
  #answering: Promise<void> | undefined;
  #early: Promise<void> | undefined;
  #local: { sdp: string; type: 'answer' | 'offer' } | undefined;
  #queue = '';
  #typeAhead = false;
  #playing: Playing | undefined;
  #collector: DigitCollector | undefined;
  #recording: Recording | undefined;
  #bridging = false;
  readonly #subscriber: MediaSubscriber;

  constructor(options: SipCallChannelOptions) {
    super();
    const call = options.call;
    if (call.direction !== 'incoming') throw new TypeError('SipCallChannel needs an incoming call');
    if (typeof options.media.terminate !== 'function')
      throw new TypeError('SipCallChannel needs a media controller that terminates legs');
    this.#options = options;
    this.call = call;
    this.media = options.media;
    this.id = options.id ?? call.callId;
    this.tenantId = options.tenantId ?? 'default';
    this.sessionId = options.sessionId ?? this.id;
    this.leg = options.leg ?? 'a';
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.from = party(call.invite.from, undefined);
    this.to = party(undefined, call.invite.uri);
    if (this.to.user === '') this.to = party(call.invite.to, call.invite.uri);
    this.#subscriber = {
      dtmf: (leg, event) => {
        if (leg === this.leg) this.#dtmf(event);
      },
      timeout: (leg) => {
        if (leg !== this.leg) return;
        if (this.#options.hangupOnMediaTimeout === true && this.#state !== 'ended') {
          this.#logger.info({ callId: this.id }, 'no RTP from the caller: hanging up');
          void this.#hangup('system', 'media-timeout').catch(() => undefined);
        }
      },
      ended: (reason) => {
        if (this.#state === 'answered' && !this.#bridging) {
          void this.#hangup('system', `media-ended:${reason}`).catch(() => undefined);
        }
      },
    };
    routerOf(this.media).add(this.sessionId, this.#subscriber);
    call.on('terminated', (end) => {
      this.#callEnded(end);
    });
    call.delegate = {
      ...call.delegate,
      onInfo: (ctx) => this.#onInfo(ctx),
      onReinvite: (ctx) => this.#onReinvite(ctx),
    };
    if (call.state === 'terminated') this.#end('remote', 'ended before the channel was created');
  }

  get state(): CallState {
    return this.#state;
  }

  // ---- CallChannel ------------------------------------------------------

  /**
   * Answers the call: the media plane answers the caller's SDP (or offers,
   * when the INVITE had none), then 200 OK; resolves on the ACK. A session
   * description the media plane refuses gets 488 (RFC 3261 §21.4.26) and
   * rejects with `SIP_CHANNEL_MEDIA_REFUSED`.
   */
  answer(options: AnswerOptions = {}): Promise<void> {
    this.#assertLive('answer');
    if (this.#state === 'answered') return Promise.resolve();
    this.#answering ??= this.#answer(options);
    return this.#answering;
  }

  async #answer(options: AnswerOptions): Promise<void> {
    const call = this.call;
    if (this.#early !== undefined) await this.#early.catch(() => undefined);
    if (this.#isEnded()) throw this.#endedError('answer');
    const local = this.#local ?? (await this.#negotiate(options.signal));
    try {
      await call.accept({ body: local.sdp, signal: options.signal });
    } catch (error) {
      if (this.#isEnded() || call.state === 'terminated') {
        this.#callEnded(call.end ?? { cause: 'failed', by: 'local' });
        throw this.#endedError('answer');
      }
      throw error;
    }
    if (local.type === 'offer') {
      // RFC 3261 §13.2.1: without an offer in the INVITE, the answer comes in the ACK.
      const body = call.remoteBody;
      try {
        if (body === undefined || body.length === 0) throw new Error('the ACK carried no SDP');
        await this.media.terminateAnswer({
          sessionId: this.sessionId,
          tenantId: this.tenantId,
          leg: this.leg,
          sdp: body.toString('utf8'),
        });
      } catch (error) {
        await this.#hangup('system', 'no-sdp-answer', { protocol: 'SIP', cause: 488 });
        throw new VoxmeshError(
          SipChannelErrorCode.SIP_CHANNEL_NO_SDP_ANSWER,
          `The caller answered the media offer with no usable SDP: ${String(error)}`,
          { cause: error },
        );
      }
    }
    if (this.#isEnded()) throw this.#endedError('answer');
    this.#setState('answered');
  }

  /**
   * Early media (RFC 3960): plays before the answer are sent after a 183
   * Session Progress carrying the media plane's answer (RFC 3261 §13.3.1.1),
   * e.g. an announcement to a caller who is not to be answered. Needs an
   * offer in the INVITE.
   */
  #startEarly(): Promise<void> {
    this.#early ??= (async () => {
      if (this.call.invite.body.length === 0) {
        throw new VoxmeshError(
          ErrorCode.INVALID_STATE,
          `Cannot play to call '${this.id}' before answering it: the INVITE had no SDP offer`,
        );
      }
      const local = await this.#negotiate(undefined);
      try {
        await this.call.progress({ status: 183, body: local.sdp });
      } catch (error) {
        if (this.#isEnded() || this.call.state === 'terminated') throw this.#endedError('play');
        throw error;
      }
      if (this.#state === 'ringing') this.#setState('early');
    })();
    return this.#early;
  }

  /** The media plane answers the caller's offer (or makes one); refusals end the call with 488/415. */
  async #negotiate(
    signal: AbortSignal | undefined,
  ): Promise<{ sdp: string; type: 'answer' | 'offer' }> {
    const call = this.call;
    const invite = call.invite;
    const hasBody = invite.body.length > 0;
    if (hasBody && !sdpType(invite.contentType)) {
      // RFC 3261 §21.4.13: a body we cannot read gets 415 with Accept.
      this.#refuse(415, [['Accept', 'application/sdp']]);
      throw new VoxmeshError(
        SipChannelErrorCode.SIP_CHANNEL_MEDIA_REFUSED,
        `The INVITE body is ${invite.contentType ?? 'untyped'}, not application/sdp`,
      );
    }
    let local: { sdp: string; type: 'answer' | 'offer' };
    try {
      local = await this.media.terminate(
        {
          sessionId: this.sessionId,
          tenantId: this.tenantId,
          leg: this.leg,
          sdp: hasBody ? invite.body.toString('utf8') : undefined,
        },
        { signal },
      );
    } catch (error) {
      if (this.#isEnded()) throw this.#endedError('answer');
      if (VoxmeshError.is(error) && MEDIA_SDP_CODES.has(error.code)) {
        // RFC 3261 §21.4.26: 488 Not Acceptable Here, with a Warning (§20.43: 305 Incompatible media format).
        this.#refuse(488, [['Warning', `305 voxmesh "${error.message.replace(/["\\]/g, '')}"`]]);
        throw new VoxmeshError(
          SipChannelErrorCode.SIP_CHANNEL_MEDIA_REFUSED,
          `The caller's SDP was refused: ${error.message}`,
          { cause: error },
        );
      }
      this.#refuse(VoxmeshError.is(error) && error.retryable ? 503 : 500, []);
      throw error;
    }
    if (this.#isEnded()) {
      await this.#teardownMedia('ended');
      throw this.#endedError('answer');
    }
    this.#local = local;
    return local;
  }

  async play(
    sources: PromptSource | readonly PromptSource[],
    options: PlayOptions = {},
  ): Promise<PlayResult> {
    this.#assertLive('play');
    if (this.#state !== 'answered' && this.#state !== 'early') {
      if (this.#answering !== undefined) await this.#answering;
      else await this.#startEarly();
    }
    const list: readonly PromptSource[] = Array.isArray(sources)
      ? sources
      : [sources as PromptSource];
    if (options.flushDigits !== false) {
      this.#queue = '';
      this.#typeAhead = false;
    }
    if (this.#playing !== undefined) this.#playing.outcome ??= 'stopped';
    const playing: Playing = {
      bargeIn: options.bargeIn ?? 'none',
      keys: options.bargeInKeys,
      outcome: undefined,
    };
    this.#playing = playing;
    const subscription = onAbort(options.signal, () => {
      playing.outcome ??= 'stopped';
      this.#stopPlay();
    });
    try {
      const prompts = await this.#prompts(list);
      if (playing.outcome !== undefined || this.#isEnded()) {
        return {
          reason: this.#isEnded() ? 'hangup' : (playing.outcome ?? 'stopped'),
          playedMs: 0,
        };
      }
      const loop = options.loop ?? 1;
      let result: MediaPlayResult;
      try {
        result = await this.media.play({
          sessionId: this.sessionId,
          tenantId: this.tenantId,
          leg: this.leg,
          prompts,
          bargeIn: playing.bargeIn,
          bargeInKeys: playing.keys,
          loop: loop === Infinity ? 'forever' : loop,
        });
      } catch (error) {
        if (this.#isEnded()) return { reason: 'hangup', playedMs: 0 };
        throw error;
      }
      if (this.#isEnded()) return { reason: 'hangup', playedMs: result.playedMs };
      const reason: PlayResult['reason'] =
        playing.outcome ??
        (result.reason === 'completed'
          ? 'finished'
          : result.reason === 'interrupted'
            ? 'barge-in'
            : result.reason);
      if (reason === 'barge-in' && result.digit !== undefined && !this.#typeAhead) {
        // The media plane saw the digit before its event reached us: keep it.
        this.#queue += result.digit;
        this.#typeAhead = true;
      }
      return { reason, playedMs: result.playedMs };
    } finally {
      subscription[Symbol.dispose]();
      if (this.#playing === playing) this.#playing = undefined;
    }
  }

  async collectDigits(options: CollectDigitsOptions = {}): Promise<CollectDigitsResult> {
    this.#assertLive('collectDigits');
    const settings = digitCollectorSettings(options);
    const queued = this.#queue;
    this.#queue = '';
    this.#typeAhead = false;
    const collector = new DigitCollector({ clock: this.#clock, settings, queued });
    this.#collector = collector;
    const subscription = onAbort(options.signal, () => {
      collector.cancel('stopped');
    });
    try {
      const result = await collector.result;
      return {
        digits: result.digits,
        reason: result.reason,
        discarded: result.discarded === '' ? undefined : result.discarded,
      };
    } finally {
      subscription[Symbol.dispose]();
      if (this.#collector === collector) this.#collector = undefined;
    }
  }

  async record(options: RecordOptions): Promise<RecordResult> {
    this.#assertAnswered('record');
    if (typeof options.key !== 'string' || options.key === '')
      throw new TypeError('record() needs a key');
    const open = this.#options.recordingSink;
    if (open === undefined) {
      throw new VoxmeshError(
        ErrorCode.NOT_SUPPORTED,
        'This channel has no recordingSink: pass one to the SipCallChannel constructor',
      );
    }
    this.#queue = '';
    this.#typeAhead = false;
    const recording: Recording = { finishOnKey: options.finishOnKey ?? '#', outcome: undefined };
    this.#recording = recording;
    const subscription = onAbort(options.signal, () => {
      recording.outcome ??= 'stopped';
      this.#stopRecord();
    });
    try {
      const sink = await open(options.key, this);
      if (recording.outcome !== undefined || this.#isEnded()) {
        sink.end();
        return {
          key: options.key,
          durationMs: 0,
          reason: this.#isEnded() ? 'hangup' : (recording.outcome ?? 'stopped'),
        };
      }
      let result: MediaRecordResult;
      try {
        result = await this.media.record(
          {
            sessionId: this.sessionId,
            tenantId: this.tenantId,
            leg: this.leg,
            maxDurationMs: options.maxDurationMs ?? 120_000,
            silenceTimeoutMs: options.silenceTimeoutMs,
            finishOnKey: recording.finishOnKey,
            beep: options.beep ?? true,
          },
          { sink },
        );
      } catch (error) {
        if (this.#isEnded()) return { key: options.key, durationMs: 0, reason: 'hangup' };
        throw error;
      }
      const reason: RecordResult['reason'] = this.#isEnded()
        ? 'hangup'
        : (recording.outcome ?? result.reason);
      return { key: options.key, durationMs: result.durationMs, reason };
    } finally {
      subscription[Symbol.dispose]();
      if (this.#recording === recording) this.#recording = undefined;
    }
  }

  /**
   * Connects the call onwards through the `bridge` callback; resolves when
   * the bridged leg ended or failed (`hangup` when the caller left first).
   */
  async bridge(target: BridgeTarget, options: BridgeOptions = {}): Promise<BridgeResult> {
    this.#assertLive('bridge');
    const bridge = this.#options.bridge;
    if (bridge === undefined) {
      throw new VoxmeshError(
        ErrorCode.NOT_SUPPORTED,
        'This channel has no bridge callback: pass `bridge` to the SipCallChannel constructor',
      );
    }
    if (this.#playing !== undefined) {
      this.#playing.outcome ??= 'stopped';
      this.#stopPlay();
    }
    this.#bridging = true;
    try {
      const result = await bridge(this, target, options);
      return this.#isEnded() ? { ...result, outcome: 'hangup' } : result;
    } finally {
      this.#bridging = false;
    }
  }

  /**
   * A blind transfer: an unanswered call is redirected with 302 (RFC 3261
   * §21.3.3); an answered one gets a REFER (RFC 3515) and, once the caller
   * accepted it, a BYE. When the caller refuses the REFER, the `bridge`
   * callback takes the call (the channel then resolves when that leg ended).
   */
  async transfer(target: BridgeTarget, options: TransferOptions = {}): Promise<void> {
    this.#assertLive('transfer');
    const uri = this.#transferUri(target);
    if (this.#state !== 'answered' && this.#answering === undefined) {
      this.#refuse(302, [['Contact', `<${uri}>`]], 'transferred', 'local');
      return;
    }
    try {
      await this.call.refer({ target: uri, signal: options.signal });
    } catch (error) {
      if (this.#isEnded()) return;
      if (!(error instanceof SipResponseError) || this.#options.bridge === undefined) {
        throw new VoxmeshError(
          SipChannelErrorCode.SIP_CHANNEL_TRANSFER_FAILED,
          `The caller refused the transfer to ${uri}: ${String(error)}`,
          { cause: error },
        );
      }
      this.#logger.info(
        { callId: this.id, status: error.status },
        'REFER refused: bridging instead',
      );
      const result = await this.bridge(target, { signal: options.signal });
      if (result.outcome !== 'completed' && result.outcome !== 'hangup') {
        throw new VoxmeshError(
          SipChannelErrorCode.SIP_CHANNEL_TRANSFER_FAILED,
          `The transfer to ${uri} failed: ${result.outcome}${result.sipStatus === undefined ? '' : ` (${result.sipStatus})`}`,
        );
      }
      await this.#hangup('local', 'transferred');
      return;
    }
    // RFC 5589 §6.1: the transferor may end its dialog once the REFER was accepted.
    await this.#hangup('local', 'transferred');
  }

  /** Ends the call: a final response (480 by default) while unanswered, BYE once answered. */
  hangup(options: HangupOptions = {}): Promise<void> {
    if (this.#isEnded()) return Promise.resolve();
    return this.#hangup('local', options.reason ?? 'hangup', undefined, options.sipStatus);
  }

  // ---- helpers for the bridge callback -----------------------------------

  /**
   * Hands the caller's media over to a new leg `to`: returns the SDP offer
   * to send to the far end (prompts and recordings stop; the caller keeps
   * its media address, so it needs no re-INVITE).
   */
  async bridgeOffer(
    to: MediaLegId,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<string> {
    const { sdp } = await this.media.bridgeLegs(
      { sessionId: this.sessionId, tenantId: this.tenantId, leg: this.leg, to },
      options,
    );
    return sdp;
  }

  /** Completes {@link SipCallChannel.bridgeOffer} with the far end's answer: media flows between the caller and `to`. */
  async bridgeAnswer(
    to: MediaLegId,
    sdp: string,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<void> {
    await this.media.answer(
      { sessionId: this.sessionId, tenantId: this.tenantId, from: to, to: this.leg, sdp },
      options,
    );
  }

  /** Ends leg `to` in the media plane: the caller's media terminates here again (back to the IVR). */
  async unbridge(to: MediaLegId): Promise<void> {
    await this.media.teardown({ sessionId: this.sessionId, leg: to, reason: 'unbridged' });
  }

  // ---- internals ----------------------------------------------------------

  async #prompts(list: readonly PromptSource[]): Promise<MediaPrompt[]> {
    const out: MediaPrompt[] = [];
    for (const source of list) {
      const resolved = await this.#options.prompts?.(source, this);
      if (resolved !== undefined) {
        if (Array.isArray(resolved)) out.push(...(resolved as readonly MediaPrompt[]));
        else out.push(resolved as MediaPrompt);
        continue;
      }
      if ('silenceMs' in source) out.push({ silenceMs: source.silenceMs });
      else if ('toneHz' in source)
        out.push({ toneHz: source.toneHz, durationMs: source.durationMs });
      else if ('url' in source && source.url.startsWith('file:'))
        out.push({ file: fileURLToPath(source.url) });
      else if ('url' in source && isAbsolute(source.url)) out.push({ file: source.url });
      else {
        throw new VoxmeshError(
          ErrorCode.NOT_SUPPORTED,
          `Cannot play ${JSON.stringify(source)}: pass a \`prompts\` resolver to the SipCallChannel constructor`,
        );
      }
    }
    return out;
  }

  #transferUri(target: BridgeTarget): string {
    const custom = this.#options.transferUri;
    if (custom !== undefined) return custom(target, this);
    if ('uri' in target) return target.uri;
    const user =
      'extension' in target ? target.extension : 'number' in target ? target.number : target.group;
    const called = this.call.invite.uri;
    const host = called instanceof SipUri ? called.host : 'localhost';
    return `sip:${user}@${host}`;
  }

  #stopPlay(): void {
    void this.media
      .stopPlay({ sessionId: this.sessionId, leg: this.leg })
      .catch((error: unknown) => {
        this.#logger.debug({ err: error }, 'stopPlay failed');
      });
  }

  #stopRecord(): void {
    void this.media
      .stopRecord({ sessionId: this.sessionId, leg: this.leg })
      .catch((error: unknown) => {
        this.#logger.debug({ err: error }, 'stopRecord failed');
      });
  }

  /** One digit from the caller, by RTP (media events) or SIP INFO; the gather rules of core's SimulatedCall. */
  #dtmf(event: DtmfEvent): void {
    if (this.#isEnded()) return;
    this.emit('dtmf', event);
    if (this.#bridging) return;
    const digit = event.digit;
    const recording = this.#recording;
    if (recording !== undefined) {
      if (recording.finishOnKey.includes(digit)) {
        recording.outcome ??= 'finish-key';
        this.#stopRecord();
      }
      return;
    }
    if (this.#collector !== undefined && !this.#collector.done) {
      this.#collector.push(digit);
      return;
    }
    const playing = this.#playing;
    if (
      playing !== undefined &&
      playing.outcome === undefined &&
      playing.bargeIn !== 'none' &&
      (playing.keys === undefined || playing.keys.includes(digit))
    ) {
      // The digit is not consumed: it waits for the next collectDigits().
      this.#queue += digit;
      this.#typeAhead = true;
      playing.outcome = 'barge-in';
      this.#stopPlay();
      return;
    }
    if (playing === undefined && this.#typeAhead) this.#queue += digit;
  }

  #onInfo(ctx: InDialogRequest): ResponseSpec {
    const request = ctx.request;
    if (request.body.length === 0) return { status: 200 };
    const type = request.contentType;
    const digit = infoDigit(type, request.body.toString('utf8'));
    if (digit === undefined) {
      const known = /^application\/dtmf(-relay)?\b/i.test((type ?? '').trim());
      // RFC 3261 §21.4.13: a body type we do not take; a DTMF body we cannot read is a bad request.
      return known
        ? { status: 400, reason: 'Bad DTMF Body' }
        : { status: 415, headers: [['Accept', 'application/dtmf-relay, application/dtmf']] };
    }
    const duration = Number(/^\s*duration\s*=\s*(\d+)/im.exec(request.body.toString('utf8'))?.[1]);
    this.#dtmf({ digit, durationMs: Number.isFinite(duration) ? duration : 160, source: 'info' });
    return { status: 200 };
  }

  async #onReinvite(ctx: InDialogRequest): Promise<ResponseSpec> {
    const request = ctx.request;
    if (request.body.length === 0 || this.#bridging || this.#state !== 'answered') {
      // RFC 3261 §14.2: no offer — answer with the current session description.
      return {
        status: 200,
        body: this.call.localBody,
        contentType: this.call.localBody === undefined ? undefined : 'application/sdp',
      };
    }
    try {
      const { sdp } = await this.media.terminate({
        sessionId: this.sessionId,
        tenantId: this.tenantId,
        leg: this.leg,
        sdp: request.body.toString('utf8'),
      });
      return { status: 200, body: sdp, contentType: 'application/sdp' };
    } catch (error) {
      // RFC 3261 §14.2: a refused re-offer leaves the session as it was.
      this.#logger.info({ err: error, callId: this.id }, 're-INVITE offer refused');
      return { status: 488 };
    }
  }

  #refuse(
    status: number,
    headers: (readonly [string, string])[],
    reason = 'media-refused',
    by: 'local' | 'system' = 'system',
  ): void {
    try {
      this.call.reject({ status, headers });
    } catch (error) {
      this.#logger.debug({ err: error, status }, 'could not send the final response');
    }
    this.#end(by, reason);
  }

  async #hangup(
    by: 'local' | 'system',
    reason: string,
    sipReason?: { protocol: 'SIP' | 'Q.850'; cause: number },
    status?: number,
  ): Promise<void> {
    if (this.#isEnded()) return;
    const call = this.call;
    const unanswered = this.#state !== 'answered' && this.#answering === undefined;
    this.#end(by, reason);
    try {
      if (unanswered && call.state !== 'terminated') {
        call.reject({ status: status ?? 480 });
      } else {
        // RFC 3326: the Reason header tells why (Q.850 16 = normal call clearing).
        await call.bye({
          reason: {
            protocol: sipReason?.protocol ?? 'Q.850',
            cause: sipReason?.cause ?? 16,
            text: reason,
          },
        });
      }
    } catch (error) {
      this.#logger.debug({ err: error, callId: this.id }, 'hangup: the call had already ended');
    }
  }

  #callEnded(end: CallEnd): void {
    if (this.#isEnded()) return;
    const reason =
      end.cause === 'bye'
        ? 'caller hung up'
        : end.cause === 'canceled'
          ? 'caller cancelled'
          : end.cause;
    this.#end(end.by === 'remote' ? 'remote' : 'system', reason);
  }

  #assertLive(operation: string): void {
    if (this.#isEnded()) throw this.#endedError(operation);
  }

  #assertAnswered(operation: string): void {
    this.#assertLive(operation);
    if (this.#state !== 'answered') {
      throw new VoxmeshError(
        ErrorCode.INVALID_STATE,
        `Cannot ${operation}: call '${this.id}' is not answered (answer() first)`,
      );
    }
  }

  #endedError(operation: string): VoxmeshError {
    return new VoxmeshError(
      ErrorCode.INVALID_STATE,
      `Cannot ${operation}: call '${this.id}' has ended`,
    );
  }

  /** Whether the call has ended (a method, so checks after an `await` are not narrowed away). */
  #isEnded(): boolean {
    return this.#state === 'ended';
  }

  #setState(state: CallState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.emit('state', state, previous);
  }

  #end(by: 'local' | 'remote' | 'system', reason: string): void {
    if (this.#isEnded()) return;
    this.#setState('ended');
    if (this.#playing !== undefined) this.#playing.outcome = 'hangup';
    this.#collector?.cancel('hangup');
    if (this.#recording !== undefined) this.#recording.outcome = 'hangup';
    routerOf(this.media).delete(this.sessionId, this.#subscriber);
    this.emit('ended', by, reason);
    void this.#teardownMedia(reason);
  }

  async #teardownMedia(reason: string): Promise<void> {
    try {
      await this.media.teardown({ sessionId: this.sessionId, reason });
    } catch (error) {
      this.#logger.warn({ err: error, callId: this.id }, 'media teardown failed');
    }
  }
}
