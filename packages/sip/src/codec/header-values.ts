/**
 * Typed values of the headers the stack itself reads: Via, CSeq and the
 * simple numeric and list headers (RFC 3261 §20).
 *
 * @module
 */

import { type SipParams, formatParams, isToken, parseDigits, parseParams } from './grammar.js';
import { parseHostPort } from './uri.js';

/** Fields of a {@link Via}. */
export interface ViaInit {
  /** The transport (`UDP`, `TCP`, `TLS`, `WS`, `WSS`, `SCTP`), upper-cased. */
  transport: string;
  /** The sent-by host (no brackets around IPv6). */
  host: string;
  /** The sent-by port, when given. */
  port?: number | undefined;
  /** Parameters (`branch`, `received`, `rport`, `maddr`, `ttl`, …). @defaultValue `{}` */
  params?: SipParams | undefined;
  /** The protocol name and version. @defaultValue `'SIP/2.0'` */
  protocol?: string | undefined;
}

/**
 * One Via entry (RFC 3261 §20.42):
 * `SIP/2.0/UDP pc33.atlanta.com:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.1`.
 */
export class Via {
  protocol: string;
  transport: string;
  host: string;
  port: number | undefined;
  params: SipParams;

  constructor(init: ViaInit) {
    this.protocol = init.protocol ?? 'SIP/2.0';
    this.transport = init.transport.toUpperCase();
    this.host = init.host;
    this.port = init.port;
    this.params = init.params ?? {};
  }

  /** The `branch` parameter (RFC 3261 §8.1.1.7). */
  get branch(): string | undefined {
    return this.params.branch ?? undefined;
  }

  /** The `received` parameter (RFC 3261 §18.2.1). */
  get received(): string | undefined {
    return this.params.received ?? undefined;
  }

  /**
   * The `rport` parameter (RFC 3581): a port number once a server filled it
   * in, `true` when the client asked for it with a bare `;rport`, `undefined`
   * when absent.
   */
  get rport(): number | true | undefined {
    if (!('rport' in this.params)) return undefined;
    const value = this.params.rport;
    if (value === null || value === undefined) return true;
    return parseDigits(value, 65535) ?? true;
  }

  /** `host[:port]` as written in the Via (IPv6 in brackets). */
  get sentBy(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return this.port === undefined ? host : `${host}:${this.port}`;
  }

  /** A deep copy. */
  clone(): Via {
    return new Via({
      protocol: this.protocol,
      transport: this.transport,
      host: this.host,
      port: this.port,
      params: { ...this.params },
    });
  }

  toString(): string {
    return `${this.protocol}/${this.transport} ${this.sentBy}${formatParams(this.params)}`;
  }
}

/** Parses one Via entry (not a comma-separated list), or returns `undefined`. */
export function tryParseVia(text: string): Via | undefined {
  // via-parm = sent-protocol LWS sent-by *( SEMI via-params )  (RFC 3261 §25.1)
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport (SLASH allows LWS)
  const s1 = text.indexOf('/');
  if (s1 < 0) return undefined;
  const s2 = text.indexOf('/', s1 + 1);
  if (s2 < 0) return undefined;
  const name = text.slice(0, s1).trim();
  const version = text.slice(s1 + 1, s2).trim();
  if (!isToken(name) || !isToken(version)) return undefined;
  let i = s2 + 1;
  const n = text.length;
  while (i < n && isLws(text.charCodeAt(i))) i++;
  const tStart = i;
  while (i < n && !isLws(text.charCodeAt(i))) i++;
  const transport = text.slice(tStart, i);
  if (!isToken(transport)) return undefined;
  while (i < n && isLws(text.charCodeAt(i))) i++;
  const semi = text.indexOf(';', i);
  const sentBy = (semi < 0 ? text.slice(i) : text.slice(i, semi)).trim();
  const hostport = parseHostPort(/[ \t]/.test(sentBy) ? sentBy.replace(/\s*:\s*/, ':') : sentBy);
  if (hostport === undefined) return undefined;
  let params: SipParams = {};
  if (semi >= 0) {
    const parsed = parseParams(text.slice(semi));
    if (parsed === undefined) return undefined;
    params = parsed;
  }
  return new Via({
    protocol: `${name}/${version}`,
    transport,
    host: hostport.host,
    port: hostport.port,
    params,
  });
}

function isLws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** A CSeq value (RFC 3261 §20.16). */
export interface CSeq {
  /** The sequence number (less than 2^31). */
  readonly seq: number;
  /** The method, case-sensitive as written. */
  readonly method: string;
}

/** Parses `4711 INVITE`, or returns `undefined`. */
export function tryParseCSeq(text: string): CSeq | undefined {
  const match = /^([0-9]{1,10})[ \t]+([^ \t]+)$/.exec(text.trim());
  if (match === null) return undefined;
  const seq = Number(match[1]);
  const method = match[2] as string;
  // CSeq = 1*DIGIT LWS Method; the sequence number MUST be less than 2**31 (RFC 3261 §8.1.1.5)
  if (seq >= 2 ** 31 || !isToken(method)) return undefined;
  return { seq, method };
}

/** Parses a comma-separated list of tokens (Supported, Require, Allow, …). */
export function parseTokenList(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    for (const part of value.split(',')) {
      const token = part.trim();
      if (token.length > 0) out.push(token);
    }
  }
  return out;
}
