/**
 * The offline outbox: call history is written to a local database first and
 * delivered to the backend in the background, so nothing is lost while the
 * backend is unreachable.
 *
 * @module
 */

import {
  ErrorCode,
  Metrics,
  Service,
  VoxmeshError,
  onAbort,
  silentLogger,
  throwIfAborted,
  type Clock,
  type Logger,
  type ServiceEvents,
} from '@voxmesh/core';
import type { AbstractSublevel } from 'abstract-level';
import { ClassicLevel } from 'classic-level';
import { decodeCdr, encodeCdr } from './cdr-codec.js';
import {
  EmbeddedHistoryStore,
  checkWriteBufferSize,
  recordEncodedCdrs,
  type LevelDatabase,
} from './embedded-store.js';
import { HistoryErrorCode } from './errors.js';
import type { HistoryStore } from './history-store.js';
import { OutboxMetrics } from './metrics.js';
import {
  checkArray,
  normalizeActivity,
  normalizeCdr,
  type Activity,
  type ActivityInput,
  type Cdr,
  type CdrInput,
  type OperationOptions,
} from './model.js';

/** Options of the {@link HistoryOutbox} constructor. */
export interface HistoryOutboxOptions {
  /** The backend the outbox delivers to. */
  store: HistoryStore;
  /**
   * A directory for the classic-level (LevelDB) database the outbox creates,
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
   * An abstract-level database (or sublevel) with `utf8` keys and values that
   * the outbox uses but never closes; pass a sublevel of the node's local
   * database to keep the outbox next to the rest of its local state.
   */
  db?: LevelDatabase | undefined;
  /**
   * Records sent to the backend per call.
   * @defaultValue `500`
   */
  batchSize?: number | undefined;
  /**
   * Records kept in memory from their write to the outbox until the backend
   * acknowledged them, so that delivery need not read them back from the
   * local database (which stays the record of what is pending). Past this
   * many, records are read back as needed; `0` always reads them back.
   * @defaultValue `100000`
   */
  memoryLimit?: number | undefined;
  /**
   * The delay before the first retry of a failed delivery, in milliseconds;
   * it doubles on each further failure, with ±20 % jitter.
   * @defaultValue `100`
   */
  retryInitialDelayMs?: number | undefined;
  /**
   * The longest delay between retries, in milliseconds.
   * @defaultValue `30000`
   */
  retryMaxDelayMs?: number | undefined;
  /**
   * A name for logs and errors.
   * @defaultValue `'history-outbox'`
   */
  name?: string | undefined;
  /**
   * The clock of the retry back-off.
   * @defaultValue `systemClock`
   */
  clock?: Clock | undefined;
  /**
   * The logger.
   * @defaultValue `silentLogger`
   */
  logger?: Logger | undefined;
  /**
   * Metrics (pending records, deliveries, failures, dead letters).
   * @defaultValue a private `Metrics`
   */
  metrics?: Metrics | undefined;
}

/** What the outbox holds: a CDR or an activity. */
export type OutboxRecordKind = 'cdr' | 'activity';

/** Events of a {@link HistoryOutbox} (besides `state`). */
export interface HistoryOutboxEvents extends ServiceEvents {
  /** The backend acknowledged `count` records of `kind`; they left the outbox. */
  delivered: [kind: OutboxRecordKind, count: number];
  /** A delivery failed; the same records are retried after `retryInMs`. */
  deliveryFailed: [error: unknown, attempt: number, retryInMs: number];
  /** The backend rejected a record for good (`INVALID_INPUT`); it moved to the dead letters. */
  deadLettered: [letter: DeadLetter];
}

/** A record the backend rejected for good, kept aside for an operator. */
export interface DeadLetter {
  /** The record's position in the outbox. */
  seq: number;
  kind: OutboxRecordKind;
  record: CdrInput | ActivityInput;
  /** The backend's error message. */
  error: string;
}

/**
 * A put operation that adds one record to the outbox, for the application's
 * own `batch()` (see {@link HistoryOutbox.prepareCdrs}).
 */
