import { describe, expect, it } from 'vitest';
import { evaluateSchedule, isValidTimeZone, localTime, type Schedule } from '../src/index.js';

const utc = (y: number, mo: number, d: number, h: number, mi = 0): number =>
  Date.UTC(y, mo - 1, d, h, mi);

describe('localTime', () => {
  it.each([
    // Europe/Berlin springs forward on 2026-03-29 at 01:00 UTC (02:00 CET → 03:00 CEST).
    ['Europe/Berlin', utc(2026, 3, 29, 0, 59), '2026-03-29', 'sun', '01:59'],
    ['Europe/Berlin', utc(2026, 3, 29, 1, 0), '2026-03-29', 'sun', '03:00'],
    // ... and falls back on 2026-10-25 at 01:00 UTC (03:00 CEST → 02:00 CET): 02:30 happens twice.
    ['Europe/Berlin', utc(2026, 10, 25, 0, 30), '2026-10-25', 'sun', '02:30'],
    ['Europe/Berlin', utc(2026, 10, 25, 1, 30), '2026-10-25', 'sun', '02:30'],
    // America/New_York springs forward on 2026-03-08 at 07:00 UTC.
    ['America/New_York', utc(2026, 3, 8, 6, 59), '2026-03-08', 'sun', '01:59'],
    ['America/New_York', utc(2026, 3, 8, 7, 0), '2026-03-08', 'sun', '03:00'],
    // Across the date line.
    ['Pacific/Auckland', utc(2026, 12, 24, 11, 0), '2026-12-25', 'fri', '00:00'],
    ['UTC', utc(2026, 12, 24, 11, 0), '2026-12-24', 'thu', '11:00'],
  ])('%s at %i is %s %s %s', (zone, at, date, weekday, time) => {
    const local = localTime(at, zone);
    const [h, m] = time.split(':').map(Number);
    expect(local).toMatchObject({ date, weekday, minuteOfDay: (h ?? 0) * 60 + (m ?? 0) });
  });

  it('rejects an unknown time zone', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(() => localTime(0, 'Mars/Olympus_Mons')).toThrow(RangeError);
  });
});

const office: Schedule = {
  id: 'office',
  weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }],
  holidays: [
    { date: '--12-25', name: 'Christmas' },
    { date: '2026-12-24', from: '12:00', name: 'Christmas Eve afternoon' },
  ],
};

describe('evaluateSchedule', () => {
  it.each([
    ['Friday before the change, 08:30 UTC = 09:30 CET', utc(2026, 3, 27, 8, 30), 'open'],
    ['Friday before the change, 07:30 UTC = 08:30 CET', utc(2026, 3, 27, 7, 30), 'closed'],
    ['Monday after the change, 07:30 UTC = 09:30 CEST', utc(2026, 3, 30, 7, 30), 'open'],
    ['Monday after the change, 06:59 UTC = 08:59 CEST', utc(2026, 3, 30, 6, 59), 'closed'],
    [
      'Monday after the change, 15:00 UTC = 17:00 CEST (end is exclusive)',
      utc(2026, 3, 30, 15, 0),
      'closed',
    ],
    ['Saturday', utc(2026, 3, 28, 10, 0), 'closed'],
    ['Christmas (yearly)', utc(2026, 12, 25, 10, 0), 'holiday'],
    ['Christmas in another year', utc(2031, 12, 25, 10, 0), 'holiday'],
    ['Christmas Eve morning (the holiday starts at noon)', utc(2026, 12, 24, 9, 0), 'open'],
    ['Christmas Eve afternoon', utc(2026, 12, 24, 12, 0), 'holiday'],
  ])('Europe/Berlin office hours: %s', (_name, at, state) => {
    expect(evaluateSchedule(office, { at, timeZone: 'Europe/Berlin' })).toBe(state);
  });

  it('a window inside the skipped hour never opens on the day clocks spring forward', () => {
    const night: Schedule = { id: 'n', weekly: [{ days: ['sun'], from: '02:00', to: '03:00' }] };
    for (let minute = 0; minute < 24 * 60; minute += 15) {
      const at = utc(2026, 3, 28, 22) + minute * 60_000;
      expect(evaluateSchedule(night, { at, timeZone: 'Europe/Berlin' })).toBe('closed');
    }
    // A week later the same window opens for one hour.
    const open = [];
    for (let minute = 0; minute < 24 * 60; minute += 15) {
      const at = utc(2026, 4, 4, 22) + minute * 60_000;
      if (evaluateSchedule(night, { at, timeZone: 'Europe/Berlin' }) === 'open') open.push(minute);
    }
    expect(open).toHaveLength(4);
  });

  it('a window in the repeated hour is open twice on the day clocks fall back', () => {
    const night: Schedule = { id: 'n', weekly: [{ days: ['sun'], from: '02:00', to: '02:30' }] };
    const open = [];
    for (let minute = 0; minute < 24 * 60; minute += 15) {
      const at = utc(2026, 10, 24, 22) + minute * 60_000;
      if (evaluateSchedule(night, { at, timeZone: 'Europe/Berlin' }) === 'open') open.push(minute);
    }
    // 00:00 and 00:15 UTC (02:00, 02:15 CEST), then 01:00 and 01:15 UTC (02:00, 02:15 CET).
    expect(open).toEqual([120, 135, 180, 195]);
  });

  it('hours that span midnight belong to the listed day and the morning after', () => {
    const nights: Schedule = {
      id: 'n',
      timeZone: 'UTC',
      weekly: [{ days: ['fri'], from: '22:00', to: '06:00' }],
    };
    const at = (d: number, h: number): string =>
      evaluateSchedule(nights, { at: utc(2026, 3, d, h) });
    expect(at(27, 21)).toBe('closed'); // Friday 21:00
    expect(at(27, 23)).toBe('open'); // Friday 23:00
    expect(at(28, 5)).toBe('open'); // Saturday 05:00
    expect(at(28, 7)).toBe('closed'); // Saturday 07:00
    expect(at(28, 23)).toBe('closed'); // Saturday 23:00
  });

  it("uses the schedule's own time zone over the tenant's", () => {
    const tokyo: Schedule = { ...office, timeZone: 'Asia/Tokyo' };
    // 01:00 UTC on a Monday is 10:00 in Tokyo and 03:00 in Berlin.
    const at = utc(2026, 3, 30, 1, 0);
    expect(evaluateSchedule(tokyo, { at, timeZone: 'Europe/Berlin' })).toBe('open');
    expect(evaluateSchedule(office, { at, timeZone: 'Europe/Berlin' })).toBe('closed');
  });

  it('holidays follow the local date across the date line', () => {
    const at = utc(2026, 12, 24, 11, 0);
    expect(evaluateSchedule(office, { at, timeZone: 'Pacific/Auckland' })).toBe('holiday');
    expect(evaluateSchedule(office, { at, timeZone: 'UTC' })).toBe('open');
  });
});
