import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, Metrics, VoxmeshError } from '@voxmesh/core';
import {
  InProcessMediaController,
  PromptCache,
  encodeRtp,
  encodeUlaw,
  parseSdp,
  promptSamples,
  readWav,
  toneSamples,
  wavHeader,
} from '@voxmesh/media';
import { MemorySink, RtpPeer, testOffer } from '@voxmesh/media/testing';

const dir = mkdtempSync(join(tmpdir(), 'voxmesh-terminated-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('recordings follow the sender’s RTP timeline', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('fills a timestamp gap with silence, drops late and repeated packets, and a burst does not shorten it', async () => {
    const metrics = new Metrics();
    const c = new InProcessMediaController({ metrics });
    await c.start();
    const peer = await RtpPeer.open();
    cleanup.push(
      () => c.stop(),
      () => peer.close(),
    );
    const answer = parseSdp(
      (await c.terminate({ sessionId: 'r', leg: 'a', sdp: testOffer({ port: peer.port }) })).sdp,
    ).media[0];
    const port = answer?.port ?? 0;
    const sink = new MemorySink();
    const recording = c.record({ sessionId: 'r', leg: 'a' }, { sink });
    const voice = encodeUlaw(toneSamples(1000, 20));
    let seq = 100;
    const send = (ts: number): void => {
      peer.send(
        encodeRtp({
          payloadType: 0,
          marker: false,
          sequenceNumber: seq++,
          timestamp: ts,
          ssrc: 7,
          payload: voice,
        }),
        port,
      );
    };
    // All at once (as after a stall): 10 packets, a 400 ms gap, 10 more, then
    // a repeat of the last and a late one from the first run.
    const base = 50_000;
    for (let i = 0; i < 10; i++) send(base + i * 160);
    for (let i = 30; i < 40; i++) send(base + i * 160);
    send(base + 39 * 160);
    send(base + 5 * 160);
    await new Promise((r) => setTimeout(r, 200));
    await c.stopRecord({ sessionId: 'r', leg: 'a' });
    const result = await recording;
    expect(result).toMatchObject({ reason: 'stopped', durationMs: 800, bytes: 44 + 800 * 16 });
    const wav = readWav(sink.bytes);
    expect(wav.data.length).toBe(800 * 16);
    // The gap (frames 10–29) is silence; the frames around it are the tone.
    const rms = (frame: number): number => {
      let sum = 0;
      for (let i = 0; i < 160; i++) {
        const v = wav.data[(frame * 160 + i) * 2]! | (wav.data[(frame * 160 + i) * 2 + 1]! << 8);
        const s = v > 32767 ? v - 65536 : v;
        sum += s * s;
      }
      return Math.sqrt(sum / 160);
    };
    expect(rms(9)).toBeGreaterThan(3000);
    expect(rms(20)).toBe(0);
    expect(rms(30)).toBeGreaterThan(3000);
    const exposition = await metrics.registry.metrics();
    expect(exposition).toMatch(/media_recordings_total\{reason="stopped"\} 1/);
    expect(exposition).toMatch(/media_recorded_seconds_total 0\.8/);
  });

  it('a peer that sends nothing ends a silence-timed recording with nothing recorded', async () => {
    const c = new InProcessMediaController();
    await c.start();
    const peer = await RtpPeer.open();
    cleanup.push(
      () => c.stop(),
      () => peer.close(),
    );
    await c.terminate({ sessionId: 'q', leg: 'a', sdp: testOffer({ port: peer.port }) });
    const sink = new MemorySink();
    const result = await c.record(
      { sessionId: 'q', leg: 'a', silenceTimeoutMs: 200, encoding: 'ulaw' },
      { sink },
    );
    expect(result).toMatchObject({ reason: 'silence', durationMs: 0, bytes: 44 });
    expect(readWav(sink.bytes).encoding).toBe('ulaw');
    expect(sink.writableFinished).toBe(true);
  });
});

describe('hand-over to the relay', () => {
  it('a bridge offer that never got an answer leaves the leg terminated again once the other leg is torn down', async () => {
    const c = new InProcessMediaController();
    await c.start();
    const peer = await RtpPeer.open();
    try {
      await c.terminate({ sessionId: 'h', leg: 'a', sdp: testOffer({ port: peer.port }) });
      await c.bridgeLegs({ sessionId: 'h', leg: 'a', to: 'b1' });
      await expect(
        c.play({ sessionId: 'h', leg: 'a', prompts: [{ silenceMs: 20 }] }),
      ).rejects.toMatchObject({ code: ErrorCode.INVALID_STATE });
      await c.teardown({ sessionId: 'h', leg: 'b1', reason: 'busy' });
      await expect(
        c.play({ sessionId: 'h', leg: 'a', prompts: [{ silenceMs: 60 }] }),
      ).resolves.toMatchObject({ reason: 'completed' });
      await peer.waitFor((r) => r.length >= 2);
    } finally {
      peer.close();
      await c.stop();
    }
  });
});

describe('prompts', () => {
  it('synthesises tones and silence and refuses malformed prompts with INVALID_INPUT', async () => {
    const cache = new PromptCache();
    const samples = await promptSamples(
      [{ toneHz: 440, durationMs: 100 }, { silenceMs: 50 }],
      cache,
    );
    expect(samples.length).toBe(1200);
    expect(samples.subarray(800).every((s) => s === 0)).toBe(true);
    for (const bad of [
      [{ toneHz: 5000, durationMs: 10 }],
      [{ toneHz: 440 }],
      [{ silenceMs: -1 }],
      [{ silenceMs: 1e9 }],
      [{ file: '' }],
      [{ nothing: true }],
      [null],
      'not an array',
    ]) {
      const error = await promptSamples(bad as never, cache).catch((e: unknown) => e);
      expect(VoxmeshError.is(error, ErrorCode.INVALID_INPUT), JSON.stringify(bad)).toBe(true);
    }
  });

  it('reads WAV files once, re-reads a changed file, and names a missing or invalid one', async () => {
    const cache = new PromptCache({ maxEntries: 2 });
    const path = join(dir, 'p.wav');
    const wav = (n: number, rate = 8000) =>
      Buffer.concat([
        wavHeader({ encoding: 'ulaw', dataBytes: n, sampleRate: rate }),
        Buffer.alloc(n, 0xff),
      ]);
    writeFileSync(path, wav(800));
    expect((await promptSamples([{ file: path }], cache)).length).toBe(800);
    writeFileSync(path, wav(1600));
    expect((await promptSamples([{ file: path }], cache)).length).toBe(1600);
    await expect(promptSamples([{ file: join(dir, 'missing.wav') }], cache)).rejects.toMatchObject({
      code: ErrorCode.NOT_FOUND,
    });
    const wrongRate = join(dir, 'wide.wav');
    writeFileSync(wrongRate, wav(1600, 16000));
    await expect(promptSamples([{ file: wrongRate }], cache)).rejects.toMatchObject({
      code: 'MEDIA_WAV_INVALID',
    });
  });
});
