// The stepping harness of bench:sip-cps (RFC 7502 style): SIPp uac offers
// calls at a fixed rate to the system under test, which relays them to a SIPp
// uas; a step passes when every call completed. The rate doubles until a step
// fails, then a bisection narrows the highest passing rate, within a time budget.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  quantile,
  readSippRtt,
  readSippStats,
  runPeer,
  sippCounter,
} from '../test/helpers/peers.js';

export const SIPP = '/usr/bin/sipp';

/** One step: `calls` calls offered at `rate` calls/s. */
export interface StepResult {
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  /** SIPp's own failure breakdown (non-zero counters only). */
  failures: Record<string, number>;
  retransmissions: number;
  /** The rate SIPp really offered (calls created / elapsed). */
  offeredRate: number;
  /** INVITE → 200 as SIPp saw it. */
  setupP50Ms: number;
  setupP99Ms: number;
  exitCode: number | null;
  passed: boolean;
  wallS: number;
}

/** Options of {@link runStep}. */
export interface StepOptions {
  /** The system under test. */
  target: { host: string; port: number };
  rate: number;
  /** Calls offered. @defaultValue 5 s worth at `rate` */
  calls?: number;
  /** How long each call stays up before SIPp's BYE, ms. @defaultValue 500 */
  holdMs?: number;
  /** Called while the step runs (e.g. to sample the system's CPU). */
  onStart?: () => void;
}

const FAILURE_COUNTERS = [
  'FailedCannotSendMessage(C)',
  'FailedMaxUDPRetrans(C)',
  'FailedUnexpectedMessage(C)',
  'FailedCallRejected(C)',
  'FailedTimeoutOnRecv(C)',
  'FailedTimeoutOnSend(C)',
  'FailedOutboundCongestion(C)',
  'DeadCallMsgs(C)',
  'OutOfCallMsgs(C)',
];

