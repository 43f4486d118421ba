import { afterEach, describe, expect, it } from 'vitest';
import { VoxmeshError, type DtmfEvent } from '@voxmesh/core';
import {
  decodeRtp,
  encodeUlaw,
  InProcessMediaController,
  MediaErrorCode,
  parseSdp,
  ulawToAlaw,
} from '@voxmesh/media';
import { mediaControllerSuite, RtpPeer, testOffer } from '@voxmesh/media/testing';

describe('InProcessMediaController conformance', () => {
  const made: InProcessMediaController[] = [];
  mediaControllerSuite({
    test: it,
    factory: async () => {
      const c = new InProcessMediaController();
      made.push(c);
      await c.start();
      return c;
    },
    close: async () => {
      for (const c of made.splice(0)) await c.stop();
    },
    terminatedLegs: true,
  });
});

const audio = (sdp: string) => parseSdp(sdp).media.find((m) => m.type === 'audio')!;

describe('InProcessMediaController', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  const setup = async (opts: ConstructorParameters<typeof InProcessMediaController>[0] = {}) => {
    const c = new InProcessMediaController(opts);
    await c.start();
    const a = await RtpPeer.open();
    const b = await RtpPeer.open();
    cleanup.push(
      () => c.stop(),
      () => a.close(),
      () => b.close(),
    );
    return { c, a, b };
  };

  it('transcodes PCMU from a to PCMA for b and rewrites SSRC, sequence and timestamp', async () => {
    const { c, a, b } = await setup();
    const offer = audio(
      (
        await c.offer({
          sessionId: 'x',
          from: 'a',
          to: 'b',
          sdp: testOffer({ port: a.port, formats: [[0, 'PCMU']] }),
        })
      ).sdp,
    );
    // The offer to b adds PCMA, which a did not offer, so the relay can transcode.
    expect(offer.formats.map((f) => f.name)).toEqual(['PCMU', 'PCMA', 'telephone-event']);
    const answer = audio(
      (
        await c.answer({
          sessionId: 'x',
          from: 'b',
          to: 'a',
          sdp: testOffer({ port: b.port, formats: [[8, 'PCMA']] }),
        })
      ).sdp,
    );
    expect(answer.formats.map((f) => f.name)).toEqual(['PCMU']);
    const samples = Int16Array.from({ length: 160 }, (_, i) => Math.round(10000 * Math.sin(i / 3)));
    const ulaw = encodeUlaw(samples);
    for (let i = 0; i < 5; i++) a.sendAudio(ulaw, answer.port);
    await b.waitFor((r) => r.length >= 5);
    const got = b.received.map((p) => decodeRtp(p.data));
    expect(got[0]!.payloadType).toBe(8);
    expect(
      Buffer.from(got[0]!.payload).equals(Buffer.from(ulawToAlaw(Uint8Array.from(ulaw)))),
    ).toBe(true);
    expect(got[0]!.ssrc).not.toBe(a.ssrc);
    for (let i = 1; i < got.length; i++) {
      expect(got[i]!.ssrc).toBe(got[0]!.ssrc);
      expect((got[i]!.sequenceNumber - got[i - 1]!.sequenceNumber) & 0xffff).toBe(1);
      expect((got[i]!.timestamp - got[i - 1]!.timestamp) >>> 0).toBe(160);
    }
  });

  it('re-latches a connected leg to a moved peer after silence', async () => {
    const { PortAllocator } = await import('@voxmesh/media');
    const ports = new PortAllocator({ minPort: 41100, maxPort: 41199 });
    const { c, a, b } = await setup({ ports, relatchSilenceMs: 200, statsIntervalMs: 100 });
    await c.offer({ sessionId: 'm', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) });
    const answer = audio(
      (
        await c.answer({
          sessionId: 'm',
          from: 'b',
          to: 'a',
          sdp: testOffer({ port: b.port, formats: [[0, 'PCMU']] }),
        })
      ).sdp,
    );
    const payload = new Uint8Array(160).fill(0xff);
    a.sendAudio(payload, answer.port);
    await b.waitFor((r) => r.length >= 1);
    const a2 = await RtpPeer.open();
    cleanup.push(() => a2.close());
    // a2 keeps sending until the leg notices the silence of a and latches onto it.
    const timer = setInterval(() => a2.sendAudio(payload, answer.port), 20);
    cleanup.push(() => clearInterval(timer));
    await b.waitFor((r) => r.length >= 3, 20_000);
    expect(b.rtcp.length).toBeGreaterThan(0);
    // Media towards a now goes to a2, the latched source.
    const offerPort = c.legPort('m', 'a');
    expect(offerPort).toBeDefined();
    b.sendAudio(payload, c.legPort('m', 'b')!);
    await a2.waitFor((r) => r.length >= 1);
  }, 30_000);

  it('keeps the outgoing stream continuous when the source changes', async () => {
    const { c, a, b } = await setup({ connect: false });
    await c.offer({ sessionId: 'y', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) });
    const answer = audio(
      (
        await c.answer({
          sessionId: 'y',
          from: 'b',
          to: 'a',
          sdp: testOffer({ port: b.port, formats: [[0, 'PCMU']] }),
        })
      ).sdp,
    );
    const payload = new Uint8Array(160).fill(0xff);
    for (let i = 0; i < 3; i++) a.sendAudio(payload, answer.port);
    await b.waitFor((r) => r.length >= 3);
    // A new source on the same address (e.g. after a transfer): new SSRC, seq and ts.
    const a2 = await RtpPeer.open();
    cleanup.push(() => a2.close());
    // The new source must pass probation (5 packets) before the leg re-latches.
    for (let i = 0; i < 8; i++) a2.sendAudio(payload, answer.port);
    await b.waitFor((r) => r.length >= 7);
    const got = b.received.map((p) => decodeRtp(p.data));
    expect(new Set(got.map((p) => p.ssrc)).size).toBe(1);
    for (let i = 1; i < got.length; i++) {
      expect((got[i]!.sequenceNumber - got[i - 1]!.sequenceNumber) & 0xffff).toBe(1);
    }
    expect(got[3]!.marker).toBe(true);
    expect(c.legStats('y', 'a')!.packetsReceived).toBeGreaterThan(0);
  });

  it('intercepts DTMF after update({ dtmf: "intercept" }) and still reports it', async () => {
    const { c, a, b } = await setup();
    await c.offer({ sessionId: 'd', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) });
    const answer = audio(
      (await c.answer({ sessionId: 'd', from: 'b', to: 'a', sdp: testOffer({ port: b.port }) }))
        .sdp,
    );
    await c.update({ sessionId: 'd', dtmf: 'intercept' });
    const digits: DtmfEvent[] = [];
    const done = new Promise<void>((resolve) =>
      c.on('dtmf', (_s, _l, e) => {
        digits.push(e);
        if (digits.length === 2) resolve();
      }),
    );
    a.sendAudio(new Uint8Array(160).fill(0xff), answer.port);
    a.sendDigit('5', answer.port);
    a.sendDigit('*', answer.port);
    a.sendAudio(new Uint8Array(160).fill(0xff), answer.port);
    await done;
    await b.waitFor((r) => r.length >= 2);
    expect(digits.map((d) => [d.digit, d.durationMs, d.source])).toEqual([
      ['5', 100, 'rfc4733'],
      ['*', 100, 'rfc4733'],
    ]);
    // Only the two audio packets reached b: the events were intercepted.
    expect(b.received.every((p) => decodeRtp(p.data).payloadType === 0)).toBe(true);
  });

  it('survives garbage datagrams on its ports and keeps relaying', async () => {
    const { c, a, b } = await setup({ connect: false });
    await c.offer({ sessionId: 'g', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) });
    const answer = audio(
      (
        await c.answer({
          sessionId: 'g',
          from: 'b',
          to: 'a',
          sdp: testOffer({ port: b.port, formats: [[0, 'PCMU']] }),
        })
      ).sdp,
    );
    const junk = [
      Buffer.alloc(0),
      Buffer.from([0x80]),
      Buffer.from('INVITE sip:x SIP/2.0\r\n\r\n'),
      Buffer.alloc(1500, 0xff),
      Buffer.from('81c800ff', 'hex'),
      Buffer.from('8f000000000000000000000000', 'hex'),
    ];
    for (let i = 0; i < 200; i++)
      junk.push(
        Buffer.from(Array.from({ length: 1 + (i % 64) }, (_, j) => (i * 31 + j * 17) & 0xff)),
      );
    for (const j of junk) a.send(j, answer.port);
    // To the port facing b, from elsewhere: nothing that looks like RTP (any
    // valid RTP would latch that leg before b speaks, as symmetric RTP does).
    for (const j of junk) if (j.length > 0 && j[0]! >> 6 !== 2) a.send(j, c.legPort('g', 'b')!);
    a.sendAudio(new Uint8Array(160).fill(0x55), answer.port);
    await b.waitFor((r) => r.some((p) => p.data.length === 172 && p.data[12] === 0x55));
    expect(b.received.every((p) => decodeRtp(p.data).payloadType === 0)).toBe(true);
  });

  it('handles a re-INVITE from the answering side (hold with sendonly) on the same ports', async () => {
    const { c, a, b } = await setup({ connect: false });
    const offer1 = audio(
      (await c.offer({ sessionId: 'r', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) })).sdp,
    );
    const answer1 = audio(
      (
        await c.answer({
          sessionId: 'r',
          from: 'b',
          to: 'a',
          sdp: testOffer({ port: b.port, formats: [[0, 'PCMU']] }),
        })
      ).sdp,
    );
    // b puts a on hold: b offers sendonly, a answers recvonly.
    const offer2 = audio(
      (
        await c.offer({
          sessionId: 'r',
          from: 'b',
          to: 'a',
          sdp: testOffer({ port: b.port, formats: [[0, 'PCMU']], direction: 'sendonly' }),
        })
      ).sdp,
    );
    expect(offer2.port).toBe(answer1.port);
    expect(offer2.direction).toBe('sendonly');
    const answer2 = audio(
      (
        await c.answer({
          sessionId: 'r',
          from: 'a',
          to: 'b',
          sdp: testOffer({ port: a.port, formats: [[0, 'PCMU']], direction: 'recvonly' }),
        })
      ).sdp,
    );
    expect(answer2.port).toBe(offer1.port);
    expect(answer2.direction).toBe('recvonly');
    // Music on hold from b still reaches a; a's media is not sent to b (b receives nothing: sendonly).
    b.sendAudio(new Uint8Array(160).fill(7), offer1.port);
    await a.waitFor((r) => r.length >= 1);
    a.sendAudio(new Uint8Array(160).fill(9), answer1.port);
    a.sendAudio(new Uint8Array(160).fill(9), answer1.port);
    await new Promise((r) => setTimeout(r, 100));
    expect(b.received).toHaveLength(0);
  });

  it('holds a leg: media from it is not forwarded', async () => {
    const { c, a, b } = await setup();
    await c.offer({ sessionId: 'h', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) });
    const answer = audio(
      (
        await c.answer({
          sessionId: 'h',
          from: 'b',
          to: 'a',
          sdp: testOffer({ port: b.port, formats: [[0, 'PCMU']] }),
        })
      ).sdp,
    );
    await c.update({ sessionId: 'h', leg: 'a', hold: true });
    for (let i = 0; i < 5; i++) a.sendAudio(new Uint8Array(160), answer.port);
    await c.update({ sessionId: 'h', leg: 'a', hold: false });
    a.sendAudio(new Uint8Array(160).fill(1), answer.port);
    await b.waitFor((r) => r.length >= 1);
    expect(b.received).toHaveLength(1);
  });

  it('rejects an answer for the wrong legs with MEDIA_UNKNOWN_SESSION and malformed SDP with MEDIA_SDP_INVALID', async () => {
    const { c, a } = await setup();
    await c.offer({ sessionId: 'z', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) });
    await expect(
      c.answer({ sessionId: 'z', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) }),
    ).rejects.toSatisfy((e) => VoxmeshError.is(e, MediaErrorCode.UNKNOWN_SESSION));
    await expect(c.offer({ sessionId: 'z', from: 'a', to: 'b', sdp: 'garbage' })).rejects.toSatisfy(
      (e) => VoxmeshError.is(e, MediaErrorCode.SDP_INVALID),
    );
    await expect(c.offer({ sessionId: '', from: 'a', to: 'b', sdp: 'x' })).rejects.toThrow(
      TypeError,
    );
  });

  it('returns ports on teardown and refuses new sessions while draining', async () => {
    const { PortAllocator } = await import('@voxmesh/media');
    const ports = new PortAllocator({ minPort: 41000, maxPort: 41007 });
    const { c, a } = await setup({ ports });
    await c.offer({ sessionId: 'p', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) });
    expect(ports.inUse).toBe(2);
    await expect(
      c.offer({ sessionId: 'q', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) }),
    ).resolves.toBeDefined();
    await expect(
      c.offer({ sessionId: 'r', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) }),
    ).rejects.toSatisfy((e) => VoxmeshError.is(e, MediaErrorCode.PORTS_EXHAUSTED));
    await c.teardown({ sessionId: 'p' });
    await c.teardown({ sessionId: 'q' });
    await c.teardown({ sessionId: 'r' });
    // Ports return once each leg's RTCP BYE has been sent.
    for (let i = 0; i < 200 && ports.inUse > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(ports.inUse).toBe(0);
    expect(c.sessionCount).toBe(0);
    const draining = c.drain();
    await expect(
      c.offer({ sessionId: 's', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) }),
    ).rejects.toSatisfy((e) => VoxmeshError.is(e, 'NOT_ACCEPTING_WORK'));
    await draining;
  });
});
