import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ErrorCode } from '@voxmesh/core';
import type { Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { HistoryErrorCode, normalizeCdr } from '@voxmesh/history';
import { MONGO_INDEXES, MongoHistoryStore } from '@voxmesh/history/mongodb';
import { createTestCdr } from '@voxmesh/history/testing';

// A recording fake of the parts of the driver's Collection API the store
// uses: every call is recorded with its exact arguments; answers are scripted.
interface Call {
  method: string;
  args: unknown[];
}

type Answer = (...args: unknown[]) => unknown;

class FakeCollection {
  readonly calls: Call[] = [];
  readonly answers = new Map<string, Answer>();
  constructor(readonly collectionName: string) {}

  #answer(method: string, args: unknown[], fallback: unknown): Promise<unknown> {
    this.calls.push({ method, args });
    try {
      const answer = this.answers.get(method);
      return Promise.resolve(answer ? answer(...args) : fallback);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #cursor(method: string, args: unknown[]): object {
    this.calls.push({ method, args });
    const cursor = {
      sort: (spec: unknown) => {
        this.calls.push({ method: `${method}.sort`, args: [spec] });
        return cursor;
      },
      limit: (n: unknown) => {
        this.calls.push({ method: `${method}.limit`, args: [n] });
        return cursor;
      },
      toArray: () => {
        const answer = this.answers.get(method);
        try {
          return Promise.resolve(answer ? answer(...args) : []);
        } catch (error) {
          return Promise.reject(error);
        }
      },
    };
    return cursor;
  }

  createIndexes(...args: unknown[]): Promise<unknown> {
    return this.#answer('createIndexes', args, []);
  }
  bulkWrite(...args: unknown[]): Promise<unknown> {
    const ops = args[0] as unknown[];
    return this.#answer('bulkWrite', args, { insertedCount: ops.length });
  }
  updateOne(...args: unknown[]): Promise<unknown> {
    return this.#answer('updateOne', args, { matchedCount: 1 });
  }
  deleteMany(...args: unknown[]): Promise<unknown> {
    return this.#answer('deleteMany', args, { deletedCount: 0 });
  }
  deleteOne(...args: unknown[]): Promise<unknown> {
    return this.#answer('deleteOne', args, { deletedCount: 0 });
  }
  findOne(...args: unknown[]): Promise<unknown> {
    return this.#answer('findOne', args, null);
  }
  find(...args: unknown[]): object {
    return this.#cursor('find', args);
  }
  aggregate(...args: unknown[]): object {
    return this.#cursor('aggregate', args);
  }
}

class FakeDb {
  readonly collections = new Map<string, FakeCollection>();
  collection(name: string): FakeCollection {
    let c = this.collections.get(name);
    if (c === undefined) {
      c = new FakeCollection(name);
      this.collections.set(name, c);
    }
    return c;
  }
}

async function setup(options: { prefix?: string } = {}) {
  const db = new FakeDb();
  const store = new MongoHistoryStore({
    db: db as unknown as Db,
    collectionPrefix: options.prefix,
  });
  await store.open();
  const prefix = options.prefix ?? 'history_';
  const col = (name: string): FakeCollection => db.collection(prefix + name);
  return { db, store, col };
}

const majority = { writeConcern: { w: 'majority' } };

describe('MongoHistoryStore driver calls', () => {
  it('creates the tenant-first indexes and TTL indexes on open()', async () => {
    const { col } = await setup();
    expect(col('cdrs').calls).toEqual([
      {
        method: 'createIndexes',
        args: [
          [
            { key: { tenantId: 1, startedAt: -1, _id: -1 }, name: 'tenantId_startedAt' },
            {
              key: { tenantId: 1, users: 1, startedAt: -1, _id: -1 },
              name: 'tenantId_users_startedAt',
            },
            {
              key: { tenantId: 1, numbers: 1, startedAt: -1, _id: -1 },
              name: 'tenantId_numbers_startedAt',
            },
            {
              key: { tenantId: 1, disposition: 1, startedAt: -1, _id: -1 },
              name: 'tenantId_disposition_startedAt',
            },
            { key: { expireAt: 1 }, name: 'expireAt_ttl', expireAfterSeconds: 0 },
          ],
        ],
      },
    ]);
    expect(col('activities').calls[0]?.args[0]).toEqual(MONGO_INDEXES.activities);
    expect(col('rollups').calls[0]?.args[0]).toEqual(MONGO_INDEXES.rollups);
  });

  it('honours collectionPrefix and createIndexes: false', async () => {
    const db = new FakeDb();
    const store = new MongoHistoryStore({
      db: db as unknown as Db,
      collectionPrefix: 'vx_',
      createIndexes: false,
    });
    await store.open();
    expect([...db.collections.keys()].sort()).toEqual([
      'vx_activities',
      'vx_cdrs',
      'vx_rollups',
      'vx_tenants',
    ]);
    expect([...db.collections.values()].every((c) => c.calls.length === 0)).toBe(true);
  });

  it('writes CDRs with one unordered bulkWrite of insertOne at w: majority', async () => {
    const { store, col } = await setup();
    col('tenants').answers.set('find', () => [{ _id: 'demo.local', retentionMs: 86_400_000 }]);
    const a = createTestCdr({ tenantId: 'demo.local', callId: 'c1', from: '+1555', to: '200' });
    const b = createTestCdr({
      tenantId: 'other.local',
      callId: 'c2',
      from: '200',
      to: '200',
      disposition: 'busy',
    });
    expect(await store.recordCdrs([a, b, a])).toEqual({ inserted: 2, duplicates: 1 });
    expect(col('tenants').calls[0]).toEqual({
      method: 'find',
      args: [{ _id: { $in: ['demo.local', 'other.local'] } }, {}],
    });
    const [call] = col('cdrs').calls.filter((c) => c.method === 'bulkWrite');
    const { id, ...rest } = normalizeCdr(a);
    const ops = call?.args[0] as { insertOne: { document: Record<string, unknown> } }[];
    expect(call?.args[1]).toEqual({ ordered: false, ...majority });
    expect(ops).toHaveLength(2);
    expect(ops[0]).toEqual({
      insertOne: {
        document: {
          _id: id,
          ...rest,
          numbers: ['+1555', '200'],
          expireAt: new Date(a.startedAt.getTime() + 86_400_000),
        },
      },
    });
    const second = ops[1];
    expect(second?.insertOne.document).toMatchObject({
      _id: 'other.local:c2:a',
      numbers: ['200'],
      disposition: 'busy',
    });
    expect(second?.insertOne.document).not.toHaveProperty('expireAt');
    expect(second?.insertOne.document['startedAt']).toBeInstanceOf(Date);
  });

  it('counts duplicate-key write errors (11000) as duplicates, one or many', async () => {
    const { store, col } = await setup();
    const cdrs = [1, 2, 3].map((i) => createTestCdr({ tenantId: 'demo.local', callId: `c${i}` }));
    col('cdrs').answers.set('bulkWrite', () => {
      throw Object.assign(new Error('E11000 duplicate key error'), {
        name: 'MongoBulkWriteError',
        code: 11000,
        writeErrors: [
          { code: 11000, index: 0, errmsg: 'E11000' },
          { code: 11000, index: 2, errmsg: 'E11000' },
        ],
      });
    });
    expect(await store.recordCdrs(cdrs)).toEqual({ inserted: 1, duplicates: 2 });
    col('cdrs').answers.set('bulkWrite', () => {
      throw Object.assign(new Error('E11000'), { writeErrors: { code: 11000, index: 1 } });
    });
    expect(await store.recordCdrs(cdrs)).toEqual({ inserted: 2, duplicates: 1 });
  });

  it('turns other failures into retryable HISTORY_BACKEND_UNAVAILABLE', async () => {
    const { store, col } = await setup();
    const cdrs = [createTestCdr({ tenantId: 'demo.local' })];
    const failures: unknown[] = [
      Object.assign(new Error('Document failed validation'), {
        writeErrors: [{ code: 121, index: 0 }],
      }),
      Object.assign(new Error('waiting for replication timed out'), {
        writeErrors: [],
        writeConcernError: { code: 64, errmsg: 'waiting for replication timed out' },
      }),
      Object.assign(new Error('connection 3 to 127.0.0.1:27017 closed'), {
        name: 'MongoNetworkError',
      }),
    ];
    for (const failure of failures) {
      col('cdrs').answers.set('bulkWrite', () => {
        throw failure;
      });
      await expect(store.recordCdrs(cdrs)).rejects.toMatchObject({
        code: HistoryErrorCode.BACKEND_UNAVAILABLE,
        retryable: true,
        cause: failure,
      });
    }
    col('cdrs').answers.set('find', () => {
      throw new Error('server selection timed out');
    });
    await expect(store.queryCdrs({ tenantId: 'demo.local' })).rejects.toMatchObject({
      code: HistoryErrorCode.BACKEND_UNAVAILABLE,
    });
  });

  it('queries newest first on the tenant index, with a keyset cursor', async () => {
    const { store, col } = await setup();
    const docs = [3, 2, 1].map((i) => {
      const { id, ...rest } = normalizeCdr(
        createTestCdr({
          tenantId: 'demo.local',
          callId: `c${i}`,
          startedAt: new Date(Date.UTC(2024, 0, 1, 0, i)),
        }),
      );
      return { _id: id, ...rest, numbers: ['+15550100', '200'] };
    });
    col('cdrs').answers.set('find', () => docs);
    const first = await store.queryCdrs({
      tenantId: 'demo.local',
      since: new Date(Date.UTC(2024, 0, 1)),
      until: new Date(Date.UTC(2024, 0, 2)),
      user: '200',
      number: '+15550100',
      disposition: 'answered',
      limit: 2,
    });
    expect(col('cdrs').calls.slice(-3)).toEqual([
      {
        method: 'find',
        args: [
          {
            tenantId: 'demo.local',
            startedAt: {
              $gte: new Date(Date.UTC(2024, 0, 1)),
              $lt: new Date(Date.UTC(2024, 0, 2)),
            },
            users: '200',
            numbers: '+15550100',
            disposition: 'answered',
          },
          {},
        ],
      },
      { method: 'find.sort', args: [{ startedAt: -1, _id: -1 }] },
      { method: 'find.limit', args: [3] },
    ]);
    expect(first.items.map((c) => c.callId)).toEqual(['c3', 'c2']);
    expect(first.items[0]).not.toHaveProperty('numbers');
    expect(first.items[0]).not.toHaveProperty('_id');
    expect(first.items[0]?.id).toBe('demo.local:c3:a');
    expect(first.cursor).toBeDefined();
    await store.queryCdrs({ tenantId: 'demo.local', cursor: first.cursor });
    const [filter] = col('cdrs').calls.at(-3)?.args as [Record<string, unknown>];
    const t = new Date(Date.UTC(2024, 0, 1, 0, 2));
    expect(filter['$or']).toEqual([
      { startedAt: { $lt: t } },
      { startedAt: t, _id: { $lt: 'demo.local:c2:a' } },
    ]);
  });

  it('aggregates statistics with $dateTrunc in the time zone', async () => {
    const { store, col } = await setup();
    col('cdrs').answers.set('aggregate', () => [
      {
        _id: new Date('2024-03-10T05:00:00Z'),
        calls: 4,
        answered: 2,
        durationMs: 4000,
        talkMs: 120_000,
      },
    ]);
    const since = new Date('2024-03-01T05:00:00Z');
    const until = new Date('2024-04-01T04:00:00Z');
    const stats = await store.statistics({
      tenantId: 'demo.local',
      since,
      until,
      granularity: 'day',
      timeZone: 'America/New_York',
    });
    expect(col('cdrs').calls.at(-1)).toEqual({
      method: 'aggregate',
      args: [
        [
          { $match: { tenantId: 'demo.local', startedAt: { $gte: since, $lt: until } } },
          {
            $group: {
              _id: {
                $dateTrunc: { date: '$startedAt', unit: 'day', timezone: 'America/New_York' },
              },
              calls: { $sum: 1 },
              answered: { $sum: { $cond: [{ $eq: ['$disposition', 'answered'] }, 1, 0] } },
              durationMs: { $sum: '$durationMs' },
              talkMs: { $sum: '$talkMs' },
            },
          },
          { $sort: { _id: 1 } },
        ],
        {},
      ],
    });
    expect(stats.buckets).toEqual([
      {
        start: new Date('2024-03-10T05:00:00Z'),
        calls: 4,
        answered: 2,
        durationMs: 4000,
        talkMs: 120_000,
        minutes: 2,
        averageDurationMs: 1000,
        averageTalkMs: 60_000,
      },
    ]);
    await expect(
      store.statistics({
        tenantId: 'demo.local',
        since,
        until,
        granularity: 'day',
        timeZone: 'Nowhere/Zone',
      }),
    ).rejects.toMatchObject({ code: ErrorCode.INVALID_INPUT });
  });

  it('merges rollups into the rollup collection with $merge and reads them back', async () => {
    const { store, col } = await setup();
    const since = new Date('2024-01-01T00:00:00Z');
    const until = new Date('2024-02-01T00:00:00Z');
    await store.refreshRollups({ tenantId: 'demo.local', since, until, granularity: 'hour' });
    const call = col('cdrs').calls.at(-1);
    expect(call?.method).toBe('aggregate');
    const [pipeline, options] = call?.args as [Record<string, unknown>[], unknown];
    expect(options).toEqual(majority);
    expect(pipeline.slice(2)).toEqual([
      {
        $project: {
          _id: {
            tenantId: { $literal: 'demo.local' },
            granularity: { $literal: 'hour' },
            timeZone: { $literal: 'UTC' },
            start: '$_id',
          },
          tenantId: { $literal: 'demo.local' },
          granularity: { $literal: 'hour' },
          timeZone: { $literal: 'UTC' },
          start: '$_id',
          calls: 1,
          answered: 1,
          durationMs: 1,
          talkMs: 1,
          updatedAt: '$$NOW',
        },
      },
      {
        $merge: {
          into: 'history_rollups',
          on: '_id',
          whenMatched: 'replace',
          whenNotMatched: 'insert',
        },
      },
    ]);
    col('rollups').answers.set('find', () => [
      {
        start: new Date('2024-01-01T09:00:00Z'),
        calls: 2,
        answered: 1,
        durationMs: 10,
        talkMs: 60_000,
      },
    ]);
    const stats = await store.rollupStatistics({
      tenantId: 'demo.local',
      since,
      until,
      granularity: 'hour',
    });
    expect(col('rollups').calls.slice(-2)).toEqual([
      {
        method: 'find',
        args: [
          {
            tenantId: 'demo.local',
            granularity: 'hour',
            timeZone: 'UTC',
            start: { $gte: since, $lt: until },
          },
          {},
        ],
      },
      { method: 'find.sort', args: [{ start: 1 }] },
    ]);
    expect(stats.total.minutes).toBe(1);
  });

  it('sets retention on the tenants collection, purges by expireAt and deletes tenants', async () => {
    const { store, col } = await setup();
    await store.setRetention({ tenantId: 'demo.local', retentionMs: 1000 });
    await store.setRetention({ tenantId: 'demo.local', retentionMs: null });
    expect(col('tenants').calls.filter((c) => c.method === 'updateOne')).toEqual([
      {
        method: 'updateOne',
        args: [
          { _id: 'demo.local' },
          { $set: { retentionMs: 1000 } },
          { upsert: true, ...majority },
        ],
      },
      {
        method: 'updateOne',
        args: [
          { _id: 'demo.local' },
          { $unset: { retentionMs: '' } },
          { upsert: true, ...majority },
        ],
      },
    ]);
    col('cdrs').answers.set('deleteMany', () => ({ deletedCount: 5 }));
    col('activities').answers.set('deleteMany', () => ({ deletedCount: 2 }));
    const now = new Date('2024-06-01T00:00:00Z');
    expect(await store.purgeExpired({ now })).toBe(7);
    expect(col('cdrs').calls.at(-1)).toEqual({
      method: 'deleteMany',
      args: [{ expireAt: { $lte: now } }, majority],
    });
    expect(await store.deleteTenant({ tenantId: 'demo.local' })).toBe(7);
    expect(col('cdrs').calls.at(-1)).toEqual({
      method: 'deleteMany',
      args: [{ tenantId: 'demo.local' }, majority],
    });
    expect(col('rollups').calls.at(-1)).toEqual({
      method: 'deleteMany',
      args: [{ tenantId: 'demo.local' }, majority],
    });
    expect(col('tenants').calls.at(-1)).toEqual({
      method: 'deleteOne',
      args: [{ _id: 'demo.local' }, majority],
    });
  });

  it('validates before calling the driver and refuses work when not open', async () => {
    const db = new FakeDb();
    const store = new MongoHistoryStore({ db: db as unknown as Db });
    await expect(store.queryCdrs({ tenantId: 'demo.local' })).rejects.toMatchObject({
      code: HistoryErrorCode.STORE_NOT_OPEN,
    });
    await store.open();
    await expect(store.recordCdrs([{ ...createTestCdr(), tenantId: 'a:b' }])).rejects.toMatchObject(
      {
        code: ErrorCode.INVALID_INPUT,
      },
    );
    await expect(store.queryCdrs({ tenantId: 'demo.local', limit: 5000 })).rejects.toMatchObject({
      code: ErrorCode.INVALID_INPUT,
    });
    expect(db.collection('history_cdrs').calls.filter((c) => c.method !== 'createIndexes')).toEqual(
      [],
    );
    expect(() => new MongoHistoryStore({} as never)).toThrow(TypeError);
  });
});

describe('the mongodb driver is optional', () => {
  // Follows the runtime imports (type-only imports are erased) of each entry.
  function runtimeImports(entry: string): Set<string> {
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const js = ts.transpileModule(readFileSync(file, 'utf8'), {
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          verbatimModuleSyntax: true,
        },
      }).outputText;
      for (const m of js.matchAll(
        /(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
      )) {
        const specifier = (m[1] ?? m[2]) as string;
        if (specifier.startsWith('.'))
          visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
        else bare.add(specifier);
      }
    };
    visit(entry);
    return bare;
  }
  const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

  it('importing @voxmesh/history (or its testing entry) never loads mongodb', () => {
    for (const entry of ['index.ts', 'testing.ts']) {
      const imports = runtimeImports(join(src, entry));
      expect(imports.has('classic-level'), `${entry} is followed`).toBe(entry === 'index.ts');
      expect([...imports].filter((s) => s.startsWith('mongodb'))).toEqual([]);
    }
  }, 60_000);

  it('@voxmesh/history/mongodb uses the driver only for types (the application passes its Db)', () => {
    expect(
      [...runtimeImports(join(src, 'mongodb.ts'))].filter((s) => s.startsWith('mongodb')),
    ).toEqual([]);
    const text = readFileSync(join(src, 'mongodb.ts'), 'utf8');
    expect(text).toMatch(/import type \{[^}]*\} from 'mongodb'/);
  }, 60_000);
});
