/**
 * Time as an injectable dependency.
 *
 * Everything in Voxmesh that waits (SIP transaction timers, registration
 * expiry, IVR digit timeouts, drain deadlines) takes a {@link Clock} instead of
 * calling the global timers, so tests can run a 32-second SIP timer B or a
 * 10-second IVR timeout in microseconds with a {@link FakeClock}.
 *
 * @module
 */

import { AbortError } from './errors.js';

/** A scheduled callback, returned by {@link Clock.setTimeout} and {@link Clock.setInterval}. */
export interface Timer {
  /** Cancels the timer; calling it again, or after the timer fired, does nothing. */
  cancel(): void;
  /** Whether the timer will still fire (a one-shot timer that fired is no longer active). */
  readonly active: boolean;
  /**
   * Lets the process exit while this timer is pending (like Node's
   * `timeout.unref()`); a fake clock ignores it.
   * @returns the timer itself.
   */
  unref(): this;
}

/** Options of {@link Clock.sleep}. */
export interface SleepOptions {
  /** Rejects the sleep with an {@link AbortError} when aborted. */
  signal?: AbortSignal | undefined;
}

/** The source of time and timers. */
export interface Clock {
  /** Wall-clock time in milliseconds since the Unix epoch (like `Date.now()`). */
  now(): number;
  /**
   * Monotonic time in milliseconds with sub-millisecond precision (like
   * `performance.now()`): for measuring intervals, never goes backwards.
   */
  monotonic(): number;
  /** Calls `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): Timer;
  /** Calls `callback` every `ms` milliseconds until cancelled. */
  setInterval(callback: () => void, ms: number): Timer;
  /** Resolves after `ms` milliseconds; rejects with an {@link AbortError} when `signal` aborts. */
  sleep(ms: number, options?: SleepOptions): Promise<void>;
}

function checkDelay(ms: number): number {
  if (typeof ms !== 'number' || Number.isNaN(ms)) {
    throw new TypeError(`Timer delay must be a number, got ${String(ms)}`);
  }
  return Math.max(0, ms);
}

