/**
 * `npm run bench:history`: call history on the embedded backend (classic-level).
 *
 * 1. CDR inserts per second through the outbox (classic-level) into the
 *    embedded store (classic-level), from the first write until the backend
 *    has acknowledged the last CDR.
 * 2. p50/p99 latency of "the last 50 calls of a tenant" with
 *    HISTORY_BENCH_CDRS CDRs (default 1,000,000) over HISTORY_BENCH_TENANTS
 *    tenants (default 1,000), spread over 30 days.
 * 3. A month of daily statistics for one tenant in its time zone.
 *
 * Loading stops after HISTORY_BENCH_LOAD_BUDGET_MS (default 100 s) so the
 * run stays within about three minutes on a busy machine; `cdrs` in the
 * result is the number actually loaded. CPU time is reported next to wall
 * time (`*PerCpuSecond`, `queryCpuP99Ms`: CPU time of the process per
 * query, all threads), since wall time on a shared machine mostly measures
 * the other processes.
 *
 * Ends with one JSON line.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedHistoryStore, HistoryOutbox, type CdrInput } from '@voxmesh/history';

function env(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`${name} must be a positive integer`);
  return n;
}

const TOTAL = env('HISTORY_BENCH_CDRS', 1_000_000);
const TENANTS = env('HISTORY_BENCH_TENANTS', 1_000);
const OUTBOX_CDRS = env('HISTORY_BENCH_OUTBOX_CDRS', 100_000);
/** Loading stops early (and `cdrs` reports how many were loaded) after this long. */
const LOAD_BUDGET_MS = env('HISTORY_BENCH_LOAD_BUDGET_MS', 100_000);
const QUERIES = env('HISTORY_BENCH_QUERIES', 2_000);
const MONTH_START = Date.UTC(2024, 4, 1);
const MONTH_MS = 31 * 24 * 3_600_000;
const DISPOSITIONS = ['answered', 'answered', 'answered', 'no-answer', 'busy', 'failed'] as const;

