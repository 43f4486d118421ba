/**
 * An in-memory network for tests: user agents on made-up addresses exchange
 * real serialised SIP (every message is serialised and parsed again), with
 * optional loss to exercise retransmissions. Public under
 * `@voxmesh/sip/testing`.
 *
 * @module
 */

import { parseMessage } from '../codec/parser.js';
import type { SipMessage } from '../message.js';
import type { UaFlow, UaProtocol, UaTarget, UaTransport } from './ua-transport.js';

/** Options of {@link MemoryNetwork.transport}. */
export interface MemoryTransportOptions {
  /** The address this endpoint listens on. @defaultValue `'127.0.0.1'` */
  host?: string | undefined;
  port: number;
  /**
   * Whether flows count as reliable (TCP-like: no retransmissions).
   * @defaultValue `false` (UDP-like)
   */
  reliable?: boolean | undefined;
}

/** Decides whether a message in flight is lost. */
export type DropRule = (message: SipMessage, from: string, to: string) => boolean;

interface Endpoint {
  key: string;
  host: string;
  port: number;
  reliable: boolean;
  handlers: Set<(message: SipMessage, flow: UaFlow) => void>;
}

/**
 * Wires user agents together in one process. Delivery is asynchronous (a
 * macrotask per message), in order, and goes through the real codec.
 */
export class MemoryNetwork {
  readonly #endpoints = new Map<string, Endpoint>();
  #drops: { rule: DropRule; remaining: number }[] = [];
  /** Every message delivered or dropped, for assertions. */
  readonly log: { from: string; to: string; dropped: boolean; message: SipMessage }[] = [];

  /** A transport bound to `host:port` on this network. */
  transport(options: MemoryTransportOptions): UaTransport & { close(): void } {
    const host = options.host ?? '127.0.0.1';
    const key = `${host}:${options.port}`;
    if (this.#endpoints.has(key)) throw new TypeError(`${key} is already bound`);
    const endpoint: Endpoint = {
      key,
      host,
      port: options.port,
      reliable: options.reliable ?? false,
      handlers: new Set(),
    };
    this.#endpoints.set(key, endpoint);
    return {
      localAddress: (protocol: UaProtocol) =>
        protocol === 'UDP' || protocol === 'TCP' ? { host, port: options.port } : undefined,
      connect: (target: UaTarget) => this.#flow(endpoint, `${target.host}:${target.port}`),
      onMessage: (handler) => {
        endpoint.handlers.add(handler);
        return () => endpoint.handlers.delete(handler);
      },
      close: () => {
        endpoint.handlers.clear();
        this.#endpoints.delete(key);
      },
    };
  }

  /** Drops the next `count` messages matching `rule` (default 1). */
  drop(rule: DropRule, count = 1): void {
    this.#drops.push({ rule, remaining: count });
  }

  #flow(from: Endpoint, to: string): UaFlow {
    const [host, port] = splitHostPort(to);
    return {
      protocol: from.reliable ? 'TCP' : 'UDP',
      reliable: from.reliable,
      remote: { host, port: Number(port) },
      send: (message: SipMessage) => {
        this.#deliver(from, to, message);
      },
    };
  }

  #deliver(from: Endpoint, to: string, message: SipMessage): void {
    const bytes = message.serialize();
    const parsed = parseMessage(bytes);
    if (!parsed.ok) throw new TypeError(`Unparseable message sent: ${parsed.reason}`);
    const drop = this.#drops.find((d) => d.remaining > 0 && d.rule(parsed.message, from.key, to));
    if (drop !== undefined) drop.remaining--;
    this.#drops = this.#drops.filter((d) => d.remaining > 0);
    this.log.push({ from: from.key, to, dropped: drop !== undefined, message: parsed.message });
    if (drop !== undefined) return;
    setImmediate(() => {
      const target = this.#endpoints.get(to);
      if (target === undefined) return;
      const back = this.#flow(target, from.key);
      for (const handler of target.handlers) handler(parsed.message, back);
    });
  }
}

function splitHostPort(text: string): [string, string] {
  const i = text.lastIndexOf(':');
  return [text.slice(0, i), text.slice(i + 1)];
}
