import { describe, expect, it } from 'vitest';
import {
  DigitCollector,
  digitCollectorSettings,
  FakeClock,
  type CollectDigitsOptions,
} from '../src/index.js';

interface Row {
  rule: string;
  options: CollectDigitsOptions;
  /** Digits queued by barge-in before collection starts. */
  queued?: string;
  /** [ms after start, key] */
  keys: [number, string][];
  digits: string;
  reason: string;
  /** When the result came, in ms after start. */
  at: number;
  discarded?: string;
}

// Every gather timing rule, one row each. Times are from the end of the
// prompt (when collection starts).
const rows: Row[] = [
  {
    rule: 'no input: first-digit timeout (default 5 s) from the end of the prompt',
    options: {},
    keys: [],
    digits: '',
    reason: 'timeout',
    at: 5_000,
  },
  {
    rule: 'a custom first-digit timeout',
    options: { firstDigitTimeoutMs: 2_000 },
    keys: [],
    digits: '',
    reason: 'timeout',
    at: 2_000,
  },
  {
    rule: 'a 10-second first-digit timeout',
    options: { firstDigitTimeoutMs: 10_000 },
    keys: [],
    digits: '',
    reason: 'timeout',
    at: 10_000,
  },
  {
    rule: 'maxDigits 1 ends at the first digit',
    options: {},
    keys: [[1_200, '7']],
    digits: '7',
    reason: 'max-digits',
    at: 1_200,
  },
  {
    rule: 'maxDigits 4 ends at the fourth digit',
    options: { maxDigits: 4 },
    keys: [
      [500, '1'],
      [1_500, '2'],
      [2_500, '3'],
      [3_500, '4'],
      [3_600, '5'],
    ],
    digits: '1234',
    reason: 'max-digits',
    at: 3_500,
  },
  {
    rule: 'the inter-digit timer restarts with each digit',
    options: { maxDigits: 4, interDigitTimeoutMs: 3_000 },
    keys: [
      [1_000, '1'],
      [3_500, '2'],
    ],
    digits: '12',
    reason: 'timeout',
    at: 6_500,
  },
  {
    rule: 'the inter-digit timeout ends input; later digits are not taken',
    options: { maxDigits: 4, interDigitTimeoutMs: 3_000 },
    keys: [
      [1_000, '1'],
      [4_500, '2'],
    ],
    digits: '1',
    reason: 'timeout',
    at: 4_000,
  },
  {
    rule: 'the first-digit timeout no longer applies once a digit arrived',
    options: { maxDigits: 3, firstDigitTimeoutMs: 2_000, interDigitTimeoutMs: 5_000 },
    keys: [[1_500, '1']],
    digits: '1',
    reason: 'timeout',
    at: 6_500,
  },
  {
    rule: 'the total timeout ends input when no digit arrives',
    options: { firstDigitTimeoutMs: 5_000, totalTimeoutMs: 3_000 },
    keys: [],
    digits: '',
    reason: 'timeout',
    at: 3_000,
  },
  {
    rule: 'once a digit arrived, the inter-digit timeout supersedes the total timeout',
    options: { maxDigits: 5, totalTimeoutMs: 3_000, interDigitTimeoutMs: 2_000 },
    keys: [
      [1_000, '1'],
      [2_500, '2'],
      [4_000, '3'],
    ],
    digits: '123',
    reason: 'timeout',
    at: 6_000,
  },
  {
    rule: 'the finish key ends input and is not included',
    options: { maxDigits: 10, finishOnKey: '#' },
    keys: [
      [500, '1'],
      [900, '2'],
      [1_300, '#'],
    ],
    digits: '12',
    reason: 'finish-key',
    at: 1_300,
  },
  {
    rule: 'the finish key alone gives empty input',
    options: { maxDigits: 10, finishOnKey: '#' },
    keys: [[700, '#']],
    digits: '',
    reason: 'finish-key',
    at: 700,
  },
  {
    rule: 'any of several finish keys ends input',
    options: { maxDigits: 10, finishOnKey: '#*' },
    keys: [
      [100, '4'],
      [200, '*'],
    ],
    digits: '4',
    reason: 'finish-key',
    at: 200,
  },
  {
    rule: 'digits are returned on timeout when at least minDigits',
    options: { minDigits: 2, maxDigits: 6 },
    keys: [
      [100, '1'],
      [200, '2'],
    ],
    digits: '12',
    reason: 'timeout',
    at: 3_200,
  },
  {
    rule: 'fewer than minDigits at a timeout: no digits, the typed ones reported as discarded',
    options: { minDigits: 3, maxDigits: 6 },
    keys: [
      [100, '1'],
      [200, '2'],
    ],
    digits: '',
    reason: 'timeout',
    at: 3_200,
    discarded: '12',
  },
  {
    rule: 'a barge-in digit counts as the first digit (no first-digit timer)',
    options: { maxDigits: 3, firstDigitTimeoutMs: 1_000, interDigitTimeoutMs: 3_000 },
    queued: '1',
    keys: [],
    digits: '1',
    reason: 'timeout',
    at: 3_000,
  },
  {
    rule: 'a barge-in digit that fills maxDigits ends input at once',
    options: {},
    queued: '5',
    keys: [],
    digits: '5',
    reason: 'max-digits',
    at: 0,
  },
  {
    rule: 'a queued finish key ends input at once',
    options: { maxDigits: 4, finishOnKey: '#' },
    queued: '12#',
    keys: [],
    digits: '12',
    reason: 'finish-key',
    at: 0,
  },
];

describe('DigitCollector timing rules', () => {
  it.each(rows)('$rule', async (row) => {
    const clock = new FakeClock();
    const collector = new DigitCollector({
      clock,
      settings: digitCollectorSettings(row.options),
      queued: row.queued,
    });
    let at: number | undefined;
    void collector.result.then(() => (at = clock.monotonic()));
    for (const [ms, key] of row.keys) {
      clock.setTimeout(() => collector.push(key), ms);
    }
    await clock.advanceAsync(60_000);
    const result = await collector.result;
    expect(result.digits).toBe(row.digits);
    expect(result.reason).toBe(row.reason);
    expect(result.discarded).toBe(row.discarded ?? '');
    expect(at).toBe(row.at);
    // Nothing is left scheduled after the result.
    expect(clock.pendingTimers).toBe(0);
  });

  it('cancel() ends with the digits so far and clears the timers', async () => {
    const clock = new FakeClock();
    const collector = new DigitCollector({
      clock,
      settings: digitCollectorSettings({ maxDigits: 4, totalTimeoutMs: 9_000 }),
    });
    collector.push('9');
    collector.cancel('hangup');
    expect(await collector.result).toEqual({ digits: '9', reason: 'hangup', discarded: '' });
    expect(collector.push('1')).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it.each([
    [{ maxDigits: 0 }, /maxDigits/],
    [{ minDigits: 3, maxDigits: 2 }, /minDigits/],
    [{ firstDigitTimeoutMs: 0 }, /firstDigitTimeoutMs/],
    [{ interDigitTimeoutMs: -1 }, /interDigitTimeoutMs/],
    [{ totalTimeoutMs: 0 }, /totalTimeoutMs/],
    [{ finishOnKey: 'x' }, /finishOnKey/],
  ] as [CollectDigitsOptions, RegExp][])('rejects impossible settings %o', (options, message) => {
    expect(() => digitCollectorSettings(options)).toThrow(RangeError);
    expect(() => digitCollectorSettings(options)).toThrow(message);
  });
});
