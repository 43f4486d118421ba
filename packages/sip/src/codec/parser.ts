/**
 * Parsing a whole message from bytes (RFC 3261 §7, §18.3).
 *
 * ```text
 * INVITE sip:bob@biloxi.com SIP/2.0\r\n     start line
 * Via: SIP/2.0/UDP pc33.atlanta.com…\r\n     header fields (folded lines joined)
 * …\r\n
 * \r\n                                      empty line
 * v=0…                                      body (Content-Length bytes)
 * ```
 *
 * @module
 */

import { tryParseCSeq, tryParseVia } from './header-values.js';
import { SipHeaders, headerKey } from './headers.js';
import { isToken, parseDigits, splitTopLevel } from './grammar.js';
import { type NameAddr, scanNameAddr } from './name-addr.js';
import { AbsoluteUri, SipUri, tryParseUri } from './uri.js';
import { type SipMessage, SipRequest, SipResponse } from '../message.js';

/** The message parsed; its mandatory headers are well-formed. */
export interface ParseSuccess {
  readonly ok: true;
  readonly message: SipMessage;
}

/**
 * Nothing can be answered: not a SIP message, a response, or a request
 * without a Via to answer along. Drop it (and count it).
 */
export interface ParseDrop {
  readonly ok: false;
  readonly action: 'drop';
  /** Why, for logs. */
  readonly reason: string;
}

/**
 * A request that must be answered with `status` (400, or 505 for another
 * SIP version) instead of being processed: pass `request` to
 * {@link createResponse} with `status` and `reason`.
 */
export interface ParseReject {
  readonly ok: false;
  readonly action: 'reject';
  /** The status to answer with. */
  readonly status: 400 | 505;
  /** Why, usable as the reason phrase. */
  readonly reason: string;
  /** The request as far as it could be read (headers as written). */
  readonly request: SipRequest;
}

/** The result of {@link parseMessage}: it never throws. */
export type ParseResult = ParseSuccess | ParseDrop | ParseReject;

const CR = 0x0d;
const LF = 0x0a;

/** The values of the headers the parser checks, collected while reading them (one pass). */
interface Seen {
  via: string | undefined;
  from: string[];
  to: string[];
  callId: string[];
  cseq: string[];
  contentLength: string[];
  maxForwards: string | undefined;
  expires: string | undefined;
  contact: string[];
}

function newSeen(): Seen {
  return {
    via: undefined,
    from: [],
    to: [],
    callId: [],
    cseq: [],
    contentLength: [],
    maxForwards: undefined,
    expires: undefined,
    contact: [],
  };
}

function push(headers: SipHeaders, seen: Seen, name: string, key: string, value: string): void {
  headers._push(name, key, value);
  switch (key) {
    case 'via':
      seen.via ??= value;
      break;
    case 'from':
      seen.from.push(value);
      break;
    case 'to':
      seen.to.push(value);
      break;
    case 'call-id':
      seen.callId.push(value);
      break;
    case 'cseq':
      seen.cseq.push(value);
      break;
    case 'content-length':
      seen.contentLength.push(value);
      break;
    case 'max-forwards':
      seen.maxForwards ??= value;
      break;
    case 'expires':
      seen.expires ??= value;
      break;
    case 'contact':
      seen.contact.push(value);
      break;
  }
}

function drop(reason: string): ParseDrop {
  return { ok: false, action: 'drop', reason };
}

/**
 * Parses one message from a datagram or from a frame cut by
 * {@link SipStreamFramer}. Never throws: the result says whether the message
 * is usable, must be answered with 400/505, or must be dropped.
 *
 * Leading CRLFs are skipped (RFC 3261 §7.5). With a Content-Length, bytes
 * after the body are ignored and a short body is an error (RFC 3261 §18.3);
 * without one the body is the rest of the buffer.
 */
