/**
 * A {@link HistoryStore} wrapper that fails on demand, for testing what sits
 * in front of a backend (the outbox, an application's own retry logic).
 *
 * @module
 */

import { VoxmeshError } from '@voxmesh/core';
import { HistoryErrorCode } from './errors.js';
import type { HistoryStore } from './history-store.js';
import type {
  Activity,
  ActivityInput,
  ActivityQuery,
  Cdr,
  CdrInput,
  CdrQuery,
  OperationOptions,
  Page,
  PurgeOptions,
  RecordResult,
  RetentionOptions,
  Statistics,
  StatisticsQuery,
  TenantOptions,
} from './model.js';

/**
 * What one call of a wrapped write does:
 * - `'pass'`: goes through;
 * - `'fail'`: rejects with a retryable `HISTORY_BACKEND_UNAVAILABLE`, writing nothing;
 * - `'lose-ack'`: goes through, then rejects as if the acknowledgement was
 *   lost on the way back (the records are stored, the caller thinks not).
 */
export type FlakyOperation = 'pass' | 'fail' | 'lose-ack';

/** Options of the {@link FlakyHistoryStore} constructor. */
export interface FlakyHistoryStoreOptions {
  /** The real store every passing call goes to. */
  store: HistoryStore;
}

/**
 * Wraps a store and fails its writes as scripted with {@link FlakyHistoryStore.script},
 * or all of its calls while {@link FlakyHistoryStore.down} is `true`.
 *
 * @example
 * ```ts
 * const flaky = new FlakyHistoryStore({ store });
 * flaky.script('recordCdrs', ['pass', 'lose-ack', 'fail', 'fail']);
 * ```
 */
export class FlakyHistoryStore implements HistoryStore {
  /** The wrapped store. */
  readonly store: HistoryStore;
  /** While `true`, every call rejects with `HISTORY_BACKEND_UNAVAILABLE`. */
  down = false;
  /** How many times each write method was called (including failed calls). */
  readonly calls = { recordCdrs: 0, recordActivities: 0 };
  readonly #scripts = {
    recordCdrs: [] as FlakyOperation[],
    recordActivities: [] as FlakyOperation[],
  };

  constructor(options: FlakyHistoryStoreOptions) {
    this.store = options.store;
  }

  /** Appends what the next calls of `method` do; once the script runs out, calls pass. */
  script(method: 'recordCdrs' | 'recordActivities', operations: readonly FlakyOperation[]): void {
    this.#scripts[method].push(...operations);
  }

  open(options?: OperationOptions): Promise<void> {
    return this.store.open(options);
  }

  close(): Promise<void> {
    return this.store.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  recordCdrs(cdrs: readonly CdrInput[], options?: OperationOptions): Promise<RecordResult> {
    return this.#write('recordCdrs', () => this.store.recordCdrs(cdrs, options));
  }

  recordActivities(
    activities: readonly ActivityInput[],
    options?: OperationOptions,
  ): Promise<RecordResult> {
    return this.#write('recordActivities', () => this.store.recordActivities(activities, options));
  }

  getCdr(options: TenantOptions & { id: string }): Promise<Cdr | undefined> {
    return this.#read(() => this.store.getCdr(options));
  }

  queryCdrs(query: CdrQuery): Promise<Page<Cdr>> {
    return this.#read(() => this.store.queryCdrs(query));
  }

  queryActivities(query: ActivityQuery): Promise<Page<Activity>> {
    return this.#read(() => this.store.queryActivities(query));
  }

  statistics(query: StatisticsQuery): Promise<Statistics> {
    return this.#read(() => this.store.statistics(query));
  }

  setRetention(options: RetentionOptions): Promise<void> {
    return this.#read(() => this.store.setRetention(options));
  }

  getRetention(options: TenantOptions): Promise<number | null> {
    return this.#read(() => this.store.getRetention(options));
  }

  purgeExpired(options?: PurgeOptions): Promise<number> {
    return this.#read(() => this.store.purgeExpired(options));
  }

  deleteTenant(options: TenantOptions): Promise<number> {
    return this.#read(() => this.store.deleteTenant(options));
  }

  #read<T>(work: () => Promise<T>): Promise<T> {
    if (this.down) return Promise.reject(unavailable('the backend is down'));
    return work();
  }

  async #write(
    method: 'recordCdrs' | 'recordActivities',
    work: () => Promise<RecordResult>,
  ): Promise<RecordResult> {
    this.calls[method]++;
    if (this.down) throw unavailable('the backend is down');
    const operation = this.#scripts[method].shift() ?? 'pass';
    if (operation === 'fail') throw unavailable(`scripted failure of ${method}`);
    const result = await work();
    if (operation === 'lose-ack') throw unavailable(`scripted lost acknowledgement of ${method}`);
    return result;
  }
}

function unavailable(message: string): VoxmeshError {
  return new VoxmeshError(HistoryErrorCode.BACKEND_UNAVAILABLE, message, { retryable: true });
}
