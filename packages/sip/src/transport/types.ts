/**
 * The vocabulary of the transport layer: protocols, addresses, flows and the
 * small send interface the transaction layer uses.
 *
 * @module
 */

import type { TypedEvents } from '@voxmesh/core';
import type { SipMessage, SipResponse } from '../message.js';

/** A SIP transport protocol, spelled as in the Via header (RFC 3261 §20.42, RFC 7118). */
export type TransportProtocol = 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS';

/** Every {@link TransportProtocol}. */
export const TRANSPORT_PROTOCOLS: readonly TransportProtocol[] = ['UDP', 'TCP', 'TLS', 'WS', 'WSS'];

/** An IP address (no brackets around IPv6) and a port. */
export interface TransportAddress {
  readonly host: string;
  readonly port: number;
}

/** Where to send a message when there is no flow to reuse: a protocol and a host (name or IP) and port. */
export interface TransportTarget {
  readonly protocol: TransportProtocol;
  readonly host: string;
  readonly port: number;
}

/** Options of {@link Flow.send} and the transport's send methods. */
export interface SendOptions {
  /** Aborts the send (and a connection being opened for it). */
  signal?: AbortSignal | undefined;
}

/**
 * A flow (RFC 5626 §3): the path between one local transport address and one
 * remote transport address. For TCP, TLS, WS and WSS it is one connection;
 * for UDP it is the pair of addresses (sent from the listener's socket).
 * Responses to a request go back over the flow it came in on.
 */
export interface Flow {
  /** A stable id, unique within its transport layer; usable as an RFC 5626 flow token. */
  readonly id: string;
  readonly protocol: TransportProtocol;
  /** The local address (the listener's for UDP and for accepted connections). */
  readonly local: TransportAddress;
  /** The remote address, as seen on the wire (the source of what we received). */
  readonly remote: TransportAddress;
  /** Whether the protocol is reliable (everything but UDP): transaction timers differ (RFC 3261 §17). */
  readonly reliable: boolean;
  /** Whether the flow is closed (a UDP flow closes only with its listener). */
  readonly closed: boolean;
  /** Sends bytes (one whole message, or a keep-alive) over the flow. */
  send(data: Buffer, options?: SendOptions): Promise<void>;
  /** Closes the connection (does nothing for UDP). */
  close(): void;
}

/** Options of {@link SipTransportLayer.sendResponse}. */
export interface SendResponseOptions extends SendOptions {
  /**
   * The flow the request arrived on. Over a reliable flow that is still open
   * the response goes back over it (RFC 3261 §18.2.2); otherwise it is sent
   * as the top Via says.
   * @defaultValue routed by the top Via alone
   */
  flow?: Flow | undefined;
}

/** Events of a {@link SipTransportLayer}. */
export interface SipTransportLayerEvents {
  /**
   * A well-formed message arrived. Requests already carry `received` and
   * `rport` in their top Via (RFC 3261 §18.2.1, RFC 3581 §4).
   */
  message: [message: SipMessage, flow: Flow];
}

/**
 * What the transaction layer needs from a transport layer: messages in, and
 * three ways to send. {@link SipTransport} implements it over real sockets;
 * tests may implement it in memory.
 */
export interface SipTransportLayer extends TypedEvents<SipTransportLayerEvents> {
  /**
   * Sends a message over `destination`: an existing flow, or a target for
   * which an open flow is reused or a new one opened. Resolves with the flow
   * used. Rejects with `SIP_NO_TRANSPORT`, `SIP_CONNECT_FAILED`,
   * `SIP_FLOW_CLOSED` or `SIP_MESSAGE_TOO_LARGE`.
   */
  send(
    message: SipMessage,
    destination: Flow | TransportTarget,
    options?: SendOptions,
  ): Promise<Flow>;
  /** Sends a response where RFC 3261 §18.2.2 and RFC 3581 §4 say it goes. */
  sendResponse(response: SipResponse, options?: SendResponseOptions): Promise<Flow>;
  /**
   * The address to put in Via sent-by and Contact for `protocol`: the
   * listener's advertised (public) address, or its bound address.
   * `undefined` when there is no listener of that protocol.
   */
  advertisedAddress(protocol: TransportProtocol): TransportAddress | undefined;
}
