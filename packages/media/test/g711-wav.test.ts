import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { VoxmeshError } from '@voxmesh/core';
import {
  alawToUlaw,
  decodeAlaw,
  decodeL16,
  decodeUlaw,
  decodeWav,
  encodeAlaw,
  encodeL16,
  encodeUlaw,
  MediaErrorCode,
  readWav,
  ulawToAlaw,
  wavHeader,
} from '@voxmesh/media';
import { decodeAudio, decodeAudioInto, encodeAudio, encodeAudioInto } from '../src/codecs.js';

const all = Uint8Array.from({ length: 256 }, (_, i) => i);

describe('G.711', () => {
  it('decodes the reference points of G.711', () => {
    expect([...decodeUlaw(Uint8Array.of(0xff, 0x7f, 0x80, 0x00))]).toEqual([0, 0, 32124, -32124]);
    expect([...decodeAlaw(Uint8Array.of(0xd5, 0x55, 0xaa, 0x2a))]).toEqual([8, -8, 32256, -32256]);
  });

  it('is idempotent: encode(decode(code)) gives back the code (except µ-law −0)', () => {
    const u = encodeUlaw(decodeUlaw(all));
    for (let i = 0; i < 256; i++) if (i !== 0x7f) expect(u[i]).toBe(i);
    expect(u[0x7f]).toBe(0xff);
    expect([...encodeAlaw(decodeAlaw(all))]).toEqual([...all]);
  });

  it('quantises within half a step of the input', () => {
    const samples = Int16Array.from({ length: 2001 }, (_, i) => (i - 1000) * 30);
    const back = decodeUlaw(encodeUlaw(samples));
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      expect(Math.abs(back[i]! - s)).toBeLessThanOrEqual(Math.max(4, Math.abs(s) / 16));
    }
  });

  it('transcodes µ-law ↔ A-law through the linear value', () => {
    const a = ulawToAlaw(Uint8Array.from(all));
    const lin = decodeUlaw(all);
    const viaA = decodeAlaw(a);
    for (let i = 0; i < 256; i++) {
      expect(Math.abs(viaA[i]! - lin[i]!)).toBeLessThanOrEqual(
        Math.max(16, Math.abs(lin[i]!) / 16),
      );
    }
    expect(alawToUlaw(encodeAlaw(Int16Array.of(1000)))[0]).toBe(encodeUlaw(Int16Array.of(1000))[0]);
  });

  it('matches sox decoding µ-law and A-law', () => {
    for (const enc of ['mu-law', 'a-law'] as const) {
      const raw = spawnSync(
        'sox',
        [
          '-t',
          'raw',
          '-r',
          '8000',
          '-e',
          enc,
          '-b',
          '8',
          '-c',
          '1',
          '-',
          '-t',
          'raw',
          '-e',
          'signed',
          '-b',
          '16',
          '-L',
          '-',
        ],
        { input: all },
      );
      expect(raw.status, raw.stderr.toString()).toBe(0);
      const ours = enc === 'mu-law' ? decodeUlaw(all) : decodeAlaw(all);
      const theirs = new Int16Array(raw.stdout.buffer, raw.stdout.byteOffset, 256);
      expect([...ours]).toEqual([...theirs]);
    }
  });

  it('round-trips L16 (big-endian)', () => {
    const s = Int16Array.of(0, 1, -1, 32767, -32768, 258);
    const bytes = encodeL16(s);
    expect(Buffer.from(bytes).toString('hex')).toBe('00000001ffff7fff80000102');
    expect([...decodeL16(bytes)]).toEqual([...s]);
  });
});

describe('in-place codec paths', () => {
  it('encode into and decode from a packet at an offset exactly as the allocating codecs do', () => {
    const samples = Int16Array.from({ length: 160 }, (_, i) =>
      Math.round(20000 * Math.sin(i / 3) + (i % 7) * 900 - 3000),
    );
    for (const codec of ['PCMU', 'PCMA', 'L16'] as const) {
      const payload = encodeAudio(codec, samples);
      const packet = new Uint8Array(12 + payload.length + 5).fill(0xaa);
      expect(encodeAudioInto(codec, samples, packet, 12)).toBe(payload.length);
      expect(Array.from(packet.subarray(12, 12 + payload.length))).toEqual(Array.from(payload));
      // Bytes outside the payload are untouched.
      expect(packet[11]).toBe(0xaa);
      expect(packet[12 + payload.length]).toBe(0xaa);
      const out = new Int16Array(samples.length);
      expect(decodeAudioInto(codec, packet, 12, 12 + payload.length, out)).toBe(samples.length);
      expect(Array.from(out)).toEqual(Array.from(decodeAudio(codec, payload)));
    }
  });
});

describe('WAV', () => {
  it('reads a file sox wrote with a fact chunk', () => {
    const out = spawnSync('sox', [
      '-n',
      '-r',
      '8000',
      '-c',
      '1',
      '-e',
      'mu-law',
      '-t',
      'wav',
      '-',
      'synth',
      '0.5',
      'sine',
      '1000',
    ]);
    expect(out.status, out.stderr.toString()).toBe(0);
    const file = out.stdout;
    expect(file.includes(Buffer.from('fact'))).toBe(true);
    const wav = readWav(file);
    expect(wav).toMatchObject({ encoding: 'ulaw', sampleRate: 8000, channels: 1 });
    expect(wav.data.length).toBe(4000);
    expect(decodeWav(file).samples.length).toBe(4000);
  });

  it('reads 16-bit stereo and A-law, mixing channels down', () => {
    for (const [enc, bits, encoding] of [
      ['signed', '16', 'pcm16'],
      ['a-law', '8', 'alaw'],
    ] as const) {
      const out = spawnSync('sox', [
        '-n',
        '-r',
        '8000',
        '-c',
        '2',
        '-e',
        enc,
        '-b',
        bits,
        '-t',
        'wav',
        '-',
        'synth',
        '0.1',
        'sine',
        '500',
      ]);
      const wav = readWav(out.stdout);
      expect(wav.encoding).toBe(encoding);
      expect(wav.channels).toBe(2);
      expect(decodeWav(out.stdout).samples.length).toBe(800);
    }
  });

  it('writes a header sox accepts', () => {
    const data = encodeUlaw(new Int16Array(800));
    const file = Buffer.concat([wavHeader({ encoding: 'ulaw', dataBytes: data.length }), data]);
    const info = spawnSync('soxi', ['-D', '-'], { input: file });
    expect(info.status, info.stderr.toString()).toBe(0);
    expect(Number(info.stdout.toString())).toBeCloseTo(0.1, 3);
    expect(readWav(file).data.length).toBe(800);
  });

  it('rejects malformed files with MEDIA_WAV_INVALID', () => {
    const bad = [
      Buffer.from('not a wav file at all'),
      Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVE')]),
      Buffer.concat([
        Buffer.from('RIFF'),
        Buffer.alloc(4),
        Buffer.from('WAVEfmt '),
        Buffer.from([0xff, 0xff, 0xff, 0x7f]),
      ]),
      Buffer.concat([wavHeader({ encoding: 'ulaw', dataBytes: 0 }).subarray(0, 36)]),
      (() => {
        const h = wavHeader({ encoding: 'pcm16', dataBytes: 0 });
        h.writeUInt16LE(24, 34); // 24-bit
        return h;
      })(),
    ];
    for (const file of bad) {
      expect(() => readWav(file)).toThrow(VoxmeshError);
      try {
        readWav(file);
      } catch (error) {
        expect(VoxmeshError.is(error, MediaErrorCode.WAV_INVALID)).toBe(true);
      }
    }
  });
});
