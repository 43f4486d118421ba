/**
 * The conformance suite of {@link CallChannel}: every implementation (the
 * simulated call, the SIP + media channel of the reference server, an
 * integrator's) runs it, so call logic behaves the same on all of them.
 * Public under `@voxmesh/core/testing`.
 *
 * @example
 * With vitest's `it` as the test function:
 *
 * ```ts
 * callChannelSuite({
 *   test: it,
 *   factory: () => {
 *     const call = new SimulatedCall();
 *     return {
 *       channel: call,
 *       press: (digit) => call.press(digit),
 *       advance: (ms) => call.silence(ms),
 *       callerHangup: () => call.callerHangup(),
 *     };
 *   },
 * });
 * ```
 *
 * @module
 */

import type { CallChannel, PlayResult } from './call-channel.js';
import { ErrorCode, VoxmeshError } from './errors.js';

/** A channel under test and the controls of its caller. */
export interface CallChannelHarness {
  /** A fresh, unanswered inbound call. */
  channel: CallChannel;
  /** The caller presses one key. */
  press: (digit: string) => Promise<void> | void;
  /** Lets `ms` of call time pass (advances a fake clock, or waits). */
  advance: (ms: number) => Promise<void>;
  /** The caller hangs up. */
  callerHangup: () => Promise<void>;
  /** Releases the harness's resources. */
  close?: (() => Promise<void>) | undefined;
}

/** Options of {@link callChannelSuite}. */
export interface CallChannelSuiteOptions {
  /** The test function of the runner (`it` / `test` of vitest, node:test, mocha). */
  test: (name: string, fn: () => Promise<void>) => void;
  /** Creates a fresh harness for each test. */
  factory: () => CallChannelHarness | Promise<CallChannelHarness>;
  /** Prefix of each test name. @defaultValue `'CallChannel: '` */
  prefix?: string | undefined;
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`CallChannel conformance: ${message}`);
}

const PROMPT = { silenceMs: 1_000 } as const;
// For prompts that the test interrupts: long enough that a slow machine
// cannot finish them before the interruption arrives.
const LONG = { silenceMs: 30_000 } as const;

