/**
 * `@voxmesh/media/testing`: the conformance suite every `MediaController`
 * implementation runs ({@link mediaControllerSuite}), and {@link RtpPeer}, a
 * scriptable RTP endpoint on loopback for tests of code built on media.
 *
 * @packageDocumentation
 */

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { Writable } from 'node:stream';
import {
  isTerminatingMediaController,
  type DtmfEvent,
  type MediaController,
  type TerminatingMediaController,
} from '@voxmesh/core';
import { encodeRtp, isRtcp, rtpPayloadOffset } from './rtp.js';
import { encodeUlaw } from './g711.js';
import { parseSdp } from './sdp.js';
import { readWav } from './wav.js';
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
  /**
   * Also run the tests of core's `TerminatingMediaController` (terminated
   * legs: answer/offer, play, record, DTMF, barge-in, hand-over to the relay).
   * @defaultValue `false`
   */
  terminatedLegs?: boolean | undefined;
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

  test('parallel forks: offers to two legs are both pending, and the first-offered one can answer', () =>
    withController(async (c, a, b) => {
      const toB1 = audioOf(
        (await c.offer({ sessionId: 's6', from: 'a', to: 'b1', sdp: testOffer({ port: a.port }) }))
          .sdp,
      );
      const toB2 = audioOf(
        (await c.offer({ sessionId: 's6', from: 'a', to: 'b2', sdp: testOffer({ port: a.port }) }))
          .sdp,
      );
      expect(toB1.port !== toB2.port, 'each fork gets its own media-plane port');
      const toA = audioOf(
        (
          await c.answer({
            sessionId: 's6',
            from: 'b1',
            to: 'a',
            sdp: testOffer({ port: b.port, formats: [[0, 'PCMU']] }),
          })
        ).sdp,
      );
      const tone = encodeUlaw(new Int16Array(160).fill(4000));
      for (let i = 0; i < 5; i++) a.sendAudio(tone, toA.port, { address: toA.address });
      await b.waitFor((r) => r.length >= 5);
      for (let i = 0; i < 5; i++) b.sendAudio(tone, toB1.port, { address: toB1.address });
      await a.waitFor((r) => r.length >= 5);
      let late = false;
      try {
        await c.answer({ sessionId: 's6', from: 'b1', to: 'a', sdp: testOffer({ port: b.port }) });
      } catch {
        late = true;
      }
      expect(late, 'an answer is taken once');
      await c.teardown({ sessionId: 's6', leg: 'b2', reason: 'cancel' });
      await c.teardown({ sessionId: 's6' });
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

  if (options.terminatedLegs === true) terminatedLegSuite(test, withController);

  test('teardown ends the session and emits ended', () =>
    withController(async (c, a) => {
      await c.offer({ sessionId: 's5', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) });
      const ended = new Promise<string>((resolve) => c.once('ended', (id) => resolve(id)));
      await c.teardown({ sessionId: 's5', reason: 'bye' });
      expect((await ended) === 's5', 'ended names the session');
    }));
}

/** A writable that keeps everything written to it (a recording sink for tests). */
export class MemorySink extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _e: BufferEncoding, callback: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    callback();
  }
  /** Everything written, in one buffer. */
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function terminating(c: MediaController): TerminatingMediaController {
  if (!isTerminatingMediaController(c))
    throw new Error('MediaController conformance: the factory made no TerminatingMediaController');
  return c;
}

function tone(hz: number): Uint8Array {
  return encodeUlaw(
    Int16Array.from({ length: 160 }, (_, i) =>
      Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / 8000)),
    ),
  );
}

