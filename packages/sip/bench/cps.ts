// bench:sip-cps: calls per second through the B2BUA, against Kamailio in the
// same harness and the same run. Ends with one JSON line.
//
// Method (RFC 7501 terms, RFC 7502 style of search):
// - System under test (SUT), each in its own process on 127.0.0.1 UDP:
//   1. Kamailio 5.6 (Debian), a transaction-stateful proxy (tm, sl, rr,
//      maxfwd; Record-Route on INVITE, every request relayed to the uas;
//      2 UDP workers, 512 MB shared memory), see ../test/helpers/kamailio.ts;
//   2. the B2BUA app (../test/helpers/b2bua-app.ts): SipTransport UDP +
//      UserAgent (session timers off) + B2bua bridging every INVITE to the
//      uas, forked in its own Node process so that its CPU is its own.
// - Tester: SIPp's built-in uac (INVITE, 100/180/200, ACK, pause, BYE) offers
//   calls at a fixed rate R for `stepSeconds`; SIPp's built-in uas answers
//   behind the SUT. A step passes when SIPp exits 0 and every call succeeded
//   (no timeouts, no error responses). A stray 180 after the 200 (Kamailio's
//   two workers can reorder them) is ignored as a phone would, not counted as
//   a failure (SIPp -default_behaviors all,-abortunexp).
// - Warm-up: 200 calls at 50/s go through each SUT first, uncounted (the
//   B2BUA's JIT starts cold; Kamailio gets the same).
// - Search: R starts at `startRate` and doubles until a step fails, then the
//   bracket is bisected to 10 % or until the time budget runs out; the result
//   is the highest rate with 0 failed calls, reported as the rate SIPp really
//   achieved in that step (calls created / elapsed), not the rate asked for. Setup latency is SIPp's
//   response time 1 (INVITE sent → 200 received), p99 over every call of the
//   best step.
// - Memory: a fresh B2BUA process; SIPp holds `holdCalls` long calls open
//   (-d long); RSS and heap are read (after a forced GC) before and while
//   they are all up; the difference is divided per 1,000 dialogs (every
//   bridged call is two dialogs: the A leg and the B leg). The calls then
//   end normally and the process must be back to zero calls; heapAfterMb is
//   read right after (completed transactions still held, RFC 3261 Timer J)
//   and can be compared with heapBeforeMb.
// - Both SIPp instances and the SUT share the machine's cores: the figures
//   are for the whole loop on one machine, as in the Kamailio reference.
//
// Environment: CPS_QUICK=1 (short steps and budgets, for a busy machine),
// CPS_ONLY=kamailio|b2bua, CPS_STEP_S, CPS_BUDGET_S, CPS_HOLD_CALLS,
// CPS_KAMAILIO_CHILDREN.
//
//   npm run bench:sip-cps
import { forkB2buaApp } from '../test/helpers/b2bua-process.js';
import { startKamailio } from '../test/helpers/kamailio.js';
import {
  freePort,
  requireBinary,
  runPeer,
  startPeer,
  stopAllPeers,
  waitForBound,
} from '../test/helpers/peers.js';
import { SIPP, type SearchResult, type StepResult, findMaxRate } from './cps-step.js';

const quick = process.env['CPS_QUICK'] === '1';
const only = process.env['CPS_ONLY'];
const stepSeconds = Number(process.env['CPS_STEP_S'] ?? (quick ? 2 : 5));
const budgetS = Number(process.env['CPS_BUDGET_S'] ?? (quick ? 45 : 75));
const holdCalls = Number(process.env['CPS_HOLD_CALLS'] ?? (quick ? 1000 : 2000));
const kamailioChildren = Number(process.env['CPS_KAMAILIO_CHILDREN'] ?? 2);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** A SIPp uas on a free port, answering every call. */
async function startUas() {
  const port = await freePort();
  const peer = startPeer(SIPP, [
    '-sn',
    'uas',
    '-i',
    '127.0.0.1',
    '-p',
    String(port),
    '-buff_size',
    '4194304',
    '-nostdin',
  ]);
  await waitForBound('UDP', port, { exited: peer.exited });
  return { port, peer };
}

