/**
 * Runs a {@link UserAgent} on the package's transport layer
 * (`SipTransport` or any {@link SipTransportLayer}).
 *
 * @module
 */

import type { SipMessage } from '../message.js';
import type { Flow, SipTransportLayer } from '../transport/types.js';
import type { UaFlow, UaTarget, UaTransport } from './ua-transport.js';

/** Whether `value` already is a {@link UaTransport}. */
export function isUaTransport(value: UaTransport | SipTransportLayer): value is UaTransport {
  return typeof (value as UaTransport).onMessage === 'function';
}

/**
 * Adapts a transport layer to what a user agent needs: requests go out on a
 * flow that is opened (or reused) on first send; responses to incoming
 * requests are routed by the layer per RFC 3261 §18.2.2 and RFC 3581.
 */
export function userAgentTransport(layer: SipTransportLayer): UaTransport {
  const incoming = (flow: Flow): UaFlow => ({
    id: flow.id,
    protocol: flow.protocol,
    reliable: flow.reliable,
    remote: flow.remote,
    send: async (message: SipMessage) => {
      if (message.isResponse()) await layer.sendResponse(message, { flow });
      else
        await layer.send(message, flow.closed ? { ...flow.remote, protocol: flow.protocol } : flow);
    },
  });
  return {
    localAddress: (protocol) => layer.advertisedAddress(protocol),
    connect: (target: UaTarget): UaFlow => {
      const lookup = (layer as { flow?: (id: string) => Flow | undefined }).flow;
      let flow: Flow | undefined =
        target.flowId === undefined || typeof lookup !== 'function'
          ? undefined
          : lookup.call(layer, target.flowId);
      return {
        protocol: target.protocol,
        reliable: target.protocol !== 'UDP',
        remote: { host: target.host, port: target.port },
        send: async (message: SipMessage) => {
          // A closed connection is replaced by a new one to the same target.
          const destination = flow === undefined || flow.closed ? target : flow;
          flow = await layer.send(message, destination);
        },
      };
    },
    onMessage: (handler) => {
      const listener = (message: SipMessage, flow: Flow): void => {
        handler(message, incoming(flow));
      };
      layer.on('message', listener);
      return () => {
        layer.off('message', listener);
      };
    },
  };
}
