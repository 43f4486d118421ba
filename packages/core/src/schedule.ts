/**
 * Business-hours schedules with holidays, evaluated in the tenant's IANA time
 * zone with `Intl` (no time-zone database of our own).
 *
 * A schedule is evaluated on the *local wall-clock time* of an instant, so
 * daylight-saving changes need no special case: on the day clocks spring
 * forward in Europe/Berlin, 02:30 local never occurs, and an instant one
 * minute after 01:59 local is 03:00 local.
 *
 * @module
 */

import { Type, type Static } from '@sinclair/typebox';

/** A day of the week. */
export const Weekday = Type.Union(
  [
    Type.Literal('mon'),
    Type.Literal('tue'),
    Type.Literal('wed'),
    Type.Literal('thu'),
    Type.Literal('fri'),
    Type.Literal('sat'),
    Type.Literal('sun'),
  ],
  { description: 'A day of the week' },
);
/** A day of the week. */
export type Weekday = Static<typeof Weekday>;

/** A local time of day, `HH:MM` (24-hour; `24:00` is the end of the day). */
export const TimeOfDay = Type.String({
  pattern: '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$',
  description: 'Local time of day, HH:MM (24:00 = end of day)',
});

/** Opening hours on some days of the week. `to` before `from` spans midnight. */
export const WeeklyHours = Type.Object(
  {
    days: Type.Array(Weekday, { minItems: 1 }),
    from: TimeOfDay,
    to: TimeOfDay,
  },
  { additionalProperties: false },
);
/** Opening hours on some days of the week. */
export type WeeklyHours = Static<typeof WeeklyHours>;

/** A closed day: a date (`2026-12-24`) or a yearly date (`--12-25`), optionally only part of the day. */
export const Holiday = Type.Object(
  {
    date: Type.String({
      pattern: '^([0-9]{4}|-)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$',
      description: 'YYYY-MM-DD, or --MM-DD for every year',
    }),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    /** Start of the closed part of the day (local). @defaultValue `00:00` */
    from: Type.Optional(TimeOfDay),
    /** End of the closed part of the day (local). @defaultValue `24:00` */
    to: Type.Optional(TimeOfDay),
  },
  { additionalProperties: false },
);
/** A closed day. */
export type Holiday = Static<typeof Holiday>;

/** A business-hours schedule: weekly opening hours and holidays. */
export const Schedule = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128 }),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    /** An IANA time zone; the tenant's when omitted. */
    timeZone: Type.Optional(Type.String({ minLength: 1 })),
    weekly: Type.Array(WeeklyHours),
    holidays: Type.Optional(Type.Array(Holiday)),
  },
  { additionalProperties: false },
);
/** A business-hours schedule. */
export type Schedule = Static<typeof Schedule>;

/** The wall-clock time of an instant in a time zone. */
export interface LocalTime {
  /** `YYYY-MM-DD`. */
  date: string;
  /** `--MM-DD`, for yearly holidays. */
  yearlyDate: string;
  weekday: Weekday;
  /** Minutes since local midnight (0–1439). */
  minuteOfDay: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();
const weekdays: Record<string, Weekday> = {
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
  Sun: 'sun',
};

function formatFor(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
    });
    formats.set(timeZone, format);
  }
  return format;
}

/** Whether `timeZone` is an IANA time zone known to this runtime. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock time of `instant` (ms since the epoch) in `timeZone`. */
export function localTime(instant: number, timeZone: string): LocalTime {
  let format: Intl.DateTimeFormat;
  try {
    format = formatFor(timeZone);
  } catch (error) {
    throw new RangeError(`Unknown time zone '${timeZone}'`, { cause: error });
  }
  const parts: Record<string, string> = {};
  for (const part of format.formatToParts(instant)) parts[part.type] = part.value;
  const month = parts.month ?? '01';
  const day = parts.day ?? '01';
  return {
    date: `${parts.year ?? '1970'}-${month}-${day}`,
    yearlyDate: `--${month}-${day}`,
    weekday: weekdays[parts.weekday ?? 'Mon'] ?? 'mon',
    minuteOfDay: Number(parts.hour ?? 0) * 60 + Number(parts.minute ?? 0),
  };
}

function minutes(time: string): number {
  const [h, m] = time.split(':');
  return Number(h) * 60 + Number(m);
}

const order: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
function previousDay(day: Weekday): Weekday {
  return order[(order.indexOf(day) + 6) % 7] as Weekday;
}

/** How a schedule stands at an instant. */
export type ScheduleState = 'open' | 'closed' | 'holiday';

/** Options of {@link evaluateSchedule}. */
export interface EvaluateScheduleOptions {
  /** The instant, in milliseconds since the epoch. */
  at: number;
  /**
   * The time zone used when the schedule names none.
   * @defaultValue `'UTC'`
   */
  timeZone?: string | undefined;
}

/**
 * Whether a schedule is open, closed, or closed for a holiday at an instant,
 * judged on the local time in the schedule's (or else the given) time zone.
 * A holiday wins over weekly hours. Weekly hours whose `to` is not after
 * `from` span midnight into the next day (`22:00`–`06:00`).
 */
export function evaluateSchedule(
  schedule: Schedule,
  options: EvaluateScheduleOptions,
): ScheduleState {
  const local = localTime(options.at, schedule.timeZone ?? options.timeZone ?? 'UTC');
  const now = local.minuteOfDay;
  for (const holiday of schedule.holidays ?? []) {
    if (holiday.date !== local.date && holiday.date !== local.yearlyDate) continue;
    const from = minutes(holiday.from ?? '00:00');
    const to = minutes(holiday.to ?? '24:00');
    if (now >= from && now < to) return 'holiday';
  }
  for (const hours of schedule.weekly) {
    const from = minutes(hours.from);
    const to = minutes(hours.to);
    if (from < to) {
      if (hours.days.includes(local.weekday) && now >= from && now < to) return 'open';
    } else {
      // Spans midnight: the evening part belongs to the listed day, the
      // morning part to the day after it.
      if (hours.days.includes(local.weekday) && now >= from) return 'open';
      if (hours.days.includes(previousDay(local.weekday)) && now < to) return 'open';
    }
  }
  return 'closed';
}
