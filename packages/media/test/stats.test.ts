import { describe, expect, it } from 'vitest';
import { estimateMos, ReceiverStats, rttFromReport, ntpMiddle, toNtp } from '@voxmesh/media';

describe('ReceiverStats (RFC 3550 A.1, A.3, A.8)', () => {
  it('validates a source after two packets in sequence', () => {
    const s = new ReceiverStats();
    expect(s.update(100, 0, 0)).toBe(false);
    expect(s.update(101, 160, 20)).toBe(true);
    expect(s.packetsReceived).toBe(1);
  });

  it('counts loss across a sequence wrap and reports the extended maximum', () => {
    const s = new ReceiverStats();
    let seq = 65530;
    let ts = 0;
    for (let i = 0; i < 20; i++) {
      if (i !== 10 && i !== 11) s.update(seq & 0xffff, ts, i * 20);
      seq++;
      ts += 160;
    }
    expect(s.extendedMax).toBe(65530 + 19);
    expect(s.packetsLost).toBe(2);
    const block = s.reportBlock(7);
    expect(block.packetsLost).toBe(2);
    expect(block.highestSequence).toBe(65549);
    expect(block.fractionLost).toBe(Math.floor((2 * 256) / 19));
    // A second report covers only the new interval: nothing lost since.
    s.update(seq & 0xffff, ts, 400);
    expect(s.reportBlock(7).fractionLost).toBe(0);
  });

  it('has zero jitter for perfectly paced packets and grows with arrival noise', () => {
    const steady = new ReceiverStats();
    for (let i = 0; i < 50; i++) steady.update(i, i * 160, i * 20);
    expect(steady.jitter).toBe(0);
    const noisy = new ReceiverStats();
    for (let i = 0; i < 500; i++) noisy.update(i, i * 160, i * 20 + (i % 2 ? 5 : 0));
    // Each transit difference is 5 ms = 40 timestamp units; J converges to 40.
    expect(noisy.jitter).toBeGreaterThan(39);
    expect(noisy.jitter).toBeLessThanOrEqual(40);
    expect(noisy.snapshot().jitterMs).toBeCloseTo(5, 0);
  });

  it('accepts a restarted source after two packets that follow a large jump', () => {
    const s = new ReceiverStats();
    for (let i = 0; i < 10; i++) s.update(i, i * 160, i * 20);
    expect(s.update(30000, 0, 300)).toBe(false);
    expect(s.update(30001, 160, 320)).toBe(true);
    expect(s.extendedMax).toBe(30001);
  });
});

describe('RTT and MOS', () => {
  it('computes RTT from LSR and DLSR (RFC 3550 §6.4.1)', () => {
    const [sec, frac] = toNtp(Date.UTC(2024, 0, 1));
    const lsr = ntpMiddle(sec, frac);
    // The report left 0.5 s after the SR and arrived 0.6 s after the SR: RTT 100 ms.
    const [sec2, frac2] = toNtp(Date.UTC(2024, 0, 1) + 600);
    const rtt = rttFromReport(
      {
        ssrc: 1,
        fractionLost: 0,
        packetsLost: 0,
        highestSequence: 0,
        jitter: 0,
        lastSr: lsr,
        delaySinceLastSr: 0x8000,
      },
      ntpMiddle(sec2, frac2),
    );
    expect(rtt).toBeCloseTo(100, 0);
  });

  it('rates clean G.711 ≈ 4.4 and falls with loss and delay', () => {
    expect(estimateMos({ lossPercent: 0 })).toBeCloseTo(4.41, 2);
    expect(estimateMos({ lossPercent: 1 })).toBeCloseTo(4.33, 1);
    expect(estimateMos({ lossPercent: 10 })).toBeLessThan(3.5);
    expect(estimateMos({ lossPercent: 0, delayMs: 400 })).toBeLessThan(
      estimateMos({ lossPercent: 0 }),
    );
    expect(estimateMos({ lossPercent: 100 })).toBeLessThan(1.5);
  });
});
