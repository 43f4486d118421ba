/**
 * The durable client view: what a telephony node holds of its tenants'
 * configuration. It persists `{ epoch, cursor, state }` locally, serves reads
 * from it (also while every replica is unreachable: offline mode), and when
 * the source returns it resumes after its cursor or, if told `COMPACTED` /
 * `EPOCH_MISMATCH`, takes a new snapshot.
 *
 * ```text
 *   start() ── load local copy ──► serving (offline) ──connect──► online
 *                                      ▲                           │
 *                                      └──── source unreachable ◄──┘
 *   online: changes(epoch, cursor) ─ COMPACTED / EPOCH_MISMATCH ─► snapshot()
 * ```
 *
 * @module
 */

import type { AbstractBatchOperation, AbstractSublevel } from 'abstract-level';
import { ClassicLevel } from 'classic-level';
import {
  type Clock,
  type Logger,
  Service,
  VoxmeshError,
  abortable,
  onceEvent,
  silentLogger,
} from '@voxmesh/core';
import { ConfigDbErrorCode } from './errors.js';
import type { ConfigLevel } from './replica.js';
import type { CallOptions, ChangeEntry, ConfigBackend } from './types.js';

/** Options of the {@link ConfigView} constructor. */
export interface ConfigViewOptions {
  /** Where changes come from: a replica, a {@link RemoteConfigClient}, any {@link ConfigBackend}. */
  source: Pick<ConfigBackend, 'snapshot' | 'changes'>;
  /**
   * The local database holding the view.
   * @defaultValue a `ClassicLevel` at {@link ConfigViewOptions.location}
   */
  db?: ConfigLevel | undefined;
  /** Directory of the default classic-level database; required unless `db` is given. */
  location?: string | undefined;
  /**
   * Only keys under this prefix (e.g. the tenants a node serves).
   * @defaultValue `''`
   */
  prefix?: string | undefined;
  /**
   * Delay before reconnecting after the source failed; doubles up to 30 s.
   * @defaultValue `500`
   */
  retryDelayMs?: number | undefined;
  /**
   * Progress heartbeat interval asked of the source.
   * @defaultValue `1000`
   */
  progressIntervalMs?: number | undefined;
  /** @defaultValue `systemClock` */
  clock?: Clock | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
}

/** Events of a {@link ConfigView}. */
export interface ConfigViewEvents {
  /** A change was applied to the view (and persisted). */
  change: [change: ChangeEntry];
  /** The view replaced its state with a new snapshot. */
  resnapshot: [cursor: number];
  /** The view is connected and following the source. */
  online: [];
  /** The source became unreachable; the view keeps serving its local copy. */
  offline: [error: unknown];
}

interface ViewMeta {
  epoch: string;
  cursor: number;
}

/**
 * A locally persisted, live view of (part of) the configuration.
 *
 * @example
 * ```ts
 * const view = new ConfigView({ source: client, location: '/var/lib/voxmesh/config', prefix: 'tenants/' });
 * await view.start();               // serves the local copy at once
 * view.get('tenants/acme/users/100');
 * view.on('change', (c) => reload(c.key));
 * ```
 */
export class ConfigView extends Service<ConfigViewEvents> {
  readonly #options: ConfigViewOptions;
  readonly #prefix: string;
  readonly #logger: Logger;
  #db: ConfigLevel | undefined;
  #ownsDb = false;
  #state!: AbstractSublevel<ConfigLevel, string | Buffer | Uint8Array, string, unknown>;
  #meta!: AbstractSublevel<ConfigLevel, string | Buffer | Uint8Array, string, ViewMeta>;
  #data = new Map<string, unknown>();
  #epoch: string | undefined;
  #cursor = 0;
  #online = false;
  #loop: Promise<void> | undefined;

  constructor(options: ConfigViewOptions) {
    if (options.db === undefined && options.location === undefined) {
      throw new TypeError('ConfigView needs `db` or `location`');
    }
    super({ name: 'configdb-view', clock: options.clock });
    this.#options = options;
    this.#prefix = options.prefix ?? '';
    this.#logger = options.logger ?? silentLogger;
  }

  /** Whether the view is currently following the source. */
  get online(): boolean {
    return this.#online;
  }

  /** The epoch of the source feed the view follows (`undefined` before the first snapshot). */
  get epoch(): string | undefined {
    return this.#epoch;
  }

  /** The last source cursor applied. */
  get cursor(): number {
    return this.#cursor;
  }

  /** The value of `key` in the view, or `undefined`. */
  get(key: string): unknown {
    return this.#data.get(key);
  }

