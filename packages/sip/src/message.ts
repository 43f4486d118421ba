/**
 * The SIP message model: {@link SipRequest} and {@link SipResponse} with
 * ordered raw headers and lazy typed accessors (RFC 3261 §7, §20).
 *
 * @module
 */

import { VoxmeshError } from '@voxmesh/core';
import { SipErrorCode } from './codec/errors.js';
import { parseDigits, splitTopLevel } from './codec/grammar.js';
import {
  type CSeq,
  type Via,
  parseTokenList,
  tryParseCSeq,
  tryParseVia,
} from './codec/header-values.js';
import { SipHeaders } from './codec/headers.js';
import { type NameAddr, scanNameAddr } from './codec/name-addr.js';
import { type Uri, parseUri } from './codec/uri.js';

/** `[name, value]` pairs, or an existing {@link SipHeaders}. */
export type HeadersInit = SipHeaders | Iterable<readonly [string, string]>;

/** Fields shared by {@link SipRequestInit} and {@link SipResponseInit}. */
export interface SipMessageInit {
  /** Header fields in order. @defaultValue none */
  headers?: HeadersInit | undefined;
  /** The body; a string is encoded as UTF-8. @defaultValue empty */
  body?: Buffer | Uint8Array | string | undefined;
}

/** Fields of a {@link SipRequest}. */
export interface SipRequestInit extends SipMessageInit {
  /** The method (`INVITE`, `REGISTER`, …); case-sensitive (RFC 3261 §7.1). */
  method: string;
  /** The Request-URI. */
  uri: Uri | string;
}

/** Fields of a {@link SipResponse}. */
export interface SipResponseInit extends SipMessageInit {
  /** The status code, 100–699. */
  status: number;
  /** The reason phrase. @defaultValue the standard phrase of `status` (see {@link reasonPhrase}) */
  reason?: string | undefined;
}

const VERSION = 'SIP/2.0';

/** Thrown by a typed accessor when its header is present but malformed. */
function invalidHeader(name: string, value: string): VoxmeshError {
  return new VoxmeshError(
    SipErrorCode.SIP_INVALID_MESSAGE,
    `Malformed ${name} header: ${JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value)}`,
  );
}

/**
 * What requests and responses share: headers, body and the typed accessors.
 *
 * Typed accessors parse their header on first use and cache the result until
 * the headers change; treat what they return as read-only and change a header
 * through {@link SipMessageBase.headers} (`msg.headers.set('To', to.toString())`).
 * An accessor returns `undefined` (or `[]`) when its header is absent and
 * throws a `SIP_INVALID_MESSAGE` {@link VoxmeshError} when it is malformed.
 * {@link parseMessage} already checks Via, From, To, Call-ID, CSeq,
 * Max-Forwards and Content-Length, so those never throw on a parsed message.
 */
export abstract class SipMessageBase {
  /** The header fields, in order. */
  readonly headers: SipHeaders;
  /** The body (empty when there is none). */
  body: Buffer;
  #cache: Record<string, unknown> = {};
  #cacheVersion = -1;

  protected constructor(init: SipMessageInit) {
    this.headers =
      init.headers instanceof SipHeaders ? init.headers : new SipHeaders(init.headers ?? []);
    const body = init.body;
    this.body =
      body === undefined
        ? Buffer.alloc(0)
        : typeof body === 'string'
          ? Buffer.from(body, 'utf8')
          : Buffer.isBuffer(body)
            ? body
            : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }

  /** Whether this is a request. */
  abstract isRequest(): this is SipRequest;
  /** Whether this is a response. */
  abstract isResponse(): this is SipResponse;
  /** The start line without CRLF. */
  abstract startLine(): string;

