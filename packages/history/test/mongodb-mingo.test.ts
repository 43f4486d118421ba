import type { Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { MongoHistoryStore } from '@voxmesh/history/mongodb';
import { createTestCdr, historyStoreSuite } from '@voxmesh/history/testing';
import { MingoDb } from './mingo-db.js';

// The conformance suite against MongoHistoryStore's own filters, sorts,
// cursors and pipelines, executed with MongoDB query semantics by mingo.
// The real-server run is mongodb.integ.test.ts (needs MONGODB_URI).
describe('MongoHistoryStore on an in-memory mingo database', () => {
  historyStoreSuite({
    test: it,
    prefix: 'MongoDB backend (mingo): ',
    factory: () => new MongoHistoryStore({ db: new MingoDb() as unknown as Db }),
  });

  it('stores documents in the documented shape', async () => {
    const db = new MingoDb();
    const store = new MongoHistoryStore({ db: db as unknown as Db });
    await store.open();
    await store.setRetention({ tenantId: 'demo.local', retentionMs: 1000 });
    await store.recordCdrs([
      createTestCdr({ tenantId: 'demo.local', callId: 'c1', from: '200', to: '200' }),
    ]);
    const [doc] = db.collection('history_cdrs').docs.values();
    expect(doc).toMatchObject({
      _id: 'demo.local:c1:a',
      tenantId: 'demo.local',
      numbers: ['200'],
      schemaVersion: 1,
    });
    expect(doc?.['startedAt']).toBeInstanceOf(Date);
    expect(doc?.['expireAt']).toEqual(new Date((doc?.['startedAt'] as Date).getTime() + 1000));
    expect([...db.collection('history_tenants').docs.values()]).toEqual([
      { _id: 'demo.local', retentionMs: 1000 },
    ]);
    await store.close();
  });
});
