import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLevel } from 'memory-level';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedHistoryStore, HistoryErrorCode, type LevelDatabase } from '@voxmesh/history';
import { createTestCdr, historyStoreSuite } from '@voxmesh/history/testing';

describe('EmbeddedHistoryStore on memory-level', () => {
  historyStoreSuite({
    test: it,
    factory: () =>
      new EmbeddedHistoryStore({
        db: new MemoryLevel<string, string>(),
      }),
  });
});

describe('EmbeddedHistoryStore on classic-level', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'voxmesh-history-'));
  let n = 0;
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  historyStoreSuite({
    test: it,
    prefix: 'classic-level: ',
    factory: () => new EmbeddedHistoryStore({ location: join(dir, `db-${n++}`) }),
  });

  it('keeps records across a close and a reopen of the same directory', async () => {
    const location = join(dir, 'reopen');
    const first = new EmbeddedHistoryStore({ location });
    await first.open();
    const cdr = createTestCdr({ tenantId: 'demo.local', callId: 'persist' });
    await first.recordCdrs([cdr]);
    await first.setRetention({ tenantId: 'demo.local', retentionMs: 1000 });
    await first.close();
    await using second = new EmbeddedHistoryStore({ location });
    await second.open();
    expect((await second.queryCdrs({ tenantId: 'demo.local' })).items.map((c) => c.callId)).toEqual(
      ['persist'],
    );
    expect(await second.getRetention({ tenantId: 'demo.local' })).toBe(1000);
    expect(await second.recordCdrs([cdr])).toEqual({ inserted: 0, duplicates: 1 });
  });
});

describe('EmbeddedHistoryStore failures', () => {
  it('needs exactly one of location and db', () => {
    expect(() => new EmbeddedHistoryStore({})).toThrow(TypeError);
  });

  it('reports a database that fails underneath as retryable HISTORY_BACKEND_UNAVAILABLE', async () => {
    const db = new MemoryLevel<string, string>() as unknown as LevelDatabase;
    const store = new EmbeddedHistoryStore({ db });
    await store.open();
    await db.close();
    const error = await store.recordCdrs([createTestCdr()]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: HistoryErrorCode.BACKEND_UNAVAILABLE, retryable: true });
    await store.close();
  });
});
