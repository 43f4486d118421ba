/**
 * The records of call history (CDRs and activities), the queries over them,
 * and the validation every backend shares.
 *
 * @module
 */

import { ErrorCode, VoxmeshError } from '@voxmesh/core';
import { HistoryErrorCode } from './errors.js';

/** Which way a call leg went, seen from the tenant. */
export type CallDirection = 'inbound' | 'outbound' | 'internal';

/** How a call leg ended. */
export type CallDisposition = 'answered' | 'no-answer' | 'busy' | 'failed' | 'cancelled';

/** The values {@link CallDirection} may take. */
export const CALL_DIRECTIONS: readonly CallDirection[] = ['inbound', 'outbound', 'internal'];

/** The values {@link CallDisposition} may take. */
export const CALL_DISPOSITIONS: readonly CallDisposition[] = [
  'answered',
  'no-answer',
  'busy',
  'failed',
  'cancelled',
];

/** The version of the stored record shape; stored with every record. */
export const SCHEMA_VERSION = 1;

/**
 * A call detail record as written by call control: one per call leg.
 *
 * Its id is deterministic (`tenantId:callId:leg`, see {@link cdrId}), so
 * writing the same leg twice (a replay from the outbox) stores it once.
 */
export interface CdrInput {
  /** The tenant (domain) the call belongs to. Must not contain `:`. */
  tenantId: string;
  /** The call's id (the SIP Call-ID of the A leg, for example). */
  callId: string;
  /** The leg within the call (`'a'`, `'b1'`, ...). Must not contain `:`. */
  leg: string;
  /** Which way the leg went. */
  direction: CallDirection;
  /** The calling number or user. */
  from: string;
  /** The called number or user. */
  to: string;
  /** The tenant's users (extensions) involved in the leg, for "calls of a user" queries. */
  users?: readonly string[] | undefined;
  /** When the leg started (INVITE sent or received). */
  startedAt: Date;
  /** When the leg was answered; required when, and only when, `disposition` is `'answered'`. */
  answeredAt?: Date | undefined;
  /** When the leg ended. */
  endedAt: Date;
  /** How the leg ended. */
  disposition: CallDisposition;
  /** The ITU-T Q.850 cause value (1–127) of the hang-up, if known. */
  hangupCause?: number | undefined;
  /** The final SIP status code of the leg (100–699), if any. */
  sipStatus?: number | undefined;
  /** The IVR nodes the call went through, in order. */
  ivrPath?: readonly string[] | undefined;
  /** References (storage keys) of the leg's recordings — never the media itself. */
  recordings?: readonly string[] | undefined;
}

/** A stored call detail record. */
export interface Cdr {
  /** `tenantId:callId:leg`. */
  id: string;
  tenantId: string;
  callId: string;
  leg: string;
  direction: CallDirection;
  from: string;
  to: string;
  users: string[];
  startedAt: Date;
  answeredAt?: Date;
  endedAt: Date;
  /** `endedAt − startedAt`, in milliseconds. */
  durationMs: number;
  /** Talk time, `endedAt − answeredAt` (0 when not answered), in milliseconds. */
  talkMs: number;
  disposition: CallDisposition;
  hangupCause?: number;
  sipStatus?: number;
  ivrPath: string[];
  recordings: string[];
  /** When the record expires under the tenant's retention (absent: kept). */
  expireAt?: Date;
  /** {@link SCHEMA_VERSION} at the time of writing. */
  schemaVersion: number;
}

/** A JSON value, for the free-form `data` of an activity. */
export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** An event of a call or a tenant (a transfer, a voicemail left, a login), as written. */
export interface ActivityInput {
  /** The tenant it belongs to. Must not contain `:`. */
  tenantId: string;
  /** Unique within the tenant and deterministic, so replays are harmless. */
  id: string;
  /** When it happened. */
  at: Date;
  /** What happened (`'transfer'`, `'voicemail'`, ...). */
  type: string;
  /** The call it belongs to, if any. */
  callId?: string | undefined;
  /** The user it concerns, if any. */
  userId?: string | undefined;
  /** Free-form details (JSON, at most 16 KiB serialised). */
  data?: { [key: string]: JsonValue } | undefined;
}