/** Runs one step with SIPp's built-in uac; resolves with what SIPp counted. */
export async function runStep(options: StepOptions): Promise<StepResult> {
  const dir = await mkdtemp(join(tmpdir(), 'voxmesh-cps-'));
  const calls = options.calls ?? Math.max(50, Math.round(options.rate * 5));
  const holdMs = options.holdMs ?? 500;
  const port = await freePort();
  const stats = join(dir, 'stats.csv');
  const expectedS = calls / options.rate + holdMs / 1000;
  const started = performance.now();
  options.onStart?.();
  const run = await runPeer(
    SIPP,
    [
      '-sn',
      'uac',
      `${options.target.host}:${options.target.port}`,
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '-r',
      String(options.rate),
      '-m',
      String(calls),
      '-d',
      String(holdMs),
      '-buff_size',
      '4194304',
      // A 180 overtaken by the 200 (two proxy workers may reorder them; RFC
      // 3261 §18 promises no order over UDP) is ignored, as a phone does,
      // rather than aborting the call.
      '-default_behaviors',
      'all,-abortunexp',
      '-nostdin',
      '-trace_stat',
      '-stf',
      stats,
      '-fd',
      '1',
      '-trace_rtt',
      '-rtt_freq',
      '1',
      // A call whose answer was lost beyond retransmission fails after 10 s.
      '-recv_timeout',
      '10000',
      '-timeout',
      `${Math.ceil(expectedS + 12)}s`,
      '-timeout_error',
    ],
    { cwd: dir, timeoutMs: (expectedS + 30) * 1000 },
  );
  const wallS = (performance.now() - started) / 1000;
  try {
    const row = await readSippStats(stats);
    const rttFile = (await readdir(dir)).find((f) => f.endsWith('_rtt.csv'));
    const rtt = rttFile === undefined ? [] : await readSippRtt(join(dir, rttFile));
    const successful = sippCounter(row, 'SuccessfulCall(C)');
    const failed = sippCounter(row, 'FailedCall(C)');
    const failures: Record<string, number> = {};
    for (const name of FAILURE_COUNTERS) {
      const value = sippCounter(row, name);
      if (value > 0) failures[name.replace('(C)', '')] = value;
    }
    const created = sippCounter(row, 'OutgoingCall(C)');
    const elapsedS = Math.max(0.001, calls / options.rate);
    return {
      rate: options.rate,
      calls,
      successful,
      failed,
      failures,
      retransmissions: sippCounter(row, 'Retransmissions(C)'),
      offeredRate: Math.round(created / Math.max(elapsedS, wallS - holdMs / 1000 - 0.5)),
      setupP50Ms: quantile(rtt, 0.5),
      setupP99Ms: quantile(rtt, 0.99),
      exitCode: run.code,
      passed: run.code === 0 && failed === 0 && successful === calls,
      wallS: Math.round(wallS * 10) / 10,
    };
  } catch (error) {
    return {
      rate: options.rate,
      calls,
      successful: 0,
      failed: calls,
      failures: { noStatistics: 1 },
      retransmissions: 0,
      offeredRate: 0,
      setupP50Ms: Number.NaN,
      setupP99Ms: Number.NaN,
      exitCode: run.code,
      passed: false,
      wallS,
      ...{ error: `${String(error)}\n${run.output.slice(-2_000)}` },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Options of {@link findMaxRate}. */
export interface SearchOptions extends Omit<StepOptions, 'rate' | 'calls'> {
  /** The first rate tried. @defaultValue 250 */
  startRate?: number;
  /** No rate above this is tried. @defaultValue 6400 */
  maxRate?: number;
  /** Seconds of calls per step. @defaultValue 5 */
  stepSeconds?: number;
  /** Stop refining when the bracket is within this fraction. @defaultValue 0.1 */
  precision?: number;
  /** Wall-clock budget for the whole search, s. @defaultValue 90 */
  budgetS?: number;
  /** Pause between steps so that lingering transactions end, ms. @defaultValue 2000 */
  settleMs?: number;
  /** Progress reports (to stderr). */
  log?: (line: string) => void;
  /**
   * Calls offered before the first step, not counted (a JIT-compiled system
   * starts cold).
   * @defaultValue 200 calls at 50/s
   */
  warmup?: { rate: number; calls: number } | false;
  /** Wrap each step (e.g. to measure the system's CPU during it). */
  around?: (run: () => Promise<StepResult>) => Promise<StepResult>;
}

/** The outcome of a search. */
export interface SearchResult {
  /** The highest rate at which every call completed (0 when none did). */
  best: StepResult | undefined;
  /** The lowest rate that failed (undefined when none did). */
  firstFailure: StepResult | undefined;
  steps: StepResult[];
}

/** Doubles the rate until a step fails, then bisects; RFC 7502 style, bounded in time. */
export async function findMaxRate(options: SearchOptions): Promise<SearchResult> {
  const started = performance.now();
  const budgetS = options.budgetS ?? 90;
  const stepSeconds = options.stepSeconds ?? 5;
  const precision = options.precision ?? 0.1;
  const maxRate = options.maxRate ?? 6400;
  const steps: StepResult[] = [];
  let best: StepResult | undefined;
  let failure: StepResult | undefined;
  const remainingS = (): number => budgetS - (performance.now() - started) / 1000;
  const step = async (rate: number): Promise<StepResult> => {
    const run = (): Promise<StepResult> =>
      runStep({ ...options, rate, calls: Math.max(50, Math.round(rate * stepSeconds)) });
    const result = options.around ? await options.around(run) : await run();
    steps.push(result);
    options.log?.(
      `rate ${rate}/s: ${result.successful}/${result.calls} ok, ${result.failed} failed` +
        ` ${JSON.stringify(result.failures)}, retrans ${result.retransmissions},` +
        ` offered ${result.offeredRate}/s, setup p99 ${result.setupP99Ms} ms → ${result.passed ? 'pass' : 'FAIL'}`,
    );
    await new Promise((r) => setTimeout(r, options.settleMs ?? 2_000));
    return result;
  };
  const warmup = options.warmup ?? { rate: 50, calls: 200 };
  if (warmup !== false) {
    const result = await runStep({ ...options, ...warmup });
    options.log?.(
      `warm-up ${warmup.calls} calls at ${warmup.rate}/s: ${result.successful} ok, ${result.failed} failed`,
    );
    await new Promise((r) => setTimeout(r, options.settleMs ?? 2_000));
  }
  // A step costs about stepSeconds plus the hold time, the tail and the pause.
  const stepCostS = stepSeconds + 4;
  let rate = options.startRate ?? 250;
  while (rate <= maxRate && remainingS() > stepCostS) {
    const result = await step(rate);
    if (!result.passed) {
      failure = result;
      break;
    }
    best = result;
    rate *= 2;
  }
  while (failure !== undefined && remainingS() > stepCostS) {
    const low = best?.rate ?? 0;
    const high = failure.rate;
    if (high - low <= Math.max(10, precision * Math.max(low, 1))) break;
    const mid = Math.round((low + high) / 2);
    const result = await step(mid);
    if (result.passed) best = result;
    else failure = result;
  }
  return { best, firstFailure: failure, steps };
}