export interface OutboxPutOperation {
  type: 'put';
  key: string;
  value: string;
  /** The outbox's sublevel, when the outbox lives in one (abstract-level's batch option). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  sublevel?: AbstractSublevel<any, any, string, string>;
}

/** Records prepared for an atomic batch together with the application's state. */
export interface PreparedOutboxWrite {
  /** Add these to a `batch()` on the outbox's database or on an ancestor of it. */
  readonly operations: OutboxPutOperation[];
  /**
   * Call once the batch is written, so the outbox delivers the records now;
   * otherwise they are found at the next `start()`. Calling it twice does nothing.
   */
  committed(): void;
}

/** Options of {@link HistoryOutbox.deadLetters}. */
export interface DeadLettersOptions extends OperationOptions {
  /**
   * The most letters returned, oldest first.
   * @defaultValue `100`
   */
  limit?: number | undefined;
}

const QUEUE = 'o\u0000';
const QUEUE_END = 'o\u0001';
const DEAD = 'd\u0000';
const DEAD_END = 'd\u0001';
const SEQ_WIDTH = 16;

interface Entry {
  key: string;
  seq: number;
  kind: OutboxRecordKind;
  /**
   * As read from the database unless `checked`; then the normalised
   * activity, and nothing for a CDR (its `encoded` form is all it needs).
   */
  record: Activity | CdrInput | ActivityInput | undefined;
  /** A checked CDR's stored form (see cdr-codec.ts): what it takes least memory as. */
  encoded: string | undefined;
  /** Validated (normalised) since it was read. */
  checked: boolean;
}

type StoredRecord = Record<string, unknown>;

/** Records of one or more calls, written to the outbox in one batch. */
interface WriteGroup {
  entries: Entry[];
  written: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const CDR_DATES = ['startedAt', 'answeredAt', 'endedAt'] as const;

/** An entry for a CDR just normalised; `key` and `seq` are filled in when it is queued. */
function cdrEntry(cdr: Cdr): Entry {
  return {
    key: '',
    seq: 0,
    kind: 'cdr',
    record: undefined,
    encoded: encodeCdr(cdr),
    checked: true,
  };
}

/** An entry for an activity just normalised. */
function activityEntry(activity: Activity): Entry {
  return { key: '', seq: 0, kind: 'activity', record: activity, encoded: undefined, checked: true };
}

/** The record of an entry, as for a {@link DeadLetter}. */
function recordOf(entry: Entry): CdrInput | ActivityInput {
  if (entry.record !== undefined) return entry.record;
  return decodeCdr(entry.encoded as string);
}

/**
 * The stored value of an entry: `c` and the CDR's stored form, or (for an
 * activity) the record as a JSON object under `r`, with its times as numbers.
 */
function entryValue(entry: Entry): string {
  if (entry.encoded !== undefined) return 'c' + entry.encoded;
  const copy: StoredRecord = { ...recordOf(entry) };
  for (const field of entry.kind === 'cdr' ? CDR_DATES : (['at'] as const)) {
    const value = copy[field];
    if (value instanceof Date) copy[field] = value.getTime();
  }
  return JSON.stringify({ k: entry.kind === 'cdr' ? 'c' : 'a', r: copy });
}

function decodeEntry(key: string, text: string): Entry {
  const seq = Number.parseInt(key.slice(QUEUE.length), 16);
  if (text.charCodeAt(0) === 0x63 /* c */) {
    return {
      key,
      seq,
      kind: 'cdr',
      record: decodeCdr(text.slice(1)),
      encoded: undefined,
      checked: false,
    };
  }
  // A JSON object: every activity, and CDRs written by earlier versions.
  const { k, r } = JSON.parse(text) as { k: 'c' | 'a'; r: StoredRecord };
  const kind: OutboxRecordKind = k === 'c' ? 'cdr' : 'activity';
  for (const field of kind === 'cdr' ? CDR_DATES : (['at'] as const)) {
    const value = r[field];
    if (typeof value === 'number') r[field] = new Date(value);
  }
  return {
    key,
    seq,
    kind,
    record: r as unknown as CdrInput | ActivityInput,
    encoded: undefined,
    checked: false,
  };
}

/**
 * A durable, local queue in front of a {@link HistoryStore}.
 *
 * `recordCdrs()` and `recordActivities()` resolve once the records are
 * written to the local database — not when the backend has them. A
 * background loop sends them to the backend in batches, in order, and
 * deletes them only after the backend acknowledged them. A failed delivery
 * is retried with exponential back-off until it succeeds; a replay after a
 * lost acknowledgement or a crash is harmless because record ids are
 * deterministic (the backend counts them as duplicates). A record the backend
 * rejects as invalid is moved to the dead letters instead of blocking the
 * queue.
 *
 * `drain()` stops taking records and stops; records not yet delivered stay in
 * the local database and are delivered after the next `start()`. Use
 * {@link HistoryOutbox.flush} to wait until the backend has everything.
 *
 * @example
 * ```ts
 * const outbox = new HistoryOutbox({ store, location: './data/history-outbox' });
 * await outbox.start();
 * await outbox.recordCdrs([cdr]); // durable locally from here on
 * await outbox.flush({ signal: AbortSignal.timeout(10_000) });
 * ```
 */
export class HistoryOutbox extends Service<HistoryOutboxEvents> {
  /** The backend records are delivered to. */
  readonly store: HistoryStore;
  readonly #db: LevelDatabase;
  readonly #owned: boolean;
  readonly #batchSize: number;
  readonly #initialDelay: number;
  readonly #maxDelay: number;
  readonly #logger: Logger;
  readonly #metrics: OutboxMetrics;
  #nextSeq = 0;
  #pending = 0;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #flushWaiters: (() => void)[] = [];
  #isolate = 0;
  #dirty = false;
  readonly #memoryLimit: number;
  /**
   * Pending records held in memory (at most `#memoryLimit`), by sequence
   * number, in the order their writes completed; see `#complete`.
   */
  readonly #memory = new Map<number, Entry>();
  /**
   * Every pending record in the database is also in `#memory`, so delivery
   * takes records from there instead of reading them back. Records written
   * while `#memory` is full (or left from before `start()`) clear it; a read
   * from the start of the queue that shows only records held in memory sets
   * it again.
   */
  #complete = false;
  /** Records waiting for the write in flight to finish, to be written together. */
  #nextGroup: WriteGroup | undefined;
  #writing = false;
  /** Batches that did not fit in `#memory`, ever. */
  #overflows = 0;

