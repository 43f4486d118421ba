/**
 * One shared media clock: a single timer that ticks every 20 ms for every
 * player, recorder and mixer in the process, instead of one timer per call.
 * Ticks are scheduled against absolute monotonic time, so they do not drift;
 * when the event loop was late by more than one period, the missed ticks are
 * delivered at once (so audio keeps its duration) and counted as late.
 *
 * @module
 */

import { systemClock, type Clock, type Timer } from '@voxmesh/core';

/** A subscriber of {@link MediaClock}: called once per tick with the tick number. */
export type MediaClockListener = (tick: number) => void;

/** Options of {@link MediaClock}. */
export interface MediaClockOptions {
  /**
   * The clock that drives the ticks (a `FakeClock` in tests).
   * @defaultValue `systemClock`
   */
  clock?: Clock | undefined;
  /**
   * The tick period in milliseconds.
   * @defaultValue `20`
   */
  periodMs?: number | undefined;
}

/** The shared 20 ms tick. It runs only while it has subscribers. */
export class MediaClock {
  /** The tick period in milliseconds. */
  readonly periodMs: number;
  readonly #clock: Clock;
  readonly #listeners = new Set<MediaClockListener>();
  #timer: Timer | undefined;
  #origin = 0;
  #tick = 0;
  #late = 0;

  constructor(options: MediaClockOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.periodMs = options.periodMs ?? 20;
    if (!(this.periodMs > 0)) throw new RangeError('periodMs must be positive');
  }

  /** Ticks delivered late (more than one period after their due time). */
  get lateTicks(): number {
    return this.#late;
  }

  /** The number of subscribers. */
  get size(): number {
    return this.#listeners.size;
  }

  /** Calls `listener` on every tick until the returned `Disposable` is disposed. */
  subscribe(listener: MediaClockListener): Disposable {
    this.#listeners.add(listener);
    if (this.#timer === undefined) {
      this.#origin = this.#clock.monotonic();
      this.#tick = 0;
      this.#schedule();
    }
    return {
      [Symbol.dispose]: () => {
        this.#listeners.delete(listener);
        if (this.#listeners.size === 0) {
          this.#timer?.cancel();
          this.#timer = undefined;
        }
      },
    };
  }

  #schedule(): void {
    const due = this.#origin + (this.#tick + 1) * this.periodMs;
    const delay = Math.max(0, due - this.#clock.monotonic());
    this.#timer = this.#clock.setTimeout(() => this.#fire(), delay);
    this.#timer.unref();
  }

  #fire(): void {
    const now = this.#clock.monotonic();
    // Deliver every tick that is due by now (catching up after a stall).
    while (
      this.#listeners.size > 0 &&
      this.#origin + (this.#tick + 1) * this.periodMs <= now + 0.5
    ) {
      this.#tick++;
      if (now - (this.#origin + this.#tick * this.periodMs) > this.periodMs) this.#late++;
      for (const listener of this.#listeners) {
        try {
          listener(this.#tick);
        } catch {
          // One failing subscriber must not stop the others' audio.
        }
      }
    }
    if (this.#listeners.size > 0) this.#schedule();
    else this.#timer = undefined;
  }
}
