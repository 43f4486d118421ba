import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, FakeClock, Metrics, VoxmeshError, onceEvent } from '@voxmesh/core';
import { MemoryLevel } from 'memory-level';
import { afterAll, describe, expect, it } from 'vitest';
import {
  EmbeddedHistoryStore,
  HistoryErrorCode,
  HistoryOutbox,
  type Cdr,
  type CdrInput,
  type HistoryStore,
  type LevelDatabase,
  type RecordResult,
} from '@voxmesh/history';
import { FlakyHistoryStore, createTestCdr } from '@voxmesh/history/testing';

const dir = await mkdtemp(join(tmpdir(), 'voxmesh-outbox-'));
let dirs = 0;
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function memoryDb(): LevelDatabase {
  return new MemoryLevel<string, string>();
}

async function openStore(): Promise<EmbeddedHistoryStore> {
  const store = new EmbeddedHistoryStore({ db: memoryDb() });
  await store.open();
  return store;
}

async function allCdrs(store: HistoryStore, tenantId: string): Promise<Cdr[]> {
  const out: Cdr[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.queryCdrs({ tenantId, limit: 1000, cursor });
    out.push(...page.items);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return out;
}

function cdrs(tenantId: string, n: number): CdrInput[] {
  return Array.from({ length: n }, (_, i) =>
    createTestCdr({
      tenantId,
      callId: `call-${String(i).padStart(4, '0')}`,
      startedAt: new Date(Date.UTC(2024, 0, 1) + i * 1000),
    }),
  );
}

describe('HistoryOutbox', () => {
  it('delivers CDRs and activities to the backend and empties itself', async () => {
    const store = await openStore();
    const metrics = new Metrics();
    const outbox = new HistoryOutbox({ store, location: join(dir, `o${dirs++}`), metrics });
    await outbox.start();
    const delivered: number[] = [];
    outbox.on('delivered', (_kind, count) => delivered.push(count));
    await outbox.recordCdrs(cdrs('demo.local', 30));
    await outbox.recordActivities([
      { tenantId: 'demo.local', id: 'a1', at: new Date(Date.UTC(2024, 0, 1)), type: 'login' },
    ]);
    await outbox.flush();
    expect(outbox.pending).toBe(0);
    expect((await allCdrs(store, 'demo.local')).length).toBe(30);
    expect(
      (await store.queryActivities({ tenantId: 'demo.local' })).items.map((a) => a.id),
    ).toEqual(['a1']);
    expect(delivered.reduce((a, b) => a + b, 0)).toBe(31);
    const text = await metrics.registry.metrics();
    expect(text).toContain('voxmesh_history_outbox_delivered_total{kind="cdr"} 30');
    expect(text).toContain('voxmesh_history_outbox_delivered_total{kind="activity"} 1');
    expect(text).toContain('voxmesh_history_outbox_pending 0');
    await outbox.drain();
    await store.close();
  });

  it('loses nothing and duplicates nothing when the backend fails mid-drain', async () => {
    const store = await openStore();
    const flaky = new FlakyHistoryStore({ store });
    // Batches 1–2 pass; batch 3 is stored but its acknowledgement is lost;
    // the retry fails twice; then the ack of a later batch is lost again.
    flaky.script('recordCdrs', ['pass', 'pass', 'lose-ack', 'fail', 'fail', 'pass', 'lose-ack']);
    const outbox = new HistoryOutbox({
      store: flaky,
      location: join(dir, `o${dirs++}`),
      batchSize: 10,
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 5,
    });
    const failures: unknown[] = [];
    outbox.on('deliveryFailed', (error) => failures.push(error));
    await outbox.start();
    const input = cdrs('demo.local', 100);
    await outbox.recordCdrs(input);
    await outbox.flush();
    expect(failures).toHaveLength(4);
    expect(failures.every((e) => VoxmeshError.is(e) && e.retryable)).toBe(true);
    const stored = await allCdrs(store, 'demo.local');
    const ids = stored.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(input.map((c) => `demo.local:${c.callId}:a`).sort());
    // 10 batches + 2 lost acks re-sent + 2 failed attempts.
    expect(flaky.calls.recordCdrs).toBe(14);
    await outbox.drain();
    await store.close();
  });

  it('keeps undelivered records across a crash and delivers them after the restart', async () => {
    const location = join(dir, `o${dirs++}`);
    const store = await openStore();
    const flaky = new FlakyHistoryStore({ store });
    const first = new HistoryOutbox({
      store: flaky,
      location,
      batchSize: 10,
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 5,
    });
    await first.start();
    // The backend goes down after 3 batches have been acknowledged.
    let batches = 0;
    first.on('delivered', () => {
      if (++batches === 3) flaky.down = true;
    });
    const failed = onceEvent(first, 'deliveryFailed');
    const input = cdrs('demo.local', 100);
    await first.recordCdrs(input.slice(0, 50));
    await first.recordCdrs(input.slice(50));
    await failed;
    expect(first.pending).toBe(70);
    await first.stop(); // the node goes away with 70 records in its outbox
    expect((await allCdrs(store, 'demo.local')).length).toBe(30);

    flaky.down = false;
    const second = new HistoryOutbox({ store: flaky, location, batchSize: 10 });
    await second.start();
    expect(second.pending).toBe(70);
    await second.recordCdrs(cdrs('other.local', 5));
    await second.flush();
    const stored = await allCdrs(store, 'demo.local');
    expect(stored.map((c) => c.id).sort()).toEqual(
      input.map((c) => `demo.local:${c.callId}:a`).sort(),
    );
    expect((await allCdrs(store, 'other.local')).length).toBe(5);
    await second.drain();
    await store.close();
  });

  it('moves a record the backend rejects for good to the dead letters and goes on', async () => {
    const store = await openStore();
    class Picky extends FlakyHistoryStore {
      override recordCdrs(records: readonly CdrInput[]): Promise<RecordResult> {
        if (records.some((r) => r.callId === 'call-0003')) {
          return Promise.reject(
            new VoxmeshError(ErrorCode.INVALID_INPUT, 'rejected by the backend'),
          );
        }
        return super.recordCdrs(records);
      }
    }
    const outbox = new HistoryOutbox({
      store: new Picky({ store }),
      db: memoryDb(),
      batchSize: 4,
    });
    const letters: string[] = [];
    outbox.on('deadLettered', (letter) => letters.push((letter.record as CdrInput).callId));
    await outbox.start();
    await outbox.recordCdrs(cdrs('demo.local', 10));
    await outbox.flush();
    expect(letters).toEqual(['call-0003']);
    expect((await allCdrs(store, 'demo.local')).length).toBe(9);
    const dead = await outbox.deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ kind: 'cdr', error: 'rejected by the backend', seq: 3 });
    expect((dead[0]?.record as CdrInput).startedAt).toEqual(new Date(Date.UTC(2024, 0, 1) + 3000));
    await outbox.drain();
    await store.close();
  });

  it('backs off exponentially up to the limit while the backend is down', async () => {
    const clock = new FakeClock();
    const store = await openStore();
    const flaky = new FlakyHistoryStore({ store });
    flaky.down = true;
    const outbox = new HistoryOutbox({
      store: flaky,
      db: memoryDb(),
      clock,
      retryInitialDelayMs: 100,
      retryMaxDelayMs: 1000,
    });
    const delays: number[] = [];
    outbox.on('deliveryFailed', (_error, _attempt, retryInMs) => delays.push(retryInMs));
    await outbox.start();
    await outbox.recordCdrs(cdrs('demo.local', 1));
    for (let i = 1; i <= 7; i++) {
      while (delays.length < i) await new Promise((resolve) => setImmediate(resolve));
      if (i === 7) flaky.down = false;
      await clock.advanceAsync(delays[i - 1] as number);
    }
    await outbox.flush();
    const bases = [100, 200, 400, 800, 1000, 1000, 1000];
    delays.forEach((d, i) => {
      const base = bases[i] as number;
      expect(d).toBeGreaterThanOrEqual(base * 0.8);
      expect(d).toBeLessThanOrEqual(base * 1.2);
    });
    expect((await allCdrs(store, 'demo.local')).length).toBe(1);
    await outbox.stop();
    await store.close();
  });

  it('rejects invalid records before writing anything, and work when not running', async () => {
    const store = await openStore();
    const outbox = new HistoryOutbox({ store, db: memoryDb() });
    await expect(outbox.recordCdrs(cdrs('demo.local', 1))).rejects.toMatchObject({
      code: ErrorCode.NOT_ACCEPTING_WORK,
    });
    await outbox.start();
    const bad = { ...createTestCdr(), endedAt: new Date(0) };
    await expect(outbox.recordCdrs([createTestCdr(), bad])).rejects.toMatchObject({
      code: ErrorCode.INVALID_INPUT,
    });
    expect(outbox.pending).toBe(0);
    await expect(
      outbox.recordCdrs(cdrs('demo.local', 1), { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ code: ErrorCode.ABORTED });
    await outbox.stop();
    await store.close();
  });

  it('flush() gives up on abort and refuses to wait on a stopped outbox with records', async () => {
    const store = await openStore();
    const flaky = new FlakyHistoryStore({ store });
    flaky.down = true;
    const db = memoryDb();
    const outbox = new HistoryOutbox({
      store: flaky,
      db,
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 2,
    });
    await outbox.start();
    await outbox.recordCdrs(cdrs('demo.local', 2));
    const controller = new AbortController();
    const waiting = outbox.flush({ signal: controller.signal });
    controller.abort(new Error('enough'));
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.ABORTED });
    await outbox.drain();
    await expect(outbox.flush()).rejects.toMatchObject({ code: ErrorCode.INVALID_STATE });
    expect(() => new HistoryOutbox({ store, db, batchSize: 0 })).toThrow(RangeError);
    expect(() => new HistoryOutbox({ store })).toThrow(TypeError);
    await store.close();
  });
});

