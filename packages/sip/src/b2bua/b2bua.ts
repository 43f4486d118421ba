/**
 * The B2BUA engine: bridges an incoming call to one or many outgoing calls,
 * with media through core's `MediaController`.
 *
 * ```text
 *  caller ──INVITE──► UserAgent ──middleware──► app: b2bua.bridge({ call, targets })
 *                                                     │  sequential / parallel forking
 *                                                     ▼
 *  caller ◄─1xx/2xx── Bridge ◄──1xx/2xx── B legs (ua.invite) ──INVITE──► callees
 *         ◄─re-INVITE/UPDATE/INFO/BYE/REFER─►  (offers through MediaController)
 * ```
 *
 * @module
 */

import {
  type Clock,
  type Counter,
  type Gauge,
  type Logger,
  type MediaController,
  Metrics,
  Service,
  type ServiceEvents,
  VoxmeshError,
  silentLogger,
  type WorkToken,
} from '@voxmesh/core';

import type { Call } from '../ua/call.js';
import type { UserAgent } from '../ua/user-agent.js';
import { SipB2buaErrorCode } from './errors.js';
import { Bridge, type BridgeHost, type BridgeOptions, checkTarget } from './bridge.js';

/** Options of the {@link B2bua} constructor. */
export interface B2buaOptions {
  /** The user agent the A legs arrive on and the B legs go out from. */
  ua: UserAgent;
  /**
   * Anchors media: every SDP goes through it (leg `'a'` for the caller, `'b1'`,
   * `'b2'`, … for the B legs in the order they were created).
   * @defaultValue none: SDP is passed through untouched
   */
  media?: MediaController | undefined;
  /** The Retry-After (seconds) of the 503 answered while draining. @defaultValue `30` */
  retryAfterS?: number | undefined;
  /**
   * Hang a bridge up (BYE with `Reason: SIP;cause=408;text="Media timeout"`
   * to both parties) when the media controller reports a `timeout` on one of
   * its answered legs: a party that vanished without BYE.
   * @defaultValue `true`
   */
  hangupOnMediaTimeout?: boolean | undefined;
  /** @defaultValue the user agent's clock (`systemClock` unless it was given one) */
  clock?: Clock | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
  /** @defaultValue a private `Metrics` */
  metrics?: Metrics | undefined;
}

/** Events of a {@link B2bua}, besides the service `state`. */
export interface B2buaEvents extends ServiceEvents {
  /** A bridge was created. */
  bridge: [bridge: Bridge];
}

/**
 * The B2BUA engine, a core `Service`: `start()` lets it take calls,
 * `drain()` makes new INVITEs get 503 with Retry-After while bridges in
 * progress finish, `stop()` hangs every bridge up.
 *
 * @example
 * ```ts
 * const b2bua = new B2bua({ ua });
 * await ua.start();
 * await b2bua.start();
 * ua.use({
 *   method: 'INVITE',
 *   handler: ({ call }) => {
 *     const bridge = b2bua.bridge({ call: call!, targets: [{ uri: 'sip:1002@10.0.0.5:5062' }] });
 *     bridge.on('ended', (end) => console.log('ended by', end.by));
 *   },
 * });
 * ```
 */
export class B2bua extends Service<B2buaEvents> {
  /** The user agent. */
  readonly ua: UserAgent;
  /** The media controller, when there is one. */
  readonly media: MediaController | undefined;
  readonly #logger: Logger;
  readonly #retryAfterS: number;
  readonly #bridges = new Set<Bridge>();
  readonly #byCall = new WeakMap<Call, Bridge>();
  readonly #bySession = new Map<string, Bridge>();
  readonly #hangupOnMediaTimeout: boolean;
  readonly #onMediaTimeout = (sessionId: string, leg: string): void => {
    this.#bySession
      .get(sessionId)
      ?._mediaTimeout(leg)
      .catch((error: unknown) => this.#logger.warn({ err: error }, 'media timeout hang-up failed'));
  };
  readonly #outcomes: Counter<'outcome'>;
  readonly #active: Gauge;
  readonly #host: BridgeHost;
  #guardInstalled = false;

