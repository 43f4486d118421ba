/**
 * The conformance suite of {@link HistoryStore}, in the abstract-level style:
 * a function that registers tests with the caller's test runner.
 *
 * @module
 */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ErrorCode, VoxmeshError } from '@voxmesh/core';
import { HistoryErrorCode } from './errors.js';
import type { HistoryStore } from './history-store.js';
import { normalizeCdr, type Cdr, type CdrInput } from './model.js';

/** Registers one test: `test(name, fn)` (vitest's `it`, node:test's `test`, ...). */
export type SuiteTest = (name: string, fn: () => Promise<void>) => void;

/** Options of {@link historyStoreSuite}. */
export interface HistoryStoreSuiteOptions {
  /** The test runner's `test` (or `it`) function. */
  test: SuiteTest;
  /**
   * Creates a new, unopened store. Each test opens it and closes it at the
   * end; the suite uses fresh tenant ids in every test, so stores may share
   * one backend.
   */
  factory: () => HistoryStore | Promise<HistoryStore>;
  /**
   * Prefixed to every test name.
   * @defaultValue `'HistoryStore: '`
   */
  prefix?: string | undefined;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2024, 5, 1, 12, 0, 0);

/**
 * A valid CDR for tests: an answered inbound leg of one minute starting at
 * 2024-06-01T12:00Z, with `overrides` applied (`answeredAt` is dropped when
 * the override's disposition is not `'answered'`).
 */
export function createTestCdr(overrides: Partial<CdrInput> = {}): CdrInput {
  const startedAt = overrides.startedAt ?? new Date(T0);
  const disposition = overrides.disposition ?? 'answered';
  const cdr: CdrInput = {
    tenantId: 'tenant.test',
    callId: randomUUID(),
    leg: 'a',
    direction: 'inbound',
    from: '+15550100',
    to: '200',
    users: ['200'],
    startedAt,
    endedAt: new Date(startedAt.getTime() + 70_000),
    disposition,
    hangupCause: 16,
    sipStatus: 200,
    ivrPath: [],
    recordings: [],
    ...overrides,
  };
  if (disposition === 'answered') {
    cdr.answeredAt = overrides.answeredAt ?? new Date(startedAt.getTime() + 10_000);
  } else {
    delete cdr.answeredAt;
    if (overrides.sipStatus === undefined) cdr.sipStatus = 486;
  }
  return cdr;
}

function tenant(): string {
  return `t-${randomUUID().slice(0, 8)}.test`;
}

async function rejectsWith(
  work: () => Promise<unknown>,
  code: string,
  what: string,
): Promise<void> {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(VoxmeshError.is(error), `${what}: expected a VoxmeshError, got ${String(error)}`);
    assert.equal(error.code, code, `${what}: ${error.message}`);
    return true;
  });
}