  /** @internal Returns the cached value of `key`, computing it when the headers changed. */
  protected cached<T>(key: string, compute: () => T): T {
    if (this.#cacheVersion !== this.headers.version) {
      this.#cache = {};
      this.#cacheVersion = this.headers.version;
    }
    if (key in this.#cache) return this.#cache[key] as T;
    const value = compute();
    this.#cache[key] = value;
    return value;
  }

  /** @internal Stores a value the parser already computed for `key`. */
  _prime(key: string, value: unknown): void {
    if (this.#cacheVersion !== this.headers.version) {
      this.#cache = {};
      this.#cacheVersion = this.headers.version;
    }
    this.#cache[key] = value;
  }

  /** The Via entries, top first (RFC 3261 §20.42). */
  get via(): readonly Via[] {
    return this.cached('via', () =>
      this.headers.list('via').map((text) => {
        const via = tryParseVia(text);
        if (via === undefined) throw invalidHeader('Via', text);
        return via;
      }),
    );
  }

  /** The top Via entry (the one a response is routed by, RFC 3261 §18.2.2). */
  get topVia(): Via | undefined {
    return this.cached('topVia', () => {
      const first = this.headers.get('via');
      if (first === undefined) return undefined;
      const text = splitTopLevel(first)[0] as string;
      const via = tryParseVia(text);
      if (via === undefined) throw invalidHeader('Via', text);
      return via;
    });
  }

  /** The From header (RFC 3261 §20.20). */
  get from(): NameAddr | undefined {
    return this.cached('from', () => this.#nameAddr('from', 'From'));
  }

  /** The To header (RFC 3261 §20.39). */
  get to(): NameAddr | undefined {
    return this.cached('to', () => this.#nameAddr('to', 'To'));
  }

  /** The Call-ID (RFC 3261 §20.8). */
  get callId(): string | undefined {
    return this.headers.get('call-id');
  }

  /** The CSeq (RFC 3261 §20.16). */
  get cseq(): CSeq | undefined {
    return this.cached('cseq', () => {
      const text = this.headers.get('cseq');
      if (text === undefined) return undefined;
      const cseq = tryParseCSeq(text);
      if (cseq === undefined) throw invalidHeader('CSeq', text);
      return cseq;
    });
  }

  /**
   * The Contact entries (RFC 3261 §20.10), with their `expires` and `q`
   * parameters in `params`. A `Contact: *` (REGISTER removing all bindings)
   * gives `[]` here and `true` from {@link SipMessageBase.contactWildcard}.
   */
  get contact(): readonly NameAddr[] {
    return this.cached('contact', () =>
      this.contactWildcard ? [] : this.#nameAddrList('contact', 'Contact'),
    );
  }

  /** Whether the message carries `Contact: *` (RFC 3261 §10.2.2). */
  get contactWildcard(): boolean {
    return this.cached('contact*', () => {
      const values = this.headers.list('contact');
      return values.length === 1 && values[0] === '*';
    });
  }

  /** The Route entries, in order (RFC 3261 §20.34). */
  get route(): readonly NameAddr[] {
    return this.cached('route', () => this.#nameAddrList('route', 'Route'));
  }

  /** The Record-Route entries, in order (RFC 3261 §20.30). */
  get recordRoute(): readonly NameAddr[] {
    return this.cached('record-route', () => this.#nameAddrList('record-route', 'Record-Route'));
  }

  /** Max-Forwards (RFC 3261 §20.22). */
  get maxForwards(): number | undefined {
    return this.cached('max-forwards', () =>
      this.#integer('max-forwards', 'Max-Forwards', 2 ** 31),
    );
  }

  /** Expires in seconds (RFC 3261 §20.19). */
  get expires(): number | undefined {
    return this.cached('expires', () => this.#integer('expires', 'Expires', 2 ** 32 - 1));
  }

  /** The Content-Length header as written (serialisation always writes the real length). */
  get contentLength(): number | undefined {
    return this.cached('content-length', () =>
      this.#integer('content-length', 'Content-Length', 2 ** 31 - 1),
    );
  }

  /** The Content-Type (media type with parameters), e.g. `application/sdp`. */
  get contentType(): string | undefined {
    return this.headers.get('content-type');
  }

  /** The option tags of Supported (RFC 3261 §20.37). */
  get supported(): readonly string[] {
    return this.cached('supported', () => parseTokenList(this.headers.getAll('supported')));
  }

  /** The option tags of Require (RFC 3261 §20.32). */
  get require(): readonly string[] {
    return this.cached('require', () => parseTokenList(this.headers.getAll('require')));
  }

  /**
   * The message as bytes, with a Content-Length that is the byte length of
   * the body (RFC 3261 §20.14), written last among the headers.
   */
  serialize(): Buffer {
    const head = `${this.startLine()}\r\n${this.headers._write('content-length')}Content-Length: ${this.body.length}\r\n\r\n`;
    if (this.body.length === 0) return Buffer.from(head, 'utf8');
    return Buffer.concat([Buffer.from(head, 'utf8'), this.body]);
  }

  /** The serialised message decoded as UTF-8 (for logs and tests). */
  toString(): string {
    return this.serialize().toString('utf8');
  }

  #nameAddr(key: string, name: string): NameAddr | undefined {
    const text = this.headers.get(key);
    if (text === undefined) return undefined;
    const parsed = scanNameAddr(text);
    if (parsed === undefined) throw invalidHeader(name, text);
    return parsed;
  }

  #nameAddrList(key: string, name: string): NameAddr[] {
    const out: NameAddr[] = [];
    for (const line of this.headers.getAll(key)) {
      for (const text of splitTopLevel(line)) {
        const parsed = scanNameAddr(text);
        if (parsed === undefined) throw invalidHeader(name, text);
        out.push(parsed);
      }
    }
    return out;
  }

  #integer(key: string, name: string, max: number): number | undefined {
    const text = this.headers.get(key);
    if (text === undefined) return undefined;
    const value = parseDigits(text, max);
    if (value === undefined) throw invalidHeader(name, text);
    return value;
  }
}

/** A SIP request (RFC 3261 §7.1). */
export class SipRequest extends SipMessageBase {
  readonly type = 'request';
  /** The method, case-sensitive. */
  method: string;
  /**
   * The Request-URI. In a request that {@link parseMessage} rejected because
   * the Request-URI itself is invalid, it is an `AbsoluteUri` with an empty
   * scheme holding the text as received.
   */
  uri: Uri;

  constructor(init: SipRequestInit) {
    super(init);
    this.method = init.method;
    this.uri = typeof init.uri === 'string' ? parseUri(init.uri) : init.uri;
  }

  isRequest(): this is SipRequest {
    return true;
  }

  isResponse(): this is SipResponse {
    return false;
  }

  startLine(): string {
    return `${this.method} ${this.uri.toString()} ${VERSION}`;
  }
}

/** A SIP response (RFC 3261 §7.2). */
export class SipResponse extends SipMessageBase {
  readonly type = 'response';
  /** The status code, 100–699. */
  status: number;
  /** The reason phrase. */
  reason: string;

  constructor(init: SipResponseInit) {
    super(init);
    if (!Number.isInteger(init.status) || init.status < 100 || init.status > 699) {
      throw new RangeError(`A SIP status code is 100–699, got ${init.status}`);
    }
    this.status = init.status;
    this.reason = init.reason ?? reasonPhrase(init.status);
  }

  isRequest(): this is SipRequest {
    return false;
  }

  isResponse(): this is SipResponse {
    return true;
  }

  startLine(): string {
    return `${VERSION} ${this.status} ${this.reason}`;
  }
}

/** A request or a response. */
export type SipMessage = SipRequest | SipResponse;

const REASONS: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  199: 'Early Dialog Terminated',
  200: 'OK',
  202: 'Accepted',
  204: 'No Notification',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  305: 'Use Proxy',
  380: 'Alternative Service',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  410: 'Gone',
  412: 'Conditional Request Failed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  421: 'Extension Required',
  422: 'Session Interval Too Small',
  423: 'Interval Too Brief',
  429: 'Provide Referrer Identity',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  485: 'Ambiguous',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  491: 'Request Pending',
  493: 'Undecipherable',
  494: 'Security Agreement Required',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  580: 'Precondition Failure',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
};

/** The standard reason phrase of a status code (RFC 3261 §21 and extensions), or a generic one. */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? (status < 200 ? 'Provisional' : status < 300 ? 'Success' : 'Error');
}

/** Options of {@link createResponse}. */
export interface CreateResponseOptions {
  /** The reason phrase. @defaultValue the standard phrase of `status` */
  reason?: string | undefined;
  /**
   * A tag added to the To header when the request's To has none
   * (RFC 3261 §8.2.6.2: every response except 100 from a UAS carries one).
   * @defaultValue no tag added
   */
  toTag?: string | undefined;
  /** Extra header fields, appended in order. @defaultValue none */
  headers?: Iterable<readonly [string, string]> | undefined;
  /** The body. @defaultValue empty */
  body?: Buffer | string | undefined;
}

/**
 * Builds a response to `request` (RFC 3261 §8.2.6): the Via lines (in order),
 * From, To (with `toTag` when asked), Call-ID and CSeq are copied as written,
 * and for a 100 also Timestamp (§8.2.6.1). Works on requests that
 * {@link parseMessage} rejected, so a 400 can be answered even when one of
 * those headers is malformed.
 */
export function createResponse(
  request: SipRequest,
  status: number,
  options: CreateResponseOptions = {},
): SipResponse {
  const source = request.headers;
  const headers = new SipHeaders();
  // RFC 3261 §8.2.6.2: copy Via (in order), From, Call-ID, CSeq; To gets a tag.
  for (const value of source.getAll('via')) headers.append('Via', value);
  const from = source.get('from');
  if (from !== undefined) headers.append('From', from);
  let to = source.get('to');
  if (to !== undefined && options.toTag !== undefined) {
    const parsed = scanNameAddr(to);
    if (parsed !== undefined && parsed.tag === undefined) to = `${to};tag=${options.toTag}`;
  }
  if (to !== undefined) headers.append('To', to);
  const callId = source.get('call-id');
  if (callId !== undefined) headers.append('Call-ID', callId);
  const cseq = source.get('cseq');
  if (cseq !== undefined) headers.append('CSeq', cseq);
  // RFC 3261 §8.2.6.1: a 100 (Trying) copies the Timestamp header.
  if (status === 100) {
    const timestamp = source.get('timestamp');
    if (timestamp !== undefined) headers.append('Timestamp', timestamp);
  }
  for (const [name, value] of options.headers ?? []) headers.append(name, value);
  return new SipResponse({ status, reason: options.reason, headers, body: options.body });
}
