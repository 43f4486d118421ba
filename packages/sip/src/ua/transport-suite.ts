/**
 * The conformance suite of {@link UaTransport}: what a user agent relies on
 * from any transport it runs on. Every implementation runs it — the
 * in-memory network, the adapter over the transport layer, an integrator's.
 * Public under `@voxmesh/sip/testing`.
 *
 * @module
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SipRequest, type SipMessage, createResponse } from '../message.js';
import type { UaFlow, UaTarget, UaTransport } from './ua-transport.js';

/** Two transports that can reach each other, made fresh for each test. */
export interface UaTransportPair {
  /** The sending side. */
  a: UaTransport;
  /** The receiving side. */
  b: UaTransport;
  /** Where `a` reaches `b`. */
  bTarget: UaTarget;
  /** Releases both (sockets, listeners). */
  close(): Promise<void>;
}

/** Options of {@link uaTransportSuite}. */
export interface UaTransportSuiteOptions {
  /** Registers one test (vitest's or node:test's `test`, or any function of that shape). */
  test: (name: string, fn: () => Promise<void>) => void;
  /** Makes a fresh pair of transports. */
  factory: () => Promise<UaTransportPair>;
  /** Prefixes test names. @defaultValue `'UaTransport'` */
  name?: string | undefined;
  /**
   * The longest wait for a message, in milliseconds, before a test fails
   * (a bound, not a timing assertion).
   * @defaultValue `5_000`
   */
  timeoutMs?: number | undefined;
}

interface Received {
  message: SipMessage;
  flow: UaFlow;
}

