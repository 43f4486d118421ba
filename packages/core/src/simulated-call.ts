/**
 * The simulated call: a {@link CallChannel} in memory, on a (fake) clock, for
 * testing call logic and IVR flows without SIP or RTP. Public under
 * `@voxmesh/core/testing`.
 *
 * The test plays the caller: `press('12#', { gapMs: 300 })`, `silence(10_000)`,
 * `talk(2_000)`, `callerHangup()`. Prompts take a configurable time to play, so a
 * prompt's end (when the first-digit timeout starts) and barge-in are real
 * events. Everything the call saw is recorded in {@link SimulatedCall.events}.
 * On a {@link FakeClock}, a 10-second timeout runs in microseconds.
 *
 * @example
 * ```ts
 * const { result, call } = await simulateCall({
 *   flow,
 *   script: async (call) => {
 *     await call.waitForPrompt('menu');
 *     await call.press('2');
 *   },
 * });
 * expect(call.promptsPlayed()).toEqual(['welcome', 'menu', 'support']);
 * ```
 *
 * @module
 */

import { onAbort } from './abort.js';
import type {
  AnswerOptions,
  BridgeOptions,
  BridgeResult,
  BridgeTarget,
  CallChannel,
  CallChannelEvents,
  CallParty,
  CallState,
  CollectDigitsOptions,
  CollectDigitsResult,
  HangupOptions,
  PlayOptions,
  PlayResult,
  PromptSource,
  RecordOptions,
  RecordResult,
  TransferOptions,
} from './call-channel.js';
import { FakeClock, type Clock, type Timer } from './clock.js';
import { DigitCollector, digitCollectorSettings } from './digit-collector.js';
import { ErrorCode, VoxmeshError } from './errors.js';
import { TypedEventEmitter } from './events.js';
import type { IvrFlow } from './ivr-flow.js';
import { IvrRuntime, type IvrRunResult, type RunFlowOptions } from './ivr-runtime.js';

/** What happened on a simulated call, with the time since the call began. */
export type SimulatedCallEvent = { atMs: number } & (
  | { type: 'state'; state: CallState }
  | { type: 'prompt.started'; prompt: string; language?: string | undefined }
  | { type: 'prompt.finished'; prompt: string; reason: PlayResult['reason'] }
  | {
      type: 'dtmf';
      digit: string;
      handling: 'collected' | 'barge-in' | 'queued' | 'discarded' | 'finish-record';
    }
  | { type: 'collect.started' }
  | {
      type: 'collect.finished';
      digits: string;
      reason: CollectDigitsResult['reason'];
      discarded: string;
    }
  | { type: 'record.started'; key: string }
  | { type: 'record.finished'; key: string; durationMs: number; reason: RecordResult['reason'] }
  | { type: 'bridge'; target: BridgeTarget; outcome: BridgeResult['outcome'] }
  | { type: 'transfer'; target: BridgeTarget }
  | { type: 'ended'; by: 'local' | 'remote' | 'system'; reason: string }
);

/** Options of the {@link SimulatedCall} constructor. */
export interface SimulatedCallOptions {
  /**
   * The clock the call (and the runtime driving it) runs on.
   * @defaultValue a new {@link FakeClock}
   */
  clock?: Clock | undefined;
  /** @defaultValue `'sim-<n>'` */
  id?: string | undefined;
  /** @defaultValue `'test'` */
  tenantId?: string | undefined;
  /** @defaultValue `'inbound'` */
  direction?: 'inbound' | 'outbound' | undefined;
  /** The caller. @defaultValue `{ user: '1001' }` */
  from?: CallParty | string | undefined;
  /** The dialled number. @defaultValue `{ user: '100' }` */
  to?: CallParty | string | undefined;
  /**
   * How long a prompt plays, in ms: one figure, a figure per prompt id (others
   * take `1000`), or a function.
   * @defaultValue `1000`
   */
  promptDurationMs?:
    number | Record<string, number> | ((source: PromptSource) => number) | undefined;
  /**
   * How the far end of {@link CallChannel.bridge} behaves.
   * @defaultValue answers, then the bridged call ends at once (`completed`)
   */
  bridge?:
    | ((target: BridgeTarget, options: BridgeOptions) => BridgeResult | Promise<BridgeResult>)
    | undefined;
}

/** Options of {@link SimulatedCall.press}. */
export interface PressOptions {
  /**
   * Time between two digits, in ms.
   * @defaultValue `100`
   */
  gapMs?: number | undefined;
}

