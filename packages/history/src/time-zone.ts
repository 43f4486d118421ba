/**
 * Local hour and day boundaries in an IANA time zone, with `Intl` only.
 *
 * @module
 */

import { ErrorCode, VoxmeshError } from '@voxmesh/core';
import type { StatisticsGranularity } from './model.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const QUARTER = 15 * 60_000;

/**
 * Checks an IANA time zone name and returns it as `Intl` spells it. Throws
 * `INVALID_INPUT` for a zone `Intl` does not know.
 */
export function checkTimeZone(timeZone: unknown): string {
  if (typeof timeZone !== 'string' || timeZone.length === 0) {
    throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'timeZone must be an IANA time zone name');
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
  } catch (error) {
    throw new VoxmeshError(ErrorCode.INVALID_INPUT, `Unknown time zone '${timeZone}'`, {
      cause: error,
    });
  }
}

/**
 * Finds the start of the local hour or day an instant falls in, for one time
 * zone. UTC offsets change only on quarter-hour boundaries in the tz database,
 * so the offset is computed once per quarter hour and cached.
 */
export class ZoneBuckets {
  readonly timeZone: string;
  readonly #format: Intl.DateTimeFormat;
  readonly #offsets = new Map<number, number>();

  constructor(timeZone: string) {
    this.timeZone = checkTimeZone(timeZone);
    this.#format = new Intl.DateTimeFormat('en-US', {
      timeZone: this.timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** The zone's UTC offset at `time`, in milliseconds (local = UTC + offset). */
  offsetAt(time: number): number {
    const quarter = Math.floor(time / QUARTER) * QUARTER;
    let offset = this.#offsets.get(quarter);
    if (offset === undefined) {
      const parts: Record<string, number> = {};
      for (const part of this.#format.formatToParts(new Date(quarter))) {
        if (part.type !== 'literal') parts[part.type] = Number(part.value);
      }
      const local = Date.UTC(
        parts['year'] ?? 1970,
        (parts['month'] ?? 1) - 1,
        parts['day'] ?? 1,
        parts['hour'] ?? 0,
        parts['minute'] ?? 0,
        parts['second'] ?? 0,
      );
      offset = local - quarter;
      if (this.#offsets.size > 100_000) this.#offsets.clear();
      this.#offsets.set(quarter, offset);
    }
    return offset;
  }

  /**
   * The instant the local hour or day containing `time` begins. A repeated
   * hour (DST ends) gives two distinct buckets; a day starts at local midnight,
   * or at the first instant of the day when midnight is skipped.
   */
  bucketStart(time: number, granularity: StatisticsGranularity): number {
    const offset = this.offsetAt(time);
    const local = time + offset;
    if (granularity === 'hour') return local - mod(local, HOUR) - offset;
    const midnight = local - mod(local, DAY);
    const first = midnight - offset;
    return midnight - this.offsetAt(first);
  }
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}