function summary(search: SearchResult) {
  const best: StepResult | undefined = search.best;
  return {
    // The rate SIPp achieved in the best step, which can be below the rate
    // asked for when the machine cannot keep up.
    callsPerSecond: best?.offeredRate ?? 0,
    requestedCallsPerSecond: best?.rate ?? 0,
    setupP50Ms: best?.setupP50Ms ?? null,
    setupP99Ms: best?.setupP99Ms ?? null,
    firstFailingRate: search.firstFailure?.rate ?? null,
    firstFailure: search.firstFailure?.failures ?? null,
    steps: search.steps.map((s) => [s.rate, s.failed]),
  };
}

async function kamailioRun() {
  const uas = await startUas();
  const kamailio = await startKamailio({
    next: { host: '127.0.0.1', port: uas.port },
    children: kamailioChildren,
  });
  try {
    log(`== kamailio (${kamailioChildren} UDP workers) on 127.0.0.1:${kamailio.port}`);
    return await findMaxRate({
      target: { host: '127.0.0.1', port: kamailio.port },
      stepSeconds,
      budgetS,
      log,
    });
  } finally {
    await kamailio.stop();
    await uas.peer.stop();
  }
}

async function b2buaRun() {
  const uas = await startUas();
  const app = await forkB2buaApp({ uas: { host: '127.0.0.1', port: uas.port } });
  try {
    log(`== B2BUA (one Node process) on 127.0.0.1:${app.port}`);
    let cpuPercentAtBest = 0;
    const cpu = new Map<number, number>();
    const search = await findMaxRate({
      target: { host: '127.0.0.1', port: app.port },
      stepSeconds,
      budgetS,
      log,
      around: async (run) => {
        const before = await app.stats();
        const t0 = performance.now();
        const result = await run();
        const after = await app.stats();
        const wallUs = (performance.now() - t0) * 1000;
        cpu.set(result.rate, Math.round(((after.cpuMicros - before.cpuMicros) / wallUs) * 100));
        return result;
      },
    });
    if (search.best) cpuPercentAtBest = cpu.get(search.best.rate) ?? 0;
    const leftover = await app.stats();
    return { search, cpuPercentAtBest, leftoverCalls: leftover.calls };
  } finally {
    await app.stop();
    await uas.peer.stop();
  }
}

