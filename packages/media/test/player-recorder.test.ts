import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock, VoxmeshError } from '@voxmesh/core';
import { peakFrequency } from './helpers/sox.js';
import {
  loadPrompt,
  MediaClock,
  MediaErrorCode,
  Player,
  readWav,
  Recorder,
  wavHeader,
} from '@voxmesh/media';

const dir = mkdtempSync(join(tmpdir(), 'voxmesh-media-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tone = (n: number, freq = 1000): Int16Array =>
  Int16Array.from({ length: n }, (_, i) =>
    Math.round(12000 * Math.sin((2 * Math.PI * freq * i) / 8000)),
  );

describe('Player', () => {
  it('sends one 160-sample frame per tick and completes, padding the last frame', async () => {
    const clock = new FakeClock();
    const frames: Int16Array[] = [];
    const player = new Player({
      mediaClock: new MediaClock({ clock }),
      sink: (f) => frames.push(Int16Array.from(f)),
    });
    const done = player.play({ samples: tone(1000) });
    expect(player.playing).toBe(true);
    clock.advance(20 * 10);
    await expect(done).resolves.toBe('completed');
    expect(frames).toHaveLength(7);
    expect(frames[6]!.subarray(40).every((s) => s === 0)).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('loops until stopped and stops on its signal', async () => {
    const clock = new FakeClock();
    let count = 0;
    const player = new Player({ mediaClock: new MediaClock({ clock }), sink: () => count++ });
    const looping = player.play({ samples: tone(320) }, { loop: true });
    clock.advance(200);
    expect(count).toBe(10);
    player.stop();
    await expect(looping).resolves.toBe('stopped');
    const controller = new AbortController();
    const aborted = player.play({ samples: tone(8000) }, { signal: controller.signal });
    clock.advance(40);
    controller.abort();
    await expect(aborted).resolves.toBe('stopped');
  });

  it('barges in only when the playback allows it', async () => {
    const clock = new FakeClock();
    const player = new Player({ mediaClock: new MediaClock({ clock }), sink: () => undefined });
    const noBarge = player.play({ samples: tone(800) }, { bargeIn: false });
    expect(player.interrupt('5')).toBe(false);
    clock.advance(100);
    await expect(noBarge).resolves.toBe('completed');
    const barge = player.play({ samples: tone(8000) });
    clock.advance(40);
    expect(player.interrupt({ digit: '5', durationMs: 100, source: 'rfc4733' })).toBe(true);
    await expect(barge).resolves.toBe('interrupted');
  });

  it('loads µ-law, A-law and 16-bit prompts, and refuses other rates', () => {
    const ulaw = spawnSync('sox', [
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
      '0.2',
      'sine',
      '1000',
    ]).stdout;
    expect(loadPrompt(ulaw).length).toBe(1600);
    expect(loadPrompt({ raw: new Uint8Array(160).fill(0xd5), encoding: 'alaw' })[0]).toBe(8);
    const wide = spawnSync('sox', [
      '-n',
      '-r',
      '16000',
      '-c',
      '1',
      '-e',
      'signed',
      '-b',
      '16',
      '-t',
      'wav',
      '-',
      'synth',
      '0.1',
      'sine',
      '1000',
    ]).stdout;
    let caught: unknown;
    try {
      loadPrompt(wide);
    } catch (error) {
      caught = error;
    }
    expect(VoxmeshError.is(caught, MediaErrorCode.WAV_INVALID)).toBe(true);
  });
});

describe('Recorder', () => {
  it('writes a WAV file whose tone sox measures at 1000 Hz and whose length follows the clock', async () => {
    const clock = new FakeClock();
    const path = join(dir, 'tone.wav');
    const rec = new Recorder({
      mediaClock: new MediaClock({ clock }),
      destination: { path },
      inputs: 1,
    });
    await rec.start();
    const t = tone(8000);
    for (let i = 0; i < 50; i++) {
      rec.write(0, t.subarray(i * 160, i * 160 + 160));
      clock.advance(20);
    }
    const summary = await rec.stop();
    expect(summary.durationMs).toBe(1000);
    const soxi = spawnSync('soxi', ['-D', path]);
    expect(Number(soxi.stdout.toString())).toBeCloseTo(1, 2);
    const stat = spawnSync('sox', [path, '-n', 'stat', '-freq']).stderr.toString();
    const peak = peakFrequency(stat);
    expect(Math.abs(peak - 1000)).toBeLessThanOrEqual(5);
  });

  it('lets a late packet catch up instead of leaving a gap, and writes silence after 60 ms', async () => {
    const clock = new FakeClock();
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const rec = new Recorder({
      mediaClock: new MediaClock({ clock }),
      destination: sink,
      inputs: 1,
    });
    await rec.start();
    const frame = new Int16Array(160).fill(1000);
    // Two frames prime the input; then packets arrive 40 ms late, two at a time.
    rec.write(0, frame);
    rec.write(0, frame);
    for (let i = 0; i < 10; i++) {
      clock.advance(40);
      rec.write(0, frame);
      rec.write(0, frame);
    }
    // Then nothing for 200 ms: after three ticks the input counts as silent.
    clock.advance(200);
    await rec.stop();
    const samples = new Int16Array(Uint8Array.from(Buffer.concat(chunks).subarray(44)).buffer);
    const frames = Array.from({ length: samples.length / 160 }, (_, f) => samples[f * 160]);
    const firstSilent = frames.indexOf(0);
    // All 22 frames that arrived were written back to back, then silence.
    expect(firstSilent).toBe(22);
    expect(frames.slice(0, 22).every((v) => v === 1000)).toBe(true);
    expect(frames.slice(22).every((v) => v === 0)).toBe(true);
  });

  it('mixes two inputs, or keeps them in separate channels, and streams to any writable', async () => {
    const clock = new FakeClock();
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const rec = new Recorder({
      mediaClock: new MediaClock({ clock }),
      destination: sink,
      layout: 'per-input',
      encoding: 'ulaw',
    });
    await rec.start();
    for (let i = 0; i < 10; i++) {
      rec.write(0, tone(160, 500));
      rec.write(1, new Int16Array(160).fill(1000));
      clock.advance(20);
    }
    await rec.stop();
    const wav = readWav(Buffer.concat(chunks));
    expect(wav).toMatchObject({ channels: 2, encoding: 'ulaw' });
    expect(wav.data.length).toBe(10 * 160 * 2);
    // A stream destination declares an unknown length.
    expect(Buffer.concat(chunks).readUInt32LE(40)).toBe(
      wavHeader({ encoding: 'ulaw' }).readUInt32LE(40),
    );
    const mixed = join(dir, 'mix.wav');
    const mix = new Recorder({
      mediaClock: new MediaClock({ clock }),
      destination: { path: mixed },
    });
    await mix.start();
    for (let i = 0; i < 10; i++) {
      mix.write(0, new Int16Array(160).fill(1000));
      mix.write(1, new Int16Array(160).fill(2000));
      clock.advance(20);
    }
    await mix.stop();
    const data = readWav(readFileSync(mixed)).data;
    // After the two-frame jitter buffer primes, samples are the sum of both inputs.
    expect(Buffer.from(data).readInt16LE(data.length - 2)).toBe(3000);
  });
});
