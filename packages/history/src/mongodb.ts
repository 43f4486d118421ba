/**
 * `@voxmesh/history/mongodb`: the MongoDB backend of call history, on the
 * official driver (`mongodb` 7, an optional peer dependency).
 *
 * ## Collections and indexes
 *
 * With the default prefix `history_`:
 *
 * | collection          | `_id`                   | indexes                                                                                                                                                                  |
 * | ------------------- | ----------------------- | ------------------------------------------------------------------------------------------------------------------------------------------------------------------------ |
 * | `history_cdrs`       | `tenantId:callId:leg`   | `{tenantId: 1, startedAt: -1, _id: -1}`, `{tenantId: 1, users: 1, startedAt: -1, _id: -1}`, `{tenantId: 1, numbers: 1, startedAt: -1, _id: -1}`, `{tenantId: 1, disposition: 1, startedAt: -1, _id: -1}`, TTL `{expireAt: 1}` |
 * | `history_activities` | `tenantId:id`           | `{tenantId: 1, at: -1, _id: -1}`, `{tenantId: 1, callId: 1, at: -1, _id: -1}`, TTL `{expireAt: 1}`                                                                        |
 * | `history_rollups`    | `{tenantId, granularity, timeZone, start}` | written by {@link MongoHistoryStore.refreshRollups} with `$merge`                                                                                   |
 * | `history_tenants`    | `tenantId`              | per-tenant settings (retention)                                                                                                                                           |
 *
 * Every query carries the tenant, so every index starts with `tenantId`.
 * Writes are unordered bulk inserts with write concern `{ w: 'majority' }`;
 * a duplicate key (code 11000) is an already stored record, so replays from
 * an outbox are harmless.
 *
 * ## Sharding
 *
 * Shard `history_cdrs` on `{ tenantId: 1, startedAt: 1 }` when there are
 * many tenants of similar size: every query of a tenant then targets the
 * shards that hold that tenant's time range. A very large tenant (millions
 * of calls a day) concentrates its inserts at the top of one chunk range;
 * give such deployments `{ tenantId: 1, _id: 'hashed' }` instead, which
 * spreads inserts over all shards at the cost of scatter-gather queries for
 * that tenant. Shard `history_activities` the same way (`at` for
 * `startedAt`). Zone sharding on `tenantId` keeps a region's tenants on that
 * region's shards.
 *
 * ## Retention
 *
 * `expireAt` is set at write time from the tenant's retention; the TTL
 * monitor (every 60 s, on the primary) deletes expired documents.
 * `purgeExpired()` does the same at once.
 *
 * Needs MongoDB 5.0 or later (`$dateTrunc`), as a replica set or sharded
 * cluster for `{ w: 'majority' }` and retryable writes.
 *
 * @packageDocumentation
 */

import {
  ErrorCode,
  Metrics,
  VoxmeshError,
  abortable,
  silentLogger,
  systemClock,
  throwIfAborted,
  type Clock,
  type Logger,
} from '@voxmesh/core';
import type {
  AnyBulkWriteOperation,
  Collection,
  Db,
  Document,
  Filter,
  IndexDescription,
  WriteConcernSettings,
} from 'mongodb';
import { HistoryErrorCode } from './errors.js';
import type { HistoryStore } from './history-store.js';
import { HistoryMetrics } from './metrics.js';
import {
  buildStatistics,
  checkArray,
  checkDisposition,
  checkLimit,
  checkRange,
  checkRetention,
  checkTenantId,
  decodeCursor,
  encodeCursor,
  normalizeActivity,
  normalizeCdr,
  type Activity,
  type ActivityInput,
  type ActivityQuery,
  type Cdr,
  type CdrInput,
  type CdrQuery,
  type OperationOptions,
  type Page,
  type PurgeOptions,
  type RecordResult,
  type RetentionOptions,
  type Statistics,
  type StatisticsGranularity,
  type StatisticsQuery,
  type TenantOptions,
} from './model.js';
import { checkTimeZone } from './time-zone.js';

