/**
 * The grammar of the `WWW-Authenticate`, `Proxy-Authenticate`,
 * `Authorization` and `Proxy-Authorization` header values (RFC 3261 §25.1,
 * RFC 7616 §3.3–3.4, RFC 8760 §2).
 *
 * ```text
 * challenge    =  ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
 * credentials  =  ("Digest" LWS digest-response *(COMMA dig-resp)) / other-response
 * auth-param   =  auth-param-name EQUAL ( token / quoted-string )
 * ```
 *
 * SIP never folds several challenges into one header value (RFC 3261 §7.3.1
 * excludes these headers from comma-list combining), so one value is one
 * challenge or one set of credentials.
 *
 * @module
 */

import { ErrorCode, VoxmeshError } from '@voxmesh/core';

/** The digest algorithms Voxmesh speaks (RFC 7616 §3.2, RFC 8760 §2.1–2.2). */
export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

const ALGORITHMS: readonly DigestAlgorithm[] = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess'];

/** Returns the canonical spelling of a supported algorithm name, or `undefined`. */
export function normalizeDigestAlgorithm(name: string): DigestAlgorithm | undefined {
  const upper = name.toUpperCase();
  return ALGORITHMS.find((a) => a.toUpperCase() === upper);
}

/** A parsed header value: the scheme and its parameters (names lower-cased). */
export interface AuthHeaderValue {
  /** The scheme as written (`Digest`, `Bearer`, ...). */
  scheme: string;
  /** The parameters; quoted values are unquoted and unescaped. */
  params: Map<string, string>;
}

/** A digest challenge (`WWW-Authenticate` / `Proxy-Authenticate`, RFC 3261 §25.1 `digest-cln`). */
export interface DigestChallenge {
  realm: string;
  nonce: string;
  /** @defaultValue `'MD5'` when absent (RFC 7616 §3.3) */
  algorithm: DigestAlgorithm;
  /** The qop options offered; empty for an RFC 2069 style challenge. */
  qop: string[];
  opaque?: string | undefined;
  /** `stale=true`: the nonce expired, retry with the same credentials (RFC 7616 §3.3). */
  stale: boolean;
  domain?: string | undefined;
}

/** Digest credentials (`Authorization` / `Proxy-Authorization`, RFC 3261 §25.1 `digest-response`). */
export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  /** The `digest-uri` (`uri=`), which must equal the Request-URI (RFC 3261 §22.4). */
  uri: string;
  /** The request digest, lower-case hex. */
  response: string;
  /** @defaultValue `'MD5'` when absent */
  algorithm: DigestAlgorithm;
  cnonce?: string | undefined;
  opaque?: string | undefined;
  /** `auth` or `auth-int`; absent for RFC 2069 style credentials. */
  qop?: string | undefined;
  /** The nonce count as 8 hex digits (`nc=00000001`). */
  nc?: string | undefined;
}

function invalid(message: string): VoxmeshError {
  return new VoxmeshError(ErrorCode.INVALID_INPUT, message);
}

function isTokenChar(code: number): boolean {
  // RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    "-.!%*_+`'~".includes(String.fromCharCode(code))
  );
}

function isSpace(code: number | undefined): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0d || code === 0x0a;
}

/**
 * Parses one authentication header value into its scheme and parameters.
 * Throws an `INVALID_INPUT` `VoxmeshError` on malformed input
 * (unterminated quoted string, missing `=`, duplicate parameter, ...).
 */
export function parseAuthHeader(value: string): AuthHeaderValue {
  if (typeof value !== 'string') throw new TypeError('parseAuthHeader expects a string');
  const s = value;
  let i = 0;
  const skipSpace = (): void => {
    while (isSpace(s.charCodeAt(i))) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
    return s.slice(start, i);
  };

  skipSpace();
  const scheme = readToken();
  if (scheme === '') throw invalid('Authentication header has no scheme');
  const params = new Map<string, string>();
  skipSpace();
  while (i < s.length) {
    const name = readToken().toLowerCase();
    if (name === '') throw invalid(`Unexpected character at offset ${i} in authentication header`);
    skipSpace();
    // RFC 3261 §25.1: EQUAL = SWS "=" SWS
    if (s[i] !== '=') throw invalid(`Parameter '${name}' has no value`);
    i++;
    skipSpace();
    let paramValue: string;
    if (s[i] === '"') {
      // RFC 3261 §25.1: quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE
      i++;
      let out = '';
      let closed = false;
      while (i < s.length) {
        const ch = s[i] as string;
        if (ch === '\\') {
          if (i + 1 >= s.length) break;
          out += s.charAt(i + 1);
          i += 2;
          continue;
        }
        if (ch === '"') {
          closed = true;
          i++;
          break;
        }
        out += ch;
        i++;
      }
      if (!closed) throw invalid(`Unterminated quoted string in parameter '${name}'`);
      paramValue = out;
    } else {
      paramValue = readToken();
      if (paramValue === '') throw invalid(`Parameter '${name}' has an empty value`);
    }
    if (params.has(name)) throw invalid(`Duplicate parameter '${name}'`);
    params.set(name, paramValue);
    skipSpace();
    if (i >= s.length) break;
    // RFC 3261 §25.1: COMMA = SWS "," SWS
    if (s[i] !== ',') throw invalid(`Expected ',' at offset ${i} in authentication header`);
    i++;
    skipSpace();
  }
  return { scheme, params };
}