  constructor(options: HistoryOutboxOptions) {
    super({ name: options.name ?? 'history-outbox', clock: options.clock });
    if ((options.location === undefined) === (options.db === undefined)) {
      throw new TypeError('HistoryOutbox needs exactly one of `location` and `db`');
    }
    const batchSize = options.batchSize ?? 500;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError('batchSize must be a positive integer');
    }
    this.store = options.store;
    this.#owned = options.db === undefined;
    this.#db =
      options.db ??
      new ClassicLevel<string, string>(options.location as string, {
        keyEncoding: 'utf8',
        valueEncoding: 'utf8',
        writeBufferSize: checkWriteBufferSize(options.writeBufferSize),
      });
    this.#batchSize = batchSize;
    const memoryLimit = options.memoryLimit ?? 100_000;
    if (!Number.isInteger(memoryLimit) || memoryLimit < 0) {
      throw new RangeError('memoryLimit must be a non-negative integer');
    }
    this.#memoryLimit = memoryLimit;
    this.#initialDelay = options.retryInitialDelayMs ?? 100;
    this.#maxDelay = options.retryMaxDelayMs ?? 30_000;
    if (!(this.#initialDelay > 0) || !(this.#maxDelay >= this.#initialDelay)) {
      throw new RangeError(
        'retry delays must be positive, with retryMaxDelayMs ≥ retryInitialDelayMs',
      );
    }
    this.#logger = (options.logger ?? silentLogger).child({ component: this.name });
    this.#metrics = new OutboxMetrics(options.metrics ?? new Metrics());
  }