function sleepWith(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError(undefined, { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      reject(new AbortError(undefined, { cause: signal?.reason }));
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

class NodeTimer implements Timer {
  #handle: NodeJS.Timeout | undefined;
  readonly #repeat: boolean;

  constructor(callback: () => void, ms: number, repeat: boolean) {
    this.#repeat = repeat;
    const run = (): void => {
      if (!this.#repeat) this.#handle = undefined;
      callback();
    };
    this.#handle = repeat ? globalThis.setInterval(run, ms) : globalThis.setTimeout(run, ms);
  }

  get active(): boolean {
    return this.#handle !== undefined;
  }

  cancel(): void {
    if (this.#handle === undefined) return;
    if (this.#repeat) globalThis.clearInterval(this.#handle);
    else globalThis.clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  unref(): this {
    this.#handle?.unref();
    return this;
  }
}

/** The real clock: `Date.now()`, `performance.now()` and Node's timers. */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  monotonic(): number {
    return performance.now();
  }

  setTimeout(callback: () => void, ms: number): Timer {
    return new NodeTimer(callback, checkDelay(ms), false);
  }

  setInterval(callback: () => void, ms: number): Timer {
    return new NodeTimer(callback, Math.max(1, checkDelay(ms)), true);
  }

  sleep(ms: number, options: SleepOptions = {}): Promise<void> {
    return sleepWith(this, checkDelay(ms), options.signal);
  }
}

/** The shared {@link SystemClock}, the default wherever a `clock` option is omitted. */
export const systemClock: Clock = new SystemClock();

/** Options of the {@link FakeClock} constructor. */
export interface FakeClockOptions {
  /**
   * The initial wall-clock time, in milliseconds since the epoch or as a Date.
   * @defaultValue `Date.UTC(2024, 0, 1)` (fixed, so tests are reproducible)
   */
  now?: number | Date;
}

interface FakeEntry {
  id: number;
  due: number;
  interval: number | undefined;
  callback: () => void;
  cancelled: boolean;
}

class FakeTimer implements Timer {
  constructor(
    private readonly clock: FakeClock,
    private readonly entry: FakeEntry,
  ) {}

  get active(): boolean {
    return !this.entry.cancelled;
  }

  cancel(): void {
    if (this.entry.cancelled) return;
    this.entry.cancelled = true;
    this.clock._remove(this.entry);
  }

  unref(): this {
    return this;
  }
}

/**
 * A clock whose time moves only when a test moves it.
 *
 * Timers fire in order of their due time; timers due at the same instant
 * fire in the order they were scheduled. A timer scheduled by a callback
 * during {@link FakeClock.advance} fires in the same call if it falls due
 * within the advanced window. {@link FakeClock.now} reads the due time of the
 * timer being fired while its callback runs.
 *
 * Promise-based code needs its promise reactions to run between timers: use
 * {@link FakeClock.advanceAsync}, which lets pending promise callbacks settle
 * after each timer it fires.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * const fired: number[] = [];
 * clock.setTimeout(() => fired.push(clock.now()), 500);
 * clock.advance(499); // nothing yet
 * clock.advance(1);   // fired
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #monotonic = 0;
  #nextId = 1;
  // Sorted by (due, id). Timer counts in tests are small; a sorted array keeps
  // the order obvious and insertion cheap enough.
  #queue: FakeEntry[] = [];

  constructor(options: FakeClockOptions = {}) {
    const start = options.now ?? Date.UTC(2024, 0, 1);
    this.#now = start instanceof Date ? start.getTime() : start;
  }

  now(): number {
    return this.#now;
  }

  monotonic(): number {
    return this.#monotonic;
  }

  /** The number of timers still scheduled. */
  get pendingTimers(): number {
    return this.#queue.length;
  }

  /** Milliseconds until the next timer is due, or `undefined` when none is scheduled. */
  get nextDueIn(): number | undefined {
    const first = this.#queue[0];
    return first === undefined ? undefined : first.due - this.#monotonic;
  }

  setTimeout(callback: () => void, ms: number): Timer {
    return this.#schedule(callback, checkDelay(ms), undefined);
  }

  setInterval(callback: () => void, ms: number): Timer {
    const interval = Math.max(1, checkDelay(ms));
    return this.#schedule(callback, interval, interval);
  }

  sleep(ms: number, options: SleepOptions = {}): Promise<void> {
    return sleepWith(this, checkDelay(ms), options.signal);
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way,
   * synchronously and in order. Returns the number of timers fired.
   */
  advance(ms: number): number {
    const target = this.#monotonic + checkDelay(ms);
    let fired = 0;
    for (;;) {
      const entry = this.#queue[0];
      if (entry === undefined || entry.due > target) break;
      this.#fire(entry);
      fired++;
    }
    this.#moveTo(target);
    return fired;
  }

  /**
   * Like {@link FakeClock.advance}, but after each timer fires it waits for
   * pending promise reactions (and `setImmediate` callbacks) to settle, so
   * async code driven by the timers runs as it would in real time. Returns the
   * number of timers fired.
   */
  async advanceAsync(ms: number): Promise<number> {
    const target = this.#monotonic + checkDelay(ms);
    let fired = 0;
    await settle();
    for (;;) {
      const entry = this.#queue[0];
      if (entry === undefined || entry.due > target) break;
      this.#fire(entry);
      fired++;
      await settle();
    }
    this.#moveTo(target);
    return fired;
  }

  /**
   * Fires timers until none is left, moving time to each one's due time.
   * Throws a `RangeError` after `maxTimers` (an interval never runs out).
   * @returns the number of timers fired.
   */
  async runAll(options: { maxTimers?: number } = {}): Promise<number> {
    const max = options.maxTimers ?? 10_000;
    let fired = 0;
    await settle();
    while (this.#queue.length > 0) {
      if (fired >= max) {
        throw new RangeError(`FakeClock.runAll fired ${max} timers and timers remain`);
      }
      this.#fire(this.#queue[0] as FakeEntry);
      fired++;
      await settle();
    }
    return fired;
  }

  /** Sets the wall-clock time without firing timers (a clock step, e.g. NTP). */
  setSystemTime(now: number | Date): void {
    this.#now = now instanceof Date ? now.getTime() : now;
  }

  /** @internal */
  _remove(entry: FakeEntry): void {
    const i = this.#queue.indexOf(entry);
    if (i >= 0) this.#queue.splice(i, 1);
  }

  #schedule(callback: () => void, delay: number, interval: number | undefined): Timer {
    const entry: FakeEntry = {
      id: this.#nextId++,
      due: this.#monotonic + delay,
      interval,
      callback,
      cancelled: false,
    };
    this.#insert(entry);
    return new FakeTimer(this, entry);
  }

  #insert(entry: FakeEntry): void {
    let i = this.#queue.length;
    while (i > 0) {
      const prev = this.#queue[i - 1] as FakeEntry;
      if (prev.due < entry.due || (prev.due === entry.due && prev.id < entry.id)) break;
      i--;
    }
    this.#queue.splice(i, 0, entry);
  }

  #fire(entry: FakeEntry): void {
    this.#queue.shift();
    this.#moveTo(entry.due);
    if (entry.interval !== undefined) {
      // Re-queued with a fresh id so that it sorts after timers scheduled
      // earlier for the same instant.
      entry.due += entry.interval;
      entry.id = this.#nextId++;
      this.#insert(entry);
    } else {
      entry.cancelled = true;
    }
    entry.callback();
  }

  #moveTo(monotonic: number): void {
    if (monotonic <= this.#monotonic) return;
    this.#now += monotonic - this.#monotonic;
    this.#monotonic = monotonic;
  }
}

/** Waits until pending promise reactions and immediates have run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