function byNewest(a: Cdr, b: Cdr): number {
  const t = b.startedAt.getTime() - a.startedAt.getTime();
  if (t !== 0) return t;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * Registers the tests every {@link HistoryStore} must pass.
 *
 * @example
 * ```ts
 * // In a test file, with `it` from the test runner:
 * historyStoreSuite({ test: it, factory: () => new EmbeddedHistoryStore({ db: new MemoryLevel() }) });
 * ```
 */
export function historyStoreSuite(options: HistoryStoreSuiteOptions): void {
  const prefix = options.prefix ?? 'HistoryStore: ';
  const test = (name: string, body: (store: HistoryStore) => Promise<void>): void => {
    options.test(prefix + name, async () => {
      const store = await options.factory();
      await store.open();
      try {
        await body(store);
      } finally {
        await store.close();
      }
    });
  };

  test('records a CDR and reads it back, with id and durations', async (store) => {
    const t = tenant();
    const input = createTestCdr({
      tenantId: t,
      callId: 'call-1@host',
      leg: 'a',
      ivrPath: ['menu', 'sales'],
      recordings: ['rec/1.wav'],
    });
    assert.deepEqual(await store.recordCdrs([input]), { inserted: 1, duplicates: 0 });
    const expected = normalizeCdr(input);
    assert.equal(expected.id, `${t}:call-1@host:a`);
    assert.equal(expected.durationMs, 70_000);
    assert.equal(expected.talkMs, 60_000);
    assert.deepEqual(await store.getCdr({ tenantId: t, id: expected.id }), expected);
    const page = await store.queryCdrs({ tenantId: t });
    assert.deepEqual(page.items, [expected]);
    assert.equal(page.cursor, undefined);
    assert.equal(await store.getCdr({ tenantId: t, id: `${t}:nope:a` }), undefined);
  });

  test('replays are harmless: a stored id is a duplicate and stays as first written', async (store) => {
    const t = tenant();
    const cdrs = [0, 1, 2].map((i) => createTestCdr({ tenantId: t, callId: `c${i}` }));
    const first = cdrs[0] as CdrInput;
    assert.deepEqual(await store.recordCdrs([...cdrs, first]), { inserted: 3, duplicates: 1 });
    const changed = { ...first, to: '999' };
    assert.deepEqual(await store.recordCdrs([changed, ...cdrs.slice(1)]), {
      inserted: 0,
      duplicates: 3,
    });
    const { items } = await store.queryCdrs({ tenantId: t });
    assert.equal(items.length, 3);
    const stored = await store.getCdr({ tenantId: t, id: normalizeCdr(first).id });
    assert.equal(stored?.to, '200');
    assert.equal((await store.queryCdrs({ tenantId: t, number: '999' })).items.length, 0);
  });

  test('stores one record per leg of a call', async (store) => {
    const t = tenant();
    await store.recordCdrs([
      createTestCdr({ tenantId: t, callId: 'x', leg: 'a' }),
      createTestCdr({
        tenantId: t,
        callId: 'x',
        leg: 'b1',
        direction: 'outbound',
        disposition: 'busy',
      }),
    ]);
    const { items } = await store.queryCdrs({ tenantId: t });
    assert.deepEqual(items.map((c) => c.id).sort(), [`${t}:x:a`, `${t}:x:b1`]);
  });

  test('pages newest first with cursors that neither overlap nor skip', async (store) => {
    const t = tenant();
    // 25 legs over 10 distinct instants: ties on startedAt are ordered by id.
    const inputs = Array.from({ length: 25 }, (_, i) =>
      createTestCdr({
        tenantId: t,
        callId: `call-${String(i).padStart(2, '0')}`,
        startedAt: new Date(T0 + (i % 10) * MINUTE),
      }),
    );
    await store.recordCdrs(inputs);
    const expected = inputs.map((c) => normalizeCdr(c)).sort(byNewest);
    const seen: Cdr[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.queryCdrs({ tenantId: t, limit: 7, cursor });
      assert.ok(page.items.length <= 7);
      seen.push(...page.items);
      cursor = page.cursor;
      pages++;
      assert.ok(pages <= 10, 'pagination does not end');
    } while (cursor !== undefined);
    assert.equal(pages, 4);
    assert.deepEqual(seen, expected);
    const top = await store.queryCdrs({ tenantId: t, limit: 25 });
    assert.equal(top.cursor, undefined, 'an exactly full last page has no cursor');
  });

  test('filters by time range: since inclusive, until exclusive', async (store) => {
    const t = tenant();
    const inputs = [0, 1, 2, 3].map((h) =>
      createTestCdr({ tenantId: t, callId: `h${h}`, startedAt: new Date(T0 + h * HOUR) }),
    );
    await store.recordCdrs(inputs);
    const { items } = await store.queryCdrs({
      tenantId: t,
      since: new Date(T0 + HOUR),
      until: new Date(T0 + 3 * HOUR),
    });
    assert.deepEqual(
      items.map((c) => c.callId),
      ['h2', 'h1'],
    );
    const none = await store.queryCdrs({ tenantId: t, since: new Date(T0 + 5 * HOUR) });
    assert.deepEqual(none.items, []);
  });

  test('filters by user, by number (from or to) and by disposition, alone and combined', async (store) => {
    const t = tenant();
    await store.recordCdrs([
      createTestCdr({
        tenantId: t,
        callId: 'a',
        users: ['200'],
        from: '+1555',
        to: '200',
        startedAt: new Date(T0),
      }),
      createTestCdr({
        tenantId: t,
        callId: 'b',
        users: ['201'],
        from: '201',
        to: '+1555',
        startedAt: new Date(T0 + 1000),
        disposition: 'no-answer',
      }),
      createTestCdr({
        tenantId: t,
        callId: 'c',
        users: ['200', '201'],
        from: '200',
        to: '201',
        startedAt: new Date(T0 + 2000),
        direction: 'internal',
        disposition: 'busy',
      }),
      createTestCdr({
        tenantId: t,
        callId: 'd',
        users: [],
        from: '+1666',
        to: '+1777',
        startedAt: new Date(T0 + 3000),
        disposition: 'failed',
      }),
    ]);
    const ids = async (
      q: Omit<Parameters<HistoryStore['queryCdrs']>[0], 'tenantId'>,
    ): Promise<string[]> =>
      (await store.queryCdrs({ tenantId: t, ...q })).items.map((c) => c.callId);
    assert.deepEqual(await ids({ user: '200' }), ['c', 'a']);
    assert.deepEqual(await ids({ user: '201' }), ['c', 'b']);
    assert.deepEqual(await ids({ number: '+1555' }), ['b', 'a']);
    assert.deepEqual(await ids({ number: '201' }), ['c', 'b']);
    assert.deepEqual(await ids({ disposition: 'busy' }), ['c']);
    assert.deepEqual(await ids({ disposition: 'answered' }), ['a']);
    assert.deepEqual(await ids({ user: '201', disposition: 'no-answer' }), ['b']);
    assert.deepEqual(await ids({ user: '200', number: '+1555' }), ['a']);
    assert.deepEqual(await ids({ number: '201', disposition: 'busy', limit: 1 }), ['c']);
    assert.deepEqual(await ids({ user: 'nobody' }), []);
    // Pagination works on a filtered query too.
    const first = await store.queryCdrs({ tenantId: t, user: '201', limit: 1 });
    assert.deepEqual(
      first.items.map((c) => c.callId),
      ['c'],
    );
    const second = await store.queryCdrs({
      tenantId: t,
      user: '201',
      limit: 1,
      cursor: first.cursor,
    });
    assert.deepEqual(
      second.items.map((c) => c.callId),
      ['b'],
    );
    assert.equal(second.cursor, undefined);
  });

  test('keeps tenants apart', async (store) => {
    const a = tenant();
    const b = tenant();
    await store.recordCdrs([
      createTestCdr({ tenantId: a, callId: 'same' }),
      createTestCdr({ tenantId: a, callId: 'other' }),
      createTestCdr({ tenantId: b, callId: 'same' }),
    ]);
    assert.equal((await store.queryCdrs({ tenantId: a })).items.length, 2);
    assert.deepEqual(
      (await store.queryCdrs({ tenantId: b })).items.map((c) => c.tenantId),
      [b],
    );
    assert.equal(await store.getCdr({ tenantId: b, id: `${a}:other:a` }), undefined);
    const page = await store.queryCdrs({ tenantId: a, limit: 1 });
    assert.ok(page.cursor !== undefined);
    await rejectsWith(
      () => store.queryCdrs({ tenantId: b, cursor: page.cursor }),
      HistoryErrorCode.INVALID_CURSOR,
      'foreign cursor',
    );
    await rejectsWith(
      () => store.queryActivities({ tenantId: a, cursor: page.cursor }),
      HistoryErrorCode.INVALID_CURSOR,
      'cursor of another kind',
    );
    await rejectsWith(
      () => store.queryCdrs({ tenantId: a, cursor: 'not-a-cursor' }),
      HistoryErrorCode.INVALID_CURSOR,
      'malformed cursor',
    );
  });

  test('records activities idempotently and queries them by tenant and by call', async (store) => {
    const t = tenant();
    const acts = Array.from({ length: 5 }, (_, i) => ({
      tenantId: t,
      id: `act-${i}`,
      at: new Date(T0 + i * 1000),
      type: i % 2 === 0 ? 'transfer' : 'voicemail',
      callId: i < 3 ? 'call-1' : 'call-2',
      userId: '200',
      data: { step: i, nested: { ok: true, list: [1, 'two', null] } },
    }));
    assert.deepEqual(await store.recordActivities(acts), { inserted: 5, duplicates: 0 });
    assert.deepEqual(await store.recordActivities(acts.slice(0, 2)), {
      inserted: 0,
      duplicates: 2,
    });
    const all = await store.queryActivities({ tenantId: t });
    assert.deepEqual(
      all.items.map((a) => a.id),
      ['act-4', 'act-3', 'act-2', 'act-1', 'act-0'],
    );
    assert.deepEqual(all.items[4], { ...acts[0], schemaVersion: 1 });
    const call1 = await store.queryActivities({ tenantId: t, callId: 'call-1', limit: 2 });
    assert.deepEqual(
      call1.items.map((a) => a.id),
      ['act-2', 'act-1'],
    );
    const rest = await store.queryActivities({
      tenantId: t,
      callId: 'call-1',
      limit: 2,
      cursor: call1.cursor,
    });
    assert.deepEqual(
      rest.items.map((a) => a.id),
      ['act-0'],
    );
    assert.equal(rest.cursor, undefined);
    const ranged = await store.queryActivities({
      tenantId: t,
      since: new Date(T0 + 1000),
      until: new Date(T0 + 3000),
    });
    assert.deepEqual(
      ranged.items.map((a) => a.id),
      ['act-2', 'act-1'],
    );
    assert.deepEqual((await store.queryActivities({ tenantId: tenant() })).items, []);
  });

  test('computes hourly and daily statistics in UTC', async (store) => {
    const t = tenant();
    const day = Date.UTC(2024, 0, 15);
    await store.recordCdrs([
      // 09:00–10:00: two answered (talk 60 s and 120 s), one busy.
      createTestCdr({
        tenantId: t,
        callId: '1',
        startedAt: new Date(day + 9 * HOUR),
        answeredAt: new Date(day + 9 * HOUR + 10_000),
        endedAt: new Date(day + 9 * HOUR + 70_000),
      }),
      createTestCdr({
        tenantId: t,
        callId: '2',
        startedAt: new Date(day + 9 * HOUR + 30 * MINUTE),
        answeredAt: new Date(day + 9 * HOUR + 30 * MINUTE),
        endedAt: new Date(day + 9 * HOUR + 32 * MINUTE),
      }),
      createTestCdr({
        tenantId: t,
        callId: '3',
        startedAt: new Date(day + 9 * HOUR + 59 * MINUTE),
        endedAt: new Date(day + 9 * HOUR + 59 * MINUTE + 5000),
        disposition: 'busy',
      }),
      // 14:00 and the next day.
      createTestCdr({
        tenantId: t,
        callId: '4',
        startedAt: new Date(day + 14 * HOUR),
        endedAt: new Date(day + 14 * HOUR + 20_000),
        disposition: 'no-answer',
      }),
      createTestCdr({ tenantId: t, callId: '5', startedAt: new Date(day + DAY + HOUR) }),
      // Outside the range and another tenant: not counted.
      createTestCdr({ tenantId: t, callId: '6', startedAt: new Date(day + 3 * DAY) }),
      createTestCdr({ tenantId: tenant(), callId: '7', startedAt: new Date(day + 9 * HOUR) }),
    ]);
    const hourly = await store.statistics({
      tenantId: t,
      since: new Date(day),
      until: new Date(day + 2 * DAY),
      granularity: 'hour',
    });
    assert.equal(hourly.timeZone, 'UTC');
    assert.deepEqual(
      hourly.buckets.map((b) => b.start.toISOString()),
      ['2024-01-15T09:00:00.000Z', '2024-01-15T14:00:00.000Z', '2024-01-16T01:00:00.000Z'],
    );
    assert.deepEqual(hourly.buckets[0], {
      start: new Date(day + 9 * HOUR),
      calls: 3,
      answered: 2,
      durationMs: 70_000 + 120_000 + 5000,
      talkMs: 60_000 + 120_000,
      minutes: 3,
      averageDurationMs: (70_000 + 120_000 + 5000) / 3,
      averageTalkMs: 90_000,
    });
    assert.equal(hourly.buckets[1]?.averageTalkMs, 0);
    const daily = await store.statistics({
      tenantId: t,
      since: new Date(day),
      until: new Date(day + 2 * DAY),
      granularity: 'day',
      timeZone: 'UTC',
    });
    assert.deepEqual(
      daily.buckets.map((b) => [b.start.toISOString(), b.calls, b.answered]),
      [
        ['2024-01-15T00:00:00.000Z', 4, 2],
        ['2024-01-16T00:00:00.000Z', 1, 1],
      ],
    );
    assert.equal(daily.total.calls, 5);
    assert.equal(daily.total.answered, 3);
    assert.equal(daily.total.talkMs, 60_000 * 2 + 120_000);
    const empty = await store.statistics({
      tenantId: tenant(),
      since: new Date(day),
      until: new Date(day + DAY),
      granularity: 'day',
    });
    assert.deepEqual(empty.buckets, []);
    assert.equal(empty.total.calls, 0);
    assert.equal(empty.total.averageDurationMs, 0);
  });

  test("buckets statistics in the tenant's time zone, across DST changes", async (store) => {
    const t = tenant();
    const at = (iso: string): Date => new Date(iso);
    await store.recordCdrs([
      // America/New_York, 2024-03-10: clocks go from 02:00 EST to 03:00 EDT (a 23-hour day).
      createTestCdr({ tenantId: t, callId: 'ny1', startedAt: at('2024-03-10T05:30:00Z') }), // 00:30 EST
      createTestCdr({ tenantId: t, callId: 'ny2', startedAt: at('2024-03-10T06:30:00Z') }), // 01:30 EST
      createTestCdr({ tenantId: t, callId: 'ny3', startedAt: at('2024-03-10T07:30:00Z') }), // 03:30 EDT
      createTestCdr({ tenantId: t, callId: 'ny4', startedAt: at('2024-03-11T03:59:00Z') }), // 23:59 EDT
      createTestCdr({ tenantId: t, callId: 'ny5', startedAt: at('2024-03-11T04:00:00Z') }), // 00:00 EDT, next day
      // 2024-11-03: clocks go back from 02:00 EDT to 01:00 EST (a 25-hour day).
      createTestCdr({ tenantId: t, callId: 'ny6', startedAt: at('2024-11-03T04:10:00Z') }), // 00:10 EDT
      createTestCdr({ tenantId: t, callId: 'ny7', startedAt: at('2024-11-04T04:50:00Z') }), // 23:50 EST
    ]);
    const zone = 'America/New_York';
    const daily = await store.statistics({
      tenantId: t,
      since: at('2024-03-09T00:00:00Z'),
      until: at('2024-11-05T00:00:00Z'),
      granularity: 'day',
      timeZone: zone,
    });
    assert.equal(daily.timeZone, zone);
    assert.deepEqual(
      daily.buckets.map((b) => [b.start.toISOString(), b.calls]),
      [
        ['2024-03-10T05:00:00.000Z', 4], // local midnight, EST
        ['2024-03-11T04:00:00.000Z', 1], // local midnight, EDT: the day before had 23 hours
        ['2024-11-03T04:00:00.000Z', 2], // local midnight, EDT: this day has 25 hours
      ],
    );
    const hourly = await store.statistics({
      tenantId: t,
      since: at('2024-03-10T05:00:00Z'),
      until: at('2024-03-10T08:00:00Z'),
      granularity: 'hour',
      timeZone: zone,
    });
    assert.deepEqual(
      hourly.buckets.map((b) => [b.start.toISOString(), b.calls]),
      [
        ['2024-03-10T05:00:00.000Z', 1], // 00:00 EST
        ['2024-03-10T06:00:00.000Z', 1], // 01:00 EST
        ['2024-03-10T07:00:00.000Z', 1], // 03:00 EDT (02:00 does not exist)
      ],
    );
    // A zone with a half-hour offset: Asia/Kolkata is UTC+05:30 all year.
    const k = tenant();
    await store.recordCdrs([
      createTestCdr({ tenantId: k, callId: 'in1', startedAt: at('2024-01-01T18:29:00Z') }), // 23:59 IST, Jan 1
      createTestCdr({ tenantId: k, callId: 'in2', startedAt: at('2024-01-01T18:31:00Z') }), // 00:01 IST, Jan 2
    ]);
    const india = await store.statistics({
      tenantId: k,
      since: at('2024-01-01T00:00:00Z'),
      until: at('2024-01-03T00:00:00Z'),
      granularity: 'day',
      timeZone: 'Asia/Kolkata',
    });
    assert.deepEqual(
      india.buckets.map((b) => [b.start.toISOString(), b.calls]),
      [
        ['2023-12-31T18:30:00.000Z', 1],
        ['2024-01-01T18:30:00.000Z', 1],
      ],
    );
    const indiaHours = await store.statistics({
      tenantId: k,
      since: at('2024-01-01T00:00:00Z'),
      until: at('2024-01-03T00:00:00Z'),
      granularity: 'hour',
      timeZone: 'Asia/Kolkata',
    });
    assert.deepEqual(
      indiaHours.buckets.map((b) => b.start.toISOString()),
      ['2024-01-01T17:30:00.000Z', '2024-01-01T18:30:00.000Z'],
    );
    await rejectsWith(
      () =>
        store.statistics({
          tenantId: k,
          since: at('2024-01-01T00:00:00Z'),
          until: at('2024-01-02T00:00:00Z'),
          granularity: 'day',
          timeZone: 'Mars/Olympus',
        }),
      ErrorCode.INVALID_INPUT,
      'unknown time zone',
    );
  });

  test('applies per-tenant retention and purges expired records from every index', async (store) => {
    const t = tenant();
    const other = tenant();
    assert.equal(await store.getRetention({ tenantId: t }), null);
    await store.setRetention({ tenantId: t, retentionMs: DAY });
    assert.equal(await store.getRetention({ tenantId: t }), DAY);
    const now = T0 + 10 * DAY;
    await store.recordCdrs([
      createTestCdr({
        tenantId: t,
        callId: 'old',
        startedAt: new Date(now - 2 * DAY),
        users: ['200'],
      }),
      createTestCdr({
        tenantId: t,
        callId: 'new',
        startedAt: new Date(now - HOUR),
        users: ['200'],
      }),
      createTestCdr({ tenantId: other, callId: 'kept', startedAt: new Date(now - 5 * DAY) }),
    ]);
    await store.recordActivities([
      { tenantId: t, id: 'old-act', at: new Date(now - 3 * DAY), type: 'login', callId: 'old' },
      { tenantId: t, id: 'new-act', at: new Date(now - HOUR), type: 'login' },
    ]);
    const fresh = await store.getCdr({ tenantId: t, id: `${t}:new:a` });
    assert.deepEqual(fresh?.expireAt, new Date(now - HOUR + DAY));
    assert.equal(
      (await store.getCdr({ tenantId: other, id: `${other}:kept:a` }))?.expireAt,
      undefined,
    );
    assert.ok((await store.purgeExpired({ now: new Date(now) })) >= 2);
    assert.equal(await store.getCdr({ tenantId: t, id: `${t}:old:a` }), undefined);
    assert.deepEqual(
      (await store.queryCdrs({ tenantId: t, user: '200' })).items.map((c) => c.callId),
      ['new'],
    );
    assert.deepEqual(
      (await store.queryCdrs({ tenantId: t, disposition: 'answered' })).items.map((c) => c.callId),
      ['new'],
    );
    assert.deepEqual(
      (await store.queryActivities({ tenantId: t })).items.map((a) => a.id),
      ['new-act'],
    );
    assert.deepEqual((await store.queryActivities({ tenantId: t, callId: 'old' })).items, []);
    assert.equal((await store.queryCdrs({ tenantId: other })).items.length, 1);
    // A purged id may be written again (a very late replay is stored, not lost).
    assert.deepEqual(
      await store.recordCdrs([
        createTestCdr({ tenantId: t, callId: 'old', startedAt: new Date(now - 2 * DAY) }),
      ]),
      { inserted: 1, duplicates: 0 },
    );
    await store.setRetention({ tenantId: t, retentionMs: null });
    assert.equal(await store.getRetention({ tenantId: t }), null);
    await rejectsWith(
      () => store.setRetention({ tenantId: t, retentionMs: -5 }),
      ErrorCode.INVALID_INPUT,
      'negative retention',
    );
  });

  test("deletes all of a tenant's data and nothing else", async (store) => {
    const t = tenant();
    const other = tenant();
    await store.setRetention({ tenantId: t, retentionMs: 365 * DAY });
    await store.recordCdrs([
      ...[1, 2, 3].map((i) => createTestCdr({ tenantId: t, callId: `c${i}` })),
      createTestCdr({ tenantId: other, callId: 'c1' }),
    ]);
    await store.recordActivities([
      { tenantId: t, id: 'a1', at: new Date(T0), type: 'login' },
      { tenantId: other, id: 'a1', at: new Date(T0), type: 'login' },
    ]);
    assert.equal(await store.deleteTenant({ tenantId: t }), 4);
    assert.deepEqual((await store.queryCdrs({ tenantId: t })).items, []);
    assert.deepEqual((await store.queryCdrs({ tenantId: t, user: '200' })).items, []);
    assert.deepEqual((await store.queryActivities({ tenantId: t })).items, []);
    assert.equal(await store.getRetention({ tenantId: t }), null);
    assert.equal((await store.queryCdrs({ tenantId: other })).items.length, 1);
    assert.equal((await store.queryActivities({ tenantId: other })).items.length, 1);
    await store.purgeExpired({ now: new Date(T0 + 400 * DAY) });
    assert.equal(
      (await store.queryCdrs({ tenantId: other })).items.length,
      1,
      'no retention: kept',
    );
    assert.equal(await store.deleteTenant({ tenantId: t }), 0);
  });

  test('rejects invalid input with INVALID_INPUT and writes nothing of the batch', async (store) => {
    const t = tenant();
    const good = createTestCdr({ tenantId: t, callId: 'good' });
    const bad: unknown[] = [
      { ...good, tenantId: '' },
      { ...good, tenantId: 'a:b' },
      { ...good, leg: 'x:y' },
      { ...good, callId: 'nul\u0000byte' },
      { ...good, direction: 'sideways' },
      { ...good, disposition: 'maybe' },
      { ...good, startedAt: new Date('nope') },
      { ...good, startedAt: '2024-01-01' },
      { ...good, endedAt: new Date(good.startedAt.getTime() - 1) },
      { ...good, answeredAt: undefined },
      { ...good, disposition: 'busy' },
      { ...good, hangupCause: 200 },
      { ...good, sipStatus: 99 },
      { ...good, users: 'not-a-list' },
      null,
    ];
    for (const [i, cdr] of bad.entries()) {
      await rejectsWith(
        () => store.recordCdrs([good, cdr as CdrInput]),
        ErrorCode.INVALID_INPUT,
        `bad CDR #${i}`,
      );
    }
    assert.deepEqual((await store.queryCdrs({ tenantId: t })).items, []);
    await rejectsWith(
      () => store.recordActivities([{ tenantId: t, id: 'x', at: new Date(T0), type: '' }]),
      ErrorCode.INVALID_INPUT,
      'activity without type',
    );
    await rejectsWith(
      () =>
        store.recordActivities([
          { tenantId: t, id: 'x', at: new Date(T0), type: 'x', data: { big: 'x'.repeat(20_000) } },
        ]),
      ErrorCode.INVALID_INPUT,
      'oversized data',
    );
    await rejectsWith(
      () => store.queryCdrs({ tenantId: t, limit: 0 }),
      ErrorCode.INVALID_INPUT,
      'limit 0',
    );
    await rejectsWith(
      () => store.queryCdrs({ tenantId: t, limit: 1001 }),
      ErrorCode.INVALID_INPUT,
      'limit 1001',
    );
    await rejectsWith(
      () => store.queryCdrs({ tenantId: t, since: new Date('x') }),
      ErrorCode.INVALID_INPUT,
      'invalid since',
    );
    await rejectsWith(
      () => store.queryCdrs({ tenantId: t, disposition: 'maybe' as 'busy' }),
      ErrorCode.INVALID_INPUT,
      'unknown disposition',
    );
    await rejectsWith(
      () => store.queryCdrs({ tenantId: t, user: '200', disposition: 'maybe' as 'busy' }),
      ErrorCode.INVALID_INPUT,
      'unknown disposition with a user',
    );
    await rejectsWith(
      () => store.queryCdrs({ tenantId: '' }),
      ErrorCode.INVALID_INPUT,
      'empty tenant',
    );
    await rejectsWith(
      () =>
        store.statistics({
          tenantId: t,
          since: new Date(T0),
          until: new Date(T0 + DAY),
          granularity: 'week' as 'day',
        }),
      ErrorCode.INVALID_INPUT,
      'bad granularity',
    );
    assert.deepEqual(await store.recordCdrs([]), { inserted: 0, duplicates: 0 });
  });

  test('rejects aborted operations with ABORTED', async (store) => {
    const t = tenant();
    const signal = AbortSignal.abort(new Error('caller gave up'));
    await rejectsWith(
      () => store.recordCdrs([createTestCdr({ tenantId: t })], { signal }),
      ErrorCode.ABORTED,
      'aborted write',
    );
    await rejectsWith(
      () => store.queryCdrs({ tenantId: t, signal }),
      ErrorCode.ABORTED,
      'aborted query',
    );
    await rejectsWith(
      () =>
        store.statistics({
          tenantId: t,
          since: new Date(T0),
          until: new Date(T0 + DAY),
          granularity: 'day',
          signal,
        }),
      ErrorCode.ABORTED,
      'aborted statistics',
    );
    assert.deepEqual((await store.queryCdrs({ tenantId: t })).items, []);
  });

  options.test(prefix + 'refuses work before open() and after close()', async () => {
    const store = await options.factory();
    const t = tenant();
    await rejectsWith(
      () => store.queryCdrs({ tenantId: t }),
      HistoryErrorCode.STORE_NOT_OPEN,
      'before open',
    );
    await store.open();
    await store.open();
    await store.close();
    await rejectsWith(
      () => store.recordCdrs([createTestCdr({ tenantId: t })]),
      HistoryErrorCode.STORE_NOT_OPEN,
      'after close',
    );
    await store.close();
  });
}