  /** Records in the outbox that the backend has not acknowledged yet. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Writes CDRs to the outbox. Resolves once they are durable locally.
   * Invalid CDRs reject with `INVALID_INPUT` and nothing of the call is written.
   */
  async recordCdrs(cdrs: readonly CdrInput[], options: OperationOptions = {}): Promise<void> {
    checkArray(cdrs, 'recordCdrs');
    const entries = cdrs.map((cdr) => cdrEntry(normalizeCdr(cdr)));
    await this.#enqueue(entries, options.signal);
  }

  /** Writes activities to the outbox. Resolves once they are durable locally. */
  async recordActivities(
    activities: readonly ActivityInput[],
    options: OperationOptions = {},
  ): Promise<void> {
    checkArray(activities, 'recordActivities');
    const entries = activities.map((a) => activityEntry(normalizeActivity(a)));
    await this.#enqueue(entries, options.signal);
  }

  /**
   * Prepares CDRs for the outbox without writing them: put the returned
   * operations into the same `batch()` as the application's own local state
   * (on the outbox's database, or an ancestor when the outbox is a
   * sublevel), so both are written atomically, then call `committed()`.
   * Invalid CDRs throw `INVALID_INPUT`; the outbox must be running.
   *
   * @example
   * ```ts
   * const outbox = new HistoryOutbox({ store, db: nodeDb.sublevel('history-outbox') });
   * await outbox.start();
   * const prepared = outbox.prepareCdrs([cdr]);
   * await nodeDb.batch([{ type: 'del', key: `active-call:${callId}` }, ...prepared.operations]);
   * prepared.committed();
   * ```
   */
  prepareCdrs(cdrs: readonly CdrInput[]): PreparedOutboxWrite {
    checkArray(cdrs, 'prepareCdrs');
    return this.#prepare(cdrs.map((cdr) => cdrEntry(normalizeCdr(cdr))));
  }

  /** Prepares activities for the outbox; see {@link HistoryOutbox.prepareCdrs}. */
  prepareActivities(activities: readonly ActivityInput[]): PreparedOutboxWrite {
    checkArray(activities, 'prepareActivities');
    return this.#prepare(activities.map((a) => activityEntry(normalizeActivity(a))));
  }

  /**
   * Resolves when the outbox is empty: every record written before (and
   * while) waiting has been acknowledged by the backend or dead-lettered.
   * Rejects with `ABORTED` when `signal` aborts or the outbox stops first.
   */
  async flush(options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    if (this.#pending === 0) return;
    if (this.state !== 'running' && this.state !== 'starting') {
      throw new VoxmeshError(
        ErrorCode.INVALID_STATE,
        `${this.name} is ${this.state}: ${this.#pending} record(s) wait for the next start()`,
      );
    }
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        subscription[Symbol.dispose]();
        stopped[Symbol.dispose]();
        resolve();
      };
      const fail = (reason: unknown): void => {
        this.#flushWaiters = this.#flushWaiters.filter((w) => w !== done);
        subscription[Symbol.dispose]();
        stopped[Symbol.dispose]();
        reject(new VoxmeshError(ErrorCode.ABORTED, 'flush() gave up', { cause: reason }));
      };
      this.#flushWaiters.push(done);
      const subscription = onAbort(options.signal, fail);
      const stopped = onAbort(this.signal, fail);
    });
  }

  /** Records the backend rejected for good, oldest first. */
  async deadLetters(options: DeadLettersOptions = {}): Promise<DeadLetter[]> {
    throwIfAborted(options.signal);
    const entries = await this.#db
      .iterator({ gte: DEAD, lt: DEAD_END, limit: options.limit ?? 100 })
      .all();
    return entries.map(([key, value]) => {
      const { entry, error } = JSON.parse(value) as { entry: string; error: string };
      const decoded = decodeEntry(QUEUE + key.slice(DEAD.length), entry);
      return { seq: decoded.seq, kind: decoded.kind, record: recordOf(decoded), error };
    });
  }