/** Sends `count` 20 ms packets of `payload`, one every 20 ms; resolves after the last. */
function paced(peer: RtpPeer, payload: Uint8Array, port: number, count: number): Promise<void> {
  return new Promise((resolve) => {
    let sent = 0;
    const timer = setInterval(() => {
      peer.sendAudio(payload, port);
      if (++sent >= count) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
  });
}

async function rejects(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

function terminatedLegSuite(
  test: SuiteTest,
  withController: (
    fn: (c: MediaController, a: RtpPeer, b: RtpPeer) => Promise<void>,
  ) => Promise<void>,
): void {
  const t = (
    name: string,
    fn: (c: TerminatingMediaController, a: RtpPeer, b: RtpPeer) => Promise<void>,
  ): void => {
    test(`terminated legs: ${name}`, () => withController((c, a, b) => fn(terminating(c), a, b)));
  };

  t(
    'terminate() answers an offer from the media plane and plays a tone to the leg',
    async (c, a) => {
      const result = await c.terminate({
        sessionId: 't1',
        leg: 'a',
        sdp: testOffer({
          port: a.port,
          formats: [
            [8, 'PCMA'],
            [0, 'PCMU'],
            [101, 'telephone-event'],
          ],
        }),
      });
      expect(result.type === 'answer', 'the result is an answer');
      const m = audioOf(result.sdp);
      expect(m.port > 0 && m.port !== a.port, 'the answer carries a media-plane port');
      expect(
        m.formats[0]?.name.toUpperCase() === 'PCMA',
        "the answer picks the offerer's first codec",
      );
      expect(
        m.formats.some((f) => f.name === 'telephone-event'),
        'the answer accepts telephone-event',
      );
      const played = await c.play({
        sessionId: 't1',
        leg: 'a',
        prompts: [{ toneHz: 1000, durationMs: 400 }],
      });
      expect(played.reason === 'completed', `play ended ${played.reason}`);
      expect(Math.abs(played.playedMs - 400) <= 20, `playedMs ${played.playedMs}`);
      await a.waitFor((r) => r.length >= 20);
      const first = a.received[0]?.data ?? Buffer.alloc(0);
      expect((first[1] ?? 0) % 128 === 8, 'the leg receives PCMA (payload type 8)');
      await c.teardown({ sessionId: 't1' });
    },
  );

  t('terminate() without SDP makes an offer; terminateAnswer() completes it', async (c, a) => {
    const result = await c.terminate({ sessionId: 't2', leg: 'a' });
    expect(result.type === 'offer', 'the result is an offer');
    const m = audioOf(result.sdp);
    expect(
      m.formats.some((f) => f.name.toUpperCase() === 'PCMU'),
      'the offer has PCMU',
    );
    expect(
      !!(await rejects(() => c.play({ sessionId: 't2', leg: 'a', prompts: [{ silenceMs: 20 }] }))),
      'play before the answer is refused',
    );
    await c.terminateAnswer({
      sessionId: 't2',
      leg: 'a',
      sdp: testOffer({ port: a.port, formats: [[0, 'PCMU']] }),
    });
    const played = await c.play({ sessionId: 't2', leg: 'a', prompts: [{ silenceMs: 100 }] });
    expect(played.reason === 'completed', `play ended ${played.reason}`);
    await a.waitFor((r) => r.length >= 4);
    await c.teardown({ sessionId: 't2' });
  });

  t('a hostile offer is refused and leaves no session behind', async (c) => {
    for (const sdp of [
      'v=0\r\nm=audio 99999 RTP/AVP 0\r\n',
      'garbage',
      'v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n',
    ]) {
      expect(
        !!(await rejects(() => c.terminate({ sessionId: 't3', leg: 'a', sdp }))),
        `accepted ${JSON.stringify(sdp)}`,
      );
    }
    const error = await rejects(() =>
      c.play({ sessionId: 't3', leg: 'a', prompts: [{ silenceMs: 20 }] }),
    );
    expect(
      error instanceof Error && /No media session/.test(error.message),
      `the session exists: ${String(error)}`,
    );
  });

  t(
    'reports DTMF once per digit, and a digit barges in on a dtmf barge-in prompt',
    async (c, a) => {
      const answer = audioOf(
        (await c.terminate({ sessionId: 't4', leg: 'a', sdp: testOffer({ port: a.port }) })).sdp,
      );
      const digits: string[] = [];
      let order = '';
      c.on('dtmf', (s, leg, e) => {
        if (s === 't4' && leg === 'a') {
          digits.push(e.digit);
          order += 'd';
        }
      });
      const playing = c.play({
        sessionId: 't4',
        leg: 'a',
        prompts: [{ silenceMs: 20_000 }],
        bargeIn: 'dtmf',
        bargeInKeys: '5',
      });
      await a.waitFor((r) => r.length >= 3);
      a.sendDigit('1', answer.port);
      await new Promise((r) => setTimeout(r, 100));
      a.sendDigit('5', answer.port);
      const played = await playing;
      order += 'p';
      expect(
        played.reason === 'interrupted' && played.digit === '5',
        `play: ${JSON.stringify(played)}`,
      );
      expect(order === 'ddp', `the digits are reported before the play result (${order})`);
      a.sendDigit('#', answer.port);
      await new Promise((r) => setTimeout(r, 100));
      expect(digits.join('') === '15#', `digits ${digits.join('')}`);
      await c.teardown({ sessionId: 't4' });
    },
  );

  t(
    'with bargeIn any, the leg speaking interrupts a prompt; with dtmf it does not',
    async (c, a) => {
      const answer = audioOf(
        (await c.terminate({ sessionId: 't9', leg: 'a', sdp: testOffer({ port: a.port }) })).sdp,
      );
      const dtmfOnly = c.play({
        sessionId: 't9',
        leg: 'a',
        prompts: [{ silenceMs: 600 }],
        bargeIn: 'dtmf',
      });
      await paced(a, tone(440), answer.port, 10);
      const kept = await dtmfOnly;
      expect(kept.reason === 'completed', `a dtmf barge-in prompt ended ${kept.reason} on voice`);
      const anyInput = c.play({
        sessionId: 't9',
        leg: 'a',
        prompts: [{ silenceMs: 20_000 }],
        bargeIn: 'any',
      });
      await paced(a, new Uint8Array(160).fill(0xff), answer.port, 10);
      await paced(a, tone(440), answer.port, 10);
      const played = await anyInput;
      expect(
        played.reason === 'interrupted' && played.digit === undefined,
        `voice barge-in: ${JSON.stringify(played)}`,
      );
      expect(played.playedMs < 1000, `interrupted after ${played.playedMs} ms`);
      await c.teardown({ sessionId: 't9' });
    },
  );

  t(
    'stopPlay() stops a prompt, a new play replaces one, teardown settles one with hangup',
    async (c, a) => {
      await c.terminate({ sessionId: 't5', leg: 'a', sdp: testOffer({ port: a.port }) });
      const first = c.play({ sessionId: 't5', leg: 'a', prompts: [{ silenceMs: 20_000 }] });
      await a.waitFor((r) => r.length >= 2);
      const second = c.play({
        sessionId: 't5',
        leg: 'a',
        prompts: [{ silenceMs: 20_000 }],
        loop: 'forever',
      });
      expect((await first).reason === 'stopped', 'a new play stops the current one');
      await c.stopPlay({ sessionId: 't5', leg: 'a' });
      expect((await second).reason === 'stopped', 'stopPlay() stops the prompt');
      const third = c.play({ sessionId: 't5', leg: 'a', prompts: [{ silenceMs: 20_000 }] });
      await new Promise((r) => setTimeout(r, 60));
      await c.teardown({ sessionId: 't5', reason: 'bye' });
      expect((await third).reason === 'hangup', 'teardown settles the play with hangup');
    },
  );

  t("record() writes the leg's audio as a WAV and ends on the finish key", async (c, a) => {
    const answer = audioOf(
      (await c.terminate({ sessionId: 't6', leg: 'a', sdp: testOffer({ port: a.port }) })).sdp,
    );
    const sink = new MemorySink();
    const recording = c.record({ sessionId: 't6', leg: 'a', finishOnKey: '#' }, { sink });
    await paced(a, tone(1000), answer.port, 25);
    a.sendDigit('#', answer.port);
    const result = await recording;
    expect(result.reason === 'finish-key', `reason ${result.reason}`);
    expect(
      result.bytes === sink.bytes.length,
      `bytes ${result.bytes} vs ${sink.bytes.length} written`,
    );
    const wav = readWav(sink.bytes);
    expect(wav.sampleRate === 8000 && wav.channels === 1, 'an 8 kHz mono WAV');
    const ms = (wav.data.length / (wav.encoding === 'pcm16' ? 2 : 1) / 8000) * 1000;
    expect(
      ms >= 400 && ms <= 900 && Math.abs(ms - result.durationMs) <= 20,
      `recorded ${ms} ms, result ${result.durationMs}`,
    );
    await c.teardown({ sessionId: 't6' });
  });

  t('record() ends on silence without the trailing silence, and on hangup', async (c, a) => {
    const answer = audioOf(
      (await c.terminate({ sessionId: 't7', leg: 'a', sdp: testOffer({ port: a.port }) })).sdp,
    );
    const sink = new MemorySink();
    const recording = c.record({ sessionId: 't7', leg: 'a', silenceTimeoutMs: 300 }, { sink });
    await paced(a, tone(1000), answer.port, 25);
    await paced(a, new Uint8Array(160).fill(0xff), answer.port, 25);
    const result = await recording;
    expect(result.reason === 'silence', `reason ${result.reason}`);
    expect(result.durationMs >= 400 && result.durationMs <= 700, `durationMs ${result.durationMs}`);
    const next = c.record({ sessionId: 't7', leg: 'a' }, { sink: new MemorySink() });
    await new Promise((r) => setTimeout(r, 60));
    await c.teardown({ sessionId: 't7', leg: 'a' });
    expect((await next).reason === 'hangup', 'teardown settles the recording with hangup');
  });

  t('bridgeLegs() hands a terminated leg to the relay towards a new leg', async (c, a, b) => {
    const aAnswer = audioOf(
      (
        await c.terminate({
          sessionId: 't8',
          leg: 'a',
          sdp: testOffer({
            port: a.port,
            formats: [
              [0, 'PCMU'],
              [101, 'telephone-event'],
            ],
          }),
        })
      ).sdp,
    );
    const playing = c.play({ sessionId: 't8', leg: 'a', prompts: [{ silenceMs: 20_000 }] });
    const offer = audioOf((await c.bridgeLegs({ sessionId: 't8', leg: 'a', to: 'b' })).sdp);
    expect((await playing).reason === 'stopped', 'the hand-over stops the prompt');
    expect(
      offer.formats[0]?.name.toUpperCase() === 'PCMU',
      'the offer names the negotiated codec first',
    );
    const answer = audioOf(
      (
        await c.answer({
          sessionId: 't8',
          from: 'b',
          to: 'a',
          sdp: testOffer({ port: b.port, formats: [[0, 'PCMU']] }),
        })
      ).sdp,
    );
    expect(answer.port === aAnswer.port, 'the terminated leg keeps its port');
    const payload = tone(1000);
    const before = b.received.length;
    for (let i = 0; i < 5; i++) a.sendAudio(payload, aAnswer.port);
    await b.waitFor((r) => r.length >= before + 5);
    for (let i = 0; i < 5; i++) b.sendAudio(payload, offer.port);
    await a.waitFor(
      (r) =>
        r.filter((p) => Buffer.from(p.data.subarray(12)).equals(Buffer.from(payload))).length >= 5,
    );
    expect(
      !!(await rejects(() => c.play({ sessionId: 't8', leg: 'a', prompts: [{ silenceMs: 20 }] }))),
      'a relayed leg does not play',
    );
    await c.teardown({ sessionId: 't8', leg: 'b' });
    const back = await c.play({ sessionId: 't8', leg: 'a', prompts: [{ silenceMs: 40 }] });
    expect(back.reason === 'completed', 'once the other leg is gone the leg terminates again');
    await c.teardown({ sessionId: 't8' });
  });
}
