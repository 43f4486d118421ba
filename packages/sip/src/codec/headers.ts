/**
 * An ordered, case-insensitive, compact-form-aware list of header fields
 * (RFC 3261 §7.3).
 *
 * @module
 */

import { splitTopLevel } from './grammar.js';

// RFC 3261 §7.3.3 and the IANA registry of compact forms.
const COMPACT: Record<string, string> = {
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
};

const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  rack: 'RAck',
  rseq: 'RSeq',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
};

/** The lookup key of a header name: lower-cased, compact forms expanded. */
export function headerKey(name: string): string {
  if (name.length === 1) {
    const lower = name.toLowerCase();
    return COMPACT[lower] ?? lower;
  }
  return name.toLowerCase();
}

/** The conventional spelling of a header name (`call-id` → `Call-ID`, `v` → `Via`). */
export function canonicalHeaderName(name: string): string {
  const key = headerKey(name);
  const known = CANONICAL[key];
  if (known !== undefined) return known;
  return key.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/** One header field as it appears in a message. */
export interface HeaderField {
  /** The name as written (or the canonical name for fields added through the API). */
  readonly name: string;
  /** The value with surrounding whitespace removed and line folding replaced by one space. */
  readonly value: string;
}

/**
 * The header fields of a message, in order. Lookups are case-insensitive and
 * understand compact forms (`v` is `Via`, RFC 3261 §7.3.3). Values are kept
 * as written; the typed accessors of {@link SipMessage} parse them lazily.
 */
export class SipHeaders implements Iterable<HeaderField> {
  #names: string[] = [];
  #keys: string[] = [];
  #values: string[] = [];
  #version = 0;

  /** Creates headers from `[name, value]` pairs, in order. */
  constructor(fields: Iterable<readonly [string, string]> = []) {
    for (const [name, value] of fields) this.append(name, value);
  }

  /** @internal Appends a field parsed from the wire (name kept as written, key precomputed). */
  _push(name: string, key: string, value: string): void {
    this.#names.push(name);
    this.#keys.push(key);
    this.#values.push(value);
  }

  /** Increases on every change; typed accessors use it to drop cached values. */
  get version(): number {
    return this.#version;
  }

  /** The number of header lines. */
  get size(): number {
    return this.#names.length;
  }

  /** Whether at least one field has this name. */
  has(name: string): boolean {
    return this.#keys.includes(headerKey(name));
  }

  /** The value of the first field with this name. */
  get(name: string): string | undefined {
    const i = this.#keys.indexOf(headerKey(name));
    return i < 0 ? undefined : this.#values[i];
  }

  /**
   * The values of every field with this name, one per header line, in order.
   * A line may itself hold a comma-separated list; use {@link SipHeaders.list}
   * to split it.
   */
  getAll(name: string): string[] {
    const key = headerKey(name);
    const out: string[] = [];
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] === key) out.push(this.#values[i] as string);
    }
    return out;
  }

  /**
   * The elements of a list header (Via, Route, Contact, Supported, …): every
   * line, split at commas outside quotes and `<…>` (RFC 3261 §7.3.1).
   * Do not use it on headers whose values contain bare commas
   * (WWW-Authenticate, Date).
   */
  list(name: string): string[] {
    const out: string[] = [];
    for (const value of this.getAll(name)) {
      for (const part of splitTopLevel(value)) out.push(part);
    }
    return out;
  }

  /**
   * Replaces every field with this name by one field per value (at the
   * position of the first one; appended when there was none). An empty array
   * removes the header.
   */
  set(name: string, value: string | readonly string[]): this {
    const key = headerKey(name);
    const values = typeof value === 'string' ? [value] : value;
    let at = this.#keys.indexOf(key);
    let written = name;
    if (at >= 0) written = this.#names[at] as string;
    else {
      at = this.#keys.length;
      written = canonicalHeaderName(name);
    }
    this.#removeKey(key);
    this.#names.splice(at, 0, ...values.map(() => written));
    this.#keys.splice(at, 0, ...values.map(() => key));
    this.#values.splice(at, 0, ...values.map(checkValue));
    this.#version++;
    return this;
  }

  /** Adds a field after the last one. */
  append(name: string, value: string): this {
    this.#names.push(canonicalHeaderName(name));
    this.#keys.push(headerKey(name));
    this.#values.push(checkValue(value));
    this.#version++;
    return this;
  }

  /**
   * Adds a field before the first field with the same name (or first of all
   * when there is none): how a proxy adds its Via or Record-Route (RFC 3261 §16.6).
   */
  prepend(name: string, value: string): this {
    const key = headerKey(name);
    let at = this.#keys.indexOf(key);
    if (at < 0) at = 0;
    this.#names.splice(at, 0, canonicalHeaderName(name));
    this.#keys.splice(at, 0, key);
    this.#values.splice(at, 0, checkValue(value));
    this.#version++;
    return this;
  }

  /** Removes every field with this name; returns how many were removed. */
  remove(name: string): number {
    const removed = this.#removeKey(headerKey(name));
    if (removed > 0) this.#version++;
    return removed;
  }

  /** Replaces the value of the `index`-th field with this name (a line, not a list element). */
  replaceAt(name: string, index: number, value: string): this {
    const key = headerKey(name);
    let seen = 0;
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] !== key) continue;
      if (seen++ === index) {
        this.#values[i] = checkValue(value);
        this.#version++;
        return this;
      }
    }
    throw new RangeError(`No ${name} header at index ${index}`);
  }

  /** A copy. */
  clone(): SipHeaders {
    const copy = new SipHeaders();
    for (let i = 0; i < this.#names.length; i++) {
      copy._push(this.#names[i] as string, this.#keys[i] as string, this.#values[i] as string);
    }
    return copy;
  }

  /** Every field, in order. */
  *[Symbol.iterator](): Iterator<HeaderField> {
    for (let i = 0; i < this.#names.length; i++) {
      yield { name: this.#names[i] as string, value: this.#values[i] as string };
    }
  }

  /** @internal Serialises every field except Content-Length, one `Name: value\r\n` per line. */
  _write(skipKey: string): string {
    let out = '';
    for (let i = 0; i < this.#names.length; i++) {
      if (this.#keys[i] === skipKey) continue;
      out += `${this.#names[i]}: ${this.#values[i]}\r\n`;
    }
    return out;
  }

  #removeKey(key: string): number {
    let removed = 0;
    for (let i = this.#keys.length - 1; i >= 0; i--) {
      if (this.#keys[i] === key) {
        this.#names.splice(i, 1);
        this.#keys.splice(i, 1);
        this.#values.splice(i, 1);
        removed++;
      }
    }
    return removed;
  }
}

function checkValue(value: string): string {
  if (typeof value !== 'string') throw new TypeError('A header value must be a string');
  if (/[\r\n]/.test(value)) throw new TypeError('A header value must not contain CR or LF');
  return value.trim();
}