/** Options of the {@link MongoHistoryStore} constructor. */
export interface MongoHistoryStoreOptions {
  /**
   * The database, from a `MongoClient` the application connects and closes
   * (the store never closes it).
   */
  db: Db;
  /**
   * Prefixed to the names of the store's collections.
   * @defaultValue `'history_'`
   */
  collectionPrefix?: string | undefined;
  /**
   * The write concern of every write. Retryable writes need a replica set.
   * @defaultValue `{ w: 'majority' }`
   */
  writeConcern?: WriteConcernSettings | undefined;
  /**
   * Create the indexes in `open()`. Turn off where an operator manages them.
   * @defaultValue `true`
   */
  createIndexes?: boolean | undefined;
  /**
   * The clock `purgeExpired()` reads when no `now` is given.
   * @defaultValue `systemClock`
   */
  clock?: Clock | undefined;
  /**
   * The logger.
   * @defaultValue `silentLogger`
   */
  logger?: Logger | undefined;
  /**
   * Metrics (records written, duplicates, purged).
   * @defaultValue a private `Metrics`
   */
  metrics?: Metrics | undefined;
}

/** Options of {@link MongoHistoryStore.refreshRollups}. */
export type RollupOptions = StatisticsQuery;

/** A CDR document in `history_cdrs`. */
export interface CdrDocument extends Omit<Cdr, 'id'> {
  _id: string;
  /** `from` and `to`, for the number index. */
  numbers: string[];
}

/** An activity document in `history_activities`. */
export interface ActivityDocument extends Activity {
  _id: string;
}

/** A document in `history_rollups`. */
export interface RollupDocument {
  _id: { tenantId: string; granularity: StatisticsGranularity; timeZone: string; start: Date };
  tenantId: string;
  granularity: StatisticsGranularity;
  timeZone: string;
  start: Date;
  calls: number;
  answered: number;
  durationMs: number;
  talkMs: number;
  updatedAt: Date;
}

/** A document in `history_tenants`: per-tenant settings. */
export interface TenantDocument {
  _id: string;
  retentionMs?: number;
}

/** The index specifications the store creates, per collection suffix. */
export const MONGO_INDEXES: Readonly<
  Record<'cdrs' | 'activities' | 'rollups', IndexDescription[]>
