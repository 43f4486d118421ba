import { ErrorCode } from '@voxmesh/core';
import { describe, expect, it } from 'vitest';
import { ZoneBuckets, checkTimeZone } from '../src/time-zone.js';

const iso = (t: number): string => new Date(t).toISOString();
const at = (s: string): number => Date.parse(s);

describe('ZoneBuckets', () => {
  it('gives the repeated hour at the end of DST two distinct buckets', () => {
    const ny = new ZoneBuckets('America/New_York');
    // 2024-11-03: 01:00–02:00 happens twice (EDT, then EST).
    expect(iso(ny.bucketStart(at('2024-11-03T05:30:00Z'), 'hour'))).toBe(
      '2024-11-03T05:00:00.000Z',
    ); // 01:30 EDT
    expect(iso(ny.bucketStart(at('2024-11-03T06:30:00Z'), 'hour'))).toBe(
      '2024-11-03T06:00:00.000Z',
    ); // 01:30 EST
    expect(iso(ny.bucketStart(at('2024-11-03T06:30:00Z'), 'day'))).toBe('2024-11-03T04:00:00.000Z');
    expect(iso(ny.bucketStart(at('2024-11-04T04:59:00Z'), 'day'))).toBe('2024-11-03T04:00:00.000Z'); // 23:59 EST
  });

  it('starts a day whose midnight is skipped at its first instant', () => {
    // Cuba moves clocks from 00:00 to 01:00 on 2024-03-10: that day starts at 01:00 CDT (05:00Z).
    const havana = new ZoneBuckets('America/Havana');
    expect(iso(havana.bucketStart(at('2024-03-10T12:00:00Z'), 'day'))).toBe(
      '2024-03-10T05:00:00.000Z',
    );
    expect(iso(havana.bucketStart(at('2024-03-09T12:00:00Z'), 'day'))).toBe(
      '2024-03-09T05:00:00.000Z',
    );
  });

  it('handles quarter-hour offsets and dates before 1970', () => {
    const nepal = new ZoneBuckets('Asia/Kathmandu'); // UTC+05:45
    expect(iso(nepal.bucketStart(at('2024-01-01T18:20:00Z'), 'hour'))).toBe(
      '2024-01-01T18:15:00.000Z',
    );
    expect(iso(nepal.bucketStart(at('2024-01-01T18:20:00Z'), 'day'))).toBe(
      '2024-01-01T18:15:00.000Z',
    );
    const utc = new ZoneBuckets('UTC');
    expect(iso(utc.bucketStart(at('1969-12-31T23:59:59Z'), 'day'))).toBe(
      '1969-12-31T00:00:00.000Z',
    );
  });

  it('rejects unknown zones with INVALID_INPUT', () => {
    expect(checkTimeZone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(() => new ZoneBuckets('Mars/Olympus')).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_INPUT }),
    );
    expect(() => checkTimeZone('')).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_INPUT }),
    );
  });
});