/** A stored activity. */
export interface Activity {
  tenantId: string;
  id: string;
  at: Date;
  type: string;
  callId?: string;
  userId?: string;
  data?: { [key: string]: JsonValue };
  /** When the record expires under the tenant's retention (absent: kept). */
  expireAt?: Date;
  schemaVersion: number;
}

/** Options every async store operation accepts. */
export interface OperationOptions {
  /** Aborts the operation (it rejects with an `AbortError`). */
  signal?: AbortSignal | undefined;
}

/** The outcome of writing a batch of records. */
export interface RecordResult {
  /** Records newly stored. */
  inserted: number;
  /** Records already stored under the same id (replays), left as they were. */
  duplicates: number;
}

/** A query for CDRs, newest first (by `startedAt`, then id). */
export interface CdrQuery extends OperationOptions {
  /** The tenant; every query is scoped to one. */
  tenantId: string;
  /**
   * Only legs started at or after this instant.
   * @defaultValue no lower bound
   */
  since?: Date | undefined;
  /**
   * Only legs started before this instant.
   * @defaultValue no upper bound
   */
  until?: Date | undefined;
  /**
   * Only legs involving this user (see {@link CdrInput.users}).
   * @defaultValue any user
   */
  user?: string | undefined;
  /**
   * Only legs whose `from` or `to` is this number.
   * @defaultValue any number
   */
  number?: string | undefined;
  /**
   * Only legs with this disposition.
   * @defaultValue any disposition
   */
  disposition?: CallDisposition | undefined;
  /**
   * The page size, 1–1000.
   * @defaultValue `50`
   */
  limit?: number | undefined;
  /**
   * The `cursor` of the previous page, to continue after it.
   * @defaultValue the first page
   */
  cursor?: string | undefined;
}

/** A query for activities, newest first (by `at`, then id). */
export interface ActivityQuery extends OperationOptions {
  /** The tenant; every query is scoped to one. */
  tenantId: string;
  /**
   * Only activities at or after this instant.
   * @defaultValue no lower bound
   */
  since?: Date | undefined;
  /**
   * Only activities before this instant.
   * @defaultValue no upper bound
   */
  until?: Date | undefined;
  /**
   * Only activities of this call.
   * @defaultValue any call
   */
  callId?: string | undefined;
  /**
   * The page size, 1–1000.
   * @defaultValue `50`
   */
  limit?: number | undefined;
  /**
   * The `cursor` of the previous page, to continue after it.
   * @defaultValue the first page
   */
  cursor?: string | undefined;
}

/** One page of a query's results. */
export interface Page<T> {
  /** The records, newest first. */
  items: T[];
  /** Pass as `cursor` to get the next page; absent on the last page. */
  cursor?: string;
}

/** The size of a statistics bucket. */
export type StatisticsGranularity = 'hour' | 'day';

/** A query for call statistics of one tenant. */
export interface StatisticsQuery extends OperationOptions {
  /** The tenant. */
  tenantId: string;
  /** Legs started at or after this instant. */
  since: Date;
  /** Legs started before this instant. */
  until: Date;
  /** Bucket size: local hours or local days. */
  granularity: StatisticsGranularity;
  /**
   * The tenant's IANA time zone; buckets start at local hour or day boundaries
   * (a day of a DST change is 23 or 25 hours long).
   * @defaultValue `'UTC'`
   */
  timeZone?: string | undefined;
}

/** Call counts and durations of a set of legs. */
export interface CallTotals {
  /** Legs. */
  calls: number;
  /** Answered legs. */
  answered: number;
  /** Sum of `durationMs`. */
  durationMs: number;
  /** Sum of `talkMs`. */
  talkMs: number;
  /** Talk minutes (`talkMs / 60000`). */
  minutes: number;
  /** Mean `durationMs` per leg (0 when there are none). */
  averageDurationMs: number;
  /** Mean `talkMs` per answered leg (0 when none was answered). */
  averageTalkMs: number;
}

/** The totals of one local hour or day. */
export interface StatisticsBucket extends CallTotals {
  /** The instant the local hour or day begins. */
  start: Date;
}

