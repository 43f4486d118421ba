/**
 * The embedded history backend: CDRs and activities in an abstract-level
 * database (classic-level on disk by default) with its own secondary indexes.
 *
 * @module
 */

import {
  ErrorCode,
  Metrics,
  VoxmeshError,
  silentLogger,
  systemClock,
  throwIfAborted,
  type Clock,
  type Logger,
} from '@voxmesh/core';
import type { AbstractBatchOperation, AbstractLevel } from 'abstract-level';
import { ClassicLevel } from 'classic-level';
import { HistoryErrorCode } from './errors.js';
import type { HistoryStore } from './history-store.js';
import {
  buildStatistics,
  checkLimit,
  checkRange,
  checkRetention,
  checkTenantId,
  decodeCursor,
  encodeCursor,
  checkArray,
  checkDisposition,
  cdrId,
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
  type StatisticsQuery,
  type TenantOptions,
} from './model.js';
import { ZoneBuckets, checkTimeZone } from './time-zone.js';
import { cdrFigures, decodeCdr, encodeCdr, parseStoredCdr, withExpiry } from './cdr-codec.js';
import { HistoryMetrics } from './metrics.js';

/** An abstract-level database (or sublevel) with string keys and values. */
export type LevelDatabase = AbstractLevel<string | Buffer | Uint8Array>;

/** Options of the {@link EmbeddedHistoryStore} constructor. */
export interface EmbeddedHistoryStoreOptions {
  /**
   * A directory for a classic-level (LevelDB) database the store creates,
   * opens and closes. Give either `location` or `db`.
   */
  location?: string | undefined;
  /**
   * The size in bytes of the LevelDB write buffer (memtable) of the database
   * created from `location`: a larger one means fewer, larger files to
   * compact under a sustained write load, for up to twice as much memory.
   * Not used with `db`.
   * @defaultValue `16777216` (16 MiB)
   */
  writeBufferSize?: number | undefined;
  /**
   * An abstract-level database (or a sublevel) with `utf8` keys and values,
   * for example a `MemoryLevel` in tests. The store opens it if needed but
   * never closes it. One store per database.
   */
  db?: LevelDatabase | undefined;
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

/** The write buffer of a LevelDB database opened from a location, checked. */
export function checkWriteBufferSize(size: number | undefined): number {
  const value = size ?? DEFAULT_WRITE_BUFFER_SIZE;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError('writeBufferSize must be a positive integer number of bytes');
  }
  return value;
}

const DEFAULT_WRITE_BUFFER_SIZE = 16 * 1024 * 1024;

const SEP = '\u0000';
const END = '\u0001';
const TIME_WIDTH = 12;
const CHUNK = 512;

/** Key prefixes of the embedded layout (one letter each). */
const P = {
  cdr: 'C', // C␀tenant␀time␀id → CDR (cdr-codec.ts) (newest-first scans by tenant)
  cdrId: 'I', // I␀tenant␀id → time (id lookup, duplicate detection)
  user: 'U', // U␀tenant␀user␀time␀id
  number: 'N', // N␀tenant␀number␀time␀id
  disposition: 'D', // D␀tenant␀disposition␀time␀id
  activity: 'A', // A␀tenant␀time␀id → activity JSON
  activityId: 'J', // J␀tenant␀id → time
  activityCall: 'K', // K␀tenant␀callId␀time␀id
  expiry: 'X', // X␀expireAt␀tenant␀kind␀time␀id
  retention: 'R', // R␀tenant → retention in ms
} as const;

const HEX_HIGH = 0x1000000;

function hex(time: number): string {
  if (!(time >= 0 && time < HEX_HIGH * HEX_HIGH))
    return time.toString(16).padStart(TIME_WIDTH, '0');
  // Two halves of 24 bits each (times stay below 2^48): small integers print
  // much faster than a large one, and adding 2^24 pads them to six digits.
  const high = Math.floor(time / HEX_HIGH);
  return (
    (high + HEX_HIGH).toString(16).slice(1) +
    (time - high * HEX_HIGH + HEX_HIGH).toString(16).slice(1)
  );
}