/** Options of the waits of a {@link SimulatedCall}. */
export interface SimulatedWaitOptions {
  /**
   * Give up (throw) after this much clock time, in ms.
   * @defaultValue `600000`
   */
  timeoutMs?: number | undefined;
}

let nextId = 1;

function party(value: CallParty | string | undefined, fallback: string): CallParty {
  if (value === undefined) return { user: fallback };
  return typeof value === 'string' ? { user: value } : value;
}

function describe(source: PromptSource): string {
  if ('prompt' in source) return source.prompt;
  if ('url' in source) return source.url;
  if ('toneHz' in source) return `tone:${source.toneHz}`;
  return `silence:${source.silenceMs}`;
}

/** Waits until pending promise reactions and immediates have run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface Playing {
  bargeIn: NonNullable<PlayOptions['bargeIn']>;
  keys: string | undefined;
  stop(reason: PlayResult['reason']): void;
}

interface Recording {
  finishOnKey: string;
  stop(reason: RecordResult['reason']): void;
  voice(ms: number): void;
}

/** A {@link CallChannel} in memory; the test plays the caller. */
export class SimulatedCall extends TypedEventEmitter<CallChannelEvents> implements CallChannel {
  readonly id: string;
  readonly tenantId: string;
  readonly direction: 'inbound' | 'outbound';
  readonly from: CallParty;
  readonly to: CallParty;
  readonly variables = new Map<string, string>();
  /** The clock the call runs on. */
  readonly clock: Clock;
  /** Everything that happened, in order. */
  readonly events: SimulatedCallEvent[] = [];
  /** Every recording made (including voicemail). */
  readonly recordings: RecordResult[] = [];
  readonly #options: SimulatedCallOptions;
  readonly #startedAt: number;
  #state: CallState = 'ringing';
  #queue = '';
  #typeAhead = false;
  #playing: Playing | undefined;
  #collector: DigitCollector | undefined;
  #recording: Recording | undefined;

  constructor(options: SimulatedCallOptions = {}) {
    super();
    this.#options = options;
    this.clock = options.clock ?? new FakeClock();
    this.id = options.id ?? `sim-${nextId++}`;
    this.tenantId = options.tenantId ?? 'test';
    this.direction = options.direction ?? 'inbound';
    this.from = party(options.from, '1001');
    this.to = party(options.to, '100');
    this.#startedAt = this.clock.monotonic();
  }

  get state(): CallState {
    return this.#state;
  }

  // ---- the caller's side -------------------------------------------------

