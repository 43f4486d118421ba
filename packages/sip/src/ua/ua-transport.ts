/**
 * The transport as a user agent sees it: where to send, what to put in Via
 * and Contact, and where incoming messages come from. Any transport layer
 * (ours, an in-memory network, an integrator's) is adapted to it.
 *
 * @module
 */

import type { SipMessage } from '../message.js';
import type { TransactionFlow } from '../transaction/transaction-base.js';

/** The transport protocols of SIP URIs and Via headers (RFC 3261 §18, RFC 7118). */
export type UaProtocol = 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS';

/** A transport-level destination: where the next hop listens. */
export interface UaTarget {
  protocol: UaProtocol;
  /** An IP address or host name (no brackets around IPv6). */
  host: string;
  port: number;
  /**
   * An open flow to reuse when the transport still has it (RFC 5626 §5.3:
   * a registered phone behind NAT or on a WebSocket is reached only over the
   * flow its REGISTER came in on, e.g. `ContactRoute.flowId`); the
   * address above is used when it is gone.
   * @defaultValue none
   */
  flowId?: string | undefined;
}

/** A flow to or from a peer, on which messages go out. */
export interface UaFlow extends TransactionFlow {
  readonly protocol: UaProtocol;
  /** The peer's transport address. */
  readonly remote: { host: string; port: number };
  /** The transport's id of the flow, when it has one (for {@link UaTarget.flowId}). */
  readonly id?: string | undefined;
}

/** Options of {@link UaTransport.connect}. */
export interface UaConnectOptions {
  signal?: AbortSignal | undefined;
}

/** The transport a {@link UserAgent} runs on. */
export interface UaTransport {
  /**
   * The address advertised in Via and Contact for `protocol` (the listener's
   * advertised address behind NAT), or `undefined` when there is no listener
   * for it.
   */
  localAddress(protocol: UaProtocol): { host: string; port: number } | undefined;
  /** A flow to `target`: a new or reused connection, or a datagram path. */
  connect(target: UaTarget, options?: UaConnectOptions): UaFlow | Promise<UaFlow>;
  /**
   * Subscribes to incoming messages (parsed and valid; malformed input is
   * answered or dropped by the transport). Returns an unsubscribe function.
   */
  onMessage(handler: (message: SipMessage, flow: UaFlow) => void): () => void;
}
