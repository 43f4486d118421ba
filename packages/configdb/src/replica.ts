/**
 * One replica of a configuration shard: a store on abstract-level with a
 * single-writer group-commit queue, a gap-free change feed for listeners, and
 * multi-master replication with its peers.
 *
 * Storage (one atomic batch per group commit, across sublevels):
 *
 * ```text
 * kv/<key>               current winner per key (tombstones kept until collected)
 * olog/<origin>!<seq>    per-origin op log, served to peers by anti-entropy
 * feed/<lseq>            replica-local, gap-free change feed (listeners' cursors)
 * meta/epoch             identifies this incarnation of the feed
 * meta/state             version vector, feed head, HLC
 * ```
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import type { AbstractBatchOperation, AbstractLevel, AbstractSublevel } from 'abstract-level';
import { ClassicLevel } from 'classic-level';
import {
  type Clock,
  type Logger,
  Metrics,
  Service,
  VoxmeshError,
  ErrorCode,
  abortable,
  silentLogger,
  throwIfAborted,
} from '@voxmesh/core';
import { ConfigDbErrorCode } from './errors.js';
import { HybridLogicalClock, compareHlc, compareStamps, type HlcTimestamp } from './hlc.js';
import type {
  BatchOperation,
  CallOptions,
  ChangeEvent,
  ChangesOptions,
  ConfigBackend,
  ConfigSnapshot,
  ListOptions,
  ReplicatedOp,
  ReplicationMessage,
  ReplicationTransport,
  StoredEntry,
  VersionVector,
  WriteResult,
} from './types.js';

/** Any abstract-level database with string keys (classic-level, memory-level, ...). */
export type ConfigLevel = AbstractLevel<string | Buffer | Uint8Array>;

type JsonSublevel<V> = AbstractSublevel<ConfigLevel, string | Buffer | Uint8Array, string, V>;

/**
 * Deliberate faults. They exist so that tests can show the simulator's
 * checker catches each kind of bug; never set them in production.
 */
export interface ReplicaFaults {
  /** Equal HLCs resolve to the incoming write instead of by origin id. */
  noTieBreak?: boolean | undefined;
  /** Remote ops are applied even when earlier ops of their origin are missing. */
  outOfOrderApply?: boolean | undefined;
  /** Listeners register for live changes one turn after reading their backlog. */
  racySubscribe?: boolean | undefined;
  /** Writes skip the group-commit queue: each write is committed on its own, concurrently. */
  noWriterQueue?: boolean | undefined;
}

/** Options of the {@link ConfigReplica} constructor. */
export interface ConfigReplicaOptions {
  /** This replica's id, unique within its shard (letters, digits, `._:-`). */
  id: string;
  /**
   * The database. Pass a `MemoryLevel` for tests and embedding.
   * @defaultValue a `ClassicLevel` at {@link ConfigReplicaOptions.location}
   */
  db?: ConfigLevel | undefined;
  /**
   * Directory of the default classic-level database (when `db` is not given).
   * Required unless `db` is given.
   */
  location?: string | undefined;
  /**
   * How this replica reaches its peers.
   * @defaultValue none: a single, unreplicated store
   */
  transport?: ReplicationTransport | undefined;
  /**
   * How many change-feed entries are kept for resuming listeners; a listener
   * further behind gets `COMPACTED`.
   * @defaultValue `100_000`
   */
  retainChanges?: number | undefined;
  /**
   * Interval of anti-entropy rounds (send our version vector to each peer,
   * which also acknowledges what we hold) and of garbage collection.
   * @defaultValue `1000`
   */
  antiEntropyIntervalMs?: number | undefined;
  /**
   * A remote write stamped further than this in the future of our clock
   * raises an alarm (a warning and the `configdb_clock_drift_total` counter).
   * @defaultValue `60_000`
   */
  maxClockDriftMs?: number | undefined;
  /**
   * The most ops one replication message carries.
   * @defaultValue `500`
   */
  maxOpsPerMessage?: number | undefined;
  /**
   * The most writes committed in one group commit.
   * @defaultValue `2000`
   */
  maxGroupSize?: number | undefined;
  /**
   * The clock for the HLC and timers.
   * @defaultValue `systemClock`
   */
  clock?: Clock | undefined;
  /**
   * @defaultValue `silentLogger`
   */
  logger?: Logger | undefined;
  /**
   * @defaultValue a private `Metrics` instance
   */
  metrics?: Metrics | undefined;
  /**
   * Makes the random epoch of a new database (deterministic simulations pass
   * a seeded generator).
   * @defaultValue 12 random hex digits from `node:crypto`
   */
  randomEpoch?: (() => string) | undefined;
  /** Deliberate faults for checker tests. @defaultValue none */
  faults?: ReplicaFaults | undefined;
}

