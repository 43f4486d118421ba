/**
 * Error codes of `@voxmesh/history`. Each one is documented, with how to fix
 * it, in `docs/errors.md`. Invalid records and queries use core's
 * `INVALID_INPUT`; an aborted operation rejects with core's `AbortError`.
 *
 * @module
 */

/** The error codes `@voxmesh/history` defines. */
export const HistoryErrorCode = {
  /** The history backend could not be reached or failed; retryable. */
  BACKEND_UNAVAILABLE: 'HISTORY_BACKEND_UNAVAILABLE',
  /** A store was used before `open()` resolved or after `close()`. */
  STORE_NOT_OPEN: 'HISTORY_STORE_NOT_OPEN',
  /** A pagination cursor is malformed or belongs to another query. */
  INVALID_CURSOR: 'HISTORY_INVALID_CURSOR',
  /** The backend rejected an outbox entry for good; it was moved to the dead-letter list. */
  OUTBOX_REJECTED: 'HISTORY_OUTBOX_REJECTED',
} as const;

/** The union of all {@link HistoryErrorCode} values. */
export type HistoryErrorCode = (typeof HistoryErrorCode)[keyof typeof HistoryErrorCode];
