/**
 * SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966).
 *
 * ```text
 * sip:alice:secret@atlanta.example.com:5060;transport=tcp?subject=project
 * └┬┘ └─┬─┘ └─┬──┘ └────────┬────────┘ └┬─┘ └─────┬─────┘ └──────┬─────┘
 * scheme user password     host        port    params          headers
 * ```
 *
 * @module
 */

import { VoxmeshError } from '@voxmesh/core';
import { SipErrorCode } from './errors.js';
import {
  type SipParams,
  allIn,
  charTable,
  formatParams,
  parseDigits,
  parseParams,
} from './grammar.js';

/** Fields of a {@link SipUri}. */
export interface SipUriInit {
  /** `sip` or `sips`. @defaultValue `'sip'` */
  scheme?: 'sip' | 'sips' | undefined;
  /** The user part, as written (escapes kept). */
  user?: string | undefined;
  /** The password part (deprecated by RFC 3261 §19.1.1, kept for round-trips). */
  password?: string | undefined;
  /** A host name, IPv4 address or IPv6 address (without brackets). */
  host: string;
  /** The port, when given. */
  port?: number | undefined;
  /** URI parameters (`transport`, `lr`, `user`, `maddr`, …). @defaultValue `{}` */
  params?: SipParams | undefined;
  /** URI headers (`?name=value&…`), values as written. @defaultValue `{}` */
  headers?: Record<string, string> | undefined;
}

/** A `sip:` or `sips:` URI (RFC 3261 §19.1). */
export class SipUri {
  scheme: 'sip' | 'sips';
  user: string | undefined;
  password: string | undefined;
  host: string;
  port: number | undefined;
  params: SipParams;
  headers: Record<string, string>;

  constructor(init: SipUriInit) {
    this.scheme = init.scheme ?? 'sip';
    this.user = init.user;
    this.password = init.password;
    this.host = init.host;
    this.port = init.port;
    this.params = init.params ?? {};
    this.headers = init.headers ?? {};
  }

  /** `host` with brackets around an IPv6 address, and `:port` when present. */
  get hostport(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return this.port === undefined ? host : `${host}:${this.port}`;
  }

  /** A deep copy. */
  clone(): SipUri {
    return new SipUri({
      scheme: this.scheme,
      user: this.user,
      password: this.password,
      host: this.host,
      port: this.port,
      params: { ...this.params },
      headers: { ...this.headers },
    });
  }

  toString(): string {
    let out = `${this.scheme}:`;
    if (this.user !== undefined) {
      out += this.user;
      if (this.password !== undefined) out += `:${this.password}`;
      out += '@';
    }
    out += this.hostport + formatParams(this.params);
    const names = Object.keys(this.headers);
    if (names.length > 0) out += `?${names.map((n) => `${n}=${this.headers[n]}`).join('&')}`;
    return out;
  }
}

/** A `tel:` URI (RFC 3966). */
export class TelUri {
  readonly scheme = 'tel';
  /** The telephone number as written (`+1-201-555-0123`, `7042`). */
  number: string;
  /** Parameters (`phone-context`, `ext`, …). */
  params: SipParams;

  constructor(init: { number: string; params?: SipParams | undefined }) {
    this.number = init.number;
    this.params = init.params ?? {};
  }

  clone(): TelUri {
    return new TelUri({ number: this.number, params: { ...this.params } });
  }

  toString(): string {
    return `tel:${this.number}${formatParams(this.params)}`;
  }
}

/** Any other absolute URI (`mailto:`, `urn:`, `http:`), kept as written. */
export class AbsoluteUri {
  /** The scheme, lower-cased. */
  readonly scheme: string;
  /** Everything after `scheme:`. */
  readonly value: string;

  constructor(init: { scheme: string; value: string }) {
    this.scheme = init.scheme;
    this.value = init.value;
  }

  clone(): AbsoluteUri {
    return new AbsoluteUri({ scheme: this.scheme, value: this.value });
  }

  toString(): string {
    return `${this.scheme}:${this.value}`;
  }
}

/** A URI of any scheme. */
export type Uri = SipUri | TelUri | AbsoluteUri;

// hostname = *( domainlabel "." ) toplabel [ "." ]; domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum  (RFC 3261 §25.1)
function isHostname(host: string): boolean {
  const n = host.length;
  if (n === 0) return false;
  let labelStart = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 0x2e : host.charCodeAt(i);
    if (c === 0x2e) {
      if (i === labelStart) return i === n && n > 1; // a trailing dot is allowed, an empty label is not
      if (host.charCodeAt(labelStart) === 0x2d || host.charCodeAt(i - 1) === 0x2d) return false;
      labelStart = i + 1;
    } else if (!(
      c === 0x2d ||
      (c >= 0x30 && c <= 0x39) ||
      ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a)
    )) {
      return false;
    }
  }
  return true;
}
const IPV6_RE = /^[0-9A-Fa-f:.]+$/;
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+\-.]*$/;
// user = 1*( unreserved / escaped / user-unreserved )  (RFC 3261 §25.1)
// user = 1*( unreserved / escaped / user-unreserved ); password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
const USER_CHARS = charTable("-_.!~*'()&=+$,;?/%");
const PASSWORD_CHARS = charTable("-_.!~*'()&=+$,%");
const ESCAPE_RE = /%(?![0-9A-Fa-f]{2})/;