interface FeedRecord {
  readonly k: string;
  readonly v?: unknown;
  readonly d?: boolean;
}

interface PersistedState {
  vv: VersionVector;
  lseq: number;
  hlc: HlcTimestamp;
}

type Tx = {
  ops: AbstractBatchOperation<ConfigLevel, string, unknown>[];
  feed: [number, FeedRecord][];
  local: ReplicatedOp[];
};

interface Task {
  prepare(tx: Tx): unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  result?: unknown;
  failed?: boolean;
}

interface Subscriber {
  readonly prefix: string;
  readonly queue: [number, FeedRecord][];
  wake: (() => void) | undefined;
  error: Error | undefined;
  overflow: boolean;
}

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_KEY_LENGTH = 1024;
const MAX_SUBSCRIBER_BUFFER = 10_000;

/** Zero-padded decimal, so that level's lexicographic order is numeric order. */
export function padSeq(n: number): string {
  return n.toString().padStart(16, '0');
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new VoxmeshError(
      ErrorCode.INVALID_INPUT,
      `A key must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`,
    );
  }
}

function checkValue(value: unknown): void {
  if (value === undefined) {
    throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'A value must not be undefined (use del)');
  }
  try {
    JSON.stringify(value);
  } catch (error) {
    throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'A value must be JSON-serialisable', {
      cause: error,
    });
  }
}

function prefixRange(prefix: string): { gte?: string; lt?: string } {
  return prefix === '' ? {} : { gte: prefix, lt: prefix + '\uffff' };
}

/**
 * A replica of a configuration shard. Alone (no transport) it is an embedded
 * store; with a {@link ReplicationTransport} it replicates multi-master with
 * its peers: last-writer-wins per key by HLC with origin tie-break, per-origin
 * op logs and version vectors, anti-entropy, collection of logs and tombstones
 * once every peer acknowledged them.
 *
 * Every write goes through one queue per replica that commits groups of
 * writes as one batch and assigns feed positions inside it, so the change
 * feed has no gaps even on databases (classic-level) whose concurrent writes
 * commit out of order.
 *
 * @example
 * ```ts
 * const replica = new ConfigReplica({ id: 'a', db: new MemoryLevel() });
 * await replica.start();
 * await replica.put('tenants/acme/users/100', { name: 'Ada' });
 * const { epoch, cursor, state } = await replica.snapshot({ prefix: 'tenants/acme/' });
 * for await (const change of replica.changes({ prefix: 'tenants/acme/', epoch, cursor })) {
 *   console.log(change);
 * }
 * ```
 */
