/**
 * The gather state machine: DTMF digit collection under the timing rules that
 * IVR platforms most often get wrong. Every {@link CallChannel} implementation
 * (SIP + media, the simulated call) feeds digits into one of these so the
 * rules are the same everywhere.
 *
 * ```text
 *            start(queued digits)
 *                   │
 *        ┌──────────┴─────────── no digit yet ──────────────┐
 *        │ digit(s) queued                                  ▼
 *        ▼                                   waiting-first (first-digit timer,
 *   collecting ◄───────────── digit ──────────  total timer if set)
 *   (inter-digit timer restarts per digit;           │ first-digit / total timer
 *    the total timer is cancelled: once a            ▼
 *    digit arrived, inter-digit supersedes it)     done: timeout, no digits
 *        │ finish key → done: finish-key (key not included)
 *        │ maxDigits reached → done: max-digits
 *        │ inter-digit timer → done: timeout (digits if ≥ minDigits)
 *        ▼
 *      done
 * ```
 *
 * @module
 */

import type { Clock, Timer } from './clock.js';
import type { CollectDigitsOptions, CollectDigitsResult } from './call-channel.js';

/** Resolved gather settings (every option given). */
export interface DigitCollectorSettings {
  maxDigits: number;
  minDigits: number;
  finishOnKey: string;
  firstDigitTimeoutMs: number;
  interDigitTimeoutMs: number;
  totalTimeoutMs: number | undefined;
}

/** Fills in the defaults of {@link CollectDigitsOptions}; throws a `RangeError` for impossible values. */
export function digitCollectorSettings(options: CollectDigitsOptions = {}): DigitCollectorSettings {
  const settings: DigitCollectorSettings = {
    maxDigits: options.maxDigits ?? 1,
    minDigits: options.minDigits ?? 1,
    finishOnKey: options.finishOnKey ?? '',
    firstDigitTimeoutMs: options.firstDigitTimeoutMs ?? 5_000,
    interDigitTimeoutMs: options.interDigitTimeoutMs ?? 3_000,
    totalTimeoutMs: options.totalTimeoutMs,
  };
  if (!Number.isInteger(settings.maxDigits) || settings.maxDigits < 1) {
    throw new RangeError(`maxDigits must be an integer ≥ 1, got ${settings.maxDigits}`);
  }
  if (
    !Number.isInteger(settings.minDigits) ||
    settings.minDigits < 0 ||
    settings.minDigits > settings.maxDigits
  ) {
    throw new RangeError(
      `minDigits must be an integer from 0 to maxDigits, got ${settings.minDigits}`,
    );
  }
  for (const key of ['firstDigitTimeoutMs', 'interDigitTimeoutMs'] as const) {
    if (!(settings[key] > 0)) throw new RangeError(`${key} must be > 0, got ${settings[key]}`);
  }
  if (settings.totalTimeoutMs !== undefined && !(settings.totalTimeoutMs > 0)) {
    throw new RangeError(`totalTimeoutMs must be > 0, got ${settings.totalTimeoutMs}`);
  }
  if (!/^[0-9*#A-D]*$/.test(settings.finishOnKey)) {
    throw new RangeError(`finishOnKey must be DTMF keys, got '${settings.finishOnKey}'`);
  }
  return settings;
}

/** The result of a collection, with what was typed but discarded (fewer than `minDigits` at a timeout). */
export interface DigitCollectorResult extends CollectDigitsResult {
  /** Digits typed but not returned because they were fewer than `minDigits` at a timeout. */
  discarded: string;
}

/**
 * One digit collection. Create it when the prompt has finished (the first-digit
 * timeout runs from then), hand it any digits queued by barge-in, push every
 * further digit, and await {@link DigitCollector.result}.
 */
export class DigitCollector {
  /** Settles once, with the outcome. */
  readonly result: Promise<DigitCollectorResult>;
  readonly #settings: DigitCollectorSettings;
  readonly #clock: Clock;
  #digits = '';
  #done = false;
  #resolve!: (result: DigitCollectorResult) => void;
  #digitTimer: Timer | undefined;
  #totalTimer: Timer | undefined;

  constructor(options: {
    clock: Clock;
    settings: DigitCollectorSettings;
    queued?: string | undefined;
  }) {
    this.#settings = options.settings;
    this.#clock = options.clock;
    this.result = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    const queued = options.queued ?? '';
    if (this.#settings.totalTimeoutMs !== undefined && queued === '') {
      this.#totalTimer = this.#clock.setTimeout(
        () => this.#timeout(),
        this.#settings.totalTimeoutMs,
      );
    }
    if (queued === '') {
      this.#digitTimer = this.#clock.setTimeout(
        () => this.#timeout(),
        this.#settings.firstDigitTimeoutMs,
      );
    }
    for (const digit of queued) this.push(digit);
  }

  /** Whether the collection has finished. */
  get done(): boolean {
    return this.#done;
  }

  /** The digits collected so far. */
  get digits(): string {
    return this.#digits;
  }

  /**
   * Feeds one digit. Returns `false` when the collection had already finished
   * (the digit was not consumed).
   */
  push(digit: string): boolean {
    if (this.#done) return false;
    if (this.#settings.finishOnKey.includes(digit)) {
      this.#finish(this.#digits, 'finish-key', '');
      return true;
    }
    this.#digits += digit;
    // Once a digit has arrived, the inter-digit timer supersedes both the
    // first-digit and the total timeout.
    this.#totalTimer?.cancel();
    this.#totalTimer = undefined;
    this.#digitTimer?.cancel();
    if (this.#digits.length >= this.#settings.maxDigits) {
      this.#finish(this.#digits, 'max-digits', '');
    } else {
      this.#digitTimer = this.#clock.setTimeout(
        () => this.#timeout(),
        this.#settings.interDigitTimeoutMs,
      );
    }
    return true;
  }

  /** Ends the collection early (`'stopped'` or `'hangup'`), returning the digits so far. */
  cancel(reason: 'stopped' | 'hangup'): void {
    this.#finish(this.#digits, reason, '');
  }

  #timeout(): void {
    if (this.#digits.length >= this.#settings.minDigits) this.#finish(this.#digits, 'timeout', '');
    else this.#finish('', 'timeout', this.#digits);
  }

  #finish(digits: string, reason: CollectDigitsResult['reason'], discarded: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#digitTimer?.cancel();
    this.#totalTimer?.cancel();
    this.#resolve({ digits, reason, discarded });
  }
}