function key(...parts: string[]): string {
  return parts.join(SEP);
}

interface StoredActivity extends Omit<Activity, 'at' | 'expireAt'> {
  at: number;
  expireAt?: number;
}

function encodeActivity(activity: Activity): string {
  return JSON.stringify({
    ...activity,
    at: activity.at.getTime(),
    expireAt: activity.expireAt?.getTime(),
  });
}

function decodeActivity(text: string): Activity {
  const s = JSON.parse(text) as StoredActivity;
  const { expireAt, ...rest } = s;
  const activity: Activity = { ...rest, at: new Date(s.at) };
  if (expireAt !== undefined) activity.expireAt = new Date(expireAt);
  return activity;
}

/** What the keys of a CDR are made of, and its stored form (without `expireAt`). */
interface CdrRow {
  tenantId: string;
  id: string;
  startedAt: number;
  users: readonly string[];
  from: string;
  to: string;
  disposition: string;
  /** `encodeCdr()` of the record without `expireAt`. */
  encoded: string;
}

function rowOfCdr(cdr: Cdr, encoded: string): CdrRow {
  return {
    tenantId: cdr.tenantId,
    id: cdr.id,
    startedAt: cdr.startedAt.getTime(),
    users: cdr.users,
    from: cdr.from,
    to: cdr.to,
    disposition: cdr.disposition,
    encoded,
  };
}

function rowOfEncoded(encoded: string): CdrRow {
  const s = parseStoredCdr(encoded);
  return {
    tenantId: s[1],
    id: cdrId(s[1], s[2], s[3]),
    startedAt: s[8],
    users: s[7],
    from: s[5],
    to: s[6],
    disposition: s[11],
    encoded,
  };
}

/** Every key a CDR occupies (primary first); `time` is `hex(startedAt)`. */
function cdrRowKeys(row: Omit<CdrRow, 'encoded'>, time: string, expireAt?: number): string[] {
  // Concatenation rather than key(): this runs once per CDR on every write.
  const tenant = SEP + row.tenantId + SEP;
  const position = SEP + time + SEP + row.id;
  const keys = [P.cdr + tenant + position.slice(1), P.cdrId + tenant + row.id];
  const users = row.users;
  for (let i = 0; i < users.length; i++) {
    const user = users[i] as string;
    if (users.indexOf(user) === i) keys.push(P.user + tenant + user + position);
  }
  keys.push(P.number + tenant + row.from + position);
  if (row.to !== row.from) keys.push(P.number + tenant + row.to + position);
  keys.push(P.disposition + tenant + row.disposition + position);
  if (expireAt !== undefined) {
    keys.push(P.expiry + SEP + hex(expireAt) + tenant + 'c' + position);
  }
  return keys;
}

/** Every key a CDR occupies (primary first). */
function cdrKeys(cdr: Cdr): string[] {
  return cdrRowKeys(
    {
      tenantId: cdr.tenantId,
      id: cdr.id,
      startedAt: cdr.startedAt.getTime(),
      users: cdr.users,
      from: cdr.from,
      to: cdr.to,
      disposition: cdr.disposition,
    },
    hex(cdr.startedAt.getTime()),
    cdr.expireAt?.getTime(),
  );
}

/** Every key an activity occupies (primary first). */
function activityKeys(activity: Activity): string[] {
  const t = hex(activity.at.getTime());
  const keys = [
    key(P.activity, activity.tenantId, t, activity.id),
    key(P.activityId, activity.tenantId, activity.id),
  ];
  if (activity.callId !== undefined) {
    keys.push(key(P.activityCall, activity.tenantId, activity.callId, t, activity.id));
  }
  if (activity.expireAt !== undefined) {
    keys.push(
      key(P.expiry, hex(activity.expireAt.getTime()), activity.tenantId, 'a', t, activity.id),
    );
  }
  return keys;
}

/** The last two parts of an index key: time and id. */
function positionOf(indexKey: string): { time: string; id: string } {
  const idStart = indexKey.lastIndexOf(SEP);
  const timeStart = indexKey.lastIndexOf(SEP, idStart - 1);
  return {
    time: indexKey.slice(timeStart + 1, idStart),
    id: indexKey.slice(idStart + 1),
  };
}

