/**
 * One bridged call of the B2BUA: the caller's incoming call (the A leg)
 * and the outgoing calls (B legs) made for it.
 *
 * ```text
 *           bridge()                 a B leg answers
 *  routing ─────────► early ───────────────────────────► answered ──BYE/hangup()──► ended
 *     │  (1xx relayed)  │                                    │ REFER → other party bridged to new target
 *     └─────────────────┴── every target failed, CANCEL from A, hangup() ──────────► ended
 * ```
 *
 * @module
 */

import {
  type Clock,
  type Counter,
  type Logger,
  type MediaController,
  type Timer,
  TypedEventEmitter,
  VoxmeshError,
  type WorkToken,
} from '@voxmesh/core';

import { headerKey } from '../codec/headers.js';
import { parseNameAddr } from '../codec/name-addr.js';
import { SipUri, TelUri, parseUri } from '../codec/uri.js';
import type { SipRequest, SipResponse } from '../message.js';
import type { Call, CallEnd, InDialogRequest, ReasonOptions, ResponseSpec } from '../ua/call.js';
import { SipResponseError, SipUaErrorCode } from '../ua/errors.js';
import type { UaTarget } from '../ua/ua-transport.js';
import type { UserAgent } from '../ua/user-agent.js';
import { SipB2buaErrorCode } from './errors.js';
import { type HeaderPolicy, passThroughHeaders } from './headers.js';
import { isPlausibleSdp } from './sdp.js';

/** One destination a bridge tries: a B leg. */
export interface B2buaTarget {
  /** The Request-URI of the B leg, e.g. a registered contact or `sip:+4930123@carrier.example`. */
  uri: string;
  /**
   * Where to send the INVITE and the leg's in-dialog requests without a
   * route set (a carrier proxy, or a registered phone's received path and
   * flow: `{ ...route.target, flowId: route.flowId }` of a registrar lookup).
   * @defaultValue the user agent's outbound proxy, else the Request-URI's host
   */
  next?: UaTarget | undefined;
  /** The From of the B leg (URI or name-addr). @defaultValue the caller's From (URI and display name) */
  from?: string | undefined;
  /** The To of the B leg. @defaultValue the Request-URI */
  to?: string | undefined;
  /** Credentials answering a 401/407 from this target (e.g. a carrier's). @defaultValue the user agent's */
  credentials?: { username: string; password: string } | undefined;
  /** Extra headers of the B leg's INVITE (after the pass-through headers). @defaultValue none */
  headers?: Iterable<readonly [string, string]> | undefined;
  /** How long this target may ring before it is cancelled. @defaultValue the bridge's `ringTimeoutMs` */
  ringTimeoutMs?: number | undefined;
  /** A name for events and logs (e.g. the device or trunk). @defaultValue the URI */
  label?: string | undefined;
}

/** What {@link BridgeOptions.onTransfer} gets: a REFER from one party (RFC 3515). */
export interface BridgeTransfer {
  /** Who sent the REFER. The other party is bridged to the new target. */
  party: 'caller' | 'callee';
  /** The URI of the Refer-To header. */
  referTo: string;
  /** The REFER request. */
  request: SipRequest;
}

/** Options of {@link B2bua.bridge}. */
export interface BridgeOptions {
  /** The incoming call (the A leg), not answered yet. */
  call: Call;
  /** Where to ring, in order. */
  targets: readonly B2buaTarget[];
  /**
   * `sequential`: one target after the other (failover); `parallel`: all at
   * once, the first 2xx wins and the others are cancelled.
   * @defaultValue `'sequential'`
   */
  strategy?: 'sequential' | 'parallel' | undefined;
  /**
   * Whether a sequential bridge tries the next target after a target failed
   * with `status` (a ring timeout counts as 408).
   * @defaultValue every non-2xx except 6xx (RFC 3261 §16.7: 6xx ends the search)
   */
  continueOn?: ((status: number) => boolean) | undefined;
  /** Which headers of the caller's INVITE the B legs get ({@link HeaderPolicy}). @defaultValue none */
  headers?: HeaderPolicy | undefined;
  /** How long each target rings before it is cancelled. @defaultValue `60000` */
  ringTimeoutMs?: number | undefined;
  /** The media session id. @defaultValue the A leg's Call-ID */
  sessionId?: string | undefined;
  /** The tenant, for the media controller. @defaultValue none */
  tenantId?: string | undefined;
  /** Aborting hangs the bridge up (as {@link Bridge.hangup}). */
  signal?: AbortSignal | undefined;
  /**
   * Whether the final failure is passed to the caller. `false` leaves the A
   * leg unanswered, so the application can route it elsewhere (e.g.
   * voicemail after no answer) with another bridge or by answering it.
   * @defaultValue `true`
   */
  rejectCallerOnFailure?: boolean | undefined;
  /**
   * Blind transfer: a REFER from either party is answered 202 and the other
   * party is bridged to the returned targets (tried in order), with the
   * progress reported to the referrer by NOTIFY. `undefined` or an empty
   * list refuses the REFER with 403. May be async (e.g. a location lookup);
   * the REFER is answered once it settles.
   * @defaultValue none: every REFER is refused with 403
   */
  onTransfer?:
    | ((
        transfer: BridgeTransfer,
      ) => readonly B2buaTarget[] | undefined | Promise<readonly B2buaTarget[] | undefined>)
    | undefined;
}

/** The states of a {@link Bridge}. */
export type BridgeState = 'routing' | 'early' | 'answered' | 'ended';

/** How a bridge turned out: answered by a target, or every target failed. */
export type BridgeOutcome =
  | { answered: true; target: B2buaTarget; bLeg: Call }
  | { answered: false; status: number; reason: string };

/** Why a bridge ended. */
export interface BridgeEnd {
  /** Who ended it: a party, or this side (hangup(), a timeout, a failure). */
  by: 'caller' | 'callee' | 'local';
  /**
   * `bye` (a party hung up), `canceled` (the caller gave up before the
   * answer), `failed` (every target failed), `hangup` ({@link Bridge.hangup}),
   * `timeout`, `error`, or `transferred` (an attended transfer joined its
   * remaining party to another bridge).
   */
  reason: 'bye' | 'canceled' | 'failed' | 'hangup' | 'timeout' | 'error' | 'transferred';
  /** The final status, when the bridge was not answered. */
  status?: number | undefined;
  /** How long it was answered, in milliseconds, when it was. */
  durationMs?: number | undefined;
}

/** Events of a {@link Bridge}. */
export interface BridgeEvents {
  /** A B leg sent a provisional response (relayed to the caller). */
  progress: [response: SipResponse, target: B2buaTarget];
  /** A target failed with `status` (408 for a ring timeout). */
  failed: [target: B2buaTarget, status: number, reason: string];
  /** A target answered; the caller was answered too. */
  answered: [bLeg: Call, target: B2buaTarget];
  /** A blind transfer completed: `party` left, the other party talks to `target`. */
  transferred: [party: 'caller' | 'callee', target: B2buaTarget];
  /** The bridge ended (once). */
  ended: [end: BridgeEnd];
}

