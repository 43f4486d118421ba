/**
 * The conformance suite of {@link SipTransportLayer}: what every transport
 * layer (ours over sockets, or one in memory) must do for the transaction
 * layer above it.
 *
 * @module
 */

import assert from 'node:assert/strict';
import { onceEvent } from '@voxmesh/core';
import { type SipMessage, SipRequest, createResponse } from '../message.js';
import type { Flow, SipTransportLayer, TransportTarget } from './types.js';

/** Two started transport layers that can reach each other, made by a suite's factory. */
export interface TransportLayerPair {
  /** Sends the requests. */
  readonly client: SipTransportLayer;
  /** Receives them and answers. */
  readonly server: SipTransportLayer;
  /** How the client reaches the server. */
  readonly serverTarget: TransportTarget;
  /** Stops both. */
  close(): Promise<void>;
}

/** Options of {@link transportLayerSuite}. */
export interface TransportLayerSuiteOptions {
  /** The test function of the runner (`it` of vitest or mocha, `test` of node:test). */
  test: (name: string, fn: () => Promise<void>) => void;
  /** Makes a fresh pair for each test. */
  factory: () => Promise<TransportLayerPair>;
  /** A prefix for the test names. @defaultValue `'SipTransportLayer'` */
  name?: string | undefined;
  /** How long to wait for a message before failing. @defaultValue `10000` */
  timeoutMs?: number | undefined;
}

let counter = 0;

function request(target: TransportTarget, method = 'OPTIONS'): SipRequest {
  counter++;
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return new SipRequest({
    method,
    uri: `sip:suite@${host}:${target.port}`,
    headers: [
      ['Via', `SIP/2.0/${target.protocol} 192.0.2.1:5999;branch=z9hG4bKsuite${counter};rport`],
      ['Max-Forwards', '70'],
      ['From', `<sip:client@example.invalid>;tag=c${counter}`],
      ['To', `<sip:suite@${host}>`],
      ['Call-ID', `suite-${counter}@example.invalid`],
      ['CSeq', `${counter} ${method}`],
    ],
    body: method === 'MESSAGE' ? 'héllo wörld' : undefined,
  });
}

/**
 * Registers the conformance tests of a {@link SipTransportLayer}
 * implementation with the runner's `test` function.
 *
 * @example
 * ```ts
 * import { it } from 'vitest';
 * transportLayerSuite({ test: it, factory: async () => makeMyPair() });
 * ```
 */
export function transportLayerSuite(options: TransportLayerSuiteOptions): void {
  const { test, factory } = options;
  const prefix = options.name ?? 'SipTransportLayer';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const next = (layer: SipTransportLayer): Promise<[SipMessage, Flow]> =>
    onceEvent(layer, 'message', { signal: AbortSignal.timeout(timeoutMs) });

  const withPair = (fn: (pair: TransportLayerPair) => Promise<void>) => async (): Promise<void> => {
    const pair = await factory();
    try {
      await fn(pair);
    } finally {
      await pair.close();
    }
  };

  test(
    `${prefix}: delivers a request with its flow and stamps received/rport in the top Via`,
    withPair(async ({ client, server, serverTarget }) => {
      const arrived = next(server);
      const sent = request(serverTarget);
      const used = await client.send(sent, serverTarget);
      assert.equal(used.protocol, serverTarget.protocol);
      const [message, flow] = await arrived;
      assert.ok(message.isRequest(), 'a request arrives');
      assert.equal(message.callId, sent.callId);
      assert.equal(flow.protocol, serverTarget.protocol);
      assert.equal(flow.reliable, serverTarget.protocol !== 'UDP');
      // RFC 3261 §18.2.1 and RFC 3581 §4
      assert.equal(message.topVia?.received, flow.remote.host);
      assert.equal(message.topVia?.rport, flow.remote.port);
    }),
  );

  test(
    `${prefix}: routes a response back to the client with sendResponse`,
    withPair(async ({ client, server, serverTarget }) => {
      const arrived = next(server);
      await client.send(request(serverTarget), serverTarget);
      const [message, flow] = await arrived;
      assert.ok(message.isRequest());
      const answered = next(client);
      await server.sendResponse(createResponse(message, 200, { toTag: 'suite' }), { flow });
      const [response] = await answered;
      assert.ok(response.isResponse(), 'a response arrives');
      assert.equal(response.status, 200);
      assert.equal(response.to?.tag, 'suite');
      assert.equal(response.callId, message.callId);
    }),
  );

  test(
    `${prefix}: keeps the body byte-exact`,
    withPair(async ({ client, server, serverTarget }) => {
      const arrived = next(server);
      const sent = request(serverTarget, 'MESSAGE');
      await client.send(sent, serverTarget);
      const [message] = await arrived;
      assert.ok(message.body.equals(sent.body));
      assert.equal(message.headers.get('content-length'), String(Buffer.byteLength('héllo wörld')));
    }),
  );

  test(
    `${prefix}: advertises an address for the protocol it listens on`,
    withPair(({ server, serverTarget }) => {
      const address = server.advertisedAddress(serverTarget.protocol);
      assert.ok(address !== undefined);
      assert.ok(address.port > 0);
      return Promise.resolve();
    }),
  );
}
