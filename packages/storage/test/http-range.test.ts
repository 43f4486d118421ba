import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluateRange, ifRangeAllows } from '@voxmesh/storage';

describe('evaluateRange (RFC 9110 §14)', () => {
  it('resolves the examples of RFC 9110 §14.1.2 for a 10000-byte representation', () => {
    expect(evaluateRange('bytes=0-499', 10_000)).toEqual({ kind: 'partial', start: 0, end: 499 });
    expect(evaluateRange('bytes=500-999', 10_000)).toEqual({
      kind: 'partial',
      start: 500,
      end: 999,
    });
    expect(evaluateRange('bytes=-500', 10_000)).toEqual({
      kind: 'partial',
      start: 9500,
      end: 9999,
    });
    expect(evaluateRange('bytes=9500-', 10_000)).toEqual({
      kind: 'partial',
      start: 9500,
      end: 9999,
    });
    expect(evaluateRange('bytes=0-0', 10_000)).toEqual({ kind: 'partial', start: 0, end: 0 });
    expect(evaluateRange('bytes=-1', 10_000)).toEqual({ kind: 'partial', start: 9999, end: 9999 });
  });

  it('clips last-pos and long suffixes to the representation', () => {
    expect(evaluateRange('bytes=9000-20000', 10_000)).toEqual({
      kind: 'partial',
      start: 9000,
      end: 9999,
    });
    expect(evaluateRange('bytes=-20000', 10_000)).toEqual({ kind: 'partial', start: 0, end: 9999 });
  });

  it('is unsatisfiable when first-pos ≥ size, for zero suffixes and for empty representations', () => {
    expect(evaluateRange('bytes=10000-', 10_000)).toEqual({ kind: 'unsatisfiable' });
    expect(evaluateRange('bytes=10000-10001', 10_000)).toEqual({ kind: 'unsatisfiable' });
    expect(evaluateRange('bytes=-0', 10_000)).toEqual({ kind: 'unsatisfiable' });
    expect(evaluateRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(evaluateRange('bytes=-5', 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it('ignores absent, invalid, multi-range and non-byte Range headers', () => {
    for (const header of [
      undefined,
      'bytes=0-1,4-5',
      'bytes=5-1',
      'bytes=abc',
      'bytes=',
      'bytes=--5',
      'bytes=1-2-3',
      'items=0-5',
      '0-5',
      'bytes=99999999999999999999-',
    ]) {
      expect(evaluateRange(header, 100), String(header)).toEqual({ kind: 'full' });
    }
  });

  it('always yields a range inside the representation (property)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 1_000_000 }),
        fc.oneof(
          fc
            .tuple(fc.nat({ max: 2_000_000 }), fc.option(fc.nat({ max: 2_000_000 })))
            .map(([a, b]) => `bytes=${a}-${b ?? ''}`),
          fc.nat({ max: 2_000_000 }).map((n) => `bytes=-${n}`),
          fc.string(),
        ),
        (size, header) => {
          const result = evaluateRange(header, size);
          if (result.kind === 'partial') {
            expect(result.start).toBeGreaterThanOrEqual(0);
            expect(result.end).toBeGreaterThanOrEqual(result.start);
            expect(result.end).toBeLessThan(size);
          }
        },
      ),
    );
  });
});

describe('ifRangeAllows (RFC 9110 §13.1.5)', () => {
  const modified = new Date('2026-11-22T01:02:03Z');
  it('needs a strong entity-tag match or the exact Last-Modified date', () => {
    expect(ifRangeAllows(undefined, '"a"', modified)).toBe(true);
    expect(ifRangeAllows('"a"', '"a"', modified)).toBe(true);
    expect(ifRangeAllows('"b"', '"a"', modified)).toBe(false);
    expect(ifRangeAllows('W/"a"', '"a"', modified)).toBe(false);
    expect(ifRangeAllows(modified.toUTCString(), '"a"', modified)).toBe(true);
    expect(ifRangeAllows(new Date(modified.getTime() - 1000).toUTCString(), '"a"', modified)).toBe(
      false,
    );
    expect(ifRangeAllows('not a date', '"a"', modified)).toBe(false);
  });
});