/** Registers the CallChannel conformance tests with `test`. */
export function callChannelSuite(options: CallChannelSuiteOptions): void {
  const { test, factory } = options;
  const prefix = options.prefix ?? 'CallChannel: ';
  const run = (name: string, body: (h: CallChannelHarness) => Promise<void>): void => {
    test(prefix + name, async () => {
      const harness = await factory();
      try {
        await body(harness);
      } finally {
        if (harness.channel.state !== 'ended') await harness.channel.hangup();
        await harness.close?.();
      }
    });
  };

  run('answer() moves the call to answered and emits state', async ({ channel }) => {
    const states: string[] = [];
    channel.on('state', (state) => states.push(state));
    await channel.answer();
    check(channel.state === 'answered', `state is ${channel.state} after answer()`);
    check(states.includes('answered'), 'no state event for answered');
    await channel.answer();
    check(channel.state === 'answered', 'a second answer() changed the state');
  });

  run('play() finishes a prompt', async ({ channel, advance }) => {
    await channel.answer();
    const playing = channel.play(PROMPT);
    await advance(1_500);
    const result = await playing;
    check(result.reason === 'finished', `reason ${result.reason}`);
  });

  run('collectDigits(): no input times out with no digits', async ({ channel, advance }) => {
    await channel.answer();
    const collecting = channel.collectDigits({ firstDigitTimeoutMs: 500 });
    await advance(1_000);
    const result = await collecting;
    check(result.reason === 'timeout' && result.digits === '', `got ${JSON.stringify(result)}`);
  });

  run('collectDigits(): stops at maxDigits', async ({ channel, advance, press }) => {
    await channel.answer();
    const collecting = channel.collectDigits({ maxDigits: 3, firstDigitTimeoutMs: 5_000 });
    for (const digit of '123') {
      await advance(50);
      await press(digit);
    }
    const result = await collecting;
    check(
      result.reason === 'max-digits' && result.digits === '123',
      `got ${JSON.stringify(result)}`,
    );
  });

  run(
    'collectDigits(): the finish key ends input and is not included',
    async ({ channel, advance, press }) => {
      await channel.answer();
      const collecting = channel.collectDigits({ maxDigits: 10, finishOnKey: '#' });
      for (const digit of '42#') {
        await advance(50);
        await press(digit);
      }
      const result = await collecting;
      check(
        result.reason === 'finish-key' && result.digits === '42',
        `got ${JSON.stringify(result)}`,
      );
    },
  );

  run('a digit barges in on a dtmf barge-in prompt and is kept for collectDigits()', async (h) => {
    await h.channel.answer();
    const playing = h.channel.play(LONG, { bargeIn: 'dtmf' });
    await h.advance(200);
    await h.press('7');
    const played: PlayResult = await playing;
    check(played.reason === 'barge-in', `play reason ${played.reason}`);
    const result = await h.channel.collectDigits({ maxDigits: 1 });
    check(result.digits === '7', `collected '${result.digits}' instead of the barge-in digit`);
  });

  run('a digit during a prompt without barge-in neither stops it nor leaks', async (h) => {
    await h.channel.answer();
    const playing = h.channel.play(PROMPT, { bargeIn: 'none' });
    await h.advance(200);
    await h.press('7');
    await h.advance(1_300);
    const played = await playing;
    check(played.reason === 'finished', `play reason ${played.reason}`);
    const collecting = h.channel.collectDigits({ firstDigitTimeoutMs: 300 });
    await h.advance(600);
    const result = await collecting;
    check(result.digits === '', `the discarded digit leaked: '${result.digits}'`);
  });

  run('a new prompt flushes digits queued by an earlier barge-in', async (h) => {
    await h.channel.answer();
    const first = h.channel.play(LONG, { bargeIn: 'dtmf' });
    await h.advance(200);
    await h.press('5');
    await first;
    const second = h.channel.play({ silenceMs: 200 }, { bargeIn: 'dtmf' });
    await h.advance(400);
    await second;
    const collecting = h.channel.collectDigits({ firstDigitTimeoutMs: 300 });
    await h.advance(600);
    const result = await collecting;
    check(result.digits === '', `a digit from the earlier prompt leaked: '${result.digits}'`);
  });

  run('the signal stops play() and collectDigits()', async ({ channel, advance }) => {
    await channel.answer();
    const stopPlay = new AbortController();
    const playing = channel.play(LONG, { signal: stopPlay.signal });
    await advance(100);
    stopPlay.abort();
    check((await playing).reason === 'stopped', 'play() did not stop');
    const stopCollect = new AbortController();
    const collecting = channel.collectDigits({ signal: stopCollect.signal });
    await advance(100);
    stopCollect.abort();
    check((await collecting).reason === 'stopped', 'collectDigits() did not stop');
  });

  run('the caller hanging up settles operations with hangup and emits ended once', async (h) => {
    await h.channel.answer();
    const ended: string[] = [];
    h.channel.on('ended', (by) => ended.push(by));
    const collecting = h.channel.collectDigits({ firstDigitTimeoutMs: 10_000 });
    await h.advance(100);
    await h.callerHangup();
    const result = await collecting;
    check(result.reason === 'hangup', `collect reason ${result.reason}`);
    check(h.channel.state === 'ended', `state ${h.channel.state}`);
    await h.channel.hangup();
    check(ended.length === 1 && ended[0] === 'remote', `ended events: ${JSON.stringify(ended)}`);
  });

  run('operations on an ended call reject with INVALID_STATE', async ({ channel }) => {
    await channel.hangup();
    for (const operation of [
      () => channel.play(PROMPT),
      () => channel.collectDigits(),
      () => channel.record({ key: 'k' }),
    ]) {
      let error: unknown;
      try {
        await operation();
      } catch (e) {
        error = e;
      }
      check(VoxmeshError.is(error, ErrorCode.INVALID_STATE), `got ${String(error)}`);
    }
  });
}