  /** Keys and values under `prefix`, in key order. */
  entries(prefix = ''): [string, unknown][] {
    return [...this.#data]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Resolves once the view is online (immediately if it is). */
  async whenOnline(options: CallOptions = {}): Promise<void> {
    if (this.#online) return;
    await abortable(onceEvent(this, 'online'), options.signal);
  }

  protected async onStart(signal: AbortSignal): Promise<void> {
    if (this.#options.db) this.#db = this.#options.db;
    else {
      this.#db = new ClassicLevel<string, string>(this.#options.location as string);
      this.#ownsDb = true;
    }
    await abortable(this.#db.open(), signal);
    this.#state = this.#db.sublevel<string, unknown>('view-state', { valueEncoding: 'json' });
    this.#meta = this.#db.sublevel<string, ViewMeta>('view-meta', { valueEncoding: 'json' });
    const meta = await this.#meta.get('position');
    if (meta) {
      this.#epoch = meta.epoch;
      this.#cursor = meta.cursor;
      this.#data = new Map(await this.#state.iterator().all());
    }
    this.#loop = this.#follow();
  }

  protected async onStop(): Promise<void> {
    await this.#loop;
    this.#setOnline(false, undefined);
    if (this.#ownsDb) await this.#db?.close();
  }

  #setOnline(online: boolean, error: unknown): void {
    if (online === this.#online) return;
    this.#online = online;
    if (online) this.emit('online');
    else if (this.state === 'running') this.emit('offline', error);
  }

  async #follow(): Promise<void> {
    const signal = this.signal;
    const base = this.#options.retryDelayMs ?? 500;
    let delay = base;
    while (!signal.aborted) {
      try {
        if (this.#epoch === undefined) await this.#resnapshot(signal);
        const changes = this.#options.source.changes({
          prefix: this.#prefix,
          epoch: this.#epoch,
          cursor: this.#cursor,
          progressIntervalMs: this.#options.progressIntervalMs ?? 1000,
          signal,
        });
        // A subscription that has not failed within a moment is registered:
        // a quiet feed yields nothing, so do not wait for a first event.
        const iterator = changes[Symbol.asyncIterator]();
        const pending = iterator.next();
        pending.catch(() => undefined);
        await Promise.race([pending, this.clock.sleep(50, { signal })]);
        this.#setOnline(true, undefined);
        delay = base;
        for (let next = await pending; !next.done; next = await iterator.next()) {
          const event = next.value;
          if (event.type === 'progress') {
            await this.#persistCursor(event.cursor);
            continue;
          }
          await this.#apply(event);
        }
      } catch (caught) {
        let error = caught;
        if (signal.aborted) return;
        if (
          VoxmeshError.is(error, ConfigDbErrorCode.COMPACTED) ||
          VoxmeshError.is(error, ConfigDbErrorCode.EPOCH_MISMATCH)
        ) {
          this.#logger.info({ err: error }, 'config view re-snapshots');
          try {
            await this.#resnapshot(signal);
            continue;
          } catch (snapshotError) {
            error = snapshotError;
          }
        }
        this.#logger.warn({ err: error }, 'config source unreachable; serving the local copy');
        this.#setOnline(false, error);
        try {
          await this.clock.sleep(delay, { signal });
        } catch {
          return;
        }
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  async #resnapshot(signal: AbortSignal): Promise<void> {
    const snapshot = await this.#options.source.snapshot({ prefix: this.#prefix, signal });
    const ops: AbstractBatchOperation<ConfigLevel, string, unknown>[] = [];
    for (const key of this.#data.keys()) {
      if (!snapshot.state.has(key)) ops.push({ type: 'del', sublevel: this.#state, key });
    }
    for (const [key, value] of snapshot.state) {
      ops.push({ type: 'put', sublevel: this.#state, key, value });
    }
    ops.push({
      type: 'put',
      sublevel: this.#meta,
      key: 'position',
      value: { epoch: snapshot.epoch, cursor: snapshot.cursor },
    });
    await this.#db?.batch(ops as AbstractBatchOperation<ConfigLevel, string, string>[]);
    this.#data = new Map(snapshot.state);
    this.#epoch = snapshot.epoch;
    this.#cursor = snapshot.cursor;
    this.emit('resnapshot', snapshot.cursor);
  }

  async #apply(change: ChangeEntry): Promise<void> {
    const ops: AbstractBatchOperation<ConfigLevel, string, unknown>[] = [
      change.deleted
        ? { type: 'del', sublevel: this.#state, key: change.key }
        : { type: 'put', sublevel: this.#state, key: change.key, value: change.value },
      {
        type: 'put',
        sublevel: this.#meta,
        key: 'position',
        value: { epoch: this.#epoch as string, cursor: change.cursor },
      },
    ];
    await this.#db?.batch(ops as AbstractBatchOperation<ConfigLevel, string, string>[]);
    if (change.deleted) this.#data.delete(change.key);
    else this.#data.set(change.key, change.value);
    this.#cursor = change.cursor;
    this.emit('change', change);
  }

  async #persistCursor(cursor: number): Promise<void> {
    await this.#meta.put('position', { epoch: this.#epoch as string, cursor });
    this.#cursor = cursor;
  }
}