/** Holds `count` calls up through a fresh B2BUA process and reads its memory. */
async function memoryRun(count: number) {
  const uas = await startUas();
  const app = await forkB2buaApp({ uas: { host: '127.0.0.1', port: uas.port } });
  try {
    // Warm up the code paths first, so that compiled code is not counted.
    const warm = await runPeer(
      SIPP,
      [
        '-sn',
        'uac',
        `127.0.0.1:${app.port}`,
        '-i',
        '127.0.0.1',
        '-p',
        String(await freePort()),
        '-r',
        '100',
        '-m',
        '200',
        '-d',
        '100',
        '-nostdin',
        '-timeout',
        '30s',
        '-timeout_error',
      ],
      { timeoutMs: 40_000 },
    );
    if (warm.code !== 0) throw new Error(`warm-up calls failed:\n${warm.output.slice(-3_000)}`);
    await new Promise((r) => setTimeout(r, 1_000));
    const before = await app.stats({ gc: true });
    const rate = quick ? 200 : 250;
    const holdMs = Math.ceil(count / rate) * 1000 + 12_000;
    const port = await freePort();
    const calls = runPeer(
      SIPP,
      [
        '-sn',
        'uac',
        `127.0.0.1:${app.port}`,
        '-i',
        '127.0.0.1',
        '-p',
        String(port),
        '-r',
        String(rate),
        '-m',
        String(count),
        '-d',
        String(holdMs),
        '-buff_size',
        '4194304',
        '-nostdin',
        '-recv_timeout',
        '20000',
        '-timeout',
        `${Math.ceil(holdMs / 1000 + count / rate + 30)}s`,
        '-timeout_error',
      ],
      { timeoutMs: holdMs + (count / rate) * 1000 + 40_000 },
    );
    // Wait (bounded) until every call is up in the B2BUA.
    const deadline = Date.now() + (count / rate) * 1000 + 10_000;
    let during = await app.stats();
    while (during.answered - before.answered < count && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      during = await app.stats();
    }
    during = await app.stats({ gc: true });
    const up = during.calls;
    const outcome = await calls;
    // Let the last BYE transactions end.
    const settleDeadline = Date.now() + 40_000;
    let after = await app.stats();
    while (after.calls > 0 && Date.now() < settleDeadline) {
      await new Promise((r) => setTimeout(r, 250));
      after = await app.stats();
    }
    after = await app.stats({ gc: true });
    const dialogs = up;
    const perThousand = (bytes: number): number =>
      Math.round((bytes / 1048576 / Math.max(1, dialogs / 1000)) * 100) / 100;
    return {
      heldCalls: count,
      dialogsUp: dialogs,
      memoryPerThousandDialogsMb: perThousand(during.rssBytes - before.rssBytes),
      heapPerThousandDialogsMb: perThousand(during.heapUsedBytes - before.heapUsedBytes),
      rssBeforeMb: Math.round(before.rssBytes / 1048576),
      rssDuringMb: Math.round(during.rssBytes / 1048576),
      heapBeforeMb: Math.round(before.heapUsedBytes / 104857.6) / 10,
      heapAfterMb: Math.round(after.heapUsedBytes / 104857.6) / 10,
      callsLeftAfter: after.calls,
      holdRunExitCode: outcome.code,
    };
  } finally {
    await app.stop();
    await uas.peer.stop();
  }
}

async function main(): Promise<void> {
  requireBinary(SIPP);
  const started = performance.now();
  const result: Record<string, unknown> = {};
  let kamailio: SearchResult | undefined;
  if (only !== 'b2bua') {
    kamailio = await kamailioRun();
    result['kamailio'] = summary(kamailio);
  }
  if (only !== 'kamailio') {
    const b2bua = await b2buaRun();
    const ours = summary(b2bua.search);
    result['callsPerSecond'] = ours.callsPerSecond;
    result['failedCalls'] = b2bua.search.best?.failed ?? null;
    result['setupP99Ms'] = ours.setupP99Ms;
    result['setupP50Ms'] = ours.setupP50Ms;
    result['cpuPercentAtBest'] = b2bua.cpuPercentAtBest;
    result['b2bua'] = ours;
    log(`== memory: ${holdCalls} calls held open`);
    Object.assign(result, await memoryRun(holdCalls));
  }
  const kamailioRate = kamailio?.best?.offeredRate ?? 0;
  result['kamailioCallsPerSecond'] = kamailioRate;
  result['kamailioSetupP99Ms'] = kamailio?.best?.setupP99Ms ?? null;
  result['kamailioWorkers'] = kamailioChildren;
  if (typeof result['callsPerSecond'] === 'number' && kamailioRate > 0) {
    result['ratioVsKamailio'] = Math.round((result['callsPerSecond'] / kamailioRate) * 100) / 100;
  }
  result['stepSeconds'] = stepSeconds;
  result['elapsedS'] = Math.round((performance.now() - started) / 1000);
  // Put the required keys first.
  const ordered = {
    callsPerSecond: result['callsPerSecond'] ?? null,
    failedCalls: result['failedCalls'] ?? null,
    setupP99Ms: result['setupP99Ms'] ?? null,
    ratioVsKamailio: result['ratioVsKamailio'] ?? null,
    kamailioCallsPerSecond: kamailioRate,
    memoryPerThousandDialogsMb: result['memoryPerThousandDialogsMb'] ?? null,
    ...result,
  };
  console.log(JSON.stringify(ordered));
}

try {
  await main();
} catch (error) {
  log(String(error instanceof Error ? (error.stack ?? error.message) : error));
  process.exitCode = 1;
} finally {
  await stopAllPeers();
}
