/**
 * `@voxmesh/history`: call history — CDRs (one per call leg), activities and
 * statistics — behind the {@link HistoryStore} interface, with an embedded
 * backend on abstract-level ({@link EmbeddedHistoryStore}, the default) and a
 * MongoDB backend (`@voxmesh/history/mongodb`), and an offline
 * {@link HistoryOutbox} that keeps writes safe while a backend is down.
 *
 * @packageDocumentation
 */

export { HistoryErrorCode } from './errors.js';
export type { HistoryStore } from './history-store.js';
export {
  CALL_DIRECTIONS,
  CALL_DISPOSITIONS,
  DEFAULT_LIMIT,
  MAX_LIMIT,
  SCHEMA_VERSION,
  cdrId,
  normalizeActivity,
  normalizeCdr,
} from './model.js';
export type {
  Activity,
  ActivityInput,
  ActivityQuery,
  CallDirection,
  CallDisposition,
  CallTotals,
  Cdr,
  CdrInput,
  CdrQuery,
  JsonValue,
  OperationOptions,
  Page,
  PurgeOptions,
  RecordResult,
  RetentionOptions,
  Statistics,
  StatisticsBucket,
  StatisticsGranularity,
  StatisticsQuery,
  TenantOptions,
} from './model.js';
export { EmbeddedHistoryStore } from './embedded-store.js';
export type { EmbeddedHistoryStoreOptions, LevelDatabase } from './embedded-store.js';
export { HistoryOutbox } from './outbox.js';
export type {
  DeadLetter,
  DeadLettersOptions,
  HistoryOutboxEvents,
  HistoryOutboxOptions,
  OutboxPutOperation,
  OutboxRecordKind,
  PreparedOutboxWrite,
} from './outbox.js';