function isEscapedText(text: string, table: Uint8Array): boolean {
  return allIn(text, table) && (!text.includes('%') || !ESCAPE_RE.test(text));
}

function hasForbidden(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x22 || c === 0x3c || c === 0x3e || c === 0x7f) return true;
  }
  return false;
}
const TEL_RE = /^[0-9A-Fa-f*#+\-.()pPwW]+$/;

/** A parsed `host[:port]`. */
export interface HostPort {
  host: string;
  port: number | undefined;
}

/**
 * Parses `host[:port]` where host is a hostname, IPv4 address or bracketed
 * IPv6 reference (RFC 3261 §25.1 `hostport`). Returns `undefined` when invalid.
 */
export function parseHostPort(text: string): HostPort | undefined {
  let host: string;
  let rest: string;
  if (text.charCodeAt(0) === 0x5b) {
    const end = text.indexOf(']');
    if (end < 0) return undefined;
    host = text.slice(1, end);
    if (!IPV6_RE.test(host) || !host.includes(':')) return undefined;
    rest = text.slice(end + 1);
  } else {
    const colon = text.indexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    rest = colon < 0 ? '' : text.slice(colon);
    if (!isHostname(host)) return undefined;
  }
  if (rest.length === 0) return { host, port: undefined };
  if (rest.charCodeAt(0) !== 0x3a) return undefined;
  const port = parseDigits(rest.slice(1), 65535);
  if (port === undefined) return undefined;
  return { host, port };
}

/** Parses a URI, or returns `undefined` when it is not valid. */
export function tryParseUri(text: string): Uri | undefined {
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const scheme = text.slice(0, colon).toLowerCase();
  const rest = text.slice(colon + 1);
  if (scheme === 'sip' || scheme === 'sips') return parseSipUriParts(scheme, rest);
  if (scheme === 'tel') return parseTelUri(rest);
  if (!SCHEME_RE.test(scheme) || rest.length === 0 || hasForbidden(rest)) return undefined;
  return new AbsoluteUri({ scheme, value: rest });
}

/**
 * Parses a URI (`sip:`, `sips:`, `tel:` or any other absolute URI).
 *
 * @throws VoxmeshError `SIP_INVALID_URI` when the text is not a valid URI.
 */
export function parseUri(text: string): Uri {
  const uri = tryParseUri(text);
  if (uri === undefined) {
    throw new VoxmeshError(SipErrorCode.SIP_INVALID_URI, `Invalid URI: ${JSON.stringify(text)}`);
  }
  return uri;
}

/**
 * Parses a `sip:`/`sips:` URI.
 *
 * @throws VoxmeshError `SIP_INVALID_URI` when the text is not a valid SIP or SIPS URI.
 */
export function parseSipUri(text: string): SipUri {
  const uri = tryParseUri(text);
  if (!(uri instanceof SipUri)) {
    throw new VoxmeshError(
      SipErrorCode.SIP_INVALID_URI,
      `Invalid SIP URI: ${JSON.stringify(text)}`,
    );
  }
  return uri;
}

function parseSipUriParts(scheme: 'sip' | 'sips', b: string): SipUri | undefined {
  let rest = b;
  if (rest.length === 0 || hasForbidden(rest)) return undefined;
  let user: string | undefined;
  let password: string | undefined;
  // RFC 3261 §19.1.1: the userinfo ends with '@'; the user part may contain ';' and '?'.
  const at = rest.lastIndexOf('@', rest.includes('?') ? findHeadersStart(rest) : rest.length);
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const pc = userinfo.indexOf(':');
    user = pc < 0 ? userinfo : userinfo.slice(0, pc);
    if (pc >= 0) {
      password = userinfo.slice(pc + 1);
      if (password.length > 0 && !isEscapedText(password, PASSWORD_CHARS)) return undefined;
    }
    if (!isEscapedText(user, USER_CHARS)) return undefined;
  }
  const q = rest.indexOf('?');
  const beforeHeaders = q < 0 ? rest : rest.slice(0, q);
  const semi = beforeHeaders.indexOf(';');
  const hostport = parseHostPort(semi < 0 ? beforeHeaders : beforeHeaders.slice(0, semi));
  if (hostport === undefined) return undefined;
  let params: SipParams = {};
  if (semi >= 0) {
    const parsed = parseParams(beforeHeaders.slice(semi));
    if (parsed === undefined) return undefined;
    params = parsed;
  }
  const headers: Record<string, string> = {};
  if (q >= 0) {
    for (const pair of rest.slice(q + 1).split('&')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) return undefined;
      headers[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return new SipUri({
    scheme,
    user,
    password,
    host: hostport.host,
    port: hostport.port,
    params,
    headers,
  });
}

function findHeadersStart(rest: string): number {
  // The first '?' after the last '@' that precedes it; a '?' in the user part is rare but legal.
  const at = rest.indexOf('@');
  const q = rest.indexOf('?', at < 0 ? 0 : at);
  return q < 0 ? rest.length : q;
}

function parseTelUri(rest: string): TelUri | undefined {
  const semi = rest.indexOf(';');
  const number = semi < 0 ? rest : rest.slice(0, semi);
  if (number.length === 0 || !TEL_RE.test(number)) return undefined;
  let params: SipParams = {};
  if (semi >= 0) {
    const parsed = parseParams(rest.slice(semi));
    if (parsed === undefined) return undefined;
    params = parsed;
  }
  return new TelUri({ number, params });
}