> = {
  cdrs: [
    { key: { tenantId: 1, startedAt: -1, _id: -1 }, name: 'tenantId_startedAt' },
    { key: { tenantId: 1, users: 1, startedAt: -1, _id: -1 }, name: 'tenantId_users_startedAt' },
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
  activities: [
    { key: { tenantId: 1, at: -1, _id: -1 }, name: 'tenantId_at' },
    { key: { tenantId: 1, callId: 1, at: -1, _id: -1 }, name: 'tenantId_callId_at' },
    { key: { expireAt: 1 }, name: 'expireAt_ttl', expireAfterSeconds: 0 },
  ],
  rollups: [
    {
      key: { tenantId: 1, granularity: 1, timeZone: 1, start: 1 },
      name: 'tenantId_granularity_timeZone_start',
    },
  ],
};

const DUPLICATE_KEY = 11000;

function cdrDocument(cdr: Cdr): CdrDocument {
  const { id, ...rest } = cdr;
  return { _id: id, ...rest, numbers: [...new Set([cdr.from, cdr.to])] };
}

function fromCdrDocument(doc: CdrDocument): Cdr {
  const { _id, numbers: _numbers, ...rest } = doc;
  const cdr: Cdr = { id: _id, ...rest };
  // Optional fields are absent, never null (documents written elsewhere may hold nulls).
  if (cdr.answeredAt == null) delete cdr.answeredAt;
  if (cdr.hangupCause == null) delete cdr.hangupCause;
  if (cdr.sipStatus == null) delete cdr.sipStatus;
  if (cdr.expireAt == null) delete cdr.expireAt;
  return cdr;
}

function activityDocument(activity: Activity): ActivityDocument {
  return { _id: `${activity.tenantId}:${activity.id}`, ...activity };
}

function fromActivityDocument(doc: ActivityDocument): Activity {
  const { _id, ...rest } = doc;
  const activity: Activity = rest;
  if (activity.callId == null) delete activity.callId;
  if (activity.userId == null) delete activity.userId;
  if (activity.data == null) delete activity.data;
  if (activity.expireAt == null) delete activity.expireAt;
  return activity;
}

interface WriteErrorLike {
  code?: unknown;
  index?: unknown;
  errmsg?: unknown;
}

/** The write errors of a `MongoBulkWriteError`, without loading the driver. */
function writeErrorsOf(error: unknown): WriteErrorLike[] | undefined {
  if (typeof error !== 'object' || error === null || !('writeErrors' in error)) return undefined;
  const list = error.writeErrors;
  if (Array.isArray(list)) return list as WriteErrorLike[];
  if (typeof list === 'object' && list !== null) return [list];
  return undefined;
}

function backendError(what: string, error: unknown): VoxmeshError {
  if (VoxmeshError.is(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new VoxmeshError(
    HistoryErrorCode.BACKEND_UNAVAILABLE,
    `MongoDB could not ${what}: ${reason}`,
    {
      cause: error,
      retryable: true,
    },
  );
}

/**
 * Call history in MongoDB: the production backend. See the module
 * documentation for collections, indexes and shard keys.
 *
 * @example
 * ```ts
 * const client = new MongoClient(process.env.MONGODB_URI!);
 * await client.connect();
 * const store = new MongoHistoryStore({ db: client.db('voxmesh') });
 * await store.open(); // creates the indexes
 * ```
 */
export class MongoHistoryStore implements HistoryStore {
  /** The CDR collection. */
  readonly cdrs: Collection<CdrDocument>;
  /** The activity collection. */
  readonly activities: Collection<ActivityDocument>;
  /** The statistics rollup collection. */
  readonly rollups: Collection<RollupDocument>;
  /** The per-tenant settings collection. */
  readonly tenants: Collection<TenantDocument>;
  readonly #writeConcern: WriteConcernSettings;
  readonly #createIndexes: boolean;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #metrics: HistoryMetrics;
  #state: 'new' | 'open' | 'closed' = 'new';

  constructor(options: MongoHistoryStoreOptions) {
    if (typeof options.db?.collection !== 'function') {
      throw new TypeError('MongoHistoryStore needs `db`, a mongodb Db');
    }
    const prefix = options.collectionPrefix ?? 'history_';
    this.cdrs = options.db.collection<CdrDocument>(`${prefix}cdrs`);
    this.activities = options.db.collection<ActivityDocument>(`${prefix}activities`);
    this.rollups = options.db.collection<RollupDocument>(`${prefix}rollups`);
    this.tenants = options.db.collection<TenantDocument>(`${prefix}tenants`);
    this.#writeConcern = options.writeConcern ?? { w: 'majority' };
    this.#createIndexes = options.createIndexes ?? true;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#metrics = new HistoryMetrics(options.metrics ?? new Metrics(), 'mongodb');
  }

  /** Creates the indexes (unless `createIndexes` is off). */
  async open(options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    if (this.#state === 'open') return;
    if (this.#createIndexes) {
      try {
        await abortable(
          Promise.all([
            this.cdrs.createIndexes(MONGO_INDEXES.cdrs),
            this.activities.createIndexes(MONGO_INDEXES.activities),
            this.rollups.createIndexes(MONGO_INDEXES.rollups),
          ]),
          options.signal,
        );
      } catch (error) {
        throw backendError('create the history indexes', error);
      }
    }
    this.#state = 'open';
  }

  /** Marks the store closed; the application closes its `MongoClient`. */
  close(): Promise<void> {
    this.#state = 'closed';
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async recordCdrs(
    cdrs: readonly CdrInput[],
    options: OperationOptions = {},
  ): Promise<RecordResult> {
    this.#checkOpen(options.signal);
    checkArray(cdrs, 'recordCdrs');
    const records = cdrs.map((c) => normalizeCdr(c));
    const retention = await this.#retentions(
      records.map((r) => r.tenantId),
      options.signal,
    );
    const docs = records.map((r) => {
      const ms = retention.get(r.tenantId) ?? null;
      if (ms !== null) r.expireAt = new Date(r.startedAt.getTime() + ms);
      return cdrDocument(r);
    });
    return this.#insert(this.cdrs as unknown as Collection, docs, 'cdr', options.signal);
  }

  async recordActivities(
    activities: readonly ActivityInput[],
    options: OperationOptions = {},
  ): Promise<RecordResult> {
    this.#checkOpen(options.signal);
    checkArray(activities, 'recordActivities');
    const records = activities.map((a) => normalizeActivity(a));
    const retention = await this.#retentions(
      records.map((r) => r.tenantId),
      options.signal,
    );
    const docs = records.map((r) => {
      const ms = retention.get(r.tenantId) ?? null;
      if (ms !== null) r.expireAt = new Date(r.at.getTime() + ms);
      return activityDocument(r);
    });
    return this.#insert(this.activities as unknown as Collection, docs, 'activity', options.signal);
  }

  async getCdr(options: TenantOptions & { id: string }): Promise<Cdr | undefined> {
    this.#checkOpen(options.signal);
    const tenantId = checkTenantId(options.tenantId);
    if (typeof options.id !== 'string') return undefined;
    try {
      const doc = await this.cdrs.findOne(
        { _id: options.id, tenantId },
        options.signal ? { signal: options.signal } : {},
      );
      return doc === null ? undefined : fromCdrDocument(doc);
    } catch (error) {
      throw this.#failure('read a CDR', error, options.signal);
    }
  }

  /** Runs the CDR query: `find` with a tenant filter, sorted `{startedAt: -1, _id: -1}`. */
  async queryCdrs(query: CdrQuery): Promise<Page<Cdr>> {
    this.#checkOpen(query.signal);
    const tenantId = checkTenantId(query.tenantId);
    const limit = checkLimit(query.limit);
    const range = checkRange(query.since, query.until);
    const after = decodeCursor('cdr', tenantId, query.cursor);
    const filter: Filter<CdrDocument> = {
      tenantId,
      startedAt: { $gte: new Date(range.since), $lt: new Date(range.until) },
    };
    if (query.user !== undefined) filter.users = checkFilter(query.user, 'user');
    if (query.number !== undefined) filter.numbers = checkFilter(query.number, 'number');
    if (query.disposition !== undefined) {
      filter.disposition = checkDisposition(query.disposition);
    }
    if (after !== undefined) {
      const t = new Date(after.time);
      filter.$or = [{ startedAt: { $lt: t } }, { startedAt: t, _id: { $lt: after.id } }];
    }
    try {
      const docs = await this.cdrs
        .find(filter, query.signal ? { signal: query.signal } : {})
        .sort({ startedAt: -1, _id: -1 })
        .limit(limit + 1)
        .toArray();
      const items = docs.map((d) => fromCdrDocument(d as CdrDocument));
      return page(items, limit, (c) =>
        encodeCursor('cdr', tenantId, { time: c.startedAt.getTime(), id: c.id }),
      );
    } catch (error) {
      throw this.#failure('query CDRs', error, query.signal);
    }
  }

  async queryActivities(query: ActivityQuery): Promise<Page<Activity>> {
    this.#checkOpen(query.signal);
    const tenantId = checkTenantId(query.tenantId);
    const limit = checkLimit(query.limit);
    const range = checkRange(query.since, query.until);
    const after = decodeCursor('activity', tenantId, query.cursor);
    const filter: Filter<ActivityDocument> = {
      tenantId,
      at: { $gte: new Date(range.since), $lt: new Date(range.until) },
    };
    if (query.callId !== undefined) filter.callId = checkFilter(query.callId, 'callId');
    if (after !== undefined) {
      const t = new Date(after.time);
      filter.$or = [{ at: { $lt: t } }, { at: t, _id: { $lt: `${tenantId}:${after.id}` } }];
    }
    try {
      const docs = await this.activities
        .find(filter, query.signal ? { signal: query.signal } : {})
        .sort({ at: -1, _id: -1 })
        .limit(limit + 1)
        .toArray();
      const items = docs.map((d) => fromActivityDocument(d as ActivityDocument));
      return page(items, limit, (a) =>
        encodeCursor('activity', tenantId, { time: a.at.getTime(), id: a.id }),
      );
    } catch (error) {
      throw this.#failure('query activities', error, query.signal);
    }
  }

  /** Aggregates live: `$match` tenant and range, `$group` by `$dateTrunc` in the time zone. */
  async statistics(query: StatisticsQuery): Promise<Statistics> {
    this.#checkOpen(query.signal);
    const pipeline = this.statisticsPipeline(query);
    const timeZone = checkTimeZone(query.timeZone ?? 'UTC');
    try {
      const rows = await this.cdrs
        .aggregate<{
          _id: Date;
          calls: number;
          answered: number;
          durationMs: number;
          talkMs: number;
        }>(pipeline, query.signal ? { signal: query.signal } : {})
        .toArray();
      return buildStatistics(
        timeZone,
        query.granularity,
        rows.map((r) => ({
          start: r._id.getTime(),
          calls: r.calls,
          answered: r.answered,
          durationMs: r.durationMs,
          talkMs: r.talkMs,
        })),
      );
    } catch (error) {
      throw this.#failure('compute statistics', error, query.signal);
    }
  }

  /**
   * The aggregation pipeline of {@link MongoHistoryStore.statistics} (validated
   * query in, pipeline out), for inspection and for running elsewhere.
   */
  statisticsPipeline(query: StatisticsQuery): Document[] {
    const tenantId = checkTenantId(query.tenantId);
    if (query.since === undefined || query.until === undefined) {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'statistics need since and until');
    }
    const range = checkRange(query.since, query.until);
    if (query.granularity !== 'hour' && query.granularity !== 'day') {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, "granularity must be 'hour' or 'day'");
    }
    const timeZone = checkTimeZone(query.timeZone ?? 'UTC');
    return [
      {
        $match: {
          tenantId,
          startedAt: { $gte: new Date(range.since), $lt: new Date(range.until) },
        },
      },
      {
        $group: {
          _id: { $dateTrunc: { date: '$startedAt', unit: query.granularity, timezone: timeZone } },
          calls: { $sum: 1 },
          answered: { $sum: { $cond: [{ $eq: ['$disposition', 'answered'] }, 1, 0] } },
          durationMs: { $sum: '$durationMs' },
          talkMs: { $sum: '$talkMs' },
        },
      },
      { $sort: { _id: 1 } },
    ];
  }

  /**
   * Recomputes the buckets of a range and merges them into the rollup
   * collection (`$merge`, replacing buckets already there). Align `since`
   * and `until` with bucket boundaries: a bucket cut by the range is stored
   * with only the calls inside it.
   */
  async refreshRollups(options: RollupOptions): Promise<void> {
    this.#checkOpen(options.signal);
    const pipeline = this.rollupPipeline(options);
    try {
      await this.cdrs
        .aggregate(pipeline, {
          ...(options.signal ? { signal: options.signal } : {}),
          writeConcern: this.#writeConcern,
        })
        .toArray();
    } catch (error) {
      throw this.#failure('refresh rollups', error, options.signal);
    }
  }

  /** The pipeline of {@link MongoHistoryStore.refreshRollups}. */
  rollupPipeline(options: RollupOptions): Document[] {
    const timeZone = checkTimeZone(options.timeZone ?? 'UTC');
    const tenantId = checkTenantId(options.tenantId);
    return [
      ...this.statisticsPipeline(options).slice(0, 2),
      {
        $project: {
          // $literal: a value that starts with `$` must not be read as a field path.
          _id: {
            tenantId: { $literal: tenantId },
            granularity: { $literal: options.granularity },
            timeZone: { $literal: timeZone },
            start: '$_id',
          },
          tenantId: { $literal: tenantId },
          granularity: { $literal: options.granularity },
          timeZone: { $literal: timeZone },
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
          into: this.rollups.collectionName,
          on: '_id',
          whenMatched: 'replace',
          whenNotMatched: 'insert',
        },
      },
    ];
  }

  /** Statistics read from the rollup collection (as last refreshed). */
  async rollupStatistics(query: StatisticsQuery): Promise<Statistics> {
    this.#checkOpen(query.signal);
    const tenantId = checkTenantId(query.tenantId);
    const range = checkRange(query.since, query.until);
    const timeZone = checkTimeZone(query.timeZone ?? 'UTC');
    try {
      const rows = await this.rollups
        .find(
          {
            tenantId,
            granularity: query.granularity,
            timeZone,
            start: { $gte: new Date(range.since), $lt: new Date(range.until) },
          },
          query.signal ? { signal: query.signal } : {},
        )
        .sort({ start: 1 })
        .toArray();
      return buildStatistics(
        timeZone,
        query.granularity,
        rows.map((r) => ({ ...r, start: r.start.getTime() })),
      );
    } catch (error) {
      throw this.#failure('read rollups', error, query.signal);
    }
  }

  async setRetention(options: RetentionOptions): Promise<void> {
    this.#checkOpen(options.signal);
    const tenantId = checkTenantId(options.tenantId);
    const retentionMs = checkRetention(options.retentionMs);
    try {
      await abortable(
        this.tenants.updateOne(
          { _id: tenantId },
          retentionMs === null ? { $unset: { retentionMs: '' } } : { $set: { retentionMs } },
          { upsert: true, writeConcern: this.#writeConcern },
        ),
        options.signal,
      );
    } catch (error) {
      throw this.#failure('set retention', error, options.signal);
    }
  }

  async getRetention(options: TenantOptions): Promise<number | null> {
    this.#checkOpen(options.signal);
    const tenantId = checkTenantId(options.tenantId);
    const map = await this.#retentions([tenantId], options.signal);
    return map.get(tenantId) ?? null;
  }

  /** `deleteMany({ expireAt: { $lte: now } })` on CDRs and activities. */
  async purgeExpired(options: PurgeOptions = {}): Promise<number> {
    this.#checkOpen(options.signal);
    const now = options.now ?? new Date(this.#clock.now());
    if (Number.isNaN(now.getTime()))
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'now is invalid');
    try {
      const filter = { expireAt: { $lte: now } };
      const [cdrs, activities] = await abortable(
        Promise.all([
          this.cdrs.deleteMany(filter, { writeConcern: this.#writeConcern }),
          this.activities.deleteMany(filter, { writeConcern: this.#writeConcern }),
        ]),
        options.signal,
      );
      const deleted = cdrs.deletedCount + activities.deletedCount;
      this.#metrics.purged.inc({ backend: 'mongodb' }, deleted);
      if (deleted > 0) this.#logger.debug({ deleted }, 'purged expired history records');
      return deleted;
    } catch (error) {
      throw this.#failure('purge expired records', error, options.signal);
    }
  }

  async deleteTenant(options: TenantOptions): Promise<number> {
    this.#checkOpen(options.signal);
    const tenantId = checkTenantId(options.tenantId);
    const writeConcern = this.#writeConcern;
    try {
      const [cdrs, activities] = await abortable(
        Promise.all([
          this.cdrs.deleteMany({ tenantId }, { writeConcern }),
          this.activities.deleteMany({ tenantId }, { writeConcern }),
          this.rollups.deleteMany({ tenantId }, { writeConcern }),
          this.tenants.deleteOne({ _id: tenantId }, { writeConcern }),
        ]),
        options.signal,
      );
      return cdrs.deletedCount + activities.deletedCount;
    } catch (error) {
      throw this.#failure('delete a tenant', error, options.signal);
    }
  }

  #checkOpen(signal: AbortSignal | undefined): void {
    throwIfAborted(signal);
    if (this.#state !== 'open') {
      throw new VoxmeshError(
        HistoryErrorCode.STORE_NOT_OPEN,
        this.#state === 'new'
          ? 'The history store is not open yet: await store.open() first'
          : 'The history store is closed',
      );
    }
  }

  #failure(what: string, error: unknown, signal: AbortSignal | undefined): VoxmeshError {
    if (signal?.aborted)
      return new VoxmeshError(ErrorCode.ABORTED, `Aborted: ${what}`, { cause: signal.reason });
    return backendError(what, error);
  }

  async #retentions(
    tenantIds: string[],
    signal: AbortSignal | undefined,
  ): Promise<Map<string, number | null>> {
    const unique = [...new Set(tenantIds)];
    const map = new Map<string, number | null>();
    if (unique.length === 0) return map;
    try {
      const docs = await this.tenants
        .find({ _id: { $in: unique } }, signal ? { signal } : {})
        .toArray();
      for (const doc of docs) map.set(doc._id, doc.retentionMs ?? null);
      return map;
    } catch (error) {
      throw this.#failure('read retention', error, signal);
    }
  }

  async #insert(
    collection: Collection,
    docs: Document[],
    kind: 'cdr' | 'activity',
    signal: AbortSignal | undefined,
  ): Promise<RecordResult> {
    const unique = new Map<unknown, Document>();
    for (const doc of docs) if (!unique.has(doc._id)) unique.set(doc._id, doc);
    let duplicates = docs.length - unique.size;
    if (unique.size === 0) return { inserted: 0, duplicates };
    const operations: AnyBulkWriteOperation[] = [...unique.values()].map((document) => ({
      insertOne: { document },
    }));
    throwIfAborted(signal);
    let inserted: number;
    try {
      const result = await abortable(
        collection.bulkWrite(operations, { ordered: false, writeConcern: this.#writeConcern }),
        signal,
      );
      inserted = result.insertedCount;
    } catch (error) {
      const writeErrors = writeErrorsOf(error);
      const hasWriteConcernError =
        typeof error === 'object' &&
        error !== null &&
        'writeConcernError' in error &&
        error.writeConcernError != null;
      if (writeErrors === undefined || hasWriteConcernError)
        throw this.#failure(`write ${kind} records`, error, signal);
      const other = writeErrors.filter((e) => e.code !== DUPLICATE_KEY);
      if (other.length > 0) throw this.#failure(`write ${kind} records`, error, signal);
      // Unordered: every other insert went through; duplicate keys are stored records.
      duplicates += writeErrors.length;
      inserted = unique.size - writeErrors.length;
    }
    this.#metrics.written.inc({ backend: 'mongodb', kind }, inserted);
    this.#metrics.duplicates.inc({ backend: 'mongodb', kind }, duplicates);
    return { inserted, duplicates };
  }
}

function page<T>(items: T[], limit: number, cursorOf: (item: T) => string): Page<T> {
  if (items.length <= limit) return { items };
  const kept = items.slice(0, limit);
  return { items: kept, cursor: cursorOf(kept[kept.length - 1] as T) };
}

function checkFilter(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new VoxmeshError(ErrorCode.INVALID_INPUT, `${what} must be a non-empty string`);
  }
  return value;
}
