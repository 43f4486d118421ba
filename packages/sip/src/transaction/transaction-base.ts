/**
 * What the four RFC 3261 §17 transaction machines share: timer values, the
 * small transport interface they need, branch generation and the base class.
 *
 * @module
 */

import {
  type Clock,
  type EventMap,
  type Logger,
  type Timer,
  TypedEventEmitter,
} from '@voxmesh/core';
import type { SipMessage, SipRequest, SipResponse } from '../message.js';
import { randomBase64url } from '../codec/random.js';

/**
 * The magic cookie that starts every RFC 3261 branch (§8.1.1.7); requests
 * whose branch lacks it are matched by the RFC 2543 rules (§17.2.3).
 */
export const BRANCH_MAGIC_COOKIE = 'z9hG4bK';

/** A new branch: the magic cookie and 128 random bits (RFC 3261 §8.1.1.7). */
export function generateBranch(): string {
  return BRANCH_MAGIC_COOKIE + randomBase64url(16);
}

/** The timer base values of RFC 3261 §17 (Table 4), in milliseconds. */
export interface TransactionTimerOptions {
  /**
   * The round-trip estimate: the first retransmission interval.
   * @defaultValue `500`
   */
  t1?: number | undefined;
  /**
   * The longest retransmission interval for non-INVITE requests and INVITE responses.
   * @defaultValue `4_000`
   */
  t2?: number | undefined;
  /**
   * The longest time a message stays in the network.
   * @defaultValue `5_000`
   */
  t4?: number | undefined;
}

/** Resolved timer base values. */
export interface TransactionTimers {
  readonly t1: number;
  readonly t2: number;
  readonly t4: number;
}

/** Fills in the RFC 3261 defaults. */
export function resolveTimers(options: TransactionTimerOptions = {}): TransactionTimers {
  const t1 = options.t1 ?? 500;
  const t2 = options.t2 ?? 4_000;
  const t4 = options.t4 ?? 5_000;
  for (const [name, v] of [
    ['t1', t1],
    ['t2', t2],
    ['t4', t4],
  ] as const) {
    if (!(v > 0)) throw new RangeError(`Timer ${name} must be positive, got ${v}`);
  }
  return { t1, t2, t4 };
}

/**
 * The transport as the transaction layer sees it: one way to send a message
 * towards the peer, and whether that way is reliable. A client transaction
 * is given the flow (or resolved target) its request goes out on; a server
 * transaction answers on the flow its request came in on, and the flow routes
 * responses per RFC 3261 §18.2.2 / RFC 3581.
 */
export interface TransactionFlow {
  /**
   * Whether the transport is reliable (TCP, TLS, WS, WSS, SCTP): then no
   * request or response is retransmitted and timers D, I, J and K are zero
   * (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
   */
  readonly reliable: boolean;
  /** Sends one message; throws or rejects when the transport fails. */
  send(message: SipMessage): void | Promise<void>;
}

/** Options every transaction constructor takes. */
export interface TransactionContext {
  clock: Clock;
  timers: TransactionTimers;
  logger: Logger;
}

/** The events every transaction emits. */
export interface TransactionEvents<S extends string> {
  /** The state changed. */
  state: [state: S, previous: S];
  /** The transaction reached `terminated`; it is no longer matched. */
  terminated: [];
}

/** The base of the four transaction machines. */
export abstract class TransactionBase<
  S extends string,
  E extends TransactionEvents<S> & EventMap<E>,
> extends TypedEventEmitter<E> {
  /** The branch of the top Via (empty for RFC 2543 requests without one). */
  readonly branch: string;
  /** The request that created the transaction. */
  readonly request: SipRequest;
  /** The flow messages go out on. */
  readonly flow: TransactionFlow;
  protected readonly ctx: TransactionContext;
  #state: S;
  readonly #timers = new Map<string, Timer>();

  protected constructor(
    request: SipRequest,
    flow: TransactionFlow,
    ctx: TransactionContext,
    initial: S,
  ) {
    super();
    // RFC 2543 peers may send no branch; such server transactions are matched
    // by the older rules (RFC 3261 §17.2.3) and have an empty branch here.
    this.branch = request.topVia?.branch ?? '';
    this.request = request;
    this.flow = flow;
    this.ctx = ctx;
    this.#state = initial;
  }

  /** The current state. */
  get state(): S {
    return this.#state;
  }

  /** The names of the timers running now (`A`, `B`, …), for tests and diagnostics. */
  get runningTimers(): string[] {
    return [...this.#timers.keys()].sort();
  }

  protected setState(state: S): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.emit('state', ...([state, previous] as unknown as E['state']));
    if (state === 'terminated') {
      this.clearTimers();
      this.emit('terminated', ...([] as unknown as E['terminated']));
    }
  }

  protected startTimer(name: string, ms: number, fire: () => void): void {
    this.#timers.get(name)?.cancel();
    this.#timers.set(
      name,
      this.ctx.clock.setTimeout(() => {
        this.#timers.delete(name);
        fire();
      }, ms),
    );
  }

  protected stopTimer(name: string): void {
    this.#timers.get(name)?.cancel();
    this.#timers.delete(name);
  }

  protected clearTimers(): void {
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
  }

  /** Sends `message` on the flow; a failure is reported through {@link TransactionBase.onTransportError}. */
  protected transmit(message: SipMessage): void {
    let result: void | Promise<void>;
    try {
      result = this.flow.send(message);
    } catch (error) {
      // Reported asynchronously, so that a caller that has just created the
      // transaction can still attach its listeners.
      queueMicrotask(() => {
        this.onTransportError(error);
      });
      return;
    }
    if (result instanceof Promise) {
      result.catch((error: unknown) => {
        this.onTransportError(error);
      });
    }
  }

  /** RFC 3261 §17.1.4 / §17.2.4: a transport error ends the transaction. */
  protected abstract onTransportError(error: unknown): void;

  /** Ends the transaction at once (stopping its timers), e.g. when the stack stops. */
  terminate(): void {
    this.setState('terminated' as S);
  }
}

/** Whether `response` is a final response. */
export function isFinal(response: SipResponse): boolean {
  return response.status >= 200;
}