export class ConfigReplica extends Service implements ConfigBackend {
  /** This replica's id within its shard. */
  readonly id: string;
  readonly #options: ConfigReplicaOptions;
  readonly #logger: Logger;
  readonly #faults: ReplicaFaults;
  readonly #retain: number;
  readonly #maxOps: number;
  readonly #maxGroup: number;
  readonly #metrics: {
    writes: ReturnType<Metrics['counter']>;
    applied: ReturnType<Metrics['counter']>;
    losers: ReturnType<Metrics['counter']>;
    drift: ReturnType<Metrics['counter']>;
  };
  #db: ConfigLevel | undefined;
  #ownsDb = false;
  #kv!: JsonSublevel<StoredEntry>;
  #olog!: JsonSublevel<ReplicatedOp>;
  #feed!: JsonSublevel<FeedRecord>;
  #meta!: JsonSublevel<unknown>;
  #epoch = '';
  #origin = '';
  #hlc!: HybridLogicalClock;
  #entries = new Map<string, StoredEntry>();
  #vv: VersionVector = {};
  #committedVV: VersionVector = {};
  #ologFirst = new Map<string, number>();
  #lseq = 0;
  #committedLseq = 0;
  #feedStart = 1;
  #acks = new Map<string, { origin: string; vv: VersionVector }>();
  #syncPending = new Set<string>();
  #pending: Task[] = [];
  #boundary: (() => void)[] = [];
  #busy = false;
  #subscribers = new Set<Subscriber>();
  #timer: { cancel(): void } | undefined;

  constructor(options: ConfigReplicaOptions) {
    const id = options.id;
    if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
      throw new TypeError(`Replica id must match ${String(ID_PATTERN)}, got ${JSON.stringify(id)}`);
    }
    if (options.db === undefined && options.location === undefined) {
      throw new TypeError('ConfigReplica needs `db` or `location`');
    }
    super({ name: `configdb-replica-${id}`, clock: options.clock });
    this.id = id;
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ replica: id });
    this.#faults = options.faults ?? {};
    this.#retain = Math.max(1, options.retainChanges ?? 100_000);
    this.#maxOps = Math.max(1, options.maxOpsPerMessage ?? 500);
    this.#maxGroup = Math.max(1, options.maxGroupSize ?? 2000);
    const metrics = options.metrics ?? new Metrics();
    const labelNames = ['replica'] as const;
    this.#metrics = {
      writes: metrics.counter({
        name: 'configdb_writes_total',
        help: 'Writes committed',
        labelNames,
      }),
      applied: metrics.counter({
        name: 'configdb_remote_ops_total',
        help: 'Remote ops applied',
        labelNames,
      }),
      losers: metrics.counter({
        name: 'configdb_lww_losers_total',
        help: 'Writes that lost last-writer-wins to a newer write of the same key',
        labelNames,
      }),
      drift: metrics.counter({
        name: 'configdb_clock_drift_total',
        help: 'Remote writes stamped too far in the future',
        labelNames,
      }),
    };
  }

  /** The epoch of this replica's change feed (valid once started). */
  get epoch(): string {
    return this.#epoch;
  }

  /** This incarnation's origin id, which stamps its writes (valid once started). */
  get origin(): string {
    return this.#origin;
  }

  /** The committed feed head: the cursor of the last committed change. */
  get cursor(): number {
    return this.#committedLseq;
  }

  /** The first feed position still retained. */
  get feedStart(): number {
    return this.#feedStart;
  }

  /** A copy of the committed version vector. */
  get versionVector(): VersionVector {
    return { ...this.#committedVV };
  }

  /** Every stored entry including tombstones, for diagnostics and checkers. */
  storedEntries(): Map<string, StoredEntry> {
    return new Map(this.#entries);
  }

  protected async onStart(signal: AbortSignal): Promise<void> {
    const options = this.#options;
    if (options.db) {
      this.#db = options.db;
    } else {
      this.#db = new ClassicLevel<string, string>(options.location as string);
      this.#ownsDb = true;
    }
    await abortable(this.#db.open(), signal);
    this.#kv = this.#db.sublevel<string, StoredEntry>('kv', { valueEncoding: 'json' });
    this.#olog = this.#db.sublevel<string, ReplicatedOp>('olog', { valueEncoding: 'json' });
    this.#feed = this.#db.sublevel<string, FeedRecord>('feed', { valueEncoding: 'json' });
    this.#meta = this.#db.sublevel<string, unknown>('meta', { valueEncoding: 'json' });
    await this.#load();
    throwIfAborted(signal);
    const transport = options.transport;
    if (transport) {
      await transport.start(
        {
          message: (peer, message) => {
            this.#onMessage(peer, message);
          },
          peerUp: (peer) => {
            this.#sendSync(peer, true);
          },
          peerDown: (peer) => {
            this.#syncPending.delete(peer);
          },
        },
        { signal },
      );
      const interval = options.antiEntropyIntervalMs ?? 1000;
      this.#timer = this.clock.setInterval(() => {
        this.#antiEntropyRound();
      }, interval);
    }
  }

  protected async onStop(): Promise<void> {
    this.#timer?.cancel();
    const stopped = new VoxmeshError(ConfigDbErrorCode.UNAVAILABLE, `Replica ${this.id} stopped`, {
      retryable: true,
    });
    for (const sub of this.#subscribers) {
      sub.error = stopped;
      sub.wake?.();
    }
    this.#subscribers.clear();
    await this.#options.transport?.close();
    // Let the group commit in flight finish before closing the database.
    while (this.#busy) await new Promise((resolve) => setImmediate(resolve));
    for (const task of this.#pending.splice(0)) task.reject(stopped);
    if (this.#ownsDb) await this.#db?.close();
  }

  async #load(): Promise<void> {
    let epoch = (await this.#meta.get('epoch')) as string | undefined;
    if (epoch === undefined) {
      epoch = this.#options.randomEpoch?.() ?? randomBytes(6).toString('hex');
      await this.#meta.put('epoch', epoch);
    }
    this.#epoch = epoch;
    this.#origin = `${this.id}@${epoch}`;
    const state = (await this.#meta.get('state')) as PersistedState | undefined;
    this.#vv = { ...(state?.vv ?? {}) };
    this.#committedVV = { ...this.#vv };
    this.#lseq = state?.lseq ?? 0;
    this.#committedLseq = this.#lseq;
    this.#hlc = new HybridLogicalClock(() => this.clock.now(), state?.hlc);
    this.#entries = new Map(await this.#kv.iterator().all());
    const first = await this.#feed.keys({ limit: 1 }).all();
    this.#feedStart = first[0] === undefined ? this.#lseq + 1 : Number(first[0]);
    this.#ologFirst.clear();
    for (const origin of Object.keys(this.#vv)) {
      const keys = await this.#olog.keys({ gt: `${origin}!`, lt: `${origin}"`, limit: 1 }).all();
      const k = keys[0];
      this.#ologFirst.set(
        origin,
        k === undefined ? (this.#vv[origin] ?? 0) + 1 : Number(k.slice(origin.length + 1)),
      );
    }
  }

  // ───────────────────────────── client API ─────────────────────────────

  async get(key: string, options: CallOptions = {}): Promise<unknown> {
    checkKey(key);
    throwIfAborted(options.signal);
    this.#checkOpen();
    const entry = await this.#kv.get(key);
    return entry === undefined || entry.d ? undefined : entry.v;
  }

  async list(options: ListOptions = {}): Promise<[string, unknown][]> {
    throwIfAborted(options.signal);
    this.#checkOpen();
    const prefix = options.prefix ?? '';
    const rows = await abortable(this.#kv.iterator(prefixRange(prefix)).all(), options.signal);
    return rows.filter(([, e]) => !e.d).map(([k, e]) => [k, e.v]);
  }

  put(key: string, value: unknown, options: CallOptions = {}): Promise<WriteResult> {
    return this.batch([{ type: 'put', key, value }], options);
  }

  del(key: string, options: CallOptions = {}): Promise<WriteResult> {
    return this.batch([{ type: 'del', key }], options);
  }

  async batch(
    operations: readonly BatchOperation[],
    options: CallOptions = {},
  ): Promise<WriteResult> {
    if (!Array.isArray(operations) || operations.length === 0) {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'batch() needs at least one operation');
    }
    for (const op of operations as readonly BatchOperation[]) {
      checkKey(op.key);
      if (op.type === 'put') checkValue(op.value);
      else if (op.type !== 'del') {
        throw new VoxmeshError(ErrorCode.INVALID_INPUT, `Unknown batch operation type`);
      }
    }
    throwIfAborted(options.signal);
    using _work = this.beginWork();
    if (this.#faults.noWriterQueue) return await this.#unqueuedWrite(operations);
    return (await this.#enqueue((tx) => this.#prepareLocal(tx, operations))) as WriteResult;
  }

  /** An atomic snapshot `{ epoch, cursor, state }`, taken between two group commits. */
  async snapshot(options: ListOptions = {}): Promise<ConfigSnapshot> {
    throwIfAborted(options.signal);
    this.#checkOpen();
    const prefix = options.prefix ?? '';
    return abortable(
      new Promise<ConfigSnapshot>((resolve) => {
        this.#atBoundary(() => {
          const state = new Map<string, unknown>();
          for (const [k, e] of this.#entries) {
            if (!e.d && k.startsWith(prefix)) state.set(k, e.v);
          }
          resolve({ epoch: this.#epoch, cursor: this.#committedLseq, state });
        });
      }),
      options.signal,
    );
  }

  /**
   * Changes after `cursor` (from the retained feed), then live changes, in
   * feed order with no gap and no duplicate. Aborting `signal` ends the
   * iteration with an `AbortError`; fails with `COMPACTED` / `EPOCH_MISMATCH` when
   * the client must re-snapshot, `UNAVAILABLE` when the replica stops.
   */
  changes(options: ChangesOptions = {}): AsyncIterableIterator<ChangeEvent> {
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
    const cursor = options.cursor;
    if (cursor !== undefined && (!Number.isSafeInteger(cursor) || cursor < 0)) {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'cursor must be a non-negative integer');
    }
    return this.#changes(prefix, cursor, options);
  }

  /**
   * Calls `handler` for every change (as {@link ConfigReplica.changes}) and
   * returns a function that unsubscribes. `onError` receives the error that
   * ended the subscription (e.g. `COMPACTED`).
   */
  subscribe(
    options: Omit<ChangesOptions, 'signal'>,
    handler: (event: ChangeEvent) => void,
    onError?: (error: unknown) => void,
  ): () => void {
    const controller = new AbortController();
    const iterator = this.changes({ ...options, signal: controller.signal });
    void (async () => {
      try {
        for await (const event of iterator) handler(event);
      } catch (error) {
        if (!controller.signal.aborted) onError?.(error);
      }
    })();
    return () => {
      controller.abort();
    };
  }

  async *#changes(
    prefix: string,
    fromCursor: number | undefined,
    options: ChangesOptions,
  ): AsyncGenerator<ChangeEvent> {
    const signal = options.signal;
    const interval = options.progressIntervalMs ?? 1000;
    this.#checkOpen();
    throwIfAborted(signal);
    let position = fromCursor;
    let yielded = fromCursor ?? 0;
    let lastYieldAt = this.clock.monotonic();
    const onAbort = (): void => {
      if (sub) sub.wake?.();
    };
    signal?.addEventListener('abort', onAbort);
    let sub: Subscriber | undefined;
    try {
      for (;;) {
        const registered = await this.#register(prefix, position, options.epoch);
        sub = registered.sub;
        if (position === undefined) {
          position = registered.head;
          yielded = position;
        }
        // Backlog: (position, head], read from an iterator opened at the registration turn.
        try {
          for await (const [k, value] of registered.backlog) {
            const record = value as FeedRecord;
            throwIfAborted(signal);
            const lseq = Number(k);
            if (lseq !== position + 1) {
              throw new VoxmeshError(
                ErrorCode.INVALID_STATE,
                `Change feed gap at ${position + 1} (found ${lseq})`,
              );
            }
            position = lseq;
            if (record.k.startsWith(prefix)) {
              yielded = lseq;
              lastYieldAt = this.clock.monotonic();
              yield toChange(lseq, record);
            }
          }
        } finally {
          await registered.backlog.close();
        }
        if (position < registered.head) {
          // The registration missed entries (only possible with deliberate faults).
          position = registered.head;
        }
        if (position > yielded && interval > 0) {
          yielded = position;
          lastYieldAt = this.clock.monotonic();
          yield { type: 'progress', cursor: position };
        }
        // Live.
        for (;;) {
          throwIfAborted(signal);
          if (sub.error !== undefined) throw sub.error;
          const next = sub.queue.shift();
          if (next !== undefined) {
            const [lseq, record] = next;
            if (lseq <= position) continue;
            position = lseq;
            if (record.k.startsWith(prefix)) {
              yielded = lseq;
              lastYieldAt = this.clock.monotonic();
              yield toChange(lseq, record);
            }
            continue;
          }
          if (sub.overflow) break;
          if (interval > 0 && position > yielded) {
            const wait = interval - (this.clock.monotonic() - lastYieldAt);
            if (wait <= 0) {
              yielded = position;
              lastYieldAt = this.clock.monotonic();
              yield { type: 'progress', cursor: position };
              continue;
            }
            await this.#wait(sub, wait);
          } else {
            await this.#wait(sub, undefined);
          }
        }
        // Overflowed: the listener fell too far behind; catch up from the feed.
        this.#subscribers.delete(sub);
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (sub) this.#subscribers.delete(sub);
    }
  }

  #wait(sub: Subscriber, ms: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : this.clock.setTimeout(() => wake(), ms);
      const wake = (): void => {
        timer?.cancel();
        sub.wake = undefined;
        resolve();
      };
      sub.wake = wake;
    });
  }

  #register(
    prefix: string,
    cursor: number | undefined,
    epoch: string | undefined,
  ): Promise<{
    sub: Subscriber;
    head: number;
    backlog: ReturnType<JsonSublevel<FeedRecord>['iterator']>;
  }> {
    return new Promise((resolve, reject) => {
      this.#atBoundary(() => {
        if (this.state !== 'running' && this.state !== 'draining') {
          reject(
            new VoxmeshError(ConfigDbErrorCode.UNAVAILABLE, `Replica ${this.id} stopped`, {
              retryable: true,
            }),
          );
          return;
        }
        if (epoch !== undefined && epoch !== this.#epoch) {
          reject(
            new VoxmeshError(
              ConfigDbErrorCode.EPOCH_MISMATCH,
              `Cursor of epoch ${epoch} but the replica is at epoch ${this.#epoch}: take a new snapshot`,
            ),
          );
          return;
        }
        const head = this.#committedLseq;
        const from = cursor ?? head;
        if (from > head) {
          reject(
            new VoxmeshError(
              ConfigDbErrorCode.EPOCH_MISMATCH,
              `Cursor ${from} is ahead of the replica's feed (${head}): take a new snapshot`,
            ),
          );
          return;
        }
        if (from < this.#feedStart - 1) {
          reject(
            new VoxmeshError(
              ConfigDbErrorCode.COMPACTED,
              `Changes after ${from} were compacted (the feed starts at ${this.#feedStart}): take a new snapshot`,
            ),
          );
          return;
        }
        // The iterator reads the database as it is now: exactly (from, head].
        const backlog = this.#feed.iterator({ gt: padSeq(from), lte: padSeq(head) });
        const sub: Subscriber = {
          prefix,
          queue: [],
          wake: undefined,
          error: undefined,
          overflow: false,
        };
        if (this.#faults.racySubscribe) {
          setImmediate(() => {
            setImmediate(() => this.#subscribers.add(sub));
          });
        } else {
          this.#subscribers.add(sub);
        }
        resolve({ sub, head, backlog });
      });
    });
  }

  // ──────────────────────────── write queue ─────────────────────────────

  #checkOpen(): void {
    if (this.state !== 'running' && this.state !== 'draining') {
      throw new VoxmeshError(ConfigDbErrorCode.UNAVAILABLE, `Replica ${this.id} is ${this.state}`, {
        retryable: true,
      });
    }
  }

  /** Runs `fn` between two group commits: now if none is in flight. */
  #atBoundary(fn: () => void): void {
    if (this.#busy) this.#boundary.push(fn);
    else fn();
  }

  #enqueue(prepare: (tx: Tx) => unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ prepare, resolve, reject });
      if (!this.#busy) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#pending.length > 0) {
        const group = this.#pending.splice(0, this.#maxGroup);
        const tx: Tx = { ops: [], feed: [], local: [] };
        for (const task of group) {
          try {
            task.result = task.prepare(tx);
          } catch (error) {
            task.failed = true;
            task.reject(error);
          }
        }
        this.#trimFeed(tx);
        tx.ops.push({
          type: 'put',
          sublevel: this.#meta,
          key: 'state',
          value: { vv: this.#vv, lseq: this.#lseq, hlc: this.#hlc.current },
        });
        try {
          await this.#db?.batch(tx.ops as AbstractBatchOperation<ConfigLevel, string, string>[]);
        } catch (error) {
          this.#logger.error({ err: error }, 'group commit failed; reloading state');
          for (const task of group) if (!task.failed) task.reject(error);
          await this.#load().catch(() => undefined);
          continue;
        }
        this.#committed(tx);
        for (const task of group) if (!task.failed) task.resolve(task.result);
        this.#runBoundary();
      }
    } finally {
      this.#busy = false;
      this.#runBoundary();
    }
  }

  #runBoundary(): void {
    const fns = this.#boundary.splice(0);
    for (const fn of fns) fn();
  }

  #committed(tx: Tx): void {
    this.#committedVV = { ...this.#vv };
    if (tx.feed.length > 0) {
      this.#committedLseq = tx.feed[tx.feed.length - 1]?.[0] ?? this.#committedLseq;
      this.#notify(tx.feed);
    }
    if (tx.local.length > 0) {
      this.#metrics.writes.inc({ replica: this.id }, tx.local.length);
      this.#broadcast(tx.local);
    }
  }

  #notify(entries: [number, FeedRecord][]): void {
    for (const sub of this.#subscribers) {
      if (sub.overflow) continue;
      if (sub.queue.length + entries.length > MAX_SUBSCRIBER_BUFFER) {
        sub.overflow = true;
        sub.queue.length = 0;
        sub.wake?.();
        continue;
      }
      for (const entry of entries) sub.queue.push(entry);
      sub.wake?.();
    }
  }

  #appendFeed(tx: Tx, record: FeedRecord): number {
    const lseq = ++this.#lseq;
    tx.ops.push({ type: 'put', sublevel: this.#feed, key: padSeq(lseq), value: record });
    tx.feed.push([lseq, record]);
    return lseq;
  }

  #trimFeed(tx: Tx): void {
    const excess = this.#lseq - this.#feedStart + 1 - this.#retain;
    if (excess <= 0) return;
    const n = Math.min(excess, 2 * tx.feed.length + 1000);
    for (let i = 0; i < n; i++) {
      tx.ops.push({ type: 'del', sublevel: this.#feed, key: padSeq(this.#feedStart + i) });
    }
    this.#feedStart += n;
  }

  #prepareLocal(tx: Tx, operations: readonly BatchOperation[]): WriteResult {
    let stamp: HlcTimestamp = this.#hlc.current;
    let cursor = this.#lseq;
    for (const op of operations) {
      stamp = this.#hlc.tick();
      const seq = (this.#vv[this.#origin] ?? 0) + 1;
      const replicated: ReplicatedOp =
        op.type === 'put'
          ? { o: this.#origin, s: seq, k: op.key, v: op.value, l: stamp.l, c: stamp.c }
          : { o: this.#origin, s: seq, k: op.key, d: true, l: stamp.l, c: stamp.c };
      this.#applyOp(tx, replicated);
      tx.local.push(replicated);
      cursor = this.#lseq;
    }
    if (!this.#ologFirst.has(this.#origin)) this.#ologFirst.set(this.#origin, 1);
    return { cursor, l: stamp.l, c: stamp.c, origin: this.#origin };
  }

  /** Applies one op in its origin's order: LWW on the key, op log, version vector. */
  #applyOp(tx: Tx, op: ReplicatedOp): void {
    const current = this.#entries.get(op.k);
    const wins =
      current === undefined ||
      (this.#faults.noTieBreak
        ? compareHlc(op, current) >= 0
        : compareStamps({ l: op.l, c: op.c, o: op.o }, current) > 0);
    if (wins) {
      const entry: StoredEntry = op.d
        ? { d: true, l: op.l, c: op.c, o: op.o, s: op.s }
        : { v: op.v, l: op.l, c: op.c, o: op.o, s: op.s };
      this.#entries.set(op.k, entry);
      tx.ops.push({ type: 'put', sublevel: this.#kv, key: op.k, value: entry });
      this.#appendFeed(tx, op.d ? { k: op.k, d: true } : { k: op.k, v: op.v });
    } else {
      this.#metrics.losers.inc({ replica: this.id });
      this.#logger.debug({ key: op.k, origin: op.o, seq: op.s }, 'write lost last-writer-wins');
    }
    tx.ops.push({ type: 'put', sublevel: this.#olog, key: `${op.o}!${padSeq(op.s)}`, value: op });
    this.#vv[op.o] = op.s;
  }

  /**
   * The naive write path (each write committed on its own, feed position
   * assigned before the write): kept only to demonstrate the reordering trap.
   */
  async #unqueuedWrite(operations: readonly BatchOperation[]): Promise<WriteResult> {
    const tx: Tx = { ops: [], feed: [], local: [] };
    const result = this.#prepareLocal(tx, operations);
    await this.#db?.batch(tx.ops as AbstractBatchOperation<ConfigLevel, string, string>[]);
    this.#committedVV = { ...this.#vv };
    for (const entry of tx.feed) {
      // Listeners take whatever committed last as the head.
      this.#committedLseq = Math.max(this.#committedLseq, entry[0]);
    }
    this.#notify(tx.feed);
    this.#broadcast(tx.local);
    return result;
  }

  // ──────────────────────────── replication ─────────────────────────────

  #broadcast(ops: ReplicatedOp[]): void {
    const transport = this.#options.transport;
    if (!transport) return;
    const vv = this.versionVector;
    for (let i = 0; i < ops.length; i += this.#maxOps) {
      const chunk = ops.slice(i, i + this.#maxOps);
      for (const peer of transport.peers) transport.send(peer, { type: 'ops', ops: chunk, vv });
    }
  }

  #sendSync(peer: string, force: boolean): void {
    const transport = this.#options.transport;
    if (!transport || this.state === 'stopping' || this.state === 'stopped') return;
    if (!force && this.#syncPending.has(peer)) return;
    this.#syncPending.add(peer);
    transport.send(peer, { type: 'sync', origin: this.#origin, vv: this.versionVector });
  }

  #antiEntropyRound(): void {
    const transport = this.#options.transport;
    if (!transport) return;
    for (const peer of transport.peers) this.#sendSync(peer, true);
    this.#collectGarbage();
  }

  #onMessage(peer: string, message: ReplicationMessage): void {
    if (this.state !== 'running' && this.state !== 'draining') return;
    switch (message.type) {
      case 'sync':
        this.#acks.set(peer, { origin: message.origin, vv: message.vv });
        void this.#serveSync(peer, message.vv).catch((error: unknown) => {
          this.#logger.warn({ err: error, peer }, 'anti-entropy read failed');
        });
        break;
      case 'ops':
        this.#syncPending.delete(peer);
        void this.#enqueue((tx) => this.#prepareRemote(tx, message.ops)).then(
          () => {
            if (behind(this.#vv, message.vv)) this.#sendSync(peer, false);
          },
          (error: unknown) => {
            this.#logger.warn({ err: error, peer }, 'applying remote ops failed');
          },
        );
        break;
      case 'state':
        this.#syncPending.delete(peer);
        void this.#enqueue((tx) => this.#prepareState(tx, message.entries, message.vv)).catch(
          (error: unknown) => {
            this.#logger.warn({ err: error, peer }, 'applying a state transfer failed');
          },
        );
        break;
      default:
        this.#logger.warn({ peer }, 'unknown replication message dropped');
    }
  }

  /** Anti-entropy: sends `peer` every op after its vector, or a state transfer. */
  async #serveSync(peer: string, theirs: VersionVector): Promise<void> {
    const transport = this.#options.transport;
    if (!transport) return;
    const ours = this.versionVector;
    const ops: ReplicatedOp[] = [];
    for (const [origin, seq] of Object.entries(ours)) {
      const have = theirs[origin] ?? 0;
      if (seq <= have) continue;
      const first = this.#ologFirst.get(origin) ?? seq + 1;
      if (first > have + 1) {
        // The ops they lack were collected: send the whole state instead.
        const entries = [...this.#entries].filter(([, e]) => (ours[e.o] ?? 0) >= e.s);
        transport.send(peer, { type: 'state', entries, vv: ours });
        return;
      }
      const room = this.#maxOps - ops.length;
      if (room <= 0) break;
      const rows = await this.#olog
        .values({
          gt: `${origin}!${padSeq(have)}`,
          lte: `${origin}!${padSeq(seq)}`,
          limit: room,
        })
        .all();
      let expected = have + 1;
      for (const op of rows) {
        if (op.s !== expected) break;
        ops.push(op);
        expected++;
      }
    }
    transport.send(peer, { type: 'ops', ops, vv: ours });
  }

  #prepareRemote(tx: Tx, ops: readonly ReplicatedOp[]): void {
    const now = this.clock.now();
    const maxDrift = this.#options.maxClockDriftMs ?? 60_000;
    for (const op of ops) {
      const have = this.#vv[op.o] ?? 0;
      if (op.o === this.#origin || op.s <= have) continue; // duplicate
      // Remote ops apply only in their origin's order; a gap waits for anti-entropy.
      if (op.s !== have + 1 && !this.#faults.outOfOrderApply) continue;
      if (op.l - now > maxDrift) {
        this.#metrics.drift.inc({ replica: this.id });
        this.#logger.warn(
          { origin: op.o, aheadMs: op.l - now },
          'remote write stamped far in the future',
        );
      }
      this.#hlc.receive(op);
      if (!this.#ologFirst.has(op.o)) this.#ologFirst.set(op.o, op.s);
      this.#applyOp(tx, op);
      this.#metrics.applied.inc({ replica: this.id });
    }
  }

  #prepareState(
    tx: Tx,
    entries: readonly (readonly [string, StoredEntry])[],
    vv: VersionVector,
  ): void {
    const fresh = Object.entries(vv).filter(([origin, seq]) => seq > (this.#vv[origin] ?? 0));
    if (fresh.length === 0) return;
    for (const [key, entry] of entries) {
      if ((this.#vv[entry.o] ?? 0) >= entry.s) continue;
      const current = this.#entries.get(key);
      if (current !== undefined && compareStamps(entry, current) <= 0) continue;
      this.#hlc.receive(entry);
      const stored: StoredEntry = entry.d
        ? { d: true, l: entry.l, c: entry.c, o: entry.o, s: entry.s }
        : { v: entry.v, l: entry.l, c: entry.c, o: entry.o, s: entry.s };
      this.#entries.set(key, stored);
      tx.ops.push({ type: 'put', sublevel: this.#kv, key, value: stored });
      this.#appendFeed(tx, stored.d ? { k: key, d: true } : { k: key, v: stored.v });
    }
    for (const [origin, seq] of fresh) {
      // Ops up to `seq` are now covered by state; our op log for them is incomplete.
      this.#vv[origin] = seq;
      this.#ologFirst.set(origin, seq + 1);
    }
  }

  /**
   * Collects op logs and tombstones that every peer acknowledged. A tombstone
   * also waits until we hold every write its peers made before acknowledging
   * it, so a concurrent older write cannot resurrect the key.
   */
  #collectGarbage(): void {
    const transport = this.#options.transport;
    if (!transport || transport.peers.length === 0) return;
    const acks = transport.peers.map((p) => this.#acks.get(p));
    if (acks.some((a) => a === undefined)) return;
    const known = acks as { origin: string; vv: VersionVector }[];
    void this.#enqueue((tx) => {
      const vv = this.#committedVV;
      for (const origin of Object.keys(vv)) {
        const acked = Math.min(vv[origin] ?? 0, ...known.map((a) => a.vv[origin] ?? 0));
        const first = this.#ologFirst.get(origin) ?? acked + 1;
        const upTo = Math.min(acked, first + 10_000);
        for (let s = first; s <= upTo; s++) {
          tx.ops.push({ type: 'del', sublevel: this.#olog, key: `${origin}!${padSeq(s)}` });
        }
        if (upTo >= first) this.#ologFirst.set(origin, upTo + 1);
      }
      const caughtUp = known.every((a) => (vv[a.origin] ?? 0) >= (a.vv[a.origin] ?? 0));
      if (!caughtUp) return;
      for (const [key, entry] of this.#entries) {
        if (!entry.d) continue;
        if (known.every((a) => (a.vv[entry.o] ?? 0) >= entry.s)) {
          this.#entries.delete(key);
          tx.ops.push({ type: 'del', sublevel: this.#kv, key });
        }
      }
    }).catch((error: unknown) => {
      this.#logger.warn({ err: error }, 'garbage collection failed');
    });
  }
}

function behind(ours: VersionVector, theirs: VersionVector): boolean {
  return Object.entries(theirs).some(([origin, seq]) => seq > (ours[origin] ?? 0));
}

function toChange(cursor: number, record: FeedRecord): ChangeEvent {
  return record.d
    ? { type: 'change', cursor, key: record.k, value: undefined, deleted: true }
    : { type: 'change', cursor, key: record.k, value: record.v, deleted: false };
}