/** The answer to a {@link StatisticsQuery}. */
export interface Statistics {
  timeZone: string;
  granularity: StatisticsGranularity;
  /** Buckets that have at least one leg, in time order. */
  buckets: StatisticsBucket[];
  /** The totals over the whole range. */
  total: CallTotals;
}

/** Options of `setRetention`. */
export interface RetentionOptions extends OperationOptions {
  /** The tenant. */
  tenantId: string;
  /**
   * How long the tenant's records are kept, counted from `startedAt` (CDRs)
   * or `at` (activities); `null` keeps them. Applies to records written
   * after the call.
   */
  retentionMs: number | null;
}

/** Options of operations that concern a whole tenant. */
export interface TenantOptions extends OperationOptions {
  /** The tenant. */
  tenantId: string;
}

/** Options of `purgeExpired`. */
export interface PurgeOptions extends OperationOptions {
  /**
   * Records whose `expireAt` is at or before this instant are deleted.
   * @defaultValue the store's clock
   */
  now?: Date | undefined;
}

// ---------------------------------------------------------------------------
// Validation and normalisation (shared by every backend and the outbox)

const MAX_STRING = 1024;
const MAX_LIST = 64;
const MAX_DATA_BYTES = 16 * 1024;
/** The default page size of queries. */
export const DEFAULT_LIMIT = 50;
/** The largest page size of queries. */
export const MAX_LIMIT = 1000;

function invalid(message: string): VoxmeshError {
  return new VoxmeshError(ErrorCode.INVALID_INPUT, message);
}

function checkString(value: unknown, what: string, options: { colon?: boolean } = {}): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(`${what} must be a non-empty string`);
  }
  if (value.length > MAX_STRING) throw invalid(`${what} is longer than ${MAX_STRING} characters`);
  // U+0000 separates key parts in the embedded backend's indexes.
  if (value.includes('\u0000')) throw invalid(`${what} must not contain U+0000`);
  if (options.colon === false && value.includes(':')) {
    throw invalid(`${what} must not contain ':' (it separates the parts of record ids)`);
  }
  return value;
}

function checkOptionalString(value: unknown, what: string): string | undefined {
  return value === undefined ? undefined : checkString(value, what);
}

function checkDate(value: unknown, what: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw invalid(`${what} must be a valid Date`);
  }
  return new Date(value.getTime());
}

function checkList(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`${what} must be an array of strings`);
  if (value.length > MAX_LIST) throw invalid(`${what} has more than ${MAX_LIST} entries`);
  return value.map((v, i) => checkString(v, `${what}[${i}]`));
}