/** What a bridge needs from its B2BUA. @internal */
export interface BridgeHost {
  readonly ua: UserAgent;
  readonly media: MediaController | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly outcomes: Counter<'outcome'>;
  readonly retryAfterS: number;
  bridgeEnded(bridge: Bridge): void;
  /** The bridge (other than `except`) one of whose legs is `call`. */
  bridgeOf(call: Call, except: Bridge): Bridge | undefined;
}

interface Side {
  call: Call;
  legId: string;
  party: 'caller' | 'callee';
  detach: () => void;
}

interface Fork {
  legId: string;
  target: B2buaTarget;
  call: Call | undefined;
  timer: Timer | undefined;
  done: boolean;
  mediaOffered: boolean;
}

type Attempt =
  | { kind: 'answered'; fork: Fork; call: Call }
  | { kind: 'failed'; status: number; reason: string; by: 'callee' | 'local' }
  | { kind: 'aborted' };

const DEFAULT_RING_TIMEOUT_MS = 60_000;
const COMPLETED_ELSEWHERE: ReasonOptions = {
  protocol: 'SIP',
  cause: 200,
  text: 'Call completed elsewhere',
};

function defaultContinueOn(status: number): boolean {
  return status < 600;
}

/** Validates a target's URI; throws `SIP_B2BUA_INVALID_TARGET`. @internal */
export function checkTarget(target: B2buaTarget, index: number): void {
  if (typeof target !== 'object' || target === null || typeof target.uri !== 'string') {
    throw new VoxmeshError(
      SipB2buaErrorCode.SIP_B2BUA_INVALID_TARGET,
      `Target ${index} has no uri`,
    );
  }
  let uri;
  try {
    uri = parseUri(target.uri);
  } catch (error) {
    throw new VoxmeshError(
      SipB2buaErrorCode.SIP_B2BUA_INVALID_TARGET,
      `Target ${index} has a URI that does not parse: ${target.uri}`,
      { cause: error },
    );
  }
  if (!(uri instanceof SipUri)) {
    throw new VoxmeshError(
      SipB2buaErrorCode.SIP_B2BUA_INVALID_TARGET,
      `Target ${index} is not a sip: or sips: URI: ${target.uri}`,
    );
  }
  for (const [what, value] of [
    ['from', target.from],
    ['to', target.to],
  ] as const) {
    if (value === undefined) continue;
    try {
      parseNameAddr(value);
    } catch (error) {
      throw new VoxmeshError(
        SipB2buaErrorCode.SIP_B2BUA_INVALID_TARGET,
        `Target ${index} has a ${what} that does not parse: ${value}`,
        { cause: error },
      );
    }
  }
}

/** The status a failed B leg stands for (RFC 3261 §21; a timeout is 408, a transport error 503). */
function statusOf(error: unknown): { status: number; reason: string } {
  if (error instanceof SipResponseError) return { status: error.status, reason: error.reason };
  if (error instanceof VoxmeshError) {
    if (error.code === SipUaErrorCode.SIP_TRANSACTION_TIMEOUT) {
      return { status: 408, reason: 'Request Timeout' };
    }
    if (error.code === SipUaErrorCode.SIP_TRANSPORT_FAILED) {
      return { status: 503, reason: 'Service Unavailable' };
    }
  }
  return { status: 500, reason: 'Server Internal Error' };
}

/** RFC 3261 §16.7 step 6, simplified: a 6xx first, then 3xx, 4xx, 5xx, and a timeout last. */
function rank(status: number): number {
  if (status >= 600) return 0;
  if (status < 400) return 1;
  if (status === 408) return 5;
  if (status < 500) return 2;
  return 3;
}

/** The status the caller gets for a B-side failure. */
function callerStatus(status: number): number {
  // A challenge for the B leg's credentials means nothing to the caller.
  if (status === 401 || status === 407) return 403;
  // A redirect's Contact is not passed on.
  if (status < 400) return 480;
  return status;
}

/** Parses a Reason header value (RFC 3326 §2) to pass it on. */
function parseReason(value: string | undefined): ReasonOptions | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(SIP|Q\.850)\s*;\s*cause\s*=\s*(\d+)(?:.*?text\s*=\s*"([^"]*)")?/i.exec(value);
  if (m === null) return undefined;
  return {
    protocol: (m[1] ?? 'SIP').toUpperCase() === 'SIP' ? 'SIP' : 'Q.850',
    cause: Number(m[2]),
    text: m[3],
  };
}

/** Whether a call has ended (a function, so that checks after an `await` are not narrowed away). */
function isOver(call: Call): boolean {
  return call.state === 'terminated';
}

function labelOf(target: B2buaTarget): string {
  return target.label ?? target.uri;
}

/**
 * One bridged call. Created by {@link B2bua.bridge}; runs by itself and
 * reports through its events and {@link Bridge.result}.
 */
export class Bridge extends TypedEventEmitter<BridgeEvents> {
  /** The media session id (the A leg's Call-ID unless given). */
  readonly sessionId: string;
  /** The outcome: answered by a target, or failed. Never rejects. */
  readonly result: Promise<BridgeOutcome>;
  /** When the bridge was answered (clock milliseconds). */
  answeredAt: number | undefined;
  /** Why it ended, once it has. */
  end: BridgeEnd | undefined;

  readonly #host: BridgeHost;
  readonly #options: BridgeOptions;
  readonly #token: WorkToken | undefined;
  readonly #forks = new Set<Fork>();
  #caller: Side;
  #callee: Side | undefined;
  #state: BridgeState = 'routing';
  #legCounter = 0;
  #resolve!: (outcome: BridgeOutcome) => void;
  #settleAttempt: ((attempt: Attempt) => void) | undefined;
  #winner: Fork | undefined;
  #earlyFork: Fork | undefined;
  #mediaUsed = false;
  #offerPending = false;
  #transferring = false;
  /** Whether the last offer relayed put the call on hold (sendonly, inactive or 0.0.0.0). */
  #held = false;
  /** The referrer of the transfer in progress: its BYE does not end the bridge. */
  #transferFrom: Side | undefined;
  #finishing = false;
  #onAbort: (() => void) | undefined;

  /** @internal */
  constructor(host: BridgeHost, options: BridgeOptions, token: WorkToken | undefined) {
    super();
    this.#host = host;
    this.#options = options;
    this.#token = token;
    this.sessionId = options.sessionId ?? options.call.callId;
    this.result = new Promise<BridgeOutcome>((resolve) => {
      this.#resolve = resolve;
    });
    const aLeg = options.call;
    this.#caller = { call: aLeg, legId: 'a', party: 'caller', detach: () => undefined };
    queueMicrotask(() => {
      this.#guard(this.#run());
    });
  }

