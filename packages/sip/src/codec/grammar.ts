/**
 * Small scanners shared by the header parsers (RFC 3261 §25.1 basic rules).
 *
 * @module
 */

/** Generic parameters (`;name=value;flag`), keys lower-cased, values as written; a flag has `null`. */
export type SipParams = Record<string, string | null>;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LT = 0x3c;
const GT = 0x3e;

/**
 * Splits `text` at `sep` where it is not inside a quoted string or `<…>`
 * (RFC 3261 §7.3.1: a header with a comma-separated list is equivalent to
 * several header lines). Parts are trimmed; empty parts are kept so callers
 * can reject them.
 */
export function splitTopLevel(text: string, sep = ','): string[] {
  const sepCode = sep.charCodeAt(0);
  if (!text.includes(sep)) return [text.trim()];
  const parts: string[] = [];
  let quoted = false;
  let angle = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quoted) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) quoted = false;
    } else if (c === QUOTE) quoted = true;
    else if (c === LT) angle = true;
    else if (c === GT) angle = false;
    else if (c === sepCode && !angle) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

// token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")  (RFC 3261 §25.1)
const TOKEN_CHARS = charTable("-.!%*_+`'~");

/** A 128-entry table: 1 for alphanumerics and the given characters. */
export function charTable(extra: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let c = 0x30; c <= 0x39; c++) table[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) table[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) table[c] = 1;
  for (let i = 0; i < extra.length; i++) table[extra.charCodeAt(i)] = 1;
  return table;
}

/** Whether every character of `text` is in `table` (and `text` is not empty). */
export function allIn(text: string, table: Uint8Array): boolean {
  const n = text.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || table[c] !== 1) return false;
  }
  return true;
}

/** Whether `text` is a `token` (RFC 3261 §25.1). */
export function isToken(text: string): boolean {
  return allIn(text, TOKEN_CHARS);
}

/**
 * Parses `;name=value` parameters (RFC 3261 §25.1 `generic-param`) from
 * `text` (which starts with `;` or is empty). Returns `undefined` when the
 * syntax is broken (an empty name, an unterminated quoted string).
 */
export function parseParams(text: string): SipParams | undefined {
  const params: SipParams = {};
  let i = 0;
  const n = text.length;
  while (i < n) {
    // skip LWS and the ';'
    let c = text.charCodeAt(i);
    while (c === 0x20 || c === 0x09) c = text.charCodeAt(++i);
    if (i >= n) break;
    if (c !== 0x3b) return undefined;
    i++;
    c = text.charCodeAt(i);
    while (c === 0x20 || c === 0x09) c = text.charCodeAt(++i);
    // name: token chars up to '=', ';' or LWS; lower-cased only when needed
    const nameStart = i;
    let upper = false;
    while (i < n) {
      c = text.charCodeAt(i);
      if (c >= 128 || TOKEN_CHARS[c] !== 1) break;
      if (c >= 0x41 && c <= 0x5a) upper = true;
      i++;
    }
    if (i === nameStart) return undefined;
    let name = text.slice(nameStart, i);
    if (upper) name = name.toLowerCase();
    while (c === 0x20 || c === 0x09) c = text.charCodeAt(++i);
    if (i < n && c === 0x3d) {
      i++;
      c = text.charCodeAt(i);
      while (c === 0x20 || c === 0x09) c = text.charCodeAt(++i);
      const start = i;
      if (c === QUOTE) {
        i++;
        while (i < n && text.charCodeAt(i) !== QUOTE) {
          if (text.charCodeAt(i) === BACKSLASH) i++;
          i++;
        }
        if (i >= n) return undefined;
        i++;
      } else {
        while (i < n && text.charCodeAt(i) !== 0x3b) i++;
      }
      let end = i;
      while (
        end > start &&
        (text.charCodeAt(end - 1) === 0x20 || text.charCodeAt(end - 1) === 0x09)
      )
        end--;
      if (end === start) return undefined;
      params[name] = text.slice(start, end);
    } else if (i < n && c !== 0x3b) {
      return undefined;
    } else {
      params[name] = null;
    }
  }
  return params;
}

/** Serialises parameters as `;name=value;flag`. */
export function formatParams(params: SipParams): string {
  let out = '';
  for (const name in params) {
    const value = params[name];
    out += value === null || value === undefined ? `;${name}` : `;${name}=${value}`;
  }
  return out;
}

/** Removes the quotes and backslash escapes of a `quoted-string` (RFC 3261 §25.1). */
export function unquote(text: string): string {
  if (text.length < 2 || text.charCodeAt(0) !== QUOTE || text.charCodeAt(text.length - 1) !== QUOTE)
    return text;
  return text.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** Quotes `text` as a `quoted-string`, escaping `"` and `\`. */
export function quote(text: string): string {
  return `"${text.replace(/(["\\])/g, '\\$1')}"`;
}

/** Parses a decimal integer made only of digits, or returns `undefined`. */
export function parseDigits(text: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const n = text.length;
  if (n === 0 || n > 16) return undefined;
  let value = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return undefined;
    value = value * 10 + c;
  }
  return value > max ? undefined : value;
}