function checkInteger(value: unknown, what: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** Checks a tenant id (non-empty, no `:` or U+0000). Throws `INVALID_INPUT`. */
export function checkTenantId(tenantId: unknown): string {
  return checkString(tenantId, 'tenantId', { colon: false });
}

/** The deterministic id of a CDR: `tenantId:callId:leg`. */
export function cdrId(tenantId: string, callId: string, leg: string): string {
  return `${tenantId}:${callId}:${leg}`;
}

/**
 * Validates a CDR as written by call control and returns the stored shape
 * (id, durations, copies of arrays and dates). Throws a `VoxmeshError` with
 * code `INVALID_INPUT` that names the offending field.
 */
export function normalizeCdr(input: CdrInput, retentionMs: number | null = null): Cdr {
  if (typeof input !== 'object' || input === null) throw invalid('A CDR must be an object');
  const tenantId = checkTenantId(input.tenantId);
  const callId = checkString(input.callId, 'callId');
  const leg = checkString(input.leg, 'leg', { colon: false });
  if (!CALL_DIRECTIONS.includes(input.direction)) {
    throw invalid(`direction must be one of ${CALL_DIRECTIONS.join(', ')}`);
  }
  if (!CALL_DISPOSITIONS.includes(input.disposition)) {
    throw invalid(`disposition must be one of ${CALL_DISPOSITIONS.join(', ')}`);
  }
  const startedAt = checkDate(input.startedAt, 'startedAt');
  const endedAt = checkDate(input.endedAt, 'endedAt');
  if (endedAt < startedAt) throw invalid('endedAt is before startedAt');
  const answeredAt =
    input.answeredAt === undefined ? undefined : checkDate(input.answeredAt, 'answeredAt');
  if (input.disposition === 'answered') {
    if (answeredAt === undefined) throw invalid('an answered leg needs answeredAt');
    if (answeredAt < startedAt || answeredAt > endedAt) {
      throw invalid('answeredAt must lie between startedAt and endedAt');
    }
  } else if (answeredAt !== undefined) {
    throw invalid(`a leg with disposition '${input.disposition}' has no answeredAt`);
  }
  // ITU-T Q.850 §2.2.5: cause values are 7-bit (1–127).
  const hangupCause = checkInteger(input.hangupCause, 'hangupCause', 1, 127);
  // RFC 3261 §7.2: status codes are three digits, classes 1xx–6xx.
  const sipStatus = checkInteger(input.sipStatus, 'sipStatus', 100, 699);
  const cdr: Cdr = {
    id: cdrId(tenantId, callId, leg),
    tenantId,
    callId,
    leg,
    direction: input.direction,
    from: checkString(input.from, 'from'),
    to: checkString(input.to, 'to'),
    users: checkList(input.users, 'users'),
    startedAt,
    endedAt,
    durationMs: endedAt.getTime() - startedAt.getTime(),
    talkMs: answeredAt === undefined ? 0 : endedAt.getTime() - answeredAt.getTime(),
    disposition: input.disposition,
    ivrPath: checkList(input.ivrPath, 'ivrPath'),
    recordings: checkList(input.recordings, 'recordings'),
    schemaVersion: SCHEMA_VERSION,
  };
  if (answeredAt !== undefined) cdr.answeredAt = answeredAt;
  if (hangupCause !== undefined) cdr.hangupCause = hangupCause;
  if (sipStatus !== undefined) cdr.sipStatus = sipStatus;
  if (retentionMs !== null) cdr.expireAt = new Date(startedAt.getTime() + retentionMs);
  return cdr;
}

/** Validates an activity and returns the stored shape. Throws `INVALID_INPUT`. */
export function normalizeActivity(
  input: ActivityInput,
  retentionMs: number | null = null,
): Activity {
  if (typeof input !== 'object' || input === null) throw invalid('An activity must be an object');
  const activity: Activity = {
    tenantId: checkTenantId(input.tenantId),
    id: checkString(input.id, 'id'),
    at: checkDate(input.at, 'at'),
    type: checkString(input.type, 'type'),
    schemaVersion: SCHEMA_VERSION,
  };
  const callId = checkOptionalString(input.callId, 'callId');
  const userId = checkOptionalString(input.userId, 'userId');
  if (callId !== undefined) activity.callId = callId;
  if (userId !== undefined) activity.userId = userId;
  if (input.data !== undefined) {
    if (typeof input.data !== 'object' || input.data === null || Array.isArray(input.data)) {
      throw invalid('data must be a plain JSON object');
    }
    let text: string;
    try {
      text = JSON.stringify(input.data);
    } catch (error) {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'data is not serialisable as JSON', {
        cause: error,
      });
    }
    if (Buffer.byteLength(text) > MAX_DATA_BYTES) {
      throw invalid(`data is larger than ${MAX_DATA_BYTES} bytes of JSON`);
    }
    activity.data = JSON.parse(text) as { [key: string]: JsonValue };
  }
  if (retentionMs !== null) activity.expireAt = new Date(activity.at.getTime() + retentionMs);
  return activity;
}

/** Checks a retention value: `null` or a positive integer of milliseconds. */
export function checkRetention(retentionMs: unknown): number | null {
  if (retentionMs === null) return null;
  if (typeof retentionMs !== 'number' || !Number.isSafeInteger(retentionMs) || retentionMs <= 0) {
    throw invalid('retentionMs must be a positive integer number of milliseconds, or null');
  }
  return retentionMs;
}

/** Checks a page size. */
export function checkLimit(limit: unknown): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw invalid(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  }
  return limit;
}

/** The validated time range of a query, in epoch milliseconds (`until` exclusive). */
export interface TimeRange {
  since: number;
  until: number;
}

