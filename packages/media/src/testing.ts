/**
 * `@voxmesh/media/testing`: the conformance suite every `MediaController`
 * implementation runs ({@link mediaControllerSuite}), and {@link RtpPeer}, a
 * scriptable RTP endpoint on loopback for tests of code built on media.
 *
 * @packageDocumentation
 */

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { DtmfEvent, MediaController } from '@voxmesh/core';
import { encodeRtp, isRtcp, rtpPayloadOffset } from './rtp.js';
import { encodeUlaw } from './g711.js';
import { parseSdp } from './sdp.js';
import { telephoneEventPackets } from './dtmf.js';

/** A received datagram. */
export interface RtpPeerPacket {
  data: Buffer;
  from: RemoteInfo;
}

/** Options of {@link RtpPeer.open}. */
export interface RtpPeerOptions {
  /**
   * The address to bind.
   * @defaultValue `'127.0.0.1'`
   */
  address?: string | undefined;
}

/** A plain UDP endpoint that sends RTP on demand and records what it receives. */
export class RtpPeer {
  readonly socket: Socket;
  readonly address: string;
  readonly port: number;
  /** Every RTP datagram received, in order. */
  readonly received: RtpPeerPacket[] = [];
  /** Every RTCP datagram received (RFC 5761 demultiplexing), in order. */
  readonly rtcp: RtpPeerPacket[] = [];
  #waiters = new Set<() => void>();
  #seq = Math.floor(Math.random() * 30000);
  #ts = Math.floor(Math.random() * 1e9);
  readonly ssrc = (Math.random() * 0x1_0000_0000) >>> 0;

  private constructor(socket: Socket) {
    this.socket = socket;
    const a = socket.address();
    this.address = a.address;
    this.port = a.port;
    socket.on('message', (data, from) => {
      (isRtcp(data) ? this.rtcp : this.received).push({ data, from });
      for (const w of this.#waiters) w();
    });
  }

  /** Binds a peer on an ephemeral port. */
  static open(options: RtpPeerOptions = {}): Promise<RtpPeer> {
    const socket = createSocket('udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, options.address ?? '127.0.0.1', () => {
        socket.off('error', reject);
        resolve(new RtpPeer(socket));
      });
    });
  }

  /** Sends raw bytes to `port` on `address`. */
  send(data: Uint8Array, port: number, address = '127.0.0.1'): void {
    this.socket.send(data, port, address);
  }

  /** Sends one 20 ms audio packet (`payloadType`, 160 samples) and advances seq/timestamp. */
  sendAudio(
    payload: Uint8Array,
    port: number,
    options: { payloadType?: number; address?: string } = {},
  ): void {
    this.send(
      encodeRtp({
        payloadType: options.payloadType ?? 0,
        marker: false,
        sequenceNumber: this.#seq,
        timestamp: this.#ts,
        ssrc: this.ssrc,
        payload,
      }),
      port,
      options.address,
    );
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#ts = (this.#ts + payload.length) >>> 0;
  }

  /** Sends the RFC 4733 packets of one digit at once (as a burst, timestamps as a real sender). */
  sendDigit(
    digit: string,
    port: number,
    options: { payloadType?: number; address?: string } = {},
  ): void {
    const start = this.#ts;
    for (const p of telephoneEventPackets({ digit })) {
      this.send(
        encodeRtp({
          payloadType: options.payloadType ?? 101,
          marker: p.marker,
          sequenceNumber: this.#seq,
          timestamp: start,
          ssrc: this.ssrc,
          payload: p.payload,
        }),
        port,
        options.address,
      );
      this.#seq = (this.#seq + 1) & 0xffff;
    }
    this.#ts = (this.#ts + 800) >>> 0;
  }

  /** Resolves once `predicate` holds for the received packets; rejects after `timeoutMs`. */
  waitFor(predicate: (received: RtpPeerPacket[]) => boolean, timeoutMs = 5000): Promise<void> {
    if (predicate(this.received)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate(this.received)) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `RtpPeer: condition not met within ${timeoutMs} ms (${this.received.length} packets received)`,
          ),
        );
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
    });
  }

  /** Closes the socket. */
  close(): void {
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }
}