export function parseMessage(buf: Buffer): ParseResult {
  try {
    return parse(buf);
  } catch (error) {
    return drop(`parser failure: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Where the header section ends when lines may end with a bare LF. */
function findHeaderEndLoose(
  buf: Buffer,
  start: number,
): { end: number; bodyStart: number } | undefined {
  // Bare LF line ends (tolerated, RFC 3261 §7 asks for CRLF); the empty line may mix both.
  let i = buf.indexOf(LF, start);
  while (i >= 0) {
    const next = buf[i + 1];
    if (next === LF) return { end: i > start && buf[i - 1] === CR ? i - 1 : i, bodyStart: i + 2 };
    if (next === CR && buf[i + 2] === LF) {
      return { end: buf[i - 1] === CR ? i - 1 : i, bodyStart: i + 3 };
    }
    i = buf.indexOf(LF, i + 1);
  }
  return undefined;
}

function parse(buf: Buffer): ParseResult {
  let start = 0;
  while (start < buf.length && (buf[start] === CR || buf[start] === LF)) start++;
  if (start >= buf.length) return drop('empty message');
  // Usually the header section ends at the first CRLFCRLF; if its lines are not all
  // CRLF-terminated, an earlier bare-LF empty line may end it instead.
  const crlf = buf.indexOf(CRLFCRLF, start);
  let head = crlf >= 0 ? buf.toString('utf8', start, crlf) : '';
  let strict = crlf >= 0 && onlyCrlf(head);
  const found = strict ? { end: crlf, bodyStart: crlf + 4 } : findHeaderEndLoose(buf, start);
  let headEnd: number;
  let bodyStart: number;
  let problem: string | undefined;
  if (found === undefined) {
    headEnd = buf.length;
    bodyStart = buf.length;
    problem = 'no empty line after the header fields';
  } else {
    headEnd = found.end;
    bodyStart = found.bodyStart;
  }
  if (!strict || found === undefined) {
    head = buf.toString('utf8', start, headEnd);
    strict = onlyCrlf(head);
  }
  // Fast path: CRLF everywhere. Otherwise split at LF and let a bare CR show up as a problem.
  const lines = strict ? [] : head.split('\n');
  let firstLineEnd = strict ? head.indexOf('\r\n') : -1;
  if (strict && firstLineEnd < 0) firstLineEnd = head.length;
  let firstLine = strict ? head.slice(0, firstLineEnd) : stripCr(lines[0] ?? '');
  if (!firstLine.startsWith('SIP/') && firstLine !== firstLine.trimEnd()) {
    problem = 'whitespace at the end of the start line';
    firstLine = firstLine.trimEnd();
  }

  // Start line: Request-Line or Status-Line (RFC 3261 §7.1, §7.2).
  let isResponse = false;
  let method = '';
  let uriText = '';
  let status = 0;
  let reason = '';
  let versionOk = true;
  if (firstLine.startsWith('SIP/')) {
    isResponse = true;
    const m = /^SIP\/2\.0 ([1-6][0-9][0-9])(?: (.*))?$/.exec(firstLine);
    if (m === null) return drop('malformed status line');
    status = Number(m[1]);
    reason = m[2] ?? '';
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF (single SPs, RFC 3261 §25.1)
    const sp1 = firstLine.indexOf(' ');
    const sp2 = firstLine.lastIndexOf(' ');
    if (sp1 <= 0 || sp2 <= sp1) return drop('malformed request line');
    method = firstLine.slice(0, sp1);
    if (!isToken(method)) return drop('malformed request line');
    uriText = firstLine.slice(sp1 + 1, sp2);
    const version = firstLine.slice(sp2 + 1);
    if (version !== 'SIP/2.0') {
      if (!/^SIP\/[0-9]+\.[0-9]+$/i.test(version)) return drop('malformed request line');
      versionOk = version.toUpperCase() === 'SIP/2.0';
    }
    if (
      problem === undefined &&
      (uriText.length === 0 || uriText !== uriText.trim() || uriText.includes(' '))
    ) {
      problem = 'extra whitespace in the Request-Line';
    }
  }

  // Header fields; folded lines (starting with SP/HT) continue the previous one (RFC 3261 §7.3.1).
  const headers = new SipHeaders();
  const seen = newSeen();
  if (strict) {
    const found = scanHeaders(head, firstLineEnd + 2, headers, seen);
    problem ??= found;
  }
  let name: string | undefined;
  let key = '';
  let value = '';
  for (let i = 1; i < lines.length; i++) {
    let line = lines[i] as string;
    if (!strict) line = stripCr(line);
    if (!strict && line.includes('\r')) {
      // A bare CR inside a line is not SIP (RFC 3261 §7.3.1); keep the line readable for a 400.
      problem ??= 'bare CR inside a header line';
      line = line.replace(/\r/g, ' ');
    }
    const c = line.charCodeAt(0);
    if (c === 0x20 || c === 0x09) {
      if (name === undefined) problem ??= 'continuation line before any header';
      else value += ` ${line.trim()}`;
      continue;
    }
    if (name !== undefined) push(headers, seen, name, key, value.trim());
    name = undefined;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      problem ??= `header line without a colon: ${JSON.stringify(line.slice(0, 60))}`;
      continue;
    }
    // HCOLON = *( SP / HTAB ) ":" SWS  (RFC 3261 §25.1)
    const rawName = line.slice(0, colon).trimEnd();
    const known = KNOWN_KEYS.get(rawName);
    if (known !== undefined) {
      name = rawName;
      key = known;
      value = line.slice(colon + 1);
      continue;
    }
    if (!isToken(rawName)) {
      problem ??= `invalid header name ${JSON.stringify(rawName.slice(0, 60))}`;
      continue;
    }
    name = rawName;
    key = headerKey(rawName);
    value = line.slice(colon + 1);
  }
  if (name !== undefined) push(headers, seen, name, key, value.trim());

  // Body (RFC 3261 §18.3): Content-Length bytes; extra bytes are discarded.
  let body: Buffer;
  const lengths = seen.contentLength;
  if (lengths.length === 0) {
    body = buf.subarray(bodyStart);
  } else {
    const length = parseDigits(lengths[0] as string, 2 ** 31 - 1);
    if (length === undefined || lengths.some((l) => l !== lengths[0])) {
      problem ??= 'invalid Content-Length';
      body = buf.subarray(bodyStart);
    } else if (bodyStart + length > buf.length) {
      problem ??= 'message shorter than its Content-Length';
      body = buf.subarray(bodyStart);
    } else {
      body = buf.subarray(bodyStart, bodyStart + length);
    }
  }

  if (isResponse) {
    if (problem !== undefined) return drop(problem);
    const response = new SipResponse({ status, reason, headers, body });
    const bad = checkMandatory(response, seen);
    if (bad !== undefined) return drop(bad);
    return { ok: true, message: response };
  }

  const uri = tryParseUri(uriText);
  if (uri === undefined) problem ??= 'invalid Request-URI';
  // RFC 3261 §19.1.1 (table of URI components): headers are not allowed in a Request-URI.
  else if (uri instanceof SipUri && Object.keys(uri.headers).length > 0) {
    problem ??= 'headers in the Request-URI';
  }
  const request = new SipRequest({
    method,
    uri: uri ?? new AbsoluteUri({ scheme: '', value: uriText }),
    headers,
    body,
  });
  // Without a Via there is nowhere to send a response (RFC 3261 §18.2.2).
  if (seen.via === undefined) return drop('request without Via');
  if (!versionOk)
    return { ok: false, action: 'reject', status: 505, reason: 'Version Not Supported', request };
  if (problem !== undefined)
    return { ok: false, action: 'reject', status: 400, reason: problem, request };
  const bad = checkMandatory(request, seen);
  if (bad !== undefined) return { ok: false, action: 'reject', status: 400, reason: bad, request };
  return { ok: true, message: request };
}

// Header names as commonly written, mapped to their lookup keys without lower-casing each time.
const KNOWN_KEYS = new Map<string, string>();
for (const name of [
  'Via',
  'From',
  'To',
  'Call-ID',
  'CSeq',
  'Contact',
  'Max-Forwards',
  'Content-Length',
  'Content-Type',
  'Allow',
  'Supported',
  'Require',
  'Proxy-Require',
  'Unsupported',
  'User-Agent',
  'Server',
  'Route',
  'Record-Route',
  'Expires',
  'Min-Expires',
  'Authorization',
  'WWW-Authenticate',
  'Proxy-Authenticate',
  'Proxy-Authorization',
  'Authentication-Info',
  'Accept',
  'Accept-Encoding',
  'Accept-Language',
  'Event',
  'Allow-Events',
  'Subscription-State',
  'Session-Expires',
  'Min-SE',
  'Date',
  'Timestamp',
  'Subject',
  'Reason',
  'RSeq',
  'RAck',
  'Refer-To',
  'Referred-By',
  'Replaces',
  'P-Asserted-Identity',
  'P-Preferred-Identity',
  'Privacy',
  'Warning',
  'Call-Info',
  'Alert-Info',
  'Organization',
  'Content-Disposition',
  'Content-Encoding',
  'Retry-After',
  'Path',
  'Priority',
  'Reply-To',
  'In-Reply-To',
  'MIME-Version',
  'Error-Info',
  'Identity',
  'Diversion',
  'Remote-Party-ID',
  'X-Asterisk-HangupCause',
]) {
  KNOWN_KEYS.set(name, headerKey(name));
  KNOWN_KEYS.set(name.toLowerCase(), headerKey(name));
}
for (const c of 'abcdefijklmnorstuvxy') {
  KNOWN_KEYS.set(c, headerKey(c));
  KNOWN_KEYS.set(c.toUpperCase(), headerKey(c));
}

/**
 * Reads the header fields of a CRLF-only header section from `pos` into
 * `headers` without splitting it into lines first. Returns the first problem.
 */
function scanHeaders(
  head: string,
  pos: number,
  headers: SipHeaders,
  seen: Seen,
): string | undefined {
  let problem: string | undefined;
  let name: string | undefined;
  let key = '';
  let value = '';
  const n = head.length;
  while (pos < n) {
    let eol = head.indexOf('\r\n', pos);
    if (eol < 0) eol = n;
    const c = head.charCodeAt(pos);
    if (c === 0x20 || c === 0x09) {
      // A folded line continues the previous field (RFC 3261 §7.3.1).
      if (name === undefined) problem ??= 'continuation line before any header';
      else value += ` ${head.slice(pos, eol).trim()}`;
      pos = eol + 2;
      continue;
    }
    if (name !== undefined) push(headers, seen, name, key, value);
    name = undefined;
    const colon = head.indexOf(':', pos);
    if (colon < 0 || colon > eol || colon === pos) {
      problem ??= `header line without a colon: ${JSON.stringify(head.slice(pos, Math.min(eol, pos + 60)))}`;
      pos = eol + 2;
      continue;
    }
    // HCOLON = *( SP / HTAB ) ":" SWS  (RFC 3261 §25.1)
    let nameEnd = colon;
    while (nameEnd > pos && isWsp(head.charCodeAt(nameEnd - 1))) nameEnd--;
    let vs = colon + 1;
    while (vs < eol && isWsp(head.charCodeAt(vs))) vs++;
    let ve = eol;
    while (ve > vs && isWsp(head.charCodeAt(ve - 1))) ve--;
    const rawName = head.slice(pos, nameEnd);
    pos = eol + 2;
    const known = KNOWN_KEYS.get(rawName);
    if (known !== undefined) key = known;
    else if (isToken(rawName)) key = headerKey(rawName);
    else {
      problem ??= `invalid header name ${JSON.stringify(rawName.slice(0, 60))}`;
      continue;
    }
    name = rawName;
    value = head.slice(vs, ve);
  }
  if (name !== undefined) push(headers, seen, name, key, value.trim());
  return problem;
}

function isWsp(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Whether every line end is CRLF: no bare LF, no bare CR. */
function onlyCrlf(head: string): boolean {
  for (let i = head.indexOf('\n'); i >= 0; i = head.indexOf('\n', i + 1)) {
    if (head.charCodeAt(i - 1) !== 0x0d) return false;
  }
  for (let i = head.indexOf('\r'); i >= 0; i = head.indexOf('\r', i + 1)) {
    if (head.charCodeAt(i + 1) !== 0x0a) return false;
  }
  return true;
}

function stripCr(line: string): string {
  return line.charCodeAt(line.length - 1) === CR ? line.slice(0, -1) : line;
}

/**
 * Checks the headers every request and response must carry (RFC 3261 §8.1.1:
 * To, From, CSeq, Call-ID, Via; Max-Forwards is checked when present) and
 * checks that they parse.
 */
function checkMandatory(message: SipMessage, seen: Seen): string | undefined {
  // Only the top Via matters to this element (RFC 3261 §18.2.1, §18.1.2); the rest are parsed on use.
  const firstVia = seen.via;
  if (firstVia === undefined) return 'missing Via';
  const viaTexts = splitTopLevel(firstVia);
  const topVia = tryParseVia(viaTexts[0] as string);
  if (topVia === undefined) return 'malformed Via';
  const fromTexts = seen.from;
  if (fromTexts.length !== 1) return fromTexts.length === 0 ? 'missing From' : 'more than one From';
  const from = scanNameAddr(fromTexts[0] as string);
  if (from === undefined) return 'malformed From';
  const toTexts = seen.to;
  if (toTexts.length !== 1) return toTexts.length === 0 ? 'missing To' : 'more than one To';
  const to = scanNameAddr(toTexts[0] as string);
  if (to === undefined) return 'malformed To';
  const callIds = seen.callId;
  if (callIds.length !== 1)
    return callIds.length === 0 ? 'missing Call-ID' : 'more than one Call-ID';
  // Call-ID = callid = word [ "@" word ]  (RFC 3261 §25.1): no whitespace inside
  if (hasWhitespace(callIds[0] as string)) return 'malformed Call-ID';
  const cseqs = seen.cseq;
  if (cseqs.length !== 1) return cseqs.length === 0 ? 'missing CSeq' : 'more than one CSeq';
  const cseq = tryParseCSeq(cseqs[0] as string);
  if (cseq === undefined) return 'malformed CSeq';
  if (message.isRequest()) {
    // RFC 3261 §8.2: the CSeq method must match the request method.
    if (cseq.method !== message.method) return 'CSeq method does not match the request method';
    const maxForwards = seen.maxForwards;
    if (maxForwards !== undefined && parseDigits(maxForwards, 2 ** 31) === undefined) {
      return 'malformed Max-Forwards';
    }
    const expires = seen.expires;
    if (expires !== undefined && parseDigits(expires) === undefined) return 'malformed Expires';
    const contactLines = seen.contact;
    if (contactLines.length > 0 && !(contactLines.length === 1 && contactLines[0] === '*')) {
      const contacts: NameAddr[] = [];
      for (const line of contactLines) {
        for (const text of splitTopLevel(line)) {
          const contact = scanNameAddr(text);
          if (contact === undefined) return 'malformed Contact';
          contacts.push(contact);
        }
      }
      message._prime('contact', contacts);
    }
  }
  // The accessors reuse what was parsed here.
  message._prime('topVia', topVia);
  message._prime('from', from);
  message._prime('to', to);
  message._prime('cseq', cseq);
  return undefined;
}

function hasWhitespace(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09) return true;
  }
  return false;
}
