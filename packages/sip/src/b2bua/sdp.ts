/**
 * The little the B2BUA checks of a session description it passes through
 * untouched (without a media controller).
 *
 * @module
 */

/**
 * Whether `body` looks like a session description (RFC 4566 §5): it starts
 * with `v=0` and has an origin (`o=`) and at least one media line (`m=`).
 */
export function isPlausibleSdp(body: Buffer | string): boolean {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  // RFC 4566 §5: "v=" comes first, then "o=", "s=", ...; media descriptions start with "m=".
  return /^v=0\r?\n/.test(text) && /(^|\n)o=\S/.test(text) && /(^|\n)m=\w+ \d+/.test(text);
}