  /** Presses keys, `gapMs` apart; resolves after the last one. */
  async press(digits: string, options: PressOptions = {}): Promise<void> {
    if (!/^[0-9*#A-D]*$/.test(digits)) throw new RangeError(`Not DTMF keys: '${digits}'`);
    const gap = options.gapMs ?? 100;
    for (let i = 0; i < digits.length; i++) {
      await settle();
      this.#dtmf(digits[i] as string);
      if (i < digits.length - 1) await this.#pass(gap);
    }
    await settle();
  }

  /** Lets `ms` of time pass with the caller silent. */
  silence(ms: number): Promise<void> {
    return this.#pass(ms);
  }

  /** The caller speaks for `ms` (barges in on prompts with `bargeIn: 'any'`, is heard by recordings). */
  async talk(ms: number): Promise<void> {
    await settle();
    if (this.#playing?.bargeIn === 'any') this.#playing.stop('barge-in');
    this.#recording?.voice(ms);
    await this.#pass(ms);
  }

  /** The caller hangs up. */
  async callerHangup(): Promise<void> {
    await settle();
    this.#end('remote', 'caller hung up');
    await settle();
  }

  /** Prompt ids in the order they started. */
  promptsPlayed(): string[] {
    return this.events.flatMap((e) => (e.type === 'prompt.started' ? [e.prompt] : []));
  }

  /** Resolves once an event matching `predicate` has been recorded (including earlier ones), moving a fake clock as needed. */
  async waitFor(
    predicate: (event: SimulatedCallEvent) => boolean,
    options: SimulatedWaitOptions = {},
  ): Promise<SimulatedCallEvent> {
    let found: SimulatedCallEvent | undefined;
    await this.runUntil(() => (found = this.events.find(predicate)) !== undefined, options);
    return found as SimulatedCallEvent;
  }

  /** Resolves once prompt `id` has started playing (for the `nth` time, from 1). */
  async waitForPrompt(
    id: string,
    options: SimulatedWaitOptions & { nth?: number } = {},
  ): Promise<void> {
    const nth = options.nth ?? 1;
    await this.runUntil(() => this.promptsPlayed().filter((p) => p === id).length >= nth, options);
  }

  /**
   * Lets time pass until `condition` holds: on a {@link FakeClock} by firing
   * timers one at a time (async code settling in between), on another clock
   * by waiting. Throws when the clock time exceeds `timeoutMs`, or when a fake
   * clock has no timer left and nothing else is pending.
   */
  async runUntil(condition: () => boolean, options: SimulatedWaitOptions = {}): Promise<void> {
    const limit = options.timeoutMs ?? 600_000;
    const start = this.clock.monotonic();
    const clock = this.clock;
    let idle = 0;
    // advanceAsync() settles after every timer it fires, so one settle up
    // front is enough to see the effects of what ran before.
    await settle();
    for (;;) {
      if (condition()) return;
      if (clock.monotonic() - start > limit) {
        throw new VoxmeshError(
          ErrorCode.TIMEOUT,
          `Simulated call: condition not met within ${limit} ms of call time`,
        );
      }
      if (clock instanceof FakeClock) {
        const due = clock.nextDueIn;
        if (due !== undefined) {
          idle = 0;
          await clock.advanceAsync(Math.min(due, limit + 1));
          continue;
        }
        // Nothing scheduled: something outside the clock (a real HTTP request)
        // may still be pending. Wait a little real time before giving up.
        if (++idle > 500) {
          throw new VoxmeshError(
            ErrorCode.INVALID_STATE,
            'Simulated call: waiting, but no timer is scheduled and nothing else happened',
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      } else {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await settle();
    }
  }

  // ---- CallChannel ------------------------------------------------------

  async answer(_options: AnswerOptions = {}): Promise<void> {
    this.#assertLive('answer');
    if (this.#state !== 'answered') this.#setState('answered');
    return Promise.resolve();
  }

  async play(
    sources: PromptSource | readonly PromptSource[],
    options: PlayOptions = {},
  ): Promise<PlayResult> {
    this.#assertLive('play');
    const list: readonly PromptSource[] = Array.isArray(sources)
      ? sources
      : [sources as PromptSource];
    if (options.flushDigits !== false) {
      this.#queue = '';
      this.#typeAhead = false;
    }
    this.#playing?.stop('stopped');
    const loops = options.loop ?? 1;
    const begun = this.clock.monotonic();
    return new Promise<PlayResult>((resolve) => {
      let timer: Timer | undefined;
      let current: string | undefined;
      let index = 0;
      let round = 0;
      let done = false;
      const finish = (reason: PlayResult['reason']): void => {
        if (done) return;
        done = true;
        timer?.cancel();
        subscription[Symbol.dispose]();
        if (this.#playing === playing) this.#playing = undefined;
        if (current !== undefined)
          this.#record({ type: 'prompt.finished', prompt: current, reason });
        resolve({ reason, playedMs: this.clock.monotonic() - begun });
      };
      const next = (): void => {
        if (index >= list.length) {
          index = 0;
          round++;
        }
        const source = list[index++];
        if (source === undefined || round >= loops) {
          finish('finished');
          return;
        }
        current = describe(source);
        this.#record({
          type: 'prompt.started',
          prompt: current,
          language: 'prompt' in source ? source.language : undefined,
        });
        timer = this.clock.setTimeout(
          () => {
            this.#record({
              type: 'prompt.finished',
              prompt: current as string,
              reason: 'finished',
            });
            current = undefined;
            next();
          },
          Math.max(loops === Infinity ? 1 : 0, this.#duration(source)),
        );
      };
      const playing: Playing = {
        bargeIn: options.bargeIn ?? 'none',
        keys: options.bargeInKeys,
        stop: finish,
      };
      this.#playing = playing;
      const subscription = onAbort(options.signal, () => finish('stopped'));
      if (!done) next();
    });
  }

  async collectDigits(options: CollectDigitsOptions = {}): Promise<CollectDigitsResult> {
    this.#assertLive('collectDigits');
    const settings = digitCollectorSettings(options);
    const queued = this.#queue;
    this.#queue = '';
    this.#typeAhead = false;
    this.#record({ type: 'collect.started' });
    const collector = new DigitCollector({ clock: this.clock, settings, queued });
    this.#collector = collector;
    const subscription = onAbort(options.signal, () => collector.cancel('stopped'));
    return collector.result.then((result) => {
      subscription[Symbol.dispose]();
      if (this.#collector === collector) this.#collector = undefined;
      this.#record({
        type: 'collect.finished',
        digits: result.digits,
        reason: result.reason,
        discarded: result.discarded,
      });
      return {
        digits: result.digits,
        reason: result.reason,
        discarded: result.discarded === '' ? undefined : result.discarded,
      };
    });
  }

  async record(options: RecordOptions): Promise<RecordResult> {
    this.#assertLive('record');
    if (typeof options.key !== 'string' || options.key === '')
      throw new TypeError('record() needs a key');
    this.#queue = '';
    this.#typeAhead = false;
    const maxMs = options.maxDurationMs ?? 120_000;
    const silenceMs = options.silenceTimeoutMs;
    const begun = this.clock.monotonic();
    this.#record({ type: 'record.started', key: options.key });
    return new Promise<RecordResult>((resolve) => {
      let done = false;
      let silenceTimer: Timer | undefined;
      let lastVoiceEnd = begun;
      const armSilence = (after: number): void => {
        silenceTimer?.cancel();
        if (silenceMs !== undefined)
          silenceTimer = this.clock.setTimeout(() => stop('silence'), after);
      };
      const maxTimer = this.clock.setTimeout(() => stop('max-duration'), maxMs);
      const stop = (reason: RecordResult['reason']): void => {
        if (done) return;
        done = true;
        maxTimer.cancel();
        silenceTimer?.cancel();
        subscription[Symbol.dispose]();
        if (this.#recording === recording) this.#recording = undefined;
        const now = this.clock.monotonic();
        // Trailing silence that ended the recording is trimmed.
        const durationMs = reason === 'silence' ? lastVoiceEnd - begun : now - begun;
        const result: RecordResult = { key: options.key, durationMs, reason };
        this.recordings.push(result);
        this.#record({ type: 'record.finished', key: options.key, durationMs, reason });
        resolve(result);
      };
      const recording: Recording = {
        finishOnKey: options.finishOnKey ?? '#',
        stop,
        voice: (ms) => {
          lastVoiceEnd = Math.max(lastVoiceEnd, this.clock.monotonic() + ms);
          if (silenceMs !== undefined) armSilence(ms + silenceMs);
        },
      };
      this.#recording = recording;
      armSilence(silenceMs ?? 0);
      const subscription = onAbort(options.signal, () => stop('stopped'));
    });
  }

  async bridge(target: BridgeTarget, options: BridgeOptions = {}): Promise<BridgeResult> {
    this.#assertLive('bridge');
    const handler = this.#options.bridge ?? (() => ({ outcome: 'completed' as const, talkMs: 0 }));
    const result = await handler(target, options);
    const final: BridgeResult =
      this.#state === 'ended' ? { outcome: 'hangup', talkMs: result.talkMs } : result;
    this.#record({ type: 'bridge', target, outcome: final.outcome });
    return final;
  }

  async transfer(target: BridgeTarget, _options: TransferOptions = {}): Promise<void> {
    this.#assertLive('transfer');
    this.#record({ type: 'transfer', target });
    this.#end('local', 'transferred');
    return Promise.resolve();
  }

  hangup(options: HangupOptions = {}): Promise<void> {
    if (this.#state !== 'ended') this.#end('local', options.reason ?? 'hangup');
    return Promise.resolve();
  }

  // ---- internals --------------------------------------------------------

  #duration(source: PromptSource): number {
    if ('silenceMs' in source) return source.silenceMs;
    if ('durationMs' in source) return source.durationMs;
    const setting = this.#options.promptDurationMs ?? 1000;
    if (typeof setting === 'number') return setting;
    if (typeof setting === 'function') return setting(source);
    return setting[describe(source)] ?? 1000;
  }

  async #pass(ms: number): Promise<void> {
    if (this.clock instanceof FakeClock) await this.clock.advanceAsync(ms);
    else await this.clock.sleep(ms);
  }

  #dtmf(digit: string): void {
    if (this.#state === 'ended') return;
    let handling: Extract<SimulatedCallEvent, { type: 'dtmf' }>['handling'];
    if (this.#recording !== undefined) {
      handling = this.#recording.finishOnKey.includes(digit) ? 'finish-record' : 'discarded';
    } else if (this.#collector !== undefined && !this.#collector.done) {
      handling = 'collected';
    } else if (
      this.#playing !== undefined &&
      this.#playing.bargeIn !== 'none' &&
      (this.#playing.keys === undefined || this.#playing.keys.includes(digit))
    ) {
      handling = 'barge-in';
    } else if (this.#playing === undefined && this.#typeAhead) {
      handling = 'queued';
    } else {
      handling = 'discarded';
    }
    this.#record({ type: 'dtmf', digit, handling });
    this.emit('dtmf', { digit, durationMs: 100, source: 'rfc4733' });
    switch (handling) {
      case 'finish-record':
        this.#recording?.stop('finish-key');
        break;
      case 'collected':
        this.#collector?.push(digit);
        break;
      case 'barge-in':
        // The digit is not consumed: it waits for the next collectDigits().
        this.#queue += digit;
        this.#typeAhead = true;
        this.#playing?.stop('barge-in');
        break;
      case 'queued':
        this.#queue += digit;
        break;
      default:
        break;
    }
  }

  #assertLive(operation: string): void {
    if (this.#state === 'ended') {
      throw new VoxmeshError(
        ErrorCode.INVALID_STATE,
        `Cannot ${operation}: call '${this.id}' has ended`,
      );
    }
  }

  #record(event: SimulatedCallEventInput): void {
    this.events.push({
      ...event,
      atMs: this.clock.monotonic() - this.#startedAt,
    });
  }

  #setState(state: CallState): void {
    const previous = this.#state;
    this.#state = state;
    this.#record({ type: 'state', state });
    this.emit('state', state, previous);
  }

  #end(by: 'local' | 'remote' | 'system', reason: string): void {
    if (this.#state === 'ended') return;
    this.#setState('ended');
    this.#playing?.stop('hangup');
    this.#collector?.cancel('hangup');
    this.#recording?.stop('hangup');
    this.#record({ type: 'ended', by, reason });
    this.emit('ended', by, reason);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type SimulatedCallEventInput = DistributiveOmit<SimulatedCallEvent, 'atMs'>;

/** Options of {@link simulateCall}. */
export interface SimulateCallOptions {
  /** The flow to run. */
  flow: IvrFlow;
  /**
   * The runtime; it must use the call's clock.
   * @defaultValue a new {@link IvrRuntime} on the call's clock
   */
  runtime?: IvrRuntime | undefined;
  /** The simulated call's settings (its clock, caller, prompt lengths, bridge behaviour). */
  call?: SimulatedCallOptions | undefined;
  /** Options passed to {@link IvrRuntime.run} (tenant, variables, flows). */
  run?: Omit<RunFlowOptions, 'signal'> | undefined;
  /** Plays the caller; after it returns, time runs on until the flow ends. */
  script?: ((call: SimulatedCall) => Promise<void> | void) | undefined;
  /**
   * Give up after this much call time, in ms (a flow that never ends).
   * @defaultValue `3600000`
   */
  maxCallMs?: number | undefined;
}

/** The outcome of {@link simulateCall}. */
export interface Simulation {
  /** How the flow ended. */
  result: IvrRunResult;
  /** The call, with its events, recordings and variables. */
  call: SimulatedCall;
}

/**
 * Runs a flow against a {@link SimulatedCall}: starts the run, plays the
 * caller's `script`, then lets time pass until the flow ends.
 */
export async function simulateCall(options: SimulateCallOptions): Promise<Simulation> {
  const call = new SimulatedCall(options.call);
  const runtime = options.runtime ?? new IvrRuntime({ clock: call.clock });
  let settled = false;
  let result: IvrRunResult | undefined;
  let failure: unknown;
  const running = runtime.run(options.flow, call, options.run).then(
    (r) => {
      result = r;
      settled = true;
    },
    (error: unknown) => {
      failure = error;
      settled = true;
    },
  );
  try {
    await options.script?.(call);
    await call.runUntil(() => settled, { timeoutMs: options.maxCallMs ?? 3_600_000 });
  } finally {
    if (!settled) await call.callerHangup();
    await running;
  }
  if (failure !== undefined)
    throw failure instanceof Error ? failure : new Error('The flow run failed', { cause: failure });
  return { result: result as IvrRunResult, call };
}
