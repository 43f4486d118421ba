/**
 * The `HistoryStore` interface: what every call history backend implements.
 *
 * @module
 */

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
 * A call history backend: CDRs, activities, statistics, retention.
 *
 * Every backend runs the conformance suite `historyStoreSuite` from
 * `@voxmesh/history/testing`. The rules it checks:
 *
 * - Writes are idempotent: a record whose id is already stored counts as a
 *   duplicate and is left untouched, so an outbox may replay a batch.
 * - Every query is scoped to one tenant; results are newest first (by time,
 *   then by id, both descending) and pages never overlap or skip.
 * - Invalid input rejects with `INVALID_INPUT`, a foreign or malformed cursor
 *   with `HISTORY_INVALID_CURSOR`, an aborted signal with `ABORTED`, a failed
 *   backend with the retryable `HISTORY_BACKEND_UNAVAILABLE`, and use before
 *   `open()` or after `close()` with `HISTORY_STORE_NOT_OPEN`.
 */
export interface HistoryStore extends AsyncDisposable {
  /** Opens the backend (connects, creates indexes). Idempotent. */
  open(options?: OperationOptions): Promise<void>;
  /** Closes the backend. Idempotent; `Symbol.asyncDispose` does the same. */
  close(): Promise<void>;
  /** Stores CDRs (one per call leg). Duplicates of stored ids are skipped. */
  recordCdrs(cdrs: readonly CdrInput[], options?: OperationOptions): Promise<RecordResult>;
  /** Stores activities. Duplicates of stored ids are skipped. */
  recordActivities(
    activities: readonly ActivityInput[],
    options?: OperationOptions,
  ): Promise<RecordResult>;
  /** One CDR by id, or `undefined`. */
  getCdr(options: TenantOptions & { id: string }): Promise<Cdr | undefined>;
  /** CDRs of one tenant, filtered, newest first, one page at a time. */
  queryCdrs(query: CdrQuery): Promise<Page<Cdr>>;
  /** Activities of one tenant, newest first, one page at a time. */
  queryActivities(query: ActivityQuery): Promise<Page<Activity>>;
  /** Calls, answered calls, minutes and averages per local hour or day. */
  statistics(query: StatisticsQuery): Promise<Statistics>;
  /** Sets how long a tenant's records written from now on are kept. */
  setRetention(options: RetentionOptions): Promise<void>;
  /** The tenant's retention in milliseconds, or `null` when records are kept. */
  getRetention(options: TenantOptions): Promise<number | null>;
  /**
   * Deletes records whose `expireAt` has passed. Backends with their own
   * expiry (a MongoDB TTL index) delete them anyway, within a minute or so.
   * @returns the number of records deleted.
   */
  purgeExpired(options?: PurgeOptions): Promise<number>;
  /**
   * Deletes every record and setting of a tenant.
   * @returns the number of records deleted.
   */
  deleteTenant(options: TenantOptions): Promise<number>;
}