/** Checks `since`/`until` of a query. */
export function checkRange(since: unknown, until: unknown): TimeRange {
  const range = {
    since: since === undefined ? 0 : checkDate(since, 'since').getTime(),
    until: until === undefined ? MAX_TIME : checkDate(until, 'until').getTime(),
  };
  if (range.since < 0 || range.until > MAX_TIME) {
    throw invalid('since and until must lie between 1970 and the year 10000');
  }
  return range;
}

/** The largest instant a record may carry (10000-01-01). */
export const MAX_TIME = Date.UTC(10000, 0, 1);

/** A decoded pagination cursor: the last item of the previous page. */
export interface CursorPosition {
  /** The sort time (`startedAt` or `at`) of the last item, epoch milliseconds. */
  time: number;
  /** Its id. */
  id: string;
}

/** Encodes a cursor after the item at `position`, for `kind` queries of `tenantId`. */
export function encodeCursor(
  kind: 'cdr' | 'activity',
  tenantId: string,
  position: CursorPosition,
): string {
  return Buffer.from(JSON.stringify([1, kind, tenantId, position.time, position.id])).toString(
    'base64url',
  );
}

/** Decodes a cursor; throws `HISTORY_INVALID_CURSOR` when it is not one of this query's. */
export function decodeCursor(
  kind: 'cdr' | 'activity',
  tenantId: string,
  cursor: string | undefined,
): CursorPosition | undefined {
  if (cursor === undefined) return undefined;
  let parsed: unknown;
  try {
    if (typeof cursor !== 'string') throw new TypeError('not a string');
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (error) {
    throw new VoxmeshError(HistoryErrorCode.INVALID_CURSOR, 'The cursor is malformed', {
      cause: error,
    });
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 5 ||
    parsed[0] !== 1 ||
    typeof parsed[3] !== 'number' ||
    !Number.isSafeInteger(parsed[3]) ||
    typeof parsed[4] !== 'string'
  ) {
    throw new VoxmeshError(HistoryErrorCode.INVALID_CURSOR, 'The cursor is malformed');
  }
  if (parsed[1] !== kind || parsed[2] !== tenantId) {
    throw new VoxmeshError(
      HistoryErrorCode.INVALID_CURSOR,
      `The cursor belongs to another query (a ${String(parsed[1])} query of another tenant or kind)`,
    );
  }
  return { time: parsed[3], id: parsed[4] };
}

/** Totals from raw sums. */
export function callTotals(sums: {
  calls: number;
  answered: number;
  durationMs: number;
  talkMs: number;
}): CallTotals {
  return {
    calls: sums.calls,
    answered: sums.answered,
    durationMs: sums.durationMs,
    talkMs: sums.talkMs,
    minutes: sums.talkMs / 60_000,
    averageDurationMs: sums.calls === 0 ? 0 : sums.durationMs / sums.calls,
    averageTalkMs: sums.answered === 0 ? 0 : sums.talkMs / sums.answered,
  };
}

/** Builds a {@link Statistics} answer from per-bucket sums sorted by start. */
export function buildStatistics(
  timeZone: string,
  granularity: StatisticsGranularity,
  buckets: { start: number; calls: number; answered: number; durationMs: number; talkMs: number }[],
): Statistics {
  const total = { calls: 0, answered: 0, durationMs: 0, talkMs: 0 };
  const sorted = [...buckets].sort((a, b) => a.start - b.start);
  for (const b of sorted) {
    total.calls += b.calls;
    total.answered += b.answered;
    total.durationMs += b.durationMs;
    total.talkMs += b.talkMs;
  }
  return {
    timeZone,
    granularity,
    buckets: sorted.map((b) => ({ start: new Date(b.start), ...callTotals(b) })),
    total: callTotals(total),
  };
}

/** Throws a `TypeError` unless `value` is an array (a programmer mistake). */
export function checkArray(value: unknown, what: string): void {
  if (!Array.isArray(value)) throw new TypeError(`${what} expects an array`);
}

/** Checks a disposition filter. Throws `INVALID_INPUT`. */
export function checkDisposition(value: unknown): CallDisposition {
  if (!CALL_DISPOSITIONS.includes(value as CallDisposition)) {
    throw invalid(`disposition must be one of ${CALL_DISPOSITIONS.join(', ')}`);
  }
  return value as CallDisposition;
}
