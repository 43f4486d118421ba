/**
 * The lifecycle every long-running Voxmesh component shares: SIP transports,
 * the B2BUA, media workers, config replicas, history outboxes, HTTP services.
 *
 * ```text
 *            start()            (started)
 *   idle ───────────► starting ──────────► running
 *    │                  │ (threw)            │ drain()
 *    │                  ▼                    ▼
 *    │                failed              draining ── in-flight work finished ──┐
 *    │                  │ stop()             │ stop()                           │
 *    │ stop()           ▼                    ▼                                  │
 *    └────────────► stopping ◄──────────────────────────────────────────────────┘
 *                       │
 *                       ▼
 *                    stopped
 * ```
 *
 * - `start()` runs {@link Service.onStart}; concurrent calls share one start.
 * - `drain()` stops taking new work ({@link Service.beginWork} throws
 *   `NOT_ACCEPTING_WORK`), runs {@link Service.onDrain} (close listeners,
 *   answer new calls with 503), waits until all in-flight work has finished,
 *   then stops. With `timeoutMs` it rejects with `DRAIN_TIMEOUT` and leaves the
 *   service draining, so the caller can decide to `stop()` it.
 * - `stop()` aborts {@link Service.signal} (in-flight work should end at once),
 *   runs {@link Service.onStop} and ends in `stopped`. It is idempotent.
 * - A stopped service does not start again: create a new one.
 *
 * @module
 */

import { type Clock, systemClock } from './clock.js';
import { ErrorCode, VoxmeshError } from './errors.js';
import { type EventMap, TypedEventEmitter } from './events.js';
import { throwIfAborted } from './abort.js';

/** The states of a {@link Service}. */
export type ServiceState =
  'idle' | 'starting' | 'running' | 'draining' | 'stopping' | 'stopped' | 'failed';

/** Events every {@link Service} emits. */
export interface ServiceEvents {
  /** The service moved from `previous` to `state`. */
  state: [state: ServiceState, previous: ServiceState];
}

/** Options of {@link Service.start}. */
export interface StartOptions {
  /** Aborts a start that is still in progress (the service then fails). */
  signal?: AbortSignal | undefined;
}

/** Options of {@link Service.drain}. */
export interface DrainOptions {
  /**
   * Gives up waiting for in-flight work after this many milliseconds and
   * rejects with `DRAIN_TIMEOUT`, leaving the service draining.
   * @defaultValue no limit
   */
  timeoutMs?: number | undefined;
  /** Gives up waiting (rejects with `ABORTED`), leaving the service draining. */
  signal?: AbortSignal | undefined;
}

/** Options of the {@link Service} constructor. */
export interface ServiceOptions {
  /** A name for logs and error messages. */
  name: string;
  /**
   * The clock for drain deadlines.
   * @defaultValue {@link systemClock}
   */
  clock?: Clock | undefined;
}

/** A unit of in-flight work; release it when the work has finished. */
export interface WorkToken extends Disposable {
  /** Marks the work finished. Releasing twice does nothing. */
  release(): void;
}

/**
 * The base class of long-running components. Subclasses implement
 * {@link Service.onStart} and {@link Service.onStop}, optionally
 * {@link Service.onDrain}, and wrap each unit of work (a call, a transaction,
 * an HTTP request) in {@link Service.beginWork} or {@link Service.runWork}.
 */
export abstract class Service<E extends EventMap<E> = ServiceEvents> extends TypedEventEmitter<
  E & ServiceEvents