function nextMessage(
  transport: UaTransport,
  predicate: (m: SipMessage) => boolean,
  timeoutMs: number,
): Promise<Received> {
  return new Promise<Received>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`No matching message within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = transport.onMessage((message, flow) => {
      if (!predicate(message)) return;
      clearTimeout(timer);
      off();
      resolve({ message, flow });
    });
  });
}

function request(pair: UaTransportPair, method: string, body?: string): SipRequest {
  const local = pair.a.localAddress(pair.bTarget.protocol);
  assert.ok(local, `a has no local address for ${pair.bTarget.protocol}`);
  const host = local.host.includes(':') ? `[${local.host}]` : local.host;
  const callId = randomBytes(8).toString('hex');
  return new SipRequest({
    method,
    uri: `sip:b@${pair.bTarget.host}:${pair.bTarget.port}`,
    headers: [
      [
        'Via',
        `SIP/2.0/${pair.bTarget.protocol} ${host}:${local.port};branch=z9hG4bK${callId};rport`,
      ],
      ['Max-Forwards', '70'],
      ['From', `<sip:a@${host}>;tag=${callId}`],
      ['To', `<sip:b@${pair.bTarget.host}>`],
      ['Call-ID', callId],
      ['CSeq', `1 ${method}`],
      ...(body === undefined ? [] : ([['Content-Type', 'text/plain;charset=utf-8']] as const)),
    ],
    body,
  });
}

/**
 * Registers the conformance tests of a {@link UaTransport} implementation.
 *
 * @example
 * ```ts
 * import { test } from 'vitest';
 * uaTransportSuite({ test, factory: async () => {
 *   const net = new MemoryNetwork();
 *   const a = net.transport({ host: '10.0.0.1', port: 5060 });
 *   const b = net.transport({ host: '10.0.0.2', port: 5060 });
 *   return { a, b, bTarget: { protocol: 'UDP', host: '10.0.0.2', port: 5060 }, close: async () => {} };
 * } });
 * ```
 */
export function uaTransportSuite(options: UaTransportSuiteOptions): void {
  const { test, factory } = options;
  const name = options.name ?? 'UaTransport';
  const timeoutMs = options.timeoutMs ?? 5_000;
  const withPair = (fn: (pair: UaTransportPair) => Promise<void>) => async () => {
    const pair = await factory();
    try {
      await fn(pair);
    } finally {
      await pair.close();
    }
  };

  test(
    `${name}: advertises an address for the protocol it is reached on`,
    withPair((pair) => {
      const local = pair.b.localAddress(pair.bTarget.protocol);
      assert.ok(local !== undefined);
      assert.equal(typeof local.host, 'string');
      assert.ok(local.port > 0 && local.port < 65536);
      return Promise.resolve();
    }),
  );

  test(
    `${name}: delivers a request with the flow it came on`,
    withPair(async (pair) => {
      const sent = request(pair, 'OPTIONS');
      const arrival = nextMessage(pair.b, (m) => m.callId === sent.callId, timeoutMs);
      const flow = await pair.a.connect(pair.bTarget);
      assert.equal(flow.protocol, pair.bTarget.protocol);
      await flow.send(sent);
      const { message, flow: incoming } = await arrival;
      assert.ok(message.isRequest());
      assert.equal(message.method, 'OPTIONS');
      assert.equal(message.cseq?.seq, 1);
      assert.equal(typeof incoming.reliable, 'boolean');
      assert.equal(incoming.reliable, flow.reliable);
      assert.equal(typeof incoming.remote.port, 'number');
    }),
  );

  test(
    `${name}: a response sent on the incoming flow reaches the sender`,
    withPair(async (pair) => {
      const sent = request(pair, 'OPTIONS');
      const arrival = nextMessage(pair.b, (m) => m.callId === sent.callId, timeoutMs);
      await (await pair.a.connect(pair.bTarget)).send(sent);
      const { message, flow } = await arrival;
      assert.ok(message.isRequest());
      const answer = nextMessage(
        pair.a,
        (m) => m.isResponse() && m.callId === sent.callId,
        timeoutMs,
      );
      await flow.send(createResponse(message, 200, { toTag: 'conformance' }));
      const { message: response } = await answer;
      assert.ok(response.isResponse());
      assert.equal(response.status, 200);
      assert.equal(response.to?.tag, 'conformance');
    }),
  );

  test(
    `${name}: keeps the bytes of a body (Content-Length counts bytes)`,
    withPair(async (pair) => {
      const body = 'héllo wörld ☎\r\n';
      const sent = request(pair, 'MESSAGE', body);
      const arrival = nextMessage(pair.b, (m) => m.callId === sent.callId, timeoutMs);
      await (await pair.a.connect(pair.bTarget)).send(sent);
      const { message } = await arrival;
      assert.equal(message.body.toString('utf8'), body);
      assert.equal(message.body.length, Buffer.byteLength(body));
    }),
  );

  test(
    `${name}: an unsubscribed handler receives nothing more`,
    withPair(async (pair) => {
      let early = 0;
      const off = pair.b.onMessage(() => {
        early++;
      });
      off();
      const sent = request(pair, 'OPTIONS');
      const arrival = nextMessage(pair.b, (m) => m.callId === sent.callId, timeoutMs);
      await (await pair.a.connect(pair.bTarget)).send(sent);
      await arrival;
      assert.equal(early, 0);
    }),
  );

  test(
    `${name}: messages on one flow arrive in order`,
    withPair(async (pair) => {
      const first = request(pair, 'OPTIONS');
      const second = request(pair, 'OPTIONS');
      second.headers.set('Call-ID', first.callId ?? '');
      second.headers.set('CSeq', '2 OPTIONS');
      const seen: number[] = [];
      const both = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          off();
          reject(new Error('messages did not arrive'));
        }, timeoutMs);
        const off = pair.b.onMessage((m) => {
          if (m.callId !== first.callId) return;
          seen.push(m.cseq?.seq ?? 0);
          if (seen.length === 2) {
            clearTimeout(timer);
            off();
            resolve();
          }
        });
      });
      const flow = await pair.a.connect(pair.bTarget);
      await flow.send(first);
      await flow.send(second);
      await both;
      assert.deepEqual(seen, [1, 2]);
    }),
  );
}