  protected async onStart(): Promise<void> {
    await this.#db.open();
    const last = await this.#db.keys({ gte: QUEUE, lt: QUEUE_END, reverse: true, limit: 1 }).all();
    const lastDead = await this.#db
      .keys({ gte: DEAD, lt: DEAD_END, reverse: true, limit: 1 })
      .all();
    const seqOf = (key: string | undefined): number =>
      key === undefined ? -1 : Number.parseInt(key.slice(2), 16);
    this.#nextSeq = Math.max(seqOf(last[0]), seqOf(lastDead[0])) + 1;
    let pending = 0;
    for await (const _key of this.#db.keys({ gte: QUEUE, lt: QUEUE_END })) pending++;
    this.#pending = pending;
    this.#memory.clear();
    this.#complete = pending === 0;
    this.#metrics.pending.set(pending);
    if (pending > 0) this.#logger.info({ pending }, 'delivering records left in the outbox');
    this.#loop = this.#run();
  }

  protected async onStop(): Promise<void> {
    this.#wake?.();
    await this.#loop;
    this.#loop = undefined;
    if (this.#owned) await this.#db.close();
  }

  #prepare(entries: Entry[]): PreparedOutboxWrite {
    // Sequence numbers are only known once start() has read the last one.
    this.beginWork().release();
    const db = this.#db as unknown as { prefix?: unknown };
    const sublevel =
      typeof db.prefix === 'string'
        ? // eslint-disable-next-line @typescript-eslint/no-explicit-any
          (this.#db as unknown as AbstractSublevel<any, any, string, string>)
        : undefined;
    const operations: OutboxPutOperation[] = entries.map((entry) => {
      this.#number(entry);
      const op: OutboxPutOperation = { type: 'put', key: entry.key, value: entryValue(entry) };
      if (sublevel !== undefined) op.sublevel = sublevel;
      return op;
    });
    let done = false;
    return {
      operations,
      committed: () => {
        if (done || operations.length === 0) return;
        done = true;
        if (this.state !== 'running' && this.state !== 'draining') return;
        this.#added(entries);
      },
    };
  }

  /** Gives an entry the next sequence number. */
  #number(entry: Entry): void {
    entry.seq = this.#nextSeq++;
    entry.key = QUEUE + entry.seq.toString(16).padStart(SEQ_WIDTH, '0');
  }

  /** Entries are now in the database: count them, keep them in memory if there is room. */
  #added(entries: Entry[]): void {
    if (this.#memory.size + entries.length <= this.#memoryLimit) {
      for (const entry of entries) this.#memory.set(entry.seq, entry);
    } else {
      this.#overflows++;
      this.#complete = false;
    }
    this.#pending += entries.length;
    this.#metrics.pending.set(this.#pending);
    this.#dirty = true;
    this.#wake?.();
  }