/** Options of {@link testOffer}. */
export interface TestOfferOptions {
  address?: string | undefined;
  port: number;
  /** Payload types with their names, e.g. `[[0, 'PCMU'], [101, 'telephone-event']]`. @defaultValue PCMU, PCMA, telephone-event 101 */
  formats?: readonly (readonly [number, string])[] | undefined;
  /** @defaultValue `'sendrecv'` */
  direction?: string | undefined;
  /** @defaultValue `true` */
  rtcpMux?: boolean | undefined;
}

/** Writes a simple audio SDP for tests. */
export function testOffer(options: TestOfferOptions): string {
  const address = options.address ?? '127.0.0.1';
  const formats = options.formats ?? [
    [0, 'PCMU'],
    [8, 'PCMA'],
    [101, 'telephone-event'],
  ];
  const lines = [
    'v=0',
    `o=test ${Math.floor(Math.random() * 1e9)} 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${options.port} RTP/AVP ${formats.map(([pt]) => pt).join(' ')}`,
    ...formats.map(([pt, name]) => `a=rtpmap:${pt} ${name}/8000`),
    ...formats.filter(([, n]) => n === 'telephone-event').map(([pt]) => `a=fmtp:${pt} 0-16`),
    'a=ptime:20',
    ...((options.rtcpMux ?? true) ? ['a=rtcp-mux'] : []),
    `a=${options.direction ?? 'sendrecv'}`,
  ];
  return lines.join('\r\n') + '\r\n';
}

/** The test function of a test runner (vitest's or node:test's `it`, tape's `test`). */
export type SuiteTest = (name: string, fn: () => Promise<void>) => void;

/** Options of {@link mediaControllerSuite}. */
export interface MediaControllerSuiteOptions {
  /** Registers one test. */
  test: SuiteTest;
  /** Creates a started controller whose media is reachable on loopback. */
  factory: () => Promise<MediaController>;
  /** Stops a controller the factory made. */
  close: (controller: MediaController) => Promise<void>;
}

function audioOf(sdp: string): {
  address: string;
  port: number;
  formats: { payloadType: number; name: string }[];
  direction: string;
} {
  const m = parseSdp(sdp).media.find((x) => x.type === 'audio');
  if (m === undefined) throw new Error('no audio m= line');
  return m;
}

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`MediaController conformance: ${message}`);
}

/**
 * The behaviour every `MediaController` must show, as a suite of tests:
 * SDP rewriting, RTP flowing both ways through the anchored ports, DTMF
 * reported, codec mismatch refused, unknown sessions, teardown releasing the
 * session.
 *
 * @example
 * ```ts
 * const made: InProcessMediaController[] = [];
 * mediaControllerSuite({
 *   test: it,
 *   factory: async () => {
 *     const c = new InProcessMediaController();
 *     made.push(c);
 *     await c.start();
 *     return c;
 *   },
 *   close: async () => { for (const c of made.splice(0)) await c.stop(); },
 * });
 * ```
 */
