/**
 * HTTP range requests and conditional requests, as the FileHandler serves
 * them (RFC 9110 §14 and §13). The FileHandler parses `Range` itself rather
 * than passing it to a backend: backends disagree on suffix ranges (s3rver
 * returns the wrong bytes, Azurite answers 500, Azure does not support them),
 * so every range is resolved against the object's size into an absolute one.
 *
 * @module
 */

/** The outcome of {@link evaluateRange}. */
export type RangeResult =
  /** Serve the whole representation with 200 (no Range, or one to ignore). */
  | { kind: 'full' }
  /** Serve bytes `start`..`end` (inclusive) with 206. */
  | { kind: 'partial'; start: number; end: number }
  /** Answer 416 with `Content-Range: bytes *\/size`. */
  | { kind: 'unsatisfiable' };

const BYTES_RANGE = /^bytes[ \t]*=[ \t]*(.*)$/i;
const INT_RANGE = /^(\d+)[ \t]*-[ \t]*(\d*)$/;
const SUFFIX_RANGE = /^-[ \t]*(\d+)$/;

/**
 * Evaluates a `Range` header against a representation of `size` bytes.
 *
 * - RFC 9110 §14.2: a server MAY ignore Range; a syntactically invalid Range
 *   or an unknown range unit is ignored (200 with the whole representation).
 * - Only single ranges are served: a request with several ranges is answered
 *   with the whole representation (RFC 9110 §14.2 allows ignoring Range).
 * - RFC 9110 §14.1.2: `first-pos "-" [ last-pos ]`; a last-pos beyond the end
 *   is replaced by size - 1; `"-" suffix-length` selects the last bytes, or
 *   the whole representation when it is shorter.
 * - RFC 9110 §14.1.1 and §15.5.17: when no range is satisfiable (first-pos ≥
 *   size, a zero suffix-length, or an empty representation) the answer is 416.
 */
export function evaluateRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  const match = BYTES_RANGE.exec(header.trim());
  if (!match) return { kind: 'full' }; // unknown unit or invalid syntax: ignored (§14.2)
  const specs = (match[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (specs.length !== 1) return { kind: 'full' }; // several ranges (or none): ignored
  const spec = specs[0] as string;
  const int = INT_RANGE.exec(spec);
  if (int) {
    const first = Number(int[1]);
    const last = int[2] === '' ? undefined : Number(int[2]);
    if (!Number.isSafeInteger(first) || (last !== undefined && !Number.isSafeInteger(last))) {
      return { kind: 'full' };
    }
    // §14.1.1: a range whose last-pos is below its first-pos is invalid: ignore the header.
    if (last !== undefined && last < first) return { kind: 'full' };
    // §14.1.2: an int-range is satisfiable only when first-pos < size.
    if (first >= size) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: first, end: Math.min(last ?? size - 1, size - 1) };
  }
  const suffix = SUFFIX_RANGE.exec(spec);
  if (suffix) {
    const length = Number(suffix[1]);
    if (!Number.isSafeInteger(length)) return { kind: 'full' };
    // §14.1.2: a suffix-range is satisfiable when suffix-length > 0 (and the representation is not empty).
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }
  return { kind: 'full' };
}

/** Splits an entity-tag list (`If-None-Match`, `If-Match`), keeping `*`. */
export function parseEntityTags(header: string): string[] {
  const tags: string[] = [];
  const re = /\s*(\*|(?:W\/)?"[^"]*")\s*(?:,|$)/gy;
  let match: RegExpExecArray | null;
  while ((match = re.exec(header)) !== null) {
    if (match[0] === '') break;
    tags.push(match[1] as string);
  }
  return tags;
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** RFC 9110 §8.8.3.2: weak comparison (opaque tags equal, either may be weak). */
export function weakMatch(header: string, etag: string): boolean {
  return parseEntityTags(header).some((tag) => tag === '*' || opaque(tag) === opaque(etag));
}

/**
 * RFC 9110 §13.1.5: whether a `Range` may be honoured given `If-Range`. An
 * entity tag must match strongly (neither weak); a date must exactly equal
 * `Last-Modified`. Otherwise the whole representation is sent.
 */
export function ifRangeAllows(
  ifRange: string | undefined,
  etag: string,
  lastModified: Date,
): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) {
    // §8.8.3.2 strong comparison: both must not be weak and their opaque-tags equal.
    return !value.startsWith('W/') && !etag.startsWith('W/') && value === etag;
  }
  const date = Date.parse(value);
  if (Number.isNaN(date)) return false;
  return date === Math.floor(lastModified.getTime() / 1000) * 1000;
}