/** A deterministic pseudo-random sequence (mulberry32), so runs are comparable. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeCdr(i: number, rnd: () => number, prefix: string): CdrInput {
  const tenant = i % TENANTS;
  const startedAt = MONTH_START + Math.floor(rnd() * MONTH_MS);
  const disposition = DISPOSITIONS[i % DISPOSITIONS.length] ?? 'answered';
  const ring = 2_000 + Math.floor(rnd() * 20_000);
  const talk = disposition === 'answered' ? Math.floor(rnd() * 600_000) : 0;
  const user = String(200 + Math.floor(rnd() * 50));
  const cdr: CdrInput = {
    tenantId: `tenant-${tenant}.example`,
    callId: `${prefix}-${i}@sbc-1.example`,
    leg: 'a',
    direction: i % 3 === 0 ? 'outbound' : 'inbound',
    from: i % 3 === 0 ? user : `+1555${String(Math.floor(rnd() * 1e7)).padStart(7, '0')}`,
    to: i % 3 === 0 ? `+1666${String(Math.floor(rnd() * 1e7)).padStart(7, '0')}` : user,
    users: [user],
    startedAt: new Date(startedAt),
    endedAt: new Date(startedAt + ring + talk),
    disposition,
    hangupCause: 16,
    sipStatus: disposition === 'answered' ? 200 : 486,
  };
  if (disposition === 'answered') cdr.answeredAt = new Date(startedAt + ring);
  return cdr;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

const dir = await mkdtemp(join(tmpdir(), 'voxmesh-history-bench-'));
try {
  // 1. Inserts through the outbox.
  const outboxStore = new EmbeddedHistoryStore({ location: join(dir, 'outbox-store') });
  await outboxStore.open();
  const outbox = new HistoryOutbox({
    store: outboxStore,
    location: join(dir, 'outbox'),
    batchSize: 1_000,
  });
  await outbox.start();
  const rndA = random(1);
  const batches: CdrInput[][] = [];
  for (let i = 0; i < OUTBOX_CDRS; i += 1_000) {
    batches.push(
      Array.from({ length: Math.min(1_000, OUTBOX_CDRS - i) }, (_, j) => makeCdr(i + j, rndA, 'o')),
    );
  }
  const insertCpu = process.cpuUsage();
  const insertStart = performance.now();
  for (const batch of batches) await outbox.recordCdrs(batch);
  const enqueuedMs = performance.now() - insertStart;
  await outbox.flush();
  const insertMs = performance.now() - insertStart;
  const insertCpuMs = cpuMs(process.cpuUsage(insertCpu));
  await outbox.drain();
  await outboxStore.close();
  console.error(
    `outbox: ${OUTBOX_CDRS} CDRs enqueued in ${Math.round(enqueuedMs)} ms, delivered in ${Math.round(insertMs)} ms`,
  );

  // 2. Load TOTAL CDRs over TENANTS tenants straight into a store, then query.
  const store = new EmbeddedHistoryStore({ location: join(dir, 'store') });
  await store.open();
  const rndB = random(2);
  const loadCpu = process.cpuUsage();
  const loadStart = performance.now();
  let loaded = 0;
  while (loaded < TOTAL && performance.now() - loadStart < LOAD_BUDGET_MS) {
    const n = Math.min(5_000, TOTAL - loaded);
    const base = loaded;
    await store.recordCdrs(Array.from({ length: n }, (_, j) => makeCdr(base + j, rndB, 'q')));
    loaded += n;
  }
  const loadMs = performance.now() - loadStart;
  const loadCpuMs = cpuMs(process.cpuUsage(loadCpu));
  console.error(
    `loaded ${loaded} of ${TOTAL} CDRs over ${TENANTS} tenants in ${Math.round(loadMs)} ms`,
  );

  const rndC = random(3);
  for (let i = 0; i < 200; i++) {
    await store.queryCdrs({
      tenantId: `tenant-${Math.floor(rndC() * TENANTS)}.example`,
      limit: 50,
    });
  }
  const latencies: number[] = [];
  const cpuTimes: number[] = [];
  let returned = 0;
  for (let i = 0; i < QUERIES; i++) {
    const tenantId = `tenant-${Math.floor(rndC() * TENANTS)}.example`;
    const cpu = process.cpuUsage();
    const t = performance.now();
    const page = await store.queryCdrs({ tenantId, limit: 50 });
    latencies.push(performance.now() - t);
    cpuTimes.push(cpuMs(process.cpuUsage(cpu)));
    returned += page.items.length;
  }
  latencies.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);

  // 3. A month of daily statistics for one tenant, in its time zone.
  const statsRuns: number[] = [];
  let statsCalls = 0;
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const stats = await store.statistics({
      tenantId: `tenant-${i % TENANTS}.example`,
      since: new Date(MONTH_START),
      until: new Date(MONTH_START + MONTH_MS),
      granularity: 'day',
      timeZone: 'Europe/Berlin',
    });
    statsRuns.push(performance.now() - t);
    statsCalls += stats.total.calls;
  }
  statsRuns.sort((a, b) => a - b);
  await store.close();

  console.log(
    JSON.stringify({
      insertsPerSecond: Math.round(OUTBOX_CDRS / (insertMs / 1000)),
      insertsPerCpuSecond: Math.round(OUTBOX_CDRS / (insertCpuMs / 1000)),
      outboxCdrs: OUTBOX_CDRS,
      outboxEnqueuePerSecond: Math.round(OUTBOX_CDRS / (enqueuedMs / 1000)),
      queryP50Ms: round(percentile(latencies, 50)),
      queryP99Ms: round(percentile(latencies, 99)),
      queryCpuP99Ms: round(percentile(cpuTimes, 99)),
      queries: QUERIES,
      queryAvgItems: round(returned / QUERIES, 1),
      cdrs: loaded,
      cdrsRequested: TOTAL,
      tenants: TENANTS,
      loadPerSecond: Math.round(loaded / (loadMs / 1000)),
      loadPerCpuSecond: Math.round(loaded / (loadCpuMs / 1000)),
      monthStatsP50Ms: round(percentile(statsRuns, 50)),
      monthStatsMaxMs: round(statsRuns[statsRuns.length - 1] ?? NaN),
      monthStatsAvgCalls: round(statsCalls / statsRuns.length, 1),
    }),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
