/**
 * The data model and the backend contract shared by every implementation.
 *
 * @module
 */

/** A version vector: for each origin, the highest sequence number applied. */
export type VersionVector = Record<string, number>;

/** One write as replicated between replicas (an entry of a per-origin op log). */
export interface ReplicatedOp {
  /** Origin (replica incarnation) that made the write. */
  readonly o: string;
  /** Sequence number of the write at its origin: 1, 2, 3, ... without gaps. */
  readonly s: number;
  /** The key. */
  readonly k: string;
  /** The value (absent for a delete). */
  readonly v?: unknown;
  /** `true` for a delete (a tombstone). */
  readonly d?: boolean;
  /** HLC physical part. */
  readonly l: number;
  /** HLC counter. */
  readonly c: number;
}

/** The current winner for one key, as stored (tombstones included). */
export interface StoredEntry {
  /** The value (absent for a tombstone). */
  readonly v?: unknown;
  /** `true` for a tombstone. */
  readonly d?: boolean;
  /** HLC physical part of the winning write. */
  readonly l: number;
  /** HLC counter of the winning write. */
  readonly c: number;
  /** Origin of the winning write. */
  readonly o: string;
  /** Sequence number of the winning write at its origin. */
  readonly s: number;
}

/** A change delivered to a listener. */
export interface ChangeEntry {
  readonly type: 'change';
  /** The position of this change in the replica's change feed: previous cursor + 1. */
  readonly cursor: number;
  readonly key: string;
  /** The new value; `undefined` when deleted. */
  readonly value: unknown;
  readonly deleted: boolean;
}

/**
 * A progress heartbeat: the listener is up to date up to `cursor` (changes in
 * between did not match its prefix). Store it as the resume cursor.
 */
export interface ProgressEntry {
  readonly type: 'progress';
  readonly cursor: number;
}

/** What {@link ConfigBackend.changes} yields. */
export type ChangeEvent = ChangeEntry | ProgressEntry;

/** An atomic snapshot: the state at exactly `cursor` of `epoch`. */
export interface ConfigSnapshot {
  /** Identifies this incarnation of the replica's change feed. */
  readonly epoch: string;
  /** The feed position the state corresponds to; resume `changes()` after it. */
  readonly cursor: number;
  /** Every live key (matching the prefix, if one was given) and its value. */
  readonly state: Map<string, unknown>;
}

/** Options of {@link ConfigBackend.get} and other single-key calls. */
export interface CallOptions {
  /** Aborts the operation. */
  signal?: AbortSignal | undefined;
}

/** What an acknowledged write returns. */
export interface WriteResult {
  /** The feed position of the (last) change this write made on the replica that took it. */
  readonly cursor: number;
  /** The write's HLC physical part. */
  readonly l: number;
  /** The write's HLC counter. */
  readonly c: number;
  /** The origin that made the write. */
  readonly origin: string;
}

/** One operation of {@link ConfigBackend.batch}. */
export type BatchOperation =
  | { readonly type: 'put'; readonly key: string; readonly value: unknown }
  | { readonly type: 'del'; readonly key: string };

/** Options of {@link ConfigBackend.list} and {@link ConfigBackend.snapshot}. */
export interface ListOptions extends CallOptions {
  /**
   * Only keys starting with this prefix.
   * @defaultValue `''` (every key)
   */
  prefix?: string | undefined;
}

/** Options of {@link ConfigBackend.changes}. */
export interface ChangesOptions extends CallOptions {
  /**
   * Only changes of keys starting with this prefix (others advance the cursor
   * through progress heartbeats).
   * @defaultValue `''` (every key)
   */
  prefix?: string | undefined;
  /**
   * Resume after this cursor (from a snapshot, a change or a progress entry).
   * @defaultValue the current head: only changes made from now on
   */
  cursor?: number | undefined;
  /**
   * The epoch the cursor belongs to; a different epoch fails with
   * `EPOCH_MISMATCH`.
   * @defaultValue not checked
   */
  epoch?: string | undefined;
  /**
   * How often a filtered listener gets a progress heartbeat when changes it
   * does not see have moved the feed on. `0` disables heartbeats.
   * @defaultValue `1000`
   */
  progressIntervalMs?: number | undefined;
}

/**
 * The backend contract: what a configuration store offers its clients, be it
 * an embedded {@link ConfigReplica}, a remote client, or an adapter for an
 * external engine (etcd). `@voxmesh/configdb/testing` exports its conformance
 * suite.
 */
export interface ConfigBackend {
  /** The value of `key`, or `undefined`. */
  get(key: string, options?: CallOptions): Promise<unknown>;
  /** Sets `key` to `value` (any JSON value except `null`-less `undefined`). */
  put(key: string, value: unknown, options?: CallOptions): Promise<WriteResult>;
  /** Deletes `key` (a no-op change if absent). */
  del(key: string, options?: CallOptions): Promise<WriteResult>;
  /** Applies several writes atomically: a listener sees all of them or none. */
  batch(operations: readonly BatchOperation[], options?: CallOptions): Promise<WriteResult>;
  /** Live keys and values in key order, optionally under a prefix. */
  list(options?: ListOptions): Promise<[key: string, value: unknown][]>;
  /** An atomic snapshot `{ epoch, cursor, state }`. */
  snapshot(options?: ListOptions): Promise<ConfigSnapshot>;
  /**
   * Changes after `cursor`, then live ones, without gap or duplicate. Fails
   * with `COMPACTED` or `EPOCH_MISMATCH` when the client must re-snapshot.
   */
  changes(options?: ChangesOptions): AsyncIterableIterator<ChangeEvent>;
}

/** Messages replicas exchange. Peers' messages are validated before use. */
export type ReplicationMessage =
  | {
      /** "Send me everything after `vv`"; `vv` also acknowledges what the sender holds. */
      readonly type: 'sync';
      readonly origin: string;
      readonly vv: VersionVector;
    }
  | {
      /** Ops in per-origin order, and the sender's vector (to ask for more). */
      readonly type: 'ops';
      readonly ops: readonly ReplicatedOp[];
      readonly vv: VersionVector;
    }
  | {
      /** A full state transfer, sent when op logs needed were already collected. */
      readonly type: 'state';
      readonly entries: readonly (readonly [string, StoredEntry])[];
      readonly vv: VersionVector;
    };

/** Callbacks a replica gives its transport. */
export interface TransportHandler {
  /** A message arrived from peer `peerId`. */
  message(peerId: string, message: ReplicationMessage): void;
  /** A link to `peerId` came up (run anti-entropy now). */
  peerUp(peerId: string): void;
  /** A link to `peerId` went down. */
  peerDown(peerId: string): void;
}

/**
 * How replicas reach each other. Delivery may drop, duplicate, delay and
 * reorder messages: replication tolerates all four.
 */
export interface ReplicationTransport {
  /** The ids of every peer replica of this shard (not including this one). */
  readonly peers: readonly string[];
  /** Begins delivering messages to `handler`. */
  start(handler: TransportHandler, options?: CallOptions): Promise<void>;
  /** Sends to one peer, best effort. */
  send(peerId: string, message: ReplicationMessage): void;
  /** Stops, closing every link. */
  close(): Promise<void>;
}