describe('HistoryOutbox with records held in memory', () => {
  for (const memoryLimit of [0, 25, 100_000]) {
    it(`loses and repeats nothing with memoryLimit ${memoryLimit} while the backend fails`, async () => {
      const store = await openStore();
      const flaky = new FlakyHistoryStore({ store });
      flaky.script('recordCdrs', ['pass', 'lose-ack', 'fail', 'pass', 'fail', 'lose-ack']);
      const db = memoryDb();
      const outbox = new HistoryOutbox({
        store: flaky,
        db,
        batchSize: 10,
        memoryLimit,
        retryInitialDelayMs: 1,
        retryMaxDelayMs: 5,
      });
      let delivered = 0;
      outbox.on('delivered', (_kind, count) => (delivered += count));
      await outbox.start();
      const input = cdrs('demo.local', 200);
      // Twenty writers at once, then more while the first ones are delivered.
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => outbox.recordCdrs(input.slice(i * 5, i * 5 + 5))),
      );
      for (let i = 100; i < 200; i += 20) await outbox.recordCdrs(input.slice(i, i + 20));
      await outbox.flush();
      const ids = (await allCdrs(store, 'demo.local')).map((c) => c.id);
      expect(new Set(ids).size).toBe(200);
      expect(ids.sort()).toEqual(input.map((c) => `demo.local:${c.callId}:a`).sort());
      // Each record left the outbox exactly once.
      expect(delivered).toBe(200);
      expect(outbox.pending).toBe(0);
      expect(await db.keys().all()).toEqual([]);
      await outbox.drain();
      await store.close();
    });
  }

  it('applies the tenant retention to records it hands to the embedded store', async () => {
    const store = await openStore();
    await store.setRetention({ tenantId: 'demo.local', retentionMs: 60_000 });
    const outbox = new HistoryOutbox({ store, db: memoryDb() });
    await outbox.start();
    const [cdr] = cdrs('demo.local', 1) as [CdrInput];
    await outbox.recordCdrs([cdr]);
    await outbox.flush();
    const stored = await store.getCdr({ tenantId: 'demo.local', id: `demo.local:${cdr.callId}:a` });
    expect(stored?.expireAt).toEqual(new Date(cdr.startedAt.getTime() + 60_000));
    expect(await store.purgeExpired({ now: new Date(cdr.startedAt.getTime() + 60_000) })).toBe(1);
    expect((await allCdrs(store, 'demo.local')).length).toBe(0);
    await outbox.drain();
    await store.close();
  });

  it('writes records that arrive while a write is in flight together, all or nothing per call', async () => {
    const store = await openStore();
    const flaky = new FlakyHistoryStore({ store });
    flaky.down = true; // nothing leaves the outbox while the writes are counted
    const db = new MemoryLevel<string, string>();
    const writes: number[] = [];
    db.on('write', (operations: { type: string; key: string }[]) => {
      const queued = operations.filter((op) => op.type === 'put' && op.key.startsWith('o\u0000'));
      if (queued.length > 0) writes.push(queued.length);
    });
    const outbox = new HistoryOutbox({
      store: flaky,
      db: db,
      retryInitialDelayMs: 1,
      retryMaxDelayMs: 2,
    });
    await outbox.start();
    const input = cdrs('demo.local', 14);
    await Promise.all(input.slice(0, 10).map((cdr) => outbox.recordCdrs([cdr])));
    // The first call is written at once; the nine that came meanwhile, in one batch.
    expect(writes).toEqual([1, 9]);
    expect(outbox.pending).toBe(10);

    // A batch that fails fails every call in it, and only those.
    const level = db as unknown as {
      _batch: (operations: unknown[], options: unknown) => Promise<void>;
    };
    const batch = level._batch.bind(db);
    level._batch = (operations, options) =>
      writes.length === 3 ? Promise.reject(new Error('disk full')) : batch(operations, options);
    const results = await Promise.allSettled(
      input.slice(10, 13).map((cdr) => outbox.recordCdrs([cdr])),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({
      code: HistoryErrorCode.BACKEND_UNAVAILABLE,
      retryable: true,
    });
    expect(writes).toEqual([1, 9, 1]);
    level._batch = batch;
    await outbox.recordCdrs([input[13] as CdrInput]);
    expect(writes).toEqual([1, 9, 1, 1]);
    expect(outbox.pending).toBe(12);
    flaky.down = false;
    await outbox.flush();
    const stored = (await allCdrs(store, 'demo.local')).map((c) => c.callId).sort();
    expect(stored).toEqual(input.filter((_, i) => i !== 11 && i !== 12).map((c) => c.callId));
    await outbox.drain();
    await store.close();
  });

  it('rejects a memoryLimit that is not a non-negative integer', async () => {
    const store = await openStore();
    expect(() => new HistoryOutbox({ store, db: memoryDb(), memoryLimit: -1 })).toThrow(RangeError);
    expect(() => new HistoryOutbox({ store, db: memoryDb(), memoryLimit: 1.5 })).toThrow(
      RangeError,
    );
    await store.close();
  });
});