  /** Entries left the queue (delivered or dead-lettered). */
  #removed(entries: readonly Entry[]): void {
    for (const entry of entries) this.#memory.delete(entry.seq);
    this.#pending = Math.max(0, this.#pending - entries.length);
    this.#metrics.pending.set(this.#pending);
  }

  async #enqueue(entries: Entry[], signal: AbortSignal | undefined): Promise<void> {
    throwIfAborted(signal);
    if (entries.length === 0) return;
    using _work = this.beginWork();
    // Group commit: records that arrive while a write is in flight go
    // together in the next one, still all or nothing for each call.
    let group = this.#nextGroup;
    if (group === undefined) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const written = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      group = { entries: [], written, resolve, reject };
      this.#nextGroup = group;
    }
    for (const entry of entries) group.entries.push(entry);
    if (!this.#writing) void this.#writeGroups();
    await group.written;
  }

  /** Writes the waiting group, then the one that gathered meanwhile, until none is left. */
  async #writeGroups(): Promise<void> {
    this.#writing = true;
    for (let group = this.#nextGroup; group !== undefined; group = this.#nextGroup) {
      this.#nextGroup = undefined;
      try {
        const batch = this.#db.batch();
        for (const entry of group.entries) {
          this.#number(entry);
          batch.put(entry.key, entryValue(entry));
        }
        await batch.write();
      } catch (error) {
        group.reject(
          new VoxmeshError(
            HistoryErrorCode.BACKEND_UNAVAILABLE,
            `${this.name} could not write to its local database`,
            { cause: error, retryable: true },
          ),
        );
        continue;
      }
      this.#added(group.entries);
      group.resolve();
    }
    this.#writing = false;
  }

  /** Reads up to `limit` queued entries after `after` (or from the start of the queue). */
  async #read(limit: number, after?: string): Promise<Entry[]> {
    const range = after === undefined ? { gte: QUEUE } : { gt: after };
    const raw = await this.#db.iterator({ ...range, lt: QUEUE_END, limit }).all();
    return raw.map(([key, value]) => {
      const held = this.#memory.get(Number.parseInt(key.slice(QUEUE.length), 16));
      return held ?? decodeEntry(key, value);
    });
  }

  /** The first `limit` entries held in memory. */
  #held(limit: number): Entry[] {
    const entries: Entry[] = [];
    if (limit === 0) return entries;
    for (const entry of this.#memory.values()) {
      if (entries.push(entry) === limit) break;
    }
    return entries;
  }

  async #run(): Promise<void> {
    const signal = this.signal;
    let attempt = 0;
    // The batch after the one being delivered, read while the backend writes.
    // Queue keys only grow, so a read after the current batch's last key
    // misses nothing that an ordinary read from the start would see later.
    let prefetched: Entry[] | undefined;
    while (!signal.aborted) {
      let entries: Entry[];
      if (this.#complete && this.#isolate === 0) {
        // Every pending record is in memory: nothing to read back.
        prefetched = undefined;
        entries = this.#held(this.#batchSize);
      } else if (prefetched !== undefined && prefetched.length > 0 && this.#isolate === 0) {
        entries = prefetched;
        prefetched = undefined;
      } else {
        prefetched = undefined;
        this.#dirty = false;
        const overflows = this.#overflows;
        const limit = this.#isolate > 0 ? 1 : this.#batchSize;
        try {
          entries = await this.#read(limit);
        } catch (error) {
          if (signal.aborted) break;
          this.#logger.error({ err: error }, 'cannot read the outbox');
          attempt++;
          if (!(await this.#backOff(error, attempt))) break;
          continue;
        }
        // The whole queue, all of it in memory, and nothing written since
        // that did not fit: from now on, delivery need not read.
        if (
          entries.length < limit &&
          overflows === this.#overflows &&
          entries.every((e) => this.#memory.get(e.seq) === e)
        ) {
          this.#complete = true;
        }
      }
      if (entries.length === 0) {
        // A write that landed after the read began is not in `entries`: read again.
        if (this.#dirty && !this.#complete) continue;
        if (this.#complete && this.#memory.size > 0) continue;
        const waiters = this.#flushWaiters;
        this.#flushWaiters = [];
        for (const wake of waiters) wake();
        let stopped: Disposable | undefined;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          stopped = onAbort(signal, () => resolve());
        });
        stopped?.[Symbol.dispose]();
        this.#wake = undefined;
        continue;
      }
      // Read the next batch while this one is delivered; a failed read only
      // means the next batch is read again the ordinary way.
      const next =
        !this.#complete && this.#isolate === 0 && entries.length === this.#batchSize
          ? this.#read(this.#batchSize, (entries[entries.length - 1] as Entry).key).catch(
              () => undefined,
            )
          : undefined;
      try {
        await this.#deliver(entries, signal);
        attempt = 0;
        if (this.#isolate > 0) this.#isolate--;
        prefetched = await next;
      } catch (error) {
        // A batch that failed is read again from the start of the queue.
        await next;
        if (signal.aborted) break;
        if (VoxmeshError.is(error, ErrorCode.INVALID_INPUT)) {
          if (entries.length > 1) {
            // Find the rejected record: deliver one at a time for this stretch.
            this.#isolate = entries.length;
            continue;
          }
          await this.#deadLetter(entries[0] as Entry, error);
          if (this.#isolate > 0) this.#isolate--;
          continue;
        }
        attempt++;
        if (!(await this.#backOff(error, attempt))) break;
      }
    }
  }

  async #deliver(entries: Entry[], signal: AbortSignal): Promise<void> {
    const encoded: string[] = [];
    const activities: Activity[] = [];
    for (const e of entries) {
      if (!e.checked) {
        // Read back from the database: validate it as any store would.
        if (e.kind === 'cdr') {
          e.encoded = encodeCdr(normalizeCdr(e.record as CdrInput));
          e.record = undefined;
        } else {
          e.record = normalizeActivity(e.record as ActivityInput);
        }
        e.checked = true;
      }
      if (e.kind === 'cdr') encoded.push(e.encoded as string);
      else activities.push(e.record as Activity);
    }
    if (encoded.length > 0) {
      // The embedded store (unless a subclass changed how it records) takes
      // the records as they are: validated and encoded already.
      const store = this.store;
      if (
        store instanceof EmbeddedHistoryStore &&
        store.recordCdrs === EmbeddedHistoryStore.prototype.recordCdrs
      ) {
        await recordEncodedCdrs(store, encoded, { signal });
      } else {
        await store.recordCdrs(encoded.map(decodeCdr), { signal });
      }
    }
    if (activities.length > 0) await this.store.recordActivities(activities, { signal });
    // Acknowledged: only now do the records leave the outbox.
    const batch = this.#db.batch();
    for (const e of entries) batch.del(e.key);
    await batch.write();
    this.#removed(entries);
    if (encoded.length > 0) {
      this.#metrics.delivered.inc({ kind: 'cdr' }, encoded.length);
      this.emit('delivered', 'cdr', encoded.length);
    }
    if (activities.length > 0) {
      this.#metrics.delivered.inc({ kind: 'activity' }, activities.length);
      this.emit('delivered', 'activity', activities.length);
    }
  }

  async #deadLetter(entry: Entry, error: VoxmeshError): Promise<void> {
    const letter: DeadLetter = {
      seq: entry.seq,
      kind: entry.kind,
      record: recordOf(entry),
      error: error.message,
    };
    await this.#db.batch([
      { type: 'del', key: entry.key },
      {
        type: 'put',
        key: DEAD + entry.key.slice(QUEUE.length),
        value: JSON.stringify({ entry: entryValue(entry), error: error.message }),
      },
    ]);
    this.#removed([entry]);
    this.#metrics.deadLetters.inc();
    const rejected = new VoxmeshError(
      HistoryErrorCode.OUTBOX_REJECTED,
      `The backend rejected outbox record ${entry.seq} for good: ${error.message}`,
      { cause: error },
    );
    this.#logger.error(
      { err: rejected, seq: entry.seq, kind: entry.kind },
      'outbox record dead-lettered',
    );
    this.emit('deadLettered', letter);
  }

  /** Waits before the next attempt; `false` when the outbox stopped meanwhile. */
  async #backOff(error: unknown, attempt: number): Promise<boolean> {
    const base = Math.min(this.#maxDelay, this.#initialDelay * 2 ** Math.min(attempt - 1, 30));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.#metrics.failures.inc();
    this.#logger.warn(
      { err: error, attempt, retryInMs: delay },
      'history delivery failed; retrying',
    );
    this.emit('deliveryFailed', error, attempt, delay);
    try {
      await this.clock.sleep(delay, { signal: this.signal });
      return true;
    } catch {
      return false;
    }
  }
}