export function mediaControllerSuite(options: MediaControllerSuiteOptions): void {
  const { test, factory, close } = options;
  const withController = async (
    fn: (c: MediaController, a: RtpPeer, b: RtpPeer) => Promise<void>,
  ): Promise<void> => {
    const controller = await factory();
    const a = await RtpPeer.open();
    const b = await RtpPeer.open();
    try {
      await fn(controller, a, b);
    } finally {
      a.close();
      b.close();
      await close(controller);
    }
  };

  test('offer and answer are rewritten to the media plane, keeping each side its codecs', () =>
    withController(async (c, a, b) => {
      const offer = await c.offer({
        sessionId: 's1',
        from: 'a',
        to: 'b',
        sdp: testOffer({ port: a.port }),
      });
      const o = audioOf(offer.sdp);
      expect(o.port !== a.port && o.port > 0, 'the offer to b carries a media-plane port');
      expect(
        o.formats.some((f) => f.name.toUpperCase() === 'PCMU'),
        'the offer keeps PCMU',
      );
      const answer = await c.answer({
        sessionId: 's1',
        from: 'b',
        to: 'a',
        sdp: testOffer({
          port: b.port,
          formats: [
            [0, 'PCMU'],
            [101, 'telephone-event'],
          ],
        }),
      });
      const r = audioOf(answer.sdp);
      expect(
        r.port > 0 && r.port !== b.port && r.port !== o.port,
        'the answer to a carries another media-plane port',
      );
      expect(
        r.formats[0]?.name.toUpperCase() === 'PCMU',
        'the answer to a names the chosen codec first',
      );
      await c.teardown({ sessionId: 's1' });
    }));

  test('RTP flows both ways through the anchored ports', () =>
    withController(async (c, a, b) => {
      const offer = audioOf(
        (await c.offer({ sessionId: 's2', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) }))
          .sdp,
      );
      const answer = audioOf(
        (
          await c.answer({
            sessionId: 's2',
            from: 'b',
            to: 'a',
            sdp: testOffer({ port: b.port, formats: [[0, 'PCMU']] }),
          })
        ).sdp,
      );
      const tone = encodeUlaw(
        Int16Array.from({ length: 160 }, (_, i) =>
          Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 8000)),
        ),
      );
      for (let i = 0; i < 10; i++) a.sendAudio(tone, answer.port, { address: answer.address });
      await b.waitFor((r) => r.length >= 10);
      for (let i = 0; i < 10; i++) b.sendAudio(tone, offer.port, { address: offer.address });
      await a.waitFor((r) => r.length >= 10);
      const first = b.received[0]?.data ?? Buffer.alloc(0);
      const offset = rtpPayloadOffset(first);
      expect(offset >= 12, 'b receives valid RTP');
      expect(
        Buffer.from(first.subarray(offset)).equals(Buffer.from(tone)),
        'b receives the payload a sent',
      );
      await c.teardown({ sessionId: 's2' });
    }));

  test('reports DTMF sent as RFC 4733 events exactly once per digit', () =>
    withController(async (c, a, b) => {
      await c.offer({ sessionId: 's3', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) });
      const answer = audioOf(
        (await c.answer({ sessionId: 's3', from: 'b', to: 'a', sdp: testOffer({ port: b.port }) }))
          .sdp,
      );
      const digits: DtmfEvent[] = [];
      const got = new Promise<void>((resolve) => {
        c.on('dtmf', (_s, leg, e) => {
          if (leg === 'a') digits.push(e);
          if (digits.length === 3) resolve();
        });
      });
      const silence = new Uint8Array(160).fill(0xff);
      for (let i = 0; i < 3; i++) a.sendAudio(silence, answer.port);
      for (const d of ['1', '#', '9']) a.sendDigit(d, answer.port);
      await got;
      expect(
        digits.map((d) => d.digit).join('') === '1#9',
        `digits 1#9 reported, got ${digits.map((d) => d.digit).join('')}`,
      );
      await c.teardown({ sessionId: 's3' });
    }));

  test('refuses an offer without a usable audio codec, and answers for unknown sessions', () =>
    withController(async (c, a) => {
      let refused = false;
      try {
        await c.offer({
          sessionId: 's4',
          from: 'a',
          to: 'b',
          sdp: testOffer({ port: a.port, formats: [[18, 'G729']] }),
        });
      } catch {
        refused = true;
      }
      expect(refused, 'an offer with only G.729 is refused');
      let unknown = false;
      try {
        await c.answer({
          sessionId: 'nope',
          from: 'b',
          to: 'a',
          sdp: testOffer({ port: a.port }),
        });
      } catch {
        unknown = true;
      }
      expect(unknown, 'an answer without an offer is refused');
      await c.teardown({ sessionId: 'never-existed' });
    }));

  test('teardown ends the session and emits ended', () =>
    withController(async (c, a) => {
      await c.offer({ sessionId: 's5', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) });
      const ended = new Promise<string>((resolve) => c.once('ended', (id) => resolve(id)));
      await c.teardown({ sessionId: 's5', reason: 'bye' });
      expect((await ended) === 's5', 'ended names the session');
    }));
}