/** Quotes `value` as an RFC 3261 §25.1 quoted-string. */
export function quoteString(value: string): string {
  if (/[\r\n]/.test(value)) throw invalid('A quoted string cannot contain CR or LF');
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function requireParam(params: Map<string, string>, name: string): string {
  const v = params.get(name);
  if (v === undefined) throw invalid(`Digest parameter '${name}' is missing`);
  return v;
}

function parseAlgorithm(params: Map<string, string>): DigestAlgorithm {
  const raw = params.get('algorithm');
  if (raw === undefined) return 'MD5';
  const algorithm = normalizeDigestAlgorithm(raw);
  if (algorithm === undefined) {
    throw new VoxmeshError(ErrorCode.NOT_SUPPORTED, `Digest algorithm '${raw}' is not supported`);
  }
  return algorithm;
}

function requireDigest(parsed: AuthHeaderValue): void {
  if (parsed.scheme.toLowerCase() !== 'digest') {
    throw new VoxmeshError(
      ErrorCode.NOT_SUPPORTED,
      `Authentication scheme '${parsed.scheme}' is not supported`,
    );
  }
}

/** Parses a `WWW-Authenticate` / `Proxy-Authenticate` value holding a digest challenge. */
export function parseDigestChallenge(value: string): DigestChallenge {
  const parsed = parseAuthHeader(value);
  requireDigest(parsed);
  const { params } = parsed;
  const qop = params.get('qop');
  return {
    realm: requireParam(params, 'realm'),
    nonce: requireParam(params, 'nonce'),
    algorithm: parseAlgorithm(params),
    // RFC 3261 §25.1: qop-options = "qop" EQUAL LDQUOT qop-value *("," qop-value) RDQUOT
    qop:
      qop === undefined
        ? []
        : qop
            .split(',')
            .map((q) => q.trim().toLowerCase())
            .filter((q) => q !== ''),
    opaque: params.get('opaque'),
    // RFC 3261 §25.1: stale = "stale" EQUAL ( "true" / "false" )
    stale: params.get('stale')?.toLowerCase() === 'true',
    domain: params.get('domain'),
  };
}

/** Serialises a digest challenge as a header value. */
export function serializeDigestChallenge(challenge: DigestChallenge): string {
  const parts = [`realm=${quoteString(challenge.realm)}`];
  if (challenge.domain !== undefined) parts.push(`domain=${quoteString(challenge.domain)}`);
  parts.push(`nonce=${quoteString(challenge.nonce)}`);
  if (challenge.opaque !== undefined) parts.push(`opaque=${quoteString(challenge.opaque)}`);
  if (challenge.stale) parts.push('stale=true');
  parts.push(`algorithm=${challenge.algorithm}`);
  if (challenge.qop.length > 0) parts.push(`qop=${quoteString(challenge.qop.join(','))}`);
  return `Digest ${parts.join(', ')}`;
}

/** Parses an `Authorization` / `Proxy-Authorization` value holding digest credentials. */
export function parseDigestCredentials(value: string): DigestCredentials {
  const parsed = parseAuthHeader(value);
  requireDigest(parsed);
  const { params } = parsed;
  const qop = params.get('qop')?.toLowerCase();
  const nc = params.get('nc');
  const cnonce = params.get('cnonce');
  // RFC 3261 §25.1: nonce-count = "nc" EQUAL 8LHEX
  if (nc !== undefined && !/^[0-9a-fA-F]{8}$/.test(nc)) {
    throw invalid(`Digest nonce count '${nc}' is not 8 hex digits`);
  }
  // RFC 7616 §3.4: cnonce and nc MUST be sent when qop is sent.
  if (qop !== undefined && (nc === undefined || cnonce === undefined)) {
    throw invalid('Digest credentials with qop must carry nc and cnonce');
  }
  const response = requireParam(params, 'response');
  // RFC 3261 §25.1: request-digest = LDQUOT 32LHEX RDQUOT (64 for SHA-256, RFC 8760 §2.3)
  if (!/^[0-9a-fA-F]+$/.test(response)) throw invalid('Digest response is not hexadecimal');
  return {
    username: requireParam(params, 'username'),
    realm: requireParam(params, 'realm'),
    nonce: requireParam(params, 'nonce'),
    uri: requireParam(params, 'uri'),
    response: response.toLowerCase(),
    algorithm: parseAlgorithm(params),
    cnonce,
    opaque: params.get('opaque'),
    qop,
    nc,
  };
}

/** Serialises digest credentials as a header value. */
export function serializeDigestCredentials(credentials: DigestCredentials): string {
  const parts = [
    `username=${quoteString(credentials.username)}`,
    `realm=${quoteString(credentials.realm)}`,
    `nonce=${quoteString(credentials.nonce)}`,
    `uri=${quoteString(credentials.uri)}`,
    `response=${quoteString(credentials.response)}`,
    `algorithm=${credentials.algorithm}`,
  ];
  if (credentials.cnonce !== undefined) parts.push(`cnonce=${quoteString(credentials.cnonce)}`);
  if (credentials.opaque !== undefined) parts.push(`opaque=${quoteString(credentials.opaque)}`);
  // RFC 3261 §25.1: message-qop = "qop" EQUAL qop-value (a token, unquoted)
  if (credentials.qop !== undefined) parts.push(`qop=${credentials.qop}`);
  if (credentials.nc !== undefined) parts.push(`nc=${credentials.nc}`);
  return `Digest ${parts.join(', ')}`;
}
