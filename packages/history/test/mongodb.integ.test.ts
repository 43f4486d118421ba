import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { MongoHistoryStore } from '@voxmesh/history/mongodb';
import { historyStoreSuite } from '@voxmesh/history/testing';

// The conformance suite against a real MongoDB (a replica set, for majority
// writes), whenever MONGODB_URI is set. No server can run on the build
// machines; CI deployments with one set MONGODB_URI.
const uri = process.env['MONGODB_URI'];

if (uri === undefined || uri === '') {
  it.skip('MongoDB conformance: skipped because MONGODB_URI is not set', () => undefined);
} else {
  describe('MongoHistoryStore against MongoDB at MONGODB_URI', () => {
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
    const dbName = `voxmesh_history_test_${randomUUID().slice(0, 8)}`;
    let n = 0;
    beforeAll(async () => {
      await client.connect();
    });
    afterAll(async () => {
      await client.db(dbName).dropDatabase();
      await client.close();
    });
    historyStoreSuite({
      test: it,
      prefix: 'MongoDB conformance: ',
      factory: () => new MongoHistoryStore({ db: client.db(dbName), collectionPrefix: `t${n++}_` }),
    });
  });
}
