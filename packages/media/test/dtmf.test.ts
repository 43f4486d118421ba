import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '@voxmesh/core';
import {
  decodeTelephoneEvent,
  encodeTelephoneEvent,
  GoertzelDetector,
  MediaClock,
  Rfc4733Receiver,
  telephoneEventPackets,
} from '@voxmesh/media';
import { RTP_DTMF_END } from './fixtures/packets.js';

const ROW = [697, 770, 852, 941];
const COL = [1209, 1336, 1477, 1633];
const KEYS = ['123A', '456B', '789C', '*0#D'];

/** Raw 16-bit mono samples from sox. */
function sox(args: string[]): Int16Array {
  const out = spawnSync('sox', [
    '-n',
    '-t',
    'raw',
    '-r',
    '8000',
    '-e',
    'signed',
    '-b',
    '16',
    '-c',
    '1',
    '-L',
    '-',
    ...args,
  ]);
  expect(out.status, out.stderr.toString()).toBe(0);
  return new Int16Array(
    out.stdout.buffer.slice(out.stdout.byteOffset, out.stdout.byteOffset + out.stdout.length),
  );
}

function soxDigit(digit: string, seconds: number): Int16Array {
  const r = KEYS.findIndex((k) => k.includes(digit));
  const c = KEYS[r]!.indexOf(digit);
  return sox([
    'synth',
    String(seconds),
    'sine',
    String(ROW[r]),
    'sine',
    String(COL[c]),
    'remix',
    '-',
    'gain',
    '-6',
  ]);
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('RFC 4733 telephone-events', () => {
  it('decodes the golden end packet', () => {
    const payload = Buffer.from(RTP_DTMF_END.hex, 'hex').subarray(12);
    expect(decodeTelephoneEvent(payload)).toEqual({
      event: 5,
      end: true,
      volume: 10,
      duration: 800,
    });
    expect(
      Buffer.from(encodeTelephoneEvent({ event: 5, end: true, volume: 10, duration: 800 })).equals(
        payload,
      ),
    ).toBe(true);
  });

  it('plans packets with a marker first and three end packets (RFC 4733 §2.5.1)', () => {
    const packets = telephoneEventPackets({ digit: '#', durationMs: 100 });
    expect(packets).toHaveLength(4 + 3);
    expect(packets.filter((p) => p.marker)).toHaveLength(1);
    expect(packets[0]!.marker).toBe(true);
    const decoded = packets.map((p) => decodeTelephoneEvent(p.payload)!);
    expect(decoded.map((d) => d.duration)).toEqual([160, 320, 480, 640, 800, 800, 800]);
    expect(decoded.slice(-3).every((d) => d.end && d.event === 11)).toBe(true);
    expect(() => telephoneEventPackets({ digit: 'x' })).toThrow(TypeError);
  });

  it('reports each digit once despite the repeated end packets, whatever the duration step', () => {
    const rx = new Rfc4733Receiver();
    const out: string[] = [];
    // SIPp's captures step 320 per 20 ms packet; ours step 160.
    for (const [ts, step, event] of [
      [1000, 320, 1],
      [5000, 160, 11],
    ] as const) {
      for (let d = step; d <= step * 5; d += step) {
        for (const e of rx.push(
          ts,
          encodeTelephoneEvent({ event, end: false, volume: 10, duration: d }),
        ))
          out.push(e.digit);
      }
      for (let r = 0; r < 3; r++) {
        for (const e of rx.push(
          ts,
          encodeTelephoneEvent({ event, end: true, volume: 10, duration: step * 6 }),
        )) {
          out.push(`${e.digit}:${e.durationMs}`);
        }
      }
    }
    expect(out).toEqual(['1:240', '#:120']);
  });

  it('reports a digit whose end packets were lost when the next one starts', () => {
    const rx = new Rfc4733Receiver();
    rx.push(100, encodeTelephoneEvent({ event: 7, end: false, volume: 10, duration: 400 }));
    const out = rx.push(
      900,
      encodeTelephoneEvent({ event: 8, end: false, volume: 10, duration: 160 }),
    );
    expect(out.map((e) => [e.digit, e.durationMs])).toEqual([['7', 50]]);
    expect(rx.flush().map((e) => e.digit)).toEqual(['8']);
    expect(rx.push(100, Uint8Array.of(1))).toEqual([]);
  });
});

describe('GoertzelDetector (in-band DTMF)', () => {
  it('finds every digit of a sox-generated sequence exactly once, with its duration', () => {
    const digits = '0123456789*#ABCD';
    const gap = sox(['trim', '0', '0.06']);
    const audio = concat(Array.from(digits).flatMap((d) => [soxDigit(d, 0.1), gap]));
    const det = new GoertzelDetector();
    const found = [];
    // Fed in odd-sized chunks: block boundaries must not matter.
    for (let i = 0; i < audio.length; i += 97) found.push(...det.push(audio.subarray(i, i + 97)));
    found.push(...det.flush());
    expect(found.map((e) => e.digit).join('')).toBe(digits);
    for (const e of found) {
      expect(e.source).toBe('inband');
      expect(e.durationMs).toBeGreaterThanOrEqual(60);
      expect(e.durationMs).toBeLessThanOrEqual(120);
    }
  });

  it('stays silent on a single tone, a chord, noise and a sweep', () => {
    const det = new GoertzelDetector();
    const signals = [
      sox(['synth', '1', 'sine', '1000']),
      sox(['synth', '1', 'sine', '697']),
      sox(['synth', '1', 'sine', '440', 'sine', '554', 'sine', '659', 'remix', '-']),
      sox(['synth', '1', 'whitenoise', 'gain', '-10']),
      sox(['synth', '2', 'sine', '300-3400']),
    ];
    const found = signals.flatMap((s) => det.push(s));
    expect(found).toEqual([]);
  });
});

describe('MediaClock', () => {
  it('ticks every 20 ms for all subscribers on one timer, and stops when unused', () => {
    const clock = new FakeClock();
    const media = new MediaClock({ clock });
    const a: number[] = [];
    const b: number[] = [];
    const subA = media.subscribe((t) => a.push(t));
    const subB = media.subscribe((t) => b.push(t));
    expect(clock.pendingTimers).toBe(1);
    clock.advance(100);
    expect(a).toEqual([1, 2, 3, 4, 5]);
    expect(b).toEqual([1, 2, 3, 4, 5]);
    subA[Symbol.dispose]();
    clock.advance(40);
    expect(a).toHaveLength(5);
    expect(b).toHaveLength(7);
    subB[Symbol.dispose]();
    expect(clock.pendingTimers).toBe(0);
    expect(media.lateTicks).toBe(0);
  });

  it('keeps a failing subscriber from stopping the others', () => {
    const clock = new FakeClock();
    const media = new MediaClock({ clock });
    const got: number[] = [];
    media.subscribe(() => {
      throw new Error('boom');
    });
    media.subscribe((t) => got.push(t));
    clock.advance(60);
    expect(got).toEqual([1, 2, 3]);
  });
});
