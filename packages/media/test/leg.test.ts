import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '@voxmesh/core';
import {
  decodeRtcp,
  encodeRtp,
  InProcessMediaController,
  MediaLeg,
  PortAllocator,
  RtpRelay,
  decodeL16,
  decodeRtp,
  decodeUlaw,
  encodeUlaw,
} from '@voxmesh/media';
import { RtpPeer, testOffer } from '@voxmesh/media/testing';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('MediaLeg RTCP', () => {
  it('sends SR + SDES, and measures RTT from the report blocks that come back (RFC 3550 §6.4.1)', async () => {
    const allocator = new PortAllocator();
    const one = new MediaLeg({ ports: await allocator.allocate({ rtcp: false }), rtcpMux: true });
    const two = new MediaLeg({ ports: await allocator.allocate({ rtcp: false }), rtcpMux: true });
    cleanup.push(
      () => one.close(),
      () => two.close(),
    );
    one.setRemote({ address: '127.0.0.1', port: two.port });
    two.setRemote({ address: '127.0.0.1', port: one.port });
    // Some RTP from one to two, so two has a source to report on.
    for (let i = 0; i < 5; i++) {
      one.send(
        encodeRtp({
          payloadType: 0,
          marker: false,
          sequenceNumber: i,
          timestamp: i * 160,
          ssrc: one.ssrc,
          payload: new Uint8Array(160),
        }),
      );
    }
    await until(() => two.stats().packetsReceived >= 4);
    one.sendRtcp('one@test');
    await new Promise((r) => setTimeout(r, 50));
    two.sendRtcp('two@test');
    await until(() => one.stats().rttMs !== undefined);
    expect(one.stats().rttMs).toBeGreaterThanOrEqual(0);
    expect(one.stats().rttMs).toBeLessThan(1000);
  });

  it('the controller sends RTCP to each leg and emits stats, then timeout for a silent leg', async () => {
    const clock = new FakeClock();
    const c = new InProcessMediaController({
      clock,
      statsIntervalMs: 5000,
      mediaTimeoutMs: 10_000,
    });
    await c.start();
    const a = await RtpPeer.open();
    const b = await RtpPeer.open();
    cleanup.push(
      () => c.stop(),
      () => a.close(),
      () => b.close(),
    );
    await c.offer({ sessionId: 't', from: 'a', to: 'b', sdp: testOffer({ port: a.port }) });
    await c.answer({ sessionId: 't', from: 'b', to: 'a', sdp: testOffer({ port: b.port }) });
    const stats: string[] = [];
    const timeouts: string[] = [];
    c.on('stats', (_s, leg) => stats.push(leg));
    c.on('timeout', (_s, leg) => timeouts.push(leg));
    clock.advance(5000);
    expect(stats.sort()).toEqual(['a', 'b']);
    await a.waitFor(() => a.rtcp.length > 0);
    const packets = decodeRtcp(a.rtcp[0]!.data);
    expect(packets.map((p) => p.type)).toEqual(['sr', 'sdes']);
    expect(timeouts).toEqual([]);
    clock.advance(5000);
    expect(timeouts.sort()).toEqual(['a', 'b']);
    clock.advance(5000);
    // Reported once per silence.
    expect(timeouts).toHaveLength(2);
    // Teardown says goodbye: RR + BYE with the reason (RFC 3550 §6.6).
    await c.teardown({ sessionId: 't', reason: 'bye' });
    await a.waitFor(() => a.rtcp.some((p) => decodeRtcp(p.data).some((x) => x.type === 'bye')));
    const bye = a.rtcp.map((p) => decodeRtcp(p.data)).find((x) => x.some((y) => y.type === 'bye'))!;
    expect(bye.map((x) => x.type)).toEqual(['rr', 'bye']);
    expect(bye[1]).toMatchObject({ type: 'bye', reason: 'bye' });
  });
});

describe('RtpRelay through linear PCM', () => {
  it('transcodes PCMU to L16 (payload doubles) and taps the audio after sending', async () => {
    const allocator = new PortAllocator();
    const legA = new MediaLeg({ ports: await allocator.allocate({ rtcp: false }), rtcpMux: true });
    const legB = new MediaLeg({ ports: await allocator.allocate({ rtcp: false }), rtcpMux: true });
    const a = await RtpPeer.open();
    const b = await RtpPeer.open();
    cleanup.push(
      () => legA.close(),
      () => legB.close(),
      () => a.close(),
      () => b.close(),
    );
    legA.setRemote({ address: '127.0.0.1', port: a.port });
    legB.setRemote({ address: '127.0.0.1', port: b.port });
    const relay = new RtpRelay({
      a: legA,
      b: legB,
      mediaA: { codec: 'PCMU', payloadType: 0 },
      mediaB: { codec: 'L16', payloadType: 96 },
    });
    const tapped: Int16Array[] = [];
    relay.tap((samples, from) => {
      if (from === 'a') tapped.push(samples);
    });
    const samples = Int16Array.from({ length: 160 }, (_, i) => (i - 80) * 100);
    const ulaw = encodeUlaw(samples);
    a.sendAudio(ulaw, legA.port);
    await b.waitFor((r) => r.length >= 1);
    const got = decodeRtp(b.received[0]!.data);
    expect(got.payloadType).toBe(96);
    expect(got.payload.length).toBe(320);
    expect([...decodeL16(got.payload)]).toEqual([...decodeUlaw(ulaw)]);
    expect(tapped).toHaveLength(1);
    expect([...tapped[0]!]).toEqual([...decodeUlaw(ulaw)]);
    expect(relay.counters('a')).toMatchObject({ forwarded: 1, transcoded: 1 });
  });
});