describe('HistoryOutbox in the same batch as local state', () => {
  it('adds records atomically with the application state of a parent database', async () => {
    const store = await openStore();
    const root = new MemoryLevel<string, string>();
    const outbox = new HistoryOutbox({
      store,
      db: root.sublevel('outbox'),
    });
    await outbox.start();
    const [first, second] = cdrs('demo.local', 2) as [CdrInput, CdrInput];
    const prepared = outbox.prepareCdrs([first]);
    expect(prepared.operations).toHaveLength(1);
    await root.batch([
      { type: 'put', key: 'calls!active', value: '0' },
      ...(prepared.operations as never[]),
    ]);
    prepared.committed();
    prepared.committed();
    expect(outbox.pending).toBe(1);
    await outbox.flush();
    expect((await allCdrs(store, 'demo.local')).map((c) => c.callId)).toEqual([first.callId]);
    expect(await root.get('calls!active')).toBe('0');
    // A batch that is never written adds nothing; later writes are unaffected.
    const abandoned = outbox.prepareCdrs([second]);
    expect(abandoned.operations[0]?.sublevel).toBeDefined();
    await outbox.recordActivities([
      { tenantId: 'demo.local', id: 'a1', at: new Date(Date.UTC(2024, 0, 1)), type: 'login' },
    ]);
    await outbox.flush();
    expect((await allCdrs(store, 'demo.local')).length).toBe(1);
    expect(() => outbox.prepareCdrs([{ ...second, leg: 'x:y' }])).toThrow(VoxmeshError);
    await outbox.drain();
    expect(() => outbox.prepareCdrs([second])).toThrow(VoxmeshError);
    await root.close();
    await store.close();
  });
});