/**
 * Writes CDRs to an embedded store in their stored form (`encodeCdr()` of
 * normalised records, without `expireAt`), skipping the validation the
 * caller has done. For the outbox; not part of the public API.
 */
export let recordEncodedCdrs: (
  store: EmbeddedHistoryStore,
  encoded: readonly string[],
  options: OperationOptions,
) => Promise<RecordResult>;

/**
 * Call history in an abstract-level database: the default backend of the
 * reference server and of CI.
 *
 * Layout: CDRs are stored under `tenant, startedAt, id` (so "the last 50
 * calls of a tenant" is one short reverse range scan), with secondary indexes
 * by id, user, number (from and to), disposition and expiry; activities under
 * `tenant, at, id` with indexes by id, call and expiry. Writes are serialised
 * within the store, so duplicate detection is exact.
 *
 * @example
 * ```ts
 * const store = new EmbeddedHistoryStore({ location: './data/history' });
 * await store.open();
 * await store.recordCdrs([cdr]);
 * const { items } = await store.queryCdrs({ tenantId: 'demo.local', limit: 50 });
 * ```
 */
export class EmbeddedHistoryStore implements HistoryStore {
  readonly #db: LevelDatabase;
  readonly #owned: boolean;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #metrics: HistoryMetrics;
  readonly #retention = new Map<string, number | null>();
  #state: 'new' | 'open' | 'closed' = 'new';
  #opening: Promise<void> | undefined;
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: EmbeddedHistoryStoreOptions) {
    if ((options.location === undefined) === (options.db === undefined)) {
      throw new TypeError('EmbeddedHistoryStore needs exactly one of `location` and `db`');
    }
    this.#owned = options.db === undefined;
    this.#db =
      options.db ??
      new ClassicLevel<string, string>(options.location as string, {
        keyEncoding: 'utf8',
        valueEncoding: 'utf8',
        writeBufferSize: checkWriteBufferSize(options.writeBufferSize),
      });
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#metrics = new HistoryMetrics(options.metrics ?? new Metrics(), 'embedded');
  }

  /** Opens (and if needed creates) the database. */
  async open(options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    if (this.#state === 'open') return;
    this.#opening ??= (async () => {
      try {
        await this.#db.open();
        this.#retention.clear();
        this.#state = 'open';
      } catch (error) {
        throw backendError('open the embedded history database', error);
      } finally {
        this.#opening = undefined;
      }
    })();
    await this.#opening;
  }

  /** Waits for pending writes and closes the database (if the store opened it from `location`). */
  async close(): Promise<void> {
    if (this.#state !== 'open') {
      this.#state = 'closed';
      return;
    }
    this.#state = 'closed';
    await this.#lock.catch(() => undefined);
    if (this.#owned) await this.#db.close();
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
    return this.#exclusive(() => {
      const rows: CdrRow[] = [];
      for (const input of cdrs) {
        const cdr = normalizeCdr(input);
        rows.push(rowOfCdr(cdr, encodeCdr(cdr)));
      }
      return this.#writeCdrs(rows, options.signal);
    });
  }

  /**
   * Writes CDRs encoded by `encodeCdr()` from normalised records (without
   * `expireAt`): the outbox's way in, which validated them already.
   */
  #recordEncodedCdrs(encoded: readonly string[], options: OperationOptions): Promise<RecordResult> {
    this.#checkOpen(options.signal);
    return this.#exclusive(() => this.#writeCdrs(encoded.map(rowOfEncoded), options.signal));
  }

  static {
    recordEncodedCdrs = (store, encoded, options) => store.#recordEncodedCdrs(encoded, options);
  }

  async #writeCdrs(
    rows: readonly CdrRow[],
    signal: AbortSignal | undefined,
  ): Promise<RecordResult> {
    const retention = await this.#retentions(rows);
    return this.#write(
      rows,
      (r) => P.cdrId + SEP + r.tenantId + SEP + r.id,
      (r, out) => {
        const retentionMs = retention.get(r.tenantId) ?? null;
        const expireAt = retentionMs === null ? undefined : r.startedAt + retentionMs;
        const time = hex(r.startedAt);
        const keys = cdrRowKeys(r, time, expireAt);
        out.push(
          keys[0] as string,
          expireAt === undefined ? r.encoded : withExpiry(r.encoded, expireAt),
        );
        // The id index holds the time part of the primary key; the others nothing.
        out.push(keys[1] as string, time);
        for (let k = 2; k < keys.length; k++) out.push(keys[k] as string, '');
      },
      'cdr',
      signal,
    );
  }

  async recordActivities(
    activities: readonly ActivityInput[],
    options: OperationOptions = {},
  ): Promise<RecordResult> {
    this.#checkOpen(options.signal);
    checkArray(activities, 'recordActivities');
    return this.#exclusive(async () => {
      const records: Activity[] = [];
      for (const input of activities) records.push(normalizeActivity(input));
      const retention = await this.#retentions(records);
      for (const record of records) withRetention(record, retention.get(record.tenantId) ?? null);
      return this.#write(
        records,
        (a) => key(P.activityId, a.tenantId, a.id),
        (a, out) => {
          const keys = activityKeys(a);
          out.push(keys[0] as string, encodeActivity(a));
          // The id index holds the time part of the primary key; the others nothing.
          out.push(keys[1] as string, hex(a.at.getTime()));
          for (let i = 2; i < keys.length; i++) out.push(keys[i] as string, '');
        },
        'activity',
        options.signal,
      );
    });
  }

  async getCdr(options: TenantOptions & { id: string }): Promise<Cdr | undefined> {
    this.#checkOpen(options.signal);
    const tenantId = checkTenantId(options.tenantId);
    if (typeof options.id !== 'string' || options.id.includes(SEP)) return undefined;
    return this.#guard('read a CDR', async () => {
      const time = await this.#db.get(key(P.cdrId, tenantId, options.id));
      if (time === undefined) return undefined;
      const text = await this.#db.get(key(P.cdr, tenantId, time, options.id));
      return text === undefined ? undefined : decodeCdr(text);
    });
  }

  async queryCdrs(query: CdrQuery): Promise<Page<Cdr>> {
    this.#checkOpen(query.signal);
    const tenantId = checkTenantId(query.tenantId);
    const limit = checkLimit(query.limit);
    const range = checkRange(query.since, query.until);
    const after = decodeCursor('cdr', tenantId, query.cursor);
    const filters: ((c: Cdr) => boolean)[] = [];
    let prefix: string;
    if (query.user !== undefined) {
      prefix = key(P.user, tenantId, checkFilter(query.user, 'user'), '');
    } else if (query.number !== undefined) {
      prefix = key(P.number, tenantId, checkFilter(query.number, 'number'), '');
    } else if (query.disposition !== undefined) {
      prefix = key(P.disposition, tenantId, checkDisposition(query.disposition), '');
    } else {
      prefix = key(P.cdr, tenantId, '');
    }
    if (query.user !== undefined && query.number !== undefined) {
      const n = query.number;
      filters.push((c) => c.from === n || c.to === n);
    }
    if (query.disposition !== undefined && (query.user ?? query.number) !== undefined) {
      const d = checkDisposition(query.disposition);
      filters.push((c) => c.disposition === d);
    }
    const primary = prefix.startsWith(P.cdr + SEP);
    const items = await this.#guard('query CDRs', () =>
      this.#scan({
        prefix,
        range,
        after,
        limit: limit + 1,
        signal: query.signal,
        load: async (entries) => {
          if (primary) return entries.map(([, v]) => decodeCdr(v));
          const values = await this.#db.getMany(
            entries.map(([k]) => {
              const { time, id } = positionOf(k);
              return key(P.cdr, tenantId, time, id);
            }),
          );
          return values.filter((v): v is string => v !== undefined).map(decodeCdr);
        },
        keep: (c) => filters.every((f) => f(c)),
        values: primary,
      }),
    );
    return page(items, limit, (c) =>
      encodeCursor('cdr', tenantId, { time: c.startedAt.getTime(), id: c.id }),
    );
  }

  async queryActivities(query: ActivityQuery): Promise<Page<Activity>> {
    this.#checkOpen(query.signal);
    const tenantId = checkTenantId(query.tenantId);
    const limit = checkLimit(query.limit);
    const range = checkRange(query.since, query.until);
    const after = decodeCursor('activity', tenantId, query.cursor);
    const primary = query.callId === undefined;
    const prefix = primary
      ? key(P.activity, tenantId, '')
      : key(P.activityCall, tenantId, checkFilter(query.callId, 'callId'), '');
    const items = await this.#guard('query activities', () =>
      this.#scan({
        prefix,
        range,
        after,
        limit: limit + 1,
        signal: query.signal,
        load: async (entries) => {
          if (primary) return entries.map(([, v]) => decodeActivity(v));
          const values = await this.#db.getMany(
            entries.map(([k]) => {
              const { time, id } = positionOf(k);
              return key(P.activity, tenantId, time, id);
            }),
          );
          return values.filter((v): v is string => v !== undefined).map(decodeActivity);
        },
        keep: () => true,
        values: primary,
      }),
    );
    return page(items, limit, (a) =>
      encodeCursor('activity', tenantId, { time: a.at.getTime(), id: a.id }),
    );
  }

  async statistics(query: StatisticsQuery): Promise<Statistics> {
    this.#checkOpen(query.signal);
    const tenantId = checkTenantId(query.tenantId);
    if (query.since === undefined || query.until === undefined) {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'statistics need since and until');
    }
    const range = checkRange(query.since, query.until);
    if (query.granularity !== 'hour' && query.granularity !== 'day') {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, "granularity must be 'hour' or 'day'");
    }
    const zone = new ZoneBuckets(checkTimeZone(query.timeZone ?? 'UTC'));
    const granularity = query.granularity;
    const buckets = new Map<
      number,
      { start: number; calls: number; answered: number; durationMs: number; talkMs: number }
    >();
    await this.#guard('compute statistics', async () => {
      const prefix = key(P.cdr, tenantId, '');
      const iterator = this.#db.values({
        gte: prefix + hex(range.since),
        lt: prefix + hex(range.until),
      });
      try {
        for (;;) {
          throwIfAborted(query.signal);
          const chunk = await iterator.nextv(CHUNK * 4);
          if (chunk.length === 0) break;
          for (const text of chunk) {
            const c = cdrFigures(text);
            const start = zone.bucketStart(c.startedAt, granularity);
            let b = buckets.get(start);
            if (b === undefined) {
              b = { start, calls: 0, answered: 0, durationMs: 0, talkMs: 0 };
              buckets.set(start, b);
            }
            b.calls++;
            if (c.answered) b.answered++;
            b.durationMs += c.durationMs;
            b.talkMs += c.talkMs;
          }
        }
      } finally {
        await iterator.close();
      }
    });
    return buildStatistics(zone.timeZone, granularity, [...buckets.values()]);
  }

  async setRetention(options: RetentionOptions): Promise<void> {
    this.#checkOpen(options.signal);
    const tenantId = checkTenantId(options.tenantId);
    const retentionMs = checkRetention(options.retentionMs);
    await this.#exclusive(() =>
      this.#guard('set retention', async () => {
        const k = key(P.retention, tenantId);
        if (retentionMs === null) await this.#db.del(k);
        else await this.#db.put(k, String(retentionMs));
        this.#retention.set(tenantId, retentionMs);
      }),
    );
  }

  async getRetention(options: TenantOptions): Promise<number | null> {
    this.#checkOpen(options.signal);
    return this.#retentionOf(checkTenantId(options.tenantId));
  }

  async purgeExpired(options: PurgeOptions = {}): Promise<number> {
    this.#checkOpen(options.signal);
    const now = options.now?.getTime() ?? this.#clock.now();
    if (!Number.isFinite(now)) throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'now is invalid');
    const deleted = await this.#exclusive(() =>
      this.#guard('purge expired records', async () => {
        let count = 0;
        for (;;) {
          throwIfAborted(options.signal);
          const keys = await this.#db
            .keys({ gte: key(P.expiry, ''), lt: key(P.expiry, hex(now)) + END, limit: CHUNK })
            .all();
          if (keys.length === 0) break;
          const ops: AbstractBatchOperation<LevelDatabase, string, string>[] = [];
          const primaries: { kind: string; k: string }[] = [];
          for (const k of keys) {
            const [, , tenantId, kind, time, ...idParts] = k.split(SEP);
            const id = idParts.join(SEP);
            const prefix = kind === 'c' ? P.cdr : P.activity;
            primaries.push({ kind: kind ?? '', k: key(prefix, tenantId ?? '', time ?? '', id) });
            ops.push({ type: 'del', key: k });
          }
          const values = await this.#db.getMany(primaries.map((p) => p.k));
          values.forEach((text, i) => {
            if (text === undefined) return;
            const keysOfRecord =
              primaries[i]?.kind === 'c'
                ? cdrKeys(decodeCdr(text))
                : activityKeys(decodeActivity(text));
            for (const k of keysOfRecord) ops.push({ type: 'del', key: k });
            count++;
          });
          await this.#db.batch(ops);
        }
        return count;
      }),
    );
    if (deleted > 0) this.#logger.debug({ deleted }, 'purged expired history records');
    this.#metrics.purged.inc({ backend: 'embedded' }, deleted);
    return deleted;
  }

  async deleteTenant(options: TenantOptions): Promise<number> {
    this.#checkOpen(options.signal);
    const tenantId = checkTenantId(options.tenantId);
    return this.#exclusive(() =>
      this.#guard('delete a tenant', async () => {
        let count = 0;
        // Expiry keys are ordered by time, not tenant: find them through the records.
        for (const [prefix, decode] of [
          [P.cdr, (v: string) => cdrKeys(decodeCdr(v))],
          [P.activity, (v: string) => activityKeys(decodeActivity(v))],
        ] as const) {
          const iterator = this.#db.values({
            gte: key(prefix, tenantId) + SEP,
            lt: key(prefix, tenantId) + END,
          });
          try {
            for (;;) {
              throwIfAborted(options.signal);
              const chunk = await iterator.nextv(CHUNK);
              if (chunk.length === 0) break;
              count += chunk.length;
              const expiry = chunk.flatMap((v) => decode(v).filter((k) => k.startsWith(P.expiry)));
              if (expiry.length > 0)
                await this.#db.batch(expiry.map((k) => ({ type: 'del', key: k })));
            }
          } finally {
            await iterator.close();
          }
        }
        for (const prefix of Object.values(P)) {
          if (prefix === P.expiry || prefix === P.retention) continue;
          await this.#db.clear({
            gte: key(prefix, tenantId) + SEP,
            lt: key(prefix, tenantId) + END,
          });
        }
        await this.#db.del(key(P.retention, tenantId));
        this.#retention.delete(tenantId);
        return count;
      }),
    );
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

  async #retentionOf(tenantId: string): Promise<number | null> {
    const cached = this.#retention.get(tenantId);
    if (cached !== undefined) return cached;
    const value = await this.#guard('read retention', () =>
      this.#db.get(key(P.retention, tenantId)),
    );
    const retention = value === undefined ? null : Number(value);
    this.#retention.set(tenantId, retention);
    return retention;
  }

  /** The retention of every tenant of `records`, reading the uncached ones in one `getMany`. */
  async #retentions(records: readonly { tenantId: string }[]): Promise<Map<string, number | null>> {
    const missing = [...new Set(records.map((r) => r.tenantId))].filter(
      (t) => !this.#retention.has(t),
    );
    if (missing.length > 0) {
      const values = await this.#guard('read retention', () =>
        this.#db.getMany(missing.map((t) => key(P.retention, t))),
      );
      missing.forEach((t, i) => {
        const value = values[i];
        this.#retention.set(t, value === undefined ? null : Number(value));
      });
    }
    return this.#retention;
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(work, work);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  async #guard<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (VoxmeshError.is(error)) throw error;
      throw backendError(what, error);
    }
  }

  async #write<T>(
    records: readonly T[],
    idKey: (record: T) => string,
    write: (record: T, out: string[]) => void,
    kind: 'cdr' | 'activity',
    signal: AbortSignal | undefined,
  ): Promise<RecordResult> {
    return this.#guard(`write ${kind} records`, async () => {
      // The first record of each id, by its index in `records`.
      const unique = new Map<string, number>();
      let duplicates = 0;
      for (let i = 0; i < records.length; i++) {
        const k = idKey(records[i] as T);
        if (unique.has(k)) duplicates++;
        else unique.set(k, i);
      }
      const looking = unique.size === 0 ? [] : this.#db.hasMany([...unique.keys()]);
      // While the database looks for the ids, prepare every record's keys and
      // values (alternating), then keep those of the new ones.
      const prepared: string[][] = [];
      try {
        for (const i of unique.values()) {
          const out: string[] = [];
          write(records[i] as T, out);
          prepared.push(out);
        }
      } catch (error) {
        await Promise.resolve(looking).catch(() => undefined);
        throw error;
      }
      const present = await looking;
      throwIfAborted(signal);
      // A chained batch costs about half the CPU of an array of operations.
      const batch = this.#db.batch();
      let inserted = 0;
      try {
        for (let n = 0; n < prepared.length; n++) {
          if (present[n] === true) {
            duplicates++;
            continue;
          }
          inserted++;
          const out = prepared[n] as string[];
          for (let j = 0; j < out.length; j += 2) batch.put(out[j] as string, out[j + 1] as string);
        }
      } catch (error) {
        await batch.close();
        throw error;
      }
      if (inserted > 0) await batch.write();
      else await batch.close();
      this.#metrics.written.inc({ backend: 'embedded', kind }, inserted);
      this.#metrics.duplicates.inc({ backend: 'embedded', kind }, duplicates);
      return { inserted, duplicates };
    });
  }

  async #scan<T>(scan: {
    prefix: string;
    range: { since: number; until: number };
    after: { time: number; id: string } | undefined;
    limit: number;
    signal: AbortSignal | undefined;
    values: boolean;
    load: (entries: [string, string][]) => Promise<T[]>;
    keep: (item: T) => boolean;
  }): Promise<T[]> {
    let lt = scan.prefix + hex(scan.range.until);
    if (scan.after !== undefined) {
      const cursorKey = scan.prefix + hex(scan.after.time) + SEP + scan.after.id;
      if (cursorKey < lt) lt = cursorKey;
    }
    const iterator = this.#db.iterator({
      gte: scan.prefix + hex(scan.range.since),
      lt,
      reverse: true,
      values: scan.values,
    });
    const items: T[] = [];
    try {
      let want = scan.limit;
      while (items.length < scan.limit) {
        throwIfAborted(scan.signal);
        const chunk = await iterator.nextv(want);
        if (chunk.length === 0) break;
        for (const item of await scan.load(chunk)) {
          if (scan.keep(item)) items.push(item);
          if (items.length === scan.limit) break;
        }
        want = Math.min(CHUNK, want * 2);
      }
    } finally {
      await iterator.close();
    }
    return items;
  }
}

function withRetention<T extends Cdr | Activity>(record: T, retentionMs: number | null): T {
  if (retentionMs === null) return record;
  const from = 'startedAt' in record ? record.startedAt : record.at;
  record.expireAt = new Date(from.getTime() + retentionMs);
  return record;
}

function page<T>(items: T[], limit: number, cursorOf: (item: T) => string): Page<T> {
  if (items.length <= limit) return { items };
  const kept = items.slice(0, limit);
  return { items: kept, cursor: cursorOf(kept[kept.length - 1] as T) };
}

function checkFilter(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes(SEP)) {
    throw new VoxmeshError(ErrorCode.INVALID_INPUT, `${what} must be a non-empty string`);
  }
  return value;
}

function backendError(what: string, error: unknown): VoxmeshError {
  const reason = error instanceof Error ? error.message : String(error);
  return new VoxmeshError(HistoryErrorCode.BACKEND_UNAVAILABLE, `Could not ${what}: ${reason}`, {
    cause: error,
    retryable: true,
  });
}
