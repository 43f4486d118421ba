/**
 * Where responses go and what a server writes into the Via of a request it
 * receives (RFC 3261 §18.2.1, §18.2.2; RFC 3581 §4).
 *
 * @module
 */

import { isIP } from 'node:net';
import { splitTopLevel } from '../codec/grammar.js';
import { type Via, tryParseVia } from '../codec/header-values.js';
import type { SipMessage, SipResponse } from '../message.js';
import type { TransportAddress, TransportProtocol, TransportTarget } from './types.js';

/** The default port of each protocol (RFC 3261 §19.1.2; RFC 7118 §5.2 for WS/WSS). */
export function defaultPort(protocol: TransportProtocol): number {
  switch (protocol) {
    case 'TLS':
      return 5061;
    case 'WS':
      return 80;
    case 'WSS':
      return 443;
    default:
      return 5060;
  }
}

/** Maps a Via transport token to a {@link TransportProtocol}, or `undefined` for others (SCTP, …). */
export function protocolOf(transport: string): TransportProtocol | undefined {
  const upper = transport.toUpperCase();
  return upper === 'UDP' || upper === 'TCP' || upper === 'TLS' || upper === 'WS' || upper === 'WSS'
    ? upper
    : undefined;
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * Replaces the top Via entry of `message` (which may share a header line
 * with other entries) by `via`.
 */
export function replaceTopVia(message: SipMessage, via: Via): void {
  const first = message.headers.get('via');
  if (first === undefined) return;
  const entries = splitTopLevel(first);
  entries[0] = via.toString();
  message.headers.replaceAt('via', 0, entries.join(', '));
}

/**
 * Server transport behaviour on receiving a request (RFC 3261 §18.2.1):
 * adds `received` when the top Via's sent-by host differs from the packet's
 * source address, and — when the client asked with a bare `rport` — fills in
 * the source port and always adds `received` (RFC 3581 §4).
 * Returns whether the Via was changed.
 */
export function stampReceived(message: SipMessage, source: TransportAddress): boolean {
  const top = message.headers.get('via');
  if (top === undefined) return false;
  const text = splitTopLevel(top)[0];
  const via = text === undefined ? undefined : tryParseVia(text);
  if (via === undefined) return false;
  let changed = false;
  if (via.rport === true) {
    via.params.rport = String(source.port);
    via.params.received = source.host;
    changed = true;
  } else if (!sameAddress(via.host, source.host)) {
    via.params.received = source.host;
    changed = true;
  }
  if (changed) replaceTopVia(message, via);
  return changed;
}

/**
 * Where to send `response` when there is no open connection to reuse
 * (RFC 3261 §18.2.2, RFC 3581 §4), from its top Via:
 * - `maddr` present: to maddr, port from sent-by;
 * - `received` present: to received, port from `rport` (when filled in) or sent-by;
 * - otherwise to sent-by (a host name is resolved by the socket layer; no
 *   RFC 3263 SRV lookup).
 * The default port depends on the protocol. `undefined` when the top Via is
 * missing, malformed or names a protocol this layer does not carry.
 */
export function responseTarget(response: SipResponse): TransportTarget | undefined {
  const top = response.headers.get('via');
  if (top === undefined) return undefined;
  const first = splitTopLevel(top)[0];
  const via = first === undefined ? undefined : tryParseVia(first);
  if (via === undefined) return undefined;
  const protocol = protocolOf(via.transport);
  if (protocol === undefined) return undefined;
  const sentByPort = via.port ?? defaultPort(protocol);
  const maddr = via.params.maddr;
  if (maddr !== undefined && maddr !== null && isIP(maddr) !== 0) {
    return { protocol, host: maddr, port: sentByPort };
  }
  const received = via.received;
  if (received !== undefined) {
    const rport = via.rport;
    return { protocol, host: received, port: typeof rport === 'number' ? rport : sentByPort };
  }
  return { protocol, host: via.host, port: sentByPort };
}