  /** Emits an event; a listener that throws is logged, never breaks the bridge. */
  #safeEmit<K extends keyof BridgeEvents>(event: K, ...args: BridgeEvents[K]): void {
    try {
      this.emit(event, ...args);
    } catch (error) {
      this.#host.logger.warn({ err: error, event }, 'a bridge event listener threw');
    }
  }

  /** Runs background work; a failure is logged instead of becoming an unhandled rejection. */
  #guard(work: Promise<unknown>): void {
    work.catch((error: unknown) => {
      this.#host.logger.error({ err: error, sessionId: this.sessionId }, 'bridge task failed');
    });
  }

  /** The current state. */
  get state(): BridgeState {
    return this.#state;
  }

  /** The caller's leg (after the caller transferred the call away: the leg that replaced it). */
  get aLeg(): Call {
    return this.#caller.call;
  }

  /** The answering B leg, once there is one. */
  get bLeg(): Call | undefined {
    return this.#callee?.call;
  }

  /** The B legs ringing now (several while a parallel bridge forks). */
  get pendingLegs(): readonly Call[] {
    const out: Call[] = [];
    for (const fork of this.#forks) if (!fork.done && fork.call !== undefined) out.push(fork.call);
    return out;
  }

  /**
   * Ends the bridge: BYE to both parties once answered; before that, every
   * ringing B leg is cancelled and the caller gets 480.
   */
  async hangup(options: { reason?: ReasonOptions | undefined } = {}): Promise<void> {
    return this.#hangup(options.reason, 'hangup');
  }

  /** @internal Ends the bridge because the media plane saw no media from a leg. */
  _mediaTimeout(leg: string): Promise<void> {
    // On hold the held party may well send nothing (RFC 3264 §8.4): not a dead peer.
    if (this.#state !== 'answered' || this.#held) return Promise.resolve();
    const legs = [this.#caller.legId, this.#callee?.legId];
    if (!legs.includes(leg)) return Promise.resolve();
    // RFC 3326: the Reason tells both parties why (no RTP within the media timeout).
    return this.#hangup({ protocol: 'SIP', cause: 408, text: 'Media timeout' }, 'timeout');
  }

  async #hangup(
    reasonHeader: ReasonOptions | undefined,
    reason: 'hangup' | 'timeout',
  ): Promise<void> {
    const options = { reason: reasonHeader };
    if (this.#state === 'ended' || this.#finishing) return;
    if (this.#state !== 'answered') {
      this.#cancelForks(options.reason);
      this.#settleAttempt?.({ kind: 'aborted' });
      this.#rejectCaller(480, 'Temporarily Unavailable', options.reason);
      this.#resolve({ answered: false, status: 480, reason: 'Hung up' });
      await this.#finish({ by: 'local', reason: 'hangup', status: 480 });
      return;
    }
    const callee = this.#callee;
    this.#finishing = true;
    // RFC 3261 §15.1.1: the session ends when the BYE is sent; its response is not awaited.
    void this.#caller.call.bye({ reason: options.reason }).catch(() => undefined);
    void callee?.call.bye({ reason: options.reason }).catch(() => undefined);
    await this.#finish({ by: 'local', reason });
  }

  // ------------------------------------------------------------ routing

  async #run(): Promise<void> {
    const aLeg = this.#caller.call;
    const signal = this.#options.signal;
    try {
      if (this.#token === undefined) {
        // Draining or stopped: new calls are refused (RFC 3261 §21.5.4).
        this.#rejectCaller(503, 'Service Unavailable', undefined, [
          ['Retry-After', String(this.#host.retryAfterS)],
        ]);
        this.#resolve({ answered: false, status: 503, reason: 'Service Unavailable' });
        await this.#finish({ by: 'local', reason: 'failed', status: 503 });
        return;
      }
      if (aLeg.state === 'terminated') {
        this.#resolve({ answered: false, status: 487, reason: 'Request Terminated' });
        await this.#finish({ by: 'caller', reason: 'canceled', status: 487 });
        return;
      }
      const maxForwards = aLeg.invite.maxForwards;
      if (maxForwards !== undefined && maxForwards <= 0) {
        // Loop protection as a proxy does it (RFC 3261 §16.3 step 3).
        this.#rejectCaller(483, 'Too Many Hops');
        this.#resolve({ answered: false, status: 483, reason: 'Too Many Hops' });
        await this.#finish({ by: 'local', reason: 'failed', status: 483 });
        return;
      }
      const onATerminated = (end: CallEnd): void => {
        this.#onSideTerminated(this.#caller, aLeg, end);
      };
      aLeg.on('terminated', onATerminated);
      this.#caller.detach = () => aLeg.off('terminated', onATerminated);
      if (signal !== undefined) {
        if (signal.aborted) {
          await this.hangup();
          return;
        }
        this.#onAbort = () => {
          void this.hangup();
        };
        signal.addEventListener('abort', this.#onAbort, { once: true });
      }
      const attempt = await this.#route(this.#options.targets);
      if (attempt.kind === 'failed') await this.#fail(attempt);
    } catch (error) {
      this.#host.logger.warn({ err: error, sessionId: this.sessionId }, 'bridge failed');
      if (this.#state !== 'ended' && !this.#finishing) {
        this.#cancelForks(undefined);
        this.#rejectCaller(500, 'Server Internal Error');
        this.#resolve({ answered: false, status: 500, reason: 'Server Internal Error' });
        await this.#finish({ by: 'local', reason: 'error', status: 500 });
      }
    }
  }

  async #route(targets: readonly B2buaTarget[]): Promise<Attempt> {
    if (this.#options.strategy === 'parallel') return this.#attempt(targets);
    const continueOn = this.#options.continueOn ?? defaultContinueOn;
    let last: Attempt = { kind: 'failed', status: 480, reason: 'No targets', by: 'local' };
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i] as B2buaTarget;
      if (this.#state === 'ended' || isOver(this.#caller.call)) return { kind: 'aborted' };
      last = await this.#attempt([target]);
      if (last.kind !== 'failed') return last;
      if (i < targets.length - 1 && !continueOn(last.status)) return last;
    }
    return last;
  }

  /** Rings `targets` at once; settles with the first answer, the best failure, or an abort. */
  #attempt(targets: readonly B2buaTarget[]): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      const forks: Fork[] = [];
      const failures: { status: number; reason: string; by: 'callee' | 'local' }[] = [];
      let settled = false;
      const settle = (attempt: Attempt): void => {
        if (settled) return;
        settled = true;
        this.#settleAttempt = undefined;
        resolve(attempt);
      };
      this.#settleAttempt = settle;
      const onFailure = (fork: Fork, status: number, reason: string, by: 'callee' | 'local') => {
        failures.push({ status, reason, by });
        this.#safeEmit('failed', fork.target, status, reason);
        if (status >= 600) {
          // RFC 3261 §16.7 step 5: a 6xx ends the search; the other branches are cancelled.
          for (const other of forks) if (!other.done) this.#cancelFork(other, undefined);
        }
        if (forks.every((f) => f.done) || status >= 600) {
          const best = [...failures].sort((a, b) => rank(a.status) - rank(b.status))[0] ?? {
            status: 480,
            reason: 'Temporarily Unavailable',
            by: 'local' as const,
          };
          settle({ kind: 'failed', ...best });
        }
      };
      const onAnswer = (fork: Fork, call: Call): void => {
        settle({ kind: 'answered', fork, call });
      };
      for (const target of targets) {
        const fork: Fork = {
          legId: `b${++this.#legCounter}`,
          target,
          call: undefined,
          timer: undefined,
          done: false,
          mediaOffered: false,
        };
        forks.push(fork);
        this.#forks.add(fork);
      }
      for (const fork of forks) this.#guard(this.#startFork(fork, onFailure, onAnswer));
    });
  }

  async #startFork(
    fork: Fork,
    onFailure: (fork: Fork, status: number, reason: string, by: 'callee' | 'local') => void,
    onAnswer: (fork: Fork, call: Call) => void,
  ): Promise<void> {
    try {
      await this.#runFork(fork, onFailure, onAnswer);
    } catch (error) {
      // Anything unexpected (a caller header that does not parse, a bad policy) fails this fork only.
      this.#host.logger.warn({ err: error, target: labelOf(fork.target) }, 'B leg failed');
      if (fork.done) return;
      fork.done = true;
      fork.timer?.cancel();
      this.#teardownLeg(fork, 'failed');
      onFailure(fork, 500, 'Server Internal Error', 'local');
    }
  }

  async #runFork(
    fork: Fork,
    onFailure: (fork: Fork, status: number, reason: string, by: 'callee' | 'local') => void,
    onAnswer: (fork: Fork, call: Call) => void,
  ): Promise<void> {
    const aLeg = this.#caller.call;
    const fail = (status: number, reason: string, by: 'callee' | 'local'): void => {
      if (fork.done) return;
      fork.done = true;
      // A failed target gives up the caller's early media, so a later one may send its own.
      if (this.#earlyFork === fork) this.#earlyFork = undefined;
      fork.timer?.cancel();
      this.#teardownLeg(fork, 'failed');
      onFailure(fork, status, reason, by);
    };
    const { target } = fork;
    let body: Buffer | string | undefined = aLeg.remoteBody;
    const media = this.#host.media;
    if (media !== undefined && body !== undefined && body.length > 0) {
      try {
        this.#mediaUsed = true;
        fork.mediaOffered = true;
        const result = await media.offer({
          sessionId: this.sessionId,
          tenantId: this.#options.tenantId,
          from: this.#caller.legId,
          to: fork.legId,
          sdp: body.toString('utf8'),
        });
        body = result.sdp;
      } catch (error) {
        this.#host.logger.info({ err: error, sessionId: this.sessionId }, 'media offer failed');
        fail(488, 'Not Acceptable Here', 'local');
        return;
      }
    }
    if (fork.done) return;
    const ringTimeoutMs =
      target.ringTimeoutMs ?? this.#options.ringTimeoutMs ?? DEFAULT_RING_TIMEOUT_MS;
    const callerFrom = aLeg.invite.from;
    const from =
      target.from ??
      (callerFrom === undefined
        ? undefined
        : `${callerFrom.displayName === undefined ? '' : `"${callerFrom.displayName.replace(/["\\]/g, '')}" `}<${callerFrom.uri.toString()}>`);
    // A target's own headers replace passed-through ones of the same name.
    const own = [...(target.headers ?? [])];
    const replaced = new Set(own.map(([name]) => headerKey(name)));
    const headers: (readonly [string, string])[] = [
      ...passThroughHeaders(aLeg.invite, this.#options.headers).filter(
        ([name]) => !replaced.has(headerKey(name)),
      ),
      ...own,
    ];
    let call: Call;
    try {
      call = this.#host.ua.invite({
        uri: target.uri,
        from,
        to: target.to,
        next: target.next,
        credentials: target.credentials,
        headers,
        body,
        maxForwards: Math.max(0, (aLeg.invite.maxForwards ?? 70) - 1),
        // No offer from the caller: the B leg's 2xx carries one, and its ACK the caller's answer.
        deferAck: body === undefined || body.length === 0,
      });
    } catch (error) {
      this.#host.logger.info({ err: error, target: labelOf(target) }, 'B leg not started');
      const { status, reason } = statusOf(error);
      fail(status === 500 ? 503 : status, reason, 'local');
      return;
    }
    fork.call = call;
    fork.timer = this.#host.clock.setTimeout(() => {
      if (fork.done) return;
      // The target rang too long: cancel it and count it as 408 (RFC 3261 §21.4.9).
      call.cancel({ reason: { protocol: 'SIP', cause: 408, text: 'Ring timeout' } });
      fail(408, 'Ring timeout', 'local');
    }, ringTimeoutMs);
    call.on('progress', (response) => {
      this.#guard(this.#onForkProgress(fork, response));
    });
    let ok: SipResponse;
    try {
      ok = await call.answered();
    } catch (error) {
      const { status, reason } = statusOf(error);
      fail(status, reason, 'callee');
      return;
    }
    await this.#onForkAnswered(fork, call, ok, fail, onAnswer);
  }

  async #onForkProgress(fork: Fork, response: SipResponse): Promise<void> {
    if (fork.done || response.status <= 100) return;
    if (this.#state !== 'routing' && this.#state !== 'early') return;
    const aLeg = this.#caller.call;
    this.#safeEmit('progress', response, fork.target);
    let body: string | undefined;
    const callerOffered = aLeg.remoteBody !== undefined && aLeg.remoteBody.length > 0;
    if (
      callerOffered &&
      response.body.length > 0 &&
      (this.#earlyFork === undefined || this.#earlyFork === fork)
    ) {
      // Early media (RFC 3960): the first B leg with an SDP answer in a 1xx
      // gets the caller's early dialog; later ones are relayed without SDP.
      const media = this.#host.media;
      try {
        if (media !== undefined && fork.mediaOffered) {
          const result = await media.answer({
            sessionId: this.sessionId,
            tenantId: this.#options.tenantId,
            from: fork.legId,
            to: this.#caller.legId,
            sdp: response.body.toString('utf8'),
          });
          body = result.sdp;
        } else if (isPlausibleSdp(response.body)) {
          body = response.body.toString('utf8');
        }
        if (body !== undefined) this.#earlyFork = fork;
      } catch (error) {
        this.#host.logger.info({ err: error }, 'early media answer refused');
      }
    }
    if (fork.done || (this.#state !== 'routing' && this.#state !== 'early')) return;
    if (aLeg.state !== 'ringing' && aLeg.state !== 'early') return;
    this.#state = 'early';
    const reliable = aLeg.invite.require.includes('100rel');
    try {
      // RFC 3261 §16.7 step 5 does the same for a proxy: provisional responses go upstream.
      void aLeg
        .progress({
          status: response.status,
          body,
          contentType: body === undefined ? undefined : 'application/sdp',
          reliable,
        })
        .catch(() => undefined);
    } catch {
      // the caller's transaction has already ended
    }
  }

  async #onForkAnswered(
    fork: Fork,
    call: Call,
    ok: SipResponse,
    fail: (status: number, reason: string, by: 'callee' | 'local') => void,
    onAnswer: (fork: Fork, call: Call) => void,
  ): Promise<void> {
    const aLeg = this.#caller.call;
    if (fork.done) {
      // Answered after we gave up on it: the call, cancelled, ends itself with BYE.
      if (call.state === 'confirmed') void call.bye().catch(() => undefined);
      return;
    }
    if (this.#winner !== undefined || aLeg.state === 'terminated' || this.#finishing) {
      // RFC 3261 §13.2.2.4: a second 2xx of a fork is ACKed (done by the call) and ended with BYE.
      fork.done = true;
      fork.timer?.cancel();
      this.#teardownLeg(fork, 'cancel');
      void call.bye({ reason: COMPLETED_ELSEWHERE }).catch(() => undefined);
      return;
    }
    this.#winner = fork;
    fork.timer?.cancel();
    let answer: string | undefined = ok.body.length > 0 ? ok.body.toString('utf8') : undefined;
    const offered = aLeg.remoteBody !== undefined && aLeg.remoteBody.length > 0;
    let bad: string | undefined;
    const media = this.#host.media;
    if (offered && answer === undefined) bad = 'The 2xx carried no SDP answer';
    else if (!offered && answer !== undefined) {
      // Delayed offer (RFC 3264 §5): the B leg offers in its 2xx; the offer goes to the caller.
      if (media !== undefined) {
        try {
          this.#mediaUsed = true;
          fork.mediaOffered = true;
          answer = (
            await media.offer({
              sessionId: this.sessionId,
              tenantId: this.#options.tenantId,
              from: fork.legId,
              to: this.#caller.legId,
              sdp: answer,
            })
          ).sdp;
        } catch (error) {
          bad = `The media controller refused the offer: ${(error as Error).message}`;
        }
      } else if (!isPlausibleSdp(answer)) {
        bad = 'The 2xx carried a body that is not SDP';
      }
    } else if (answer !== undefined) {
      if (media !== undefined && fork.mediaOffered) {
        try {
          answer = (
            await media.answer({
              sessionId: this.sessionId,
              tenantId: this.#options.tenantId,
              from: fork.legId,
              to: this.#caller.legId,
              sdp: answer,
            })
          ).sdp;
        } catch (error) {
          bad = `The media controller refused the answer: ${(error as Error).message}`;
        }
      } else if (!isPlausibleSdp(answer)) {
        bad = 'The 2xx carried a body that is not SDP';
      }
    }
    if (bad !== undefined) {
      this.#host.logger.info(
        { target: labelOf(fork.target), code: SipB2buaErrorCode.SIP_B2BUA_MEDIA_FAILED },
        bad,
      );
      this.#winner = undefined;
      void call
        .bye({ reason: { protocol: 'SIP', cause: 488, text: 'Bad SDP answer' } })
        .catch(() => undefined);
      fail(488, 'Not Acceptable Here', 'callee');
      return;
    }
    if (isOver(aLeg) || this.#finishing) {
      // The caller went away while the answer was prepared.
      this.#winner = undefined;
      fork.done = true;
      this.#teardownLeg(fork, 'cancel');
      void call.bye().catch(() => undefined);
      return;
    }
    fork.done = true;
    this.#forks.delete(fork);
    // The other branches are cancelled (RFC 3261 §16.7 step 10 / RFC 3326 for the Reason).
    this.#cancelForks(COMPLETED_ELSEWHERE);
    try {
      const acked = aLeg.accept({
        body: answer,
        contentType: answer === undefined ? undefined : 'application/sdp',
      });
      acked.catch(() => undefined);
      if (!offered) this.#guard(this.#forwardAck(aLeg, call, fork, acked));
    } catch (error) {
      this.#host.logger.info({ err: error }, 'the caller could not be answered');
      void call.bye().catch(() => undefined);
      this.#settleAttempt?.({ kind: 'aborted' });
      return;
    }
    this.#callee = { call, legId: fork.legId, party: 'callee', detach: () => undefined };
    this.#attachSide(this.#callee);
    this.#wireSide(this.#caller);
    this.#wireSide(this.#callee);
    this.#state = 'answered';
    this.answeredAt = this.#host.clock.now();
    this.#host.outcomes.inc({ outcome: 'answered' });
    this.#resolve({ answered: true, target: fork.target, bLeg: call });
    this.#safeEmit('answered', call, fork.target);
    onAnswer(fork, call);
  }

  /** Delayed offer: the caller's answer arrives in its ACK and goes into the B leg's ACK. */
  async #forwardAck(aLeg: Call, bLeg: Call, fork: Fork, acked: Promise<void>): Promise<void> {
    try {
      await acked;
    } catch {
      // No ACK from the caller: the caller's call ends (and with it the bridge); acknowledge B.
      bLeg.ack();
      return;
    }
    let sdp = aLeg.remoteBody?.toString('utf8');
    const media = this.#host.media;
    if (sdp !== undefined && media !== undefined && fork.mediaOffered) {
      try {
        sdp = (
          await media.answer({
            sessionId: this.sessionId,
            tenantId: this.#options.tenantId,
            from: this.#caller.legId,
            to: fork.legId,
            sdp,
          })
        ).sdp;
      } catch (error) {
        this.#host.logger.info({ err: error }, 'media refused the answer in the ACK');
        sdp = undefined;
      }
    }
    bLeg.ack({ body: sdp });
  }

  async #fail(attempt: Extract<Attempt, { kind: 'failed' }>): Promise<void> {
    if (this.#state === 'ended' || this.#finishing) return;
    const reject = this.#options.rejectCallerOnFailure ?? true;
    if (reject) {
      const status = callerStatus(attempt.status);
      this.#rejectCaller(
        status,
        status === attempt.status ? attempt.reason : undefined,
        // RFC 3326: the Reason names what the B side answered.
        { protocol: 'SIP', cause: attempt.status, text: attempt.reason },
      );
    }
    this.#resolve({ answered: false, status: attempt.status, reason: attempt.reason });
    await this.#finish({
      by: attempt.by,
      reason: attempt.status === 408 && attempt.by === 'local' ? 'timeout' : 'failed',
      status: attempt.status,
    });
  }

  #rejectCaller(
    status: number,
    reason?: string,
    why?: ReasonOptions,
    extra: (readonly [string, string])[] = [],
  ): void {
    const aLeg = this.#caller.call;
    if (aLeg.direction !== 'incoming') return;
    if (aLeg.state !== 'ringing' && aLeg.state !== 'early') return;
    const headers: (readonly [string, string])[] = [...extra];
    if (why !== undefined) {
      const text = why.text === undefined ? '' : `;text="${why.text.replace(/["\\]/g, '')}"`;
      headers.push(['Reason', `${why.protocol};cause=${why.cause}${text}`]);
    }
    this.#finishing = true;
    try {
      aLeg.reject({ status, reason, headers });
    } catch {
      // the caller's transaction has already ended
    } finally {
      this.#finishing = false;
    }
  }

  #cancelFork(fork: Fork, reason: ReasonOptions | undefined): void {
    if (fork.done) return;
    fork.done = true;
    fork.timer?.cancel();
    this.#teardownLeg(fork, 'cancel');
    try {
      fork.call?.cancel({ reason });
    } catch {
      // already over
    }
  }

  #cancelForks(reason: ReasonOptions | undefined): void {
    for (const fork of this.#forks) this.#cancelFork(fork, reason);
    this.#forks.clear();
  }

  #teardownLeg(fork: Fork, reason: string): void {
    const media = this.#host.media;
    if (media === undefined || !fork.mediaOffered) return;
    fork.mediaOffered = false;
    media
      .teardown({
        sessionId: this.sessionId,
        tenantId: this.#options.tenantId,
        leg: fork.legId,
        reason,
      })
      .catch((error: unknown) => this.#host.logger.debug({ err: error }, 'leg teardown failed'));
  }

  // ------------------------------------------------------------ answered

  #other(side: Side): Side | undefined {
    return side === this.#caller ? this.#callee : this.#caller;
  }

  #attachSide(side: Side): void {
    const call = side.call;
    const listener = (end: CallEnd): void => {
      this.#onSideTerminated(side, call, end);
    };
    call.on('terminated', listener);
    side.detach = () => call.off('terminated', listener);
  }

  #onSideTerminated(side: Side, call: Call, end: CallEnd): void {
    if (side.call !== call || this.#state === 'ended') return;
    if (this.#state !== 'answered') {
      if (side.party !== 'caller' || this.#finishing) return;
      // The caller gave up (CANCEL, RFC 3261 §9.2): every branch is cancelled, with its Reason (RFC 3326).
      this.#cancelForks(parseReason(end.reason));
      this.#settleAttempt?.({ kind: 'aborted' });
      this.#resolve({ answered: false, status: 487, reason: 'Request Terminated' });
      this.#guard(this.#finish({ by: 'caller', reason: 'canceled', status: 487 }));
      return;
    }
    if (this.#finishing) return;
    if (this.#transferFrom === side) {
      // The referrer hung up after the 202 (RFC 5589 §6 allows it): the transfer goes on.
      side.detach();
      return;
    }
    const other = this.#other(side);
    this.#finishing = true;
    const reason = parseReason(end.reason);
    // RFC 3261 §15: a BYE on one leg ends the other with BYE too.
    void other?.call.bye({ reason }).catch(() => undefined);
    const by = end.by === 'remote' ? side.party : 'local';
    const why = end.cause === 'timeout' ? 'timeout' : end.cause === 'bye' ? 'bye' : 'error';
    this.#guard(this.#finish({ by, reason: why }));
  }

  #wireSide(side: Side): void {
    const call = side.call;
    call.delegate = {
      onReinvite: (ctx) => this.#relayOffer(side, 'INVITE', ctx),
      onUpdate: (ctx) => this.#relayOffer(side, 'UPDATE', ctx),
      onInfo: (ctx) => this.#relayInfo(side, ctx),
      onRefer: (ctx) => this.#onRefer(side, ctx),
    };
  }

  /**
   * A re-INVITE or UPDATE with an offer from one party (RFC 3264 §8, RFC 3311):
   * the offer goes through the media controller to the other party, its
   * answer back the same way. Without a body the request is answered here.
   */
  async #relayOffer(
    side: Side,
    method: 'INVITE' | 'UPDATE',
    ctx: InDialogRequest,
  ): Promise<ResponseSpec> {
    const request = ctx.request;
    if (request.body.length === 0) {
      // A refresh or an offerless re-INVITE: answered with the session as it is.
      return method === 'INVITE' && side.call.localBody !== undefined
        ? { status: 200, body: side.call.localBody, contentType: 'application/sdp' }
        : { status: 200 };
    }
    const other = this.#other(side);
    if (other === undefined || isOver(other.call)) return { status: 481 };
    // The other party has not ACKed its 2xx yet: ask for a retry (RFC 3261 §14.2).
    if (other.call.state !== 'confirmed') return { status: 491 };
    // RFC 3261 §14.1 / RFC 3311 §5.2: one offer at a time; the peer retries after 491.
    if (this.#offerPending || this.#transferring) return { status: 491 };
    this.#offerPending = true;
    try {
      const media = this.#host.media;
      let offer = request.body.toString('utf8');
      // RFC 3264 §8.4: hold is an offer with sendonly or inactive (or, RFC 2543 style, c=0.0.0.0).
      this.#held =
        /^a=(sendonly|inactive)\s*$/m.test(offer) || /^c=IN IP4 0\.0\.0\.0\s*$/m.test(offer);
      if (media !== undefined) {
        try {
          offer = (
            await media.offer({
              sessionId: this.sessionId,
              tenantId: this.#options.tenantId,
              from: side.legId,
              to: other.legId,
              sdp: offer,
            })
          ).sdp;
          this.#mediaUsed = true;
        } catch (error) {
          this.#host.logger.info({ err: error }, 'media refused a re-offer');
          return { status: 488 };
        }
      }
      let response: SipResponse;
      try {
        response =
          method === 'INVITE'
            ? await other.call.reinvite({ body: offer })
            : await other.call.update({ body: offer });
      } catch (error) {
        if (error instanceof SipResponseError) {
          return { status: error.status, reason: error.reason };
        }
        return { status: 500 };
      }
      let answer = response.body.toString('utf8');
      if (answer.length === 0) return { status: 500, reason: 'No answer from the other party' };
      if (media !== undefined) {
        try {
          answer = (
            await media.answer({
              sessionId: this.sessionId,
              tenantId: this.#options.tenantId,
              from: other.legId,
              to: side.legId,
              sdp: answer,
            })
          ).sdp;
        } catch (error) {
          this.#host.logger.info({ err: error }, 'media refused a re-answer');
          return { status: 488 };
        }
      }
      return { status: 200, body: answer, contentType: 'application/sdp' };
    } finally {
      this.#offerPending = false;
    }
  }

  async #relayInfo(side: Side, ctx: InDialogRequest): Promise<ResponseSpec> {
    const other = this.#other(side);
    if (other === undefined || isOver(other.call)) return { status: 481 };
    // The other party has not ACKed its 2xx yet: ask for a retry (RFC 3261 §14.2).
    if (other.call.state !== 'confirmed') return { status: 491 };
    const contentType = ctx.request.headers.get('content-type');
    if (contentType === undefined || ctx.request.body.length === 0) return { status: 200 };
    // RFC 6086 §4.2: INFO is end to end; the other party's answer is passed back.
    const response = await other.call
      .sendRequest('INFO', { body: ctx.request.body, contentType })
      .catch(() => undefined);
    return { status: response?.status ?? 500 };
  }

  /** A blind transfer request (RFC 3515 §2.4.2). */
  async #onRefer(side: Side, ctx: InDialogRequest): Promise<ResponseSpec> {
    const header = ctx.request.headers.get('refer-to');
    if (header === undefined) return { status: 400, reason: 'Missing Refer-To' };
    let referTo: string;
    let replaces: string | undefined;
    try {
      const uri = parseNameAddr(header).uri;
      if (!(uri instanceof SipUri) && !(uri instanceof TelUri)) throw new TypeError('not SIP');
      if (uri instanceof SipUri) {
        const entry = Object.entries(uri.headers).find(([n]) => n.toLowerCase() === 'replaces');
        if (entry !== undefined) {
          replaces = decodeURIComponent(entry[1]);
          const bare = uri.clone();
          bare.headers = {};
          referTo = bare.toString();
        } else {
          referTo = uri.toString();
        }
      } else {
        referTo = uri.toString();
      }
    } catch {
      return { status: 400, reason: 'Bad Refer-To' };
    }
    const onTransfer = this.#options.onTransfer;
    if (onTransfer === undefined) return { status: 403 };
    if (this.#transferring || this.#offerPending) return { status: 491 };
    const other = this.#other(side);
    if (other === undefined) return { status: 481 };
    if (replaces !== undefined) {
      const joined = this.#findReplaced(side, replaces);
      if (joined !== undefined) {
        this.#transferring = true;
        this.#transferFrom = side;
        queueMicrotask(() => {
          this.#guard(
            this.#attendedTransfer(side, other, joined.bridge, joined.call).finally(() => {
              this.#transferDone(side, other);
            }),
          );
        });
        return { status: 202 };
      }
    }
    let targets: readonly B2buaTarget[] | undefined;
    this.#transferring = true;
    try {
      targets = await onTransfer({ party: side.party, referTo, request: ctx.request });
      targets?.forEach(checkTarget);
    } catch (error) {
      this.#transferring = false;
      this.#host.logger.warn({ err: error }, 'transfer targets refused');
      return { status: 500 };
    }
    if (targets === undefined || targets.length === 0 || this.#state !== 'answered') {
      this.#transferring = false;
      return { status: targets === undefined || targets.length === 0 ? 403 : 481 };
    }
    const chosen = targets;
    this.#transferFrom = side;
    queueMicrotask(() => {
      this.#guard(
        this.#transfer(side, other, chosen).finally(() => {
          this.#transferDone(side, other);
        }),
      );
    });
    return { status: 202 };
  }

  /**
   * After a transfer: when it failed and the referrer has hung up meanwhile,
   * the party that stayed is alone and is hung up too.
   */
  #transferDone(referrer: Side, stays: Side): void {
    this.#transferring = false;
    this.#transferFrom = undefined;
    const stillThere = referrer === this.#caller || referrer === this.#callee;
    if (!stillThere || !isOver(referrer.call) || this.#state !== 'answered' || this.#finishing) {
      return;
    }
    this.#finishing = true;
    void stays.call.bye().catch(() => undefined);
    this.#guard(this.#finish({ by: referrer.party, reason: 'bye' }));
  }

  /**
   * RFC 3891 §3: the dialog a Replaces names, seen from our side: our tag is
   * its to-tag. It must be a leg of another answered bridge, with the same
   * remote party as the referrer (RFC 3891 §6: only a party of a dialog may
   * replace it).
   */
  #findReplaced(referrer: Side, replaces: string): { bridge: Bridge; call: Call } | undefined {
    const [callId = '', ...params] = replaces.split(';').map((p) => p.trim());
    const param = (name: string): string =>
      params.find((p) => p.toLowerCase().startsWith(`${name}=`))?.slice(name.length + 1) ?? '';
    const call = this.#host.ua.findCallByDialog(callId, param('to-tag'), param('from-tag'));
    if (call === undefined || call.state !== 'confirmed') return undefined;
    const bridge = this.#host.bridgeOf(call, this);
    if (bridge === undefined || bridge.state !== 'answered') return undefined;
    const identity = (c: Call): string | undefined => {
      const uri = c.dialog?.remoteUri.uri;
      return uri instanceof SipUri ? `${uri.user ?? ''}@${uri.host}`.toLowerCase() : undefined;
    };
    const referrerId = identity(referrer.call);
    if (referrerId === undefined || referrerId !== identity(call)) return undefined;
    return { bridge, call };
  }

  /**
   * Attended transfer: the referrer talks to `stays` here and, through
   * `bridge`, to another party; it asks us to join the two. The other party
   * leaves `bridge` (which ends without a BYE to it) and takes the
   * referrer's place here; both of the referrer's legs get BYE.
   */
  async #attendedTransfer(
    referrer: Side,
    stays: Side,
    bridge: Bridge,
    replacedCall: Call,
  ): Promise<void> {
    const notify = (status: number, reason: string, final: boolean): Promise<unknown> =>
      referrer.call.notifyReferStatus({ status, reason, final }).catch(() => undefined);
    await notify(100, 'Trying', false);
    const joining = bridge._handOver(replacedCall);
    if (joining === undefined || this.#state !== 'answered') {
      await notify(481, 'Call Does Not Exist', true);
      return;
    }
    const media = this.#host.media;
    const legId = `b${++this.#legCounter}`;
    try {
      const current = stays.call.remoteBody?.toString('utf8');
      if (current === undefined) throw new TypeError('no session to join');
      if (media !== undefined) {
        // The joining party becomes a new leg of this media session; the
        // relay's ports facing the party that stays do not change.
        const offer = await media.offer({
          sessionId: this.sessionId,
          tenantId: this.#options.tenantId,
          from: stays.legId,
          to: legId,
          sdp: current,
        });
        const answer = await joining.reinvite({ body: offer.sdp });
        await media.answer({
          sessionId: this.sessionId,
          tenantId: this.#options.tenantId,
          from: legId,
          to: stays.legId,
          sdp: answer.body.toString('utf8'),
        });
      } else {
        // Without a media controller each party is pointed at the other.
        const answer = await joining.reinvite({ body: current });
        await stays.call.reinvite({ body: answer.body });
      }
    } catch (error) {
      this.#host.logger.info({ err: error }, 'attended transfer: the media could not be joined');
      void joining.bye().catch(() => undefined);
      await notify(500, 'Server Internal Error', true);
      return;
    }
    await this.#takeReferrersPlace(referrer, joining, legId, {
      uri: replacedCall.dialog?.remoteUri.uri.toString() ?? '',
    });
  }

  /**
   * Ends a successful transfer: `call` (media leg `legId`) takes the
   * referrer's place in the bridge, the referrer's media leg is torn down,
   * the referrer hears NOTIFY 200 and gets BYE (RFC 5589 §6: the transferor
   * usually hangs up itself).
   */
  async #takeReferrersPlace(
    referrer: Side,
    call: Call,
    legId: string,
    target: B2buaTarget,
  ): Promise<void> {
    const oldLeg = referrer.legId;
    referrer.detach();
    const replacement: Side = { call, legId, party: referrer.party, detach: () => undefined };
    if (referrer === this.#caller) this.#caller = replacement;
    else this.#callee = replacement;
    this.#attachSide(replacement);
    this.#wireSide(replacement);
    await this.#host.media
      ?.teardown({ sessionId: this.sessionId, leg: oldLeg, reason: 'transfer' })
      .catch(() => undefined);
    await referrer.call
      .notifyReferStatus({ status: 200, reason: 'OK', final: true })
      .catch(() => undefined);
    void referrer.call.bye().catch(() => undefined);
    this.#safeEmit('transferred', referrer.party, target);
  }

  /**
   * @internal Attended transfer from another bridge: `call` (the referrer's
   * leg here) is replaced. Gives up the other party's call (no BYE to it),
   * ends `call` with BYE and ends this bridge as `transferred`.
   */
  _handOver(call: Call): Call | undefined {
    if (this.#state !== 'answered' || this.#finishing) return undefined;
    const callee = this.#callee;
    if (callee === undefined) return undefined;
    const leaving =
      this.#caller.call === call ? this.#caller : callee.call === call ? callee : undefined;
    if (leaving === undefined) return undefined;
    const other = leaving === this.#caller ? callee : this.#caller;
    this.#finishing = true;
    other.detach();
    other.call.delegate = {};
    // RFC 3891 §3: the replaced dialog is ended with BYE.
    void leaving.call.bye().catch(() => undefined);
    this.#guard(this.#finish({ by: 'local', reason: 'transferred' }));
    return other.call;
  }

  async #transfer(referrer: Side, stays: Side, targets: readonly B2buaTarget[]): Promise<void> {
    const notify = (status: number, reason: string, final: boolean): Promise<unknown> =>
      referrer.call.notifyReferStatus({ status, reason, final }).catch(() => undefined);
    // RFC 3515 §2.4.5: the first NOTIFY reports 100 Trying.
    await notify(100, 'Trying', false);
    const media = this.#host.media;
    let lastStatus = 480;
    let lastReason = 'Temporarily Unavailable';
    for (const target of targets) {
      if (this.#state !== 'answered') return;
      const legId = `b${++this.#legCounter}`;
      let offer = stays.call.remoteBody?.toString('utf8');
      try {
        if (media !== undefined && offer !== undefined) {
          offer = (
            await media.offer({
              sessionId: this.sessionId,
              tenantId: this.#options.tenantId,
              from: stays.legId,
              to: legId,
              sdp: offer,
            })
          ).sdp;
        }
      } catch {
        lastStatus = 488;
        lastReason = 'Not Acceptable Here';
        continue;
      }
      let call: Call;
      try {
        call = this.#host.ua.invite({
          uri: target.uri,
          from: target.from,
          to: target.to,
          next: target.next,
          credentials: target.credentials,
          headers: target.headers,
          body: offer,
        });
      } catch (error) {
        ({ status: lastStatus, reason: lastReason } = statusOf(error));
        continue;
      }
      const ringTimeoutMs =
        target.ringTimeoutMs ?? this.#options.ringTimeoutMs ?? DEFAULT_RING_TIMEOUT_MS;
      const timer = this.#host.clock.setTimeout(() => {
        call.cancel({ reason: { protocol: 'SIP', cause: 408, text: 'Ring timeout' } });
      }, ringTimeoutMs);
      let ok: SipResponse;
      try {
        ok = await call.answered();
      } catch (error) {
        timer.cancel();
        ({ status: lastStatus, reason: lastReason } = statusOf(error));
        if (media !== undefined) {
          await media
            .teardown({ sessionId: this.sessionId, leg: legId, reason: 'failed' })
            .catch(() => undefined);
        }
        continue;
      }
      timer.cancel();
      if (this.#state !== 'answered' || stays.call.state !== 'confirmed') {
        void call.bye().catch(() => undefined);
        return;
      }
      const answer = ok.body.toString('utf8');
      try {
        if (media !== undefined && answer.length > 0) {
          await media.answer({
            sessionId: this.sessionId,
            tenantId: this.#options.tenantId,
            from: legId,
            to: stays.legId,
            sdp: answer,
          });
          // The relay's ports facing the party that stays do not change: no re-INVITE.
        } else if (answer.length > 0) {
          // Without a media controller the party that stays is pointed at the new one.
          await stays.call.reinvite({ body: answer });
        }
      } catch (error) {
        this.#host.logger.info({ err: error }, 'the party that stays refused the new media');
      }
      await this.#takeReferrersPlace(referrer, call, legId, target);
      return;
    }
    await notify(lastStatus, lastReason, true);
  }

  async #finish(end: BridgeEnd): Promise<void> {
    if (this.#state === 'ended') return;
    const durationMs =
      this.answeredAt === undefined ? undefined : this.#host.clock.now() - this.answeredAt;
    this.#state = 'ended';
    this.#finishing = true;
    this.end = { ...end, durationMs: end.durationMs ?? durationMs };
    for (const fork of this.#forks) fork.timer?.cancel();
    this.#caller.detach();
    this.#callee?.detach();
    if (this.#onAbort !== undefined) {
      this.#options.signal?.removeEventListener('abort', this.#onAbort);
    }
    if (this.answeredAt === undefined) {
      this.#host.outcomes.inc({ outcome: end.reason === 'canceled' ? 'canceled' : 'failed' });
    }
    const media = this.#host.media;
    if (media !== undefined && this.#mediaUsed) {
      await media
        .teardown({
          sessionId: this.sessionId,
          tenantId: this.#options.tenantId,
          reason: end.reason,
        })
        .catch((error: unknown) => this.#host.logger.debug({ err: error }, 'teardown failed'));
    }
    this.#token?.release();
    this.#host.bridgeEnded(this);
    this.#safeEmit('ended', this.end);
  }
}
