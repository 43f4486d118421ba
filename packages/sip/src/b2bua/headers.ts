/**
 * The header pass-through policy of a bridge: which headers of the caller's
 * INVITE are copied onto the INVITEs of the B legs.
 *
 * @module
 */

import { canonicalHeaderName, headerKey } from '../codec/headers.js';
import type { SipRequest } from '../message.js';

/**
 * Which A-leg headers a B leg gets: `['all']`, `['all', '-X-Secret']`
 * (everything but), or a list of names (`['X-Account', 'P-Asserted-Identity']`).
 * Names are case-insensitive and may be compact forms. Headers a user agent
 * writes itself (Via, From, To, Call-ID, CSeq, Contact, Route, Max-Forwards,
 * authentication, body headers, extension negotiation) are never copied.
 */
export type HeaderPolicy = readonly string[];

/** Headers the B leg's user agent writes itself (RFC 3261 §8.1.1, §20). */
const ESSENTIAL = new Set(
  [
    'via',
    'from',
    'to',
    'call-id',
    'cseq',
    'contact',
    'max-forwards',
    'content-length',
    'content-type',
    'content-encoding',
    'content-disposition',
    'route',
    'record-route',
    'authorization',
    'proxy-authorization',
    'supported',
    'require',
    'proxy-require',
    'allow',
    'session-expires',
    'min-se',
    'user-agent',
    'rseq',
    'rack',
    'replaces',
    'refer-to',
    'referred-by',
  ].map(headerKey),
);

/** Whether a header is written by the user agent and never copied between legs. */
export function isEssentialHeader(name: string): boolean {
  return ESSENTIAL.has(headerKey(name));
}

/** The headers of `request` that `policy` passes on, in order. */
export function passThroughHeaders(
  request: SipRequest,
  policy: HeaderPolicy | undefined,
): [string, string][] {
  if (policy === undefined || policy.length === 0) return [];
  let all = false;
  const include = new Set<string>();
  const exclude = new Set<string>();
  for (const item of policy) {
    if (typeof item !== 'string') throw new TypeError('A header policy lists header names');
    const name = item.trim();
    if (name.toLowerCase() === 'all') all = true;
    else if (name.startsWith('-')) exclude.add(headerKey(name.slice(1).trim()));
    else if (name.length > 0) include.add(headerKey(name));
  }
  const out: [string, string][] = [];
  for (const { name, value } of request.headers) {
    const key = headerKey(name);
    if (ESSENTIAL.has(key) || exclude.has(key)) continue;
    if (all || include.has(key)) out.push([canonicalHeaderName(name), value]);
  }
  return out;
}