> {
  /** The service's name, for logs and errors. */
  readonly name: string;
  /** The clock used for drain deadlines. */
  protected readonly clock: Clock;
  #state: ServiceState = 'idle';
  #inFlight = 0;
  #idleWaiters: (() => void)[] = [];
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #draining: Promise<void> | undefined;
  readonly #stopController = new AbortController();

  constructor(options: ServiceOptions) {
    super();
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
  }

  /** The current state. */
  get state(): ServiceState {
    return this.#state;
  }

  /** The number of units of work in flight. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Whether new work is accepted (only while `running`). */
  get acceptingWork(): boolean {
    return this.#state === 'running';
  }

  /** Aborted when the service stops: pass it to in-flight work. */
  get signal(): AbortSignal {
    return this.#stopController.signal;
  }

  /** Starts the service. Resolves once it is running. */
  start(options: StartOptions = {}): Promise<void> {
    switch (this.#state) {
      case 'idle':
        this.#starting = this.#start(options.signal);
        return this.#starting;
      case 'starting':
        return this.#starting as Promise<void>;
      case 'running':
        return Promise.resolve();
      default:
        return Promise.reject(
          new VoxmeshError(
            ErrorCode.INVALID_STATE,
            `Service '${this.name}' cannot start from state '${this.#state}'; create a new instance`,
          ),
        );
    }
  }

  /**
   * Stops taking new work, waits for in-flight work to finish, then stops.
   * Resolves once the service is stopped.
   */
  async drain(options: DrainOptions = {}): Promise<void> {
    if (this.#state === 'starting') await this.#starting?.catch(() => undefined);
    switch (this.#state) {
      case 'idle':
      case 'failed':
      case 'stopping':
      case 'stopped':
        return this.stop();
      case 'running':
        this.#draining = this.#drain();
        break;
      default:
        break;
    }
    await this.#waitForDrain(options);
  }

  /** Stops at once: aborts {@link Service.signal} and runs {@link Service.onStop}. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  /** Same as {@link Service.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * Registers a unit of in-flight work. Throws `NOT_ACCEPTING_WORK` unless the
   * service is running; drain waits until every token has been released.
   *
   * @example
   * ```ts
   * using work = this.beginWork();
   * await handleCall(call, { signal: this.signal });
   * ```
   */
  beginWork(): WorkToken {
    if (this.#state !== 'running') {
      throw new VoxmeshError(
        ErrorCode.NOT_ACCEPTING_WORK,
        `Service '${this.name}' is ${this.#state} and takes no new work`,
        { retryable: true },
      );
    }
    this.#inFlight++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#inFlight--;
      if (this.#inFlight === 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const wake of waiters) wake();
      }
    };
    return { release, [Symbol.dispose]: release };
  }

  /** Runs `work` as one unit of in-flight work (see {@link Service.beginWork}). */
  async runWork<T>(work: (signal: AbortSignal) => Promise<T> | T): Promise<T> {
    const token = this.beginWork();
    try {
      return await work(this.signal);
    } finally {
      token.release();
    }
  }

  /** Acquires resources and begins serving. Throwing fails the start. */
  protected abstract onStart(signal: AbortSignal): Promise<void>;

  /** Stops accepting new work (close listening sockets, refuse new calls). */
  protected onDrain(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Releases every resource. Called once: by `stop()`, or right after
   * {@link Service.onStart} threw (so it must cope with a partial start).
   */
  protected abstract onStop(): Promise<void>;

  #setState(state: ServiceState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    (this as unknown as TypedEventEmitter<ServiceEvents>).emit('state', state, previous);
  }

  async #start(signal: AbortSignal | undefined): Promise<void> {
    this.#setState('starting');
    try {
      throwIfAborted(signal);
      const combined = signal ? AbortSignal.any([signal, this.signal]) : this.signal;
      await this.onStart(combined);
      throwIfAborted(signal);
    } catch (error) {
      // Release whatever the failed start acquired; a later stop() skips onStop.
      await this.onStop().catch(() => undefined);
      this.#setState('failed');
      const reason = error instanceof Error ? error.message : String(error);
      throw new VoxmeshError(
        ErrorCode.START_FAILED,
        `Service '${this.name}' failed to start: ${reason}`,
        { cause: error },
      );
    }
    if (this.#state === 'starting') this.#setState('running');
  }

  async #drain(): Promise<void> {
    this.#setState('draining');
    await this.onDrain();
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    await this.stop();
  }

  async #waitForDrain(options: DrainOptions): Promise<void> {
    const draining = this.#draining ?? this.stop();
    const { timeoutMs, signal } = options;
    if (timeoutMs === undefined && signal === undefined) return draining;
    throwIfAborted(signal);
    let cleanup = (): void => undefined;
    const limit = new Promise<never>((_resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : this.clock.setTimeout(() => {
              reject(
                new VoxmeshError(
                  ErrorCode.DRAIN_TIMEOUT,
                  `Service '${this.name}' still had ${this.#inFlight} unit(s) of work in flight after ${timeoutMs} ms`,
                  { retryable: true },
                ),
              );
            }, timeoutMs);
      const onAbortSignal = (): void => {
        reject(new VoxmeshError(ErrorCode.ABORTED, 'Drain aborted', { cause: signal?.reason }));
      };
      signal?.addEventListener('abort', onAbortSignal, { once: true });
      cleanup = () => {
        timer?.cancel();
        signal?.removeEventListener('abort', onAbortSignal);
      };
    });
    try {
      await Promise.race([draining, limit]);
    } finally {
      cleanup();
    }
  }

  async #stop(): Promise<void> {
    // Abort first: a start still in progress sees the signal and gives up.
    this.#stopController.abort(
      new VoxmeshError(ErrorCode.ABORTED, `Service '${this.name}' stopped`),
    );
    if (this.#state === 'starting') await this.#starting?.catch(() => undefined);
    const released = this.#state === 'idle' || this.#state === 'failed';
    this.#setState('stopping');
    // Work that never released its token must not keep a pending drain alive.
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
    try {
      if (!released) await this.onStop();
    } finally {
      this.#setState('stopped');
    }
  }
}

/** Options of the {@link ServiceGroup} constructor. */
export interface ServiceGroupOptions extends ServiceOptions {
  /** The services, in start order. They stop in reverse order. */
  services: Service[];
}

/**
 * Several services run as one: started in order (a failure stops those
 * already started, in reverse), drained together (each waits for its own
 * in-flight work), stopped in reverse order.
 */
export class ServiceGroup extends Service {
  readonly services: readonly Service[];

  constructor(options: ServiceGroupOptions) {
    super(options);
    this.services = [...options.services];
  }

  protected async onStart(signal: AbortSignal): Promise<void> {
    for (const service of this.services) {
      await service.start({ signal });
    }
  }

  protected override async onDrain(): Promise<void> {
    await Promise.all(this.services.map((service) => service.drain()));
  }

  protected async onStop(): Promise<void> {
    const errors: unknown[] = [];
    for (const service of [...this.services].reverse()) {
      try {
        await service.stop();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) {
      throw new AggregateError(
        errors,
        `Stopping '${this.name}' failed in ${errors.length} service(s)`,
      );
    }
  }
}