  constructor(options: B2buaOptions) {
    super({ name: 'sip-b2bua', clock: options.clock ?? options.ua.callClock });
    if (options.ua === undefined) throw new TypeError('A B2BUA needs a user agent');
    this.ua = options.ua;
    this.media = options.media;
    this.#logger = options.logger ?? silentLogger;
    this.#retryAfterS = options.retryAfterS ?? 30;
    this.#hangupOnMediaTimeout = options.hangupOnMediaTimeout ?? true;
    const metrics = options.metrics ?? new Metrics();
    this.#outcomes = metrics.counter({
      name: 'sip_b2bua_bridges_total',
      help: 'Bridges by outcome (answered, failed, canceled)',
      labelNames: ['outcome'],
    });
    this.#active = metrics.gauge({
      name: 'sip_b2bua_active_bridges',
      help: 'Bridges not ended yet',
    });
    const clock = this.clock;
    const logger = this.#logger;
    this.#host = {
      ua: this.ua,
      media: this.media,
      clock,
      logger,
      outcomes: this.#outcomes,
      retryAfterS: this.#retryAfterS,
      bridgeOf: (call, except) => {
        for (const bridge of this.#bridges) {
          if (bridge !== except && (bridge.aLeg === call || bridge.bLeg === call)) return bridge;
        }
        return undefined;
      },
      bridgeEnded: (bridge) => {
        this.#bridges.delete(bridge);
        if (this.#bySession.get(bridge.sessionId) === bridge) {
          this.#bySession.delete(bridge.sessionId);
        }
        this.#active.set(this.#bridges.size);
      },
    };
  }

  /** The bridges not ended yet. */
  get bridges(): readonly Bridge[] {
    return [...this.#bridges];
  }

  /**
   * Bridges an incoming call to `targets`. Returns at once; the bridge runs
   * by itself. While the B2BUA drains or after it stopped, the call is
   * answered 503 with Retry-After and the bridge ends at once.
   *
   * Throws a `TypeError` when `call` is not an unanswered incoming call or
   * there are no targets, `SIP_B2BUA_INVALID_TARGET` when a target's URI does
   * not parse, and `NOT_ACCEPTING_WORK` when the B2BUA was never started.
   */
  bridge(options: BridgeOptions): Bridge {
    const call = options.call;
    if (call === undefined || call === null || call.direction !== 'incoming') {
      throw new TypeError('bridge() needs an incoming call');
    }
    if (!Array.isArray(options.targets) || options.targets.length === 0) {
      throw new VoxmeshError(
        SipB2buaErrorCode.SIP_B2BUA_INVALID_TARGET,
        'bridge() needs at least one target',
      );
    }
    options.targets.forEach(checkTarget);
    const strategy = options.strategy ?? 'sequential';
    if (strategy !== 'sequential' && strategy !== 'parallel') {
      throw new TypeError(`Unknown strategy: ${String(strategy)}`);
    }
    if (call.state !== 'ringing' && call.state !== 'early' && call.state !== 'terminated') {
      throw new TypeError(`The call is already ${call.state}`);
    }
    const running = this.#byCall.get(call);
    if (running !== undefined && running.state !== 'ended') {
      throw new TypeError('The call is already being bridged; hang that bridge up first');
    }
    // Never started: a programming error (beginWork throws NOT_ACCEPTING_WORK).
    // Draining or stopped: the bridge answers 503 by itself.
    const neverStarted = this.state === 'idle' || this.state === 'starting';
    const token: WorkToken | undefined =
      this.acceptingWork || neverStarted ? this.beginWork() : undefined;
    const bridge = new Bridge(this.#host, options, token);
    this.#byCall.set(call, bridge);
    if (token !== undefined) {
      this.#bridges.add(bridge);
      this.#bySession.set(bridge.sessionId, bridge);
      this.#active.set(this.#bridges.size);
    }
    try {
      this.emit('bridge', bridge);
    } catch (error) {
      this.#logger.warn({ err: error }, "a 'bridge' listener threw");
    }
    return bridge;
  }

  protected onStart(): Promise<void> {
    if (this.#hangupOnMediaTimeout) this.media?.on('timeout', this.#onMediaTimeout);
    if (!this.#guardInstalled) {
      this.#guardInstalled = true;
      // Runs before the application's handlers: while draining, new calls get 503.
      this.ua.use({
        method: 'INVITE',
        prepend: true,
        handler: (ctx, next) => {
          const state = this.state;
          if (state === 'draining' || state === 'stopping' || state === 'stopped') {
            // RFC 3261 §21.5.4: 503 with Retry-After while we shed load.
            ctx.call?.reject({
              status: 503,
              headers: [['Retry-After', String(this.#retryAfterS)]],
            });
            if (ctx.call === undefined) ctx.respond({ status: 503 });
            return;
          }
          return next();
        },
      });
    }
    return Promise.resolve();
  }

  protected async onStop(): Promise<void> {
    this.media?.off('timeout', this.#onMediaTimeout);
    await Promise.all([...this.#bridges].map((bridge) => bridge.hangup()));
  }
}
