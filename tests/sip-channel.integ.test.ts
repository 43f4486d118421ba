// Audio verified at the far end of a SipCallChannel call. The far end is a
// plain UserAgent with an RtpEndpoint of @voxmesh/media on its own port, on
// UDP loopback; sox (a real, independent tool) makes the tones and measures
// what was heard and recorded:
// - the channel plays a sox-made 1 kHz WAV; the far end records it: 1000 ± 5 Hz, 2 s ± 50 ms;
// - the far end sends RFC 4733 digits "19#": collectDigits() returns each exactly once;
// - the far end sends a 3 s tone: record() writes a WAV of 3 s ± 100 ms into a memory sink.
// - core's IvrRuntime runs a flow on the channel: menu, 9 pressed (RFC 4733), a 3 s voicemail.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IvrRuntime, type IvrFlow } from '@voxmesh/core';
import {
  InProcessMediaController,
  MediaClock,
  MediaLeg,
  PortAllocator,
  Recorder,
  RtpEndpoint,
  parseSdp,
  readWav,
  wavHeader,
} from '@voxmesh/media';
import { MemorySink, testOffer } from '@voxmesh/media/testing';
import {
  SipCallChannel,
  SipTransport,
  UserAgent,
  userAgentTransport,
  type Call,
} from '@voxmesh/sip';

const dir = mkdtempSync(join(tmpdir(), 'voxmesh-sip-channel-'));
const cleanup: (() => unknown)[] = [];
let media: InProcessMediaController;
let server: UserAgent;
let caller: UserAgent;
let serverPort = 0;
const waiting: ((call: Call) => void)[] = [];

/** The peak bin of `sox stat -freq` ("freq  power" lines); the "Rough frequency" line is a zero-crossing estimate. */
function peakFrequency(statOutput: string): number {
  let best = 0;
  let bestPower = -Infinity;
  for (const line of statOutput.split('\n')) {
    const m = /^\s*([\d.]+)\s+([\d.eE+-]+)\s*$/.exec(line);
    if (!m) continue;
    const power = Number(m[2]);
    if (power > bestPower) {
      bestPower = power;
      best = Number(m[1]);
    }
  }
  return best;
}

function sox(args: string[]): string {
  const run = spawnSync('sox', args);
  expect(run.status, `sox ${args.join(' ')}: ${run.stderr.toString()}`).toBe(0);
  return run.stderr.toString();
}

function tone(path: string, seconds: number): void {
  sox([
    '-n',
    '-r',
    '8000',
    '-c',
    '1',
    '-e',
    'mu-law',
    path,
    'synth',
    String(seconds),
    'sine',
    '1000',
  ]);
}

/** The length of the non-silent part of a WAV, in seconds, and its peak frequency, both by sox. */
function measure(path: string): { seconds: number; peakHz: number } {
  const part = `${path}.tone.wav`;
  // Trim the silence before and after the tone; a gap inside it would count against the duration.
  sox([
    path,
    part,
    'silence',
    '1',
    '0.005',
    '1%',
    'reverse',
    'silence',
    '1',
    '0.005',
    '1%',
    'reverse',
  ]);
  const seconds = Number(spawnSync('soxi', ['-D', part]).stdout.toString());
  const peakHz = peakFrequency(sox([part, '-n', 'stat', '-freq']));
  return { seconds, peakHz };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function agent(uri: string) {
  const transport = new SipTransport({
    listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
  });
  await transport.start();
  const ua = new UserAgent({ transport: userAgentTransport(transport), uri, sessionTimer: false });
  await ua.start();
  cleanup.push(
    () => ua.stop(),
    () => transport.stop(),
  );
  return { ua, port: transport.listening[0]?.local.port ?? 0 };
}

beforeAll(async () => {
  // The peers must be installed (CI installs them); a missing one fails the run.
  for (const bin of ['sox', 'soxi']) {
    expect(spawnSync('which', [bin]).status, `${bin} is not installed`).toBe(0);
  }
  media = new InProcessMediaController();
  await media.start();
  cleanup.push(() => media.stop());
  const s = await agent('sip:ivr@127.0.0.1');
  server = s.ua;
  serverPort = s.port;
  server.on('invite', (call) => waiting.shift()?.(call));
  caller = (await agent('sip:caller@127.0.0.1')).ua;
});

afterAll(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  rmSync(dir, { recursive: true, force: true });
});

/** The far end calls in with an RtpEndpoint (PCMU, telephone-event 101); the channel answers. */
async function call(
  options: {
    recordings?: Map<string, MemorySink>;
    prompts?: ConstructorParameters<typeof SipCallChannel>[0]['prompts'];
  } = {},
) {
  const ports = await new PortAllocator().allocate({ rtcp: false });
  const leg = new MediaLeg({ ports, rtcpMux: true });
  const farClock = new MediaClock();
  const incoming = new Promise<Call>((resolve) => waiting.push(resolve));
  const sip = caller.invite({
    uri: `sip:100@127.0.0.1:${serverPort}`,
    body: testOffer({
      port: leg.port,
      formats: [
        [0, 'PCMU'],
        [101, 'telephone-event'],
      ],
    }),
  });
  const channel = new SipCallChannel({
    call: await incoming,
    media,
    tenantId: 'demo',
    prompts: options.prompts,
    recordingSink: (key) => {
      const sink = new MemorySink();
      options.recordings?.set(key, sink);
      return sink;
    },
  });
  await channel.answer();
  const ok = await sip.answered();
  const audio = parseSdp(ok.body.toString()).media.find((m) => m.type === 'audio');
  expect(audio?.formats[0]?.name).toBe('PCMU');
  const te = audio?.formats.find((f) => f.name === 'telephone-event');
  expect(te, 'the channel accepted telephone-event').toBeDefined();
  const endpoint = new RtpEndpoint({
    leg,
    mediaClock: farClock,
    codec: 'PCMU',
    payloadType: 0,
    telephoneEventPayloadType: te?.payloadType,
    remote: { address: audio?.address ?? '127.0.0.1', port: audio?.port ?? 0 },
  });
  cleanup.push(() => {
    endpoint.close();
  });
  return { channel, sip, endpoint, farClock };
}

describe('SipCallChannel: audio verified at the far end (sox)', () => {
  it('plays a sox-made 1 kHz WAV that the far end records as 1000 ± 5 Hz, 2 s ± 50 ms', async () => {
    const tonePath = join(dir, 'tone-2s.wav');
    tone(tonePath, 2);
    const { channel, sip, endpoint, farClock } = await call();
    const recPath = join(dir, 'far-end.wav');
    const recorder = new Recorder({
      mediaClock: farClock,
      destination: { path: recPath },
      inputs: 1,
      maxBufferMs: 400,
    });
    await recorder.start();
    endpoint.on('audio', (samples) => {
      recorder.write(0, samples);
    });
    const played = await channel.play({ url: pathToFileURL(tonePath).href });
    expect(played.reason).toBe('finished');
    expect(Math.abs(played.playedMs - 2000)).toBeLessThanOrEqual(20);
    await sleep(300); // the last frames in flight
    await recorder.stop();
    const { seconds, peakHz } = measure(recPath);
    console.log(`far end heard the prompt: ${seconds} s, peak ${peakHz} Hz`);
    expect(Math.abs(peakHz - 1000)).toBeLessThanOrEqual(5);
    expect(Math.abs(seconds - 2)).toBeLessThanOrEqual(0.05);
    await sip.bye();
    await expect.poll(() => channel.state).toBe('ended');
  });

  it('collects the RFC 4733 digits "19#" the far end sends, each exactly once', async () => {
    const { channel, sip, endpoint } = await call();
    const events: string[] = [];
    channel.on('dtmf', (e) => events.push(`${e.digit}:${e.source}`));
    const collecting = channel.collectDigits({ maxDigits: 3, firstDigitTimeoutMs: 10_000 });
    endpoint.sendDigits('19#');
    const result = await collecting;
    expect(result).toMatchObject({ digits: '19#', reason: 'max-digits' });
    await sleep(500); // a duplicate (a repeated end packet) would arrive by now
    expect(events).toEqual(['1:rfc4733', '9:rfc4733', '#:rfc4733']);
    await channel.hangup();
    await expect.poll(() => sip.state).toBe('terminated');
  });

  it('records a 3 s tone from the far end as a WAV of 3 s ± 100 ms in a memory sink', async () => {
    const tonePath = join(dir, 'tone-3s.wav');
    tone(tonePath, 3);
    const recordings = new Map<string, MemorySink>();
    const { channel, sip, endpoint } = await call({ recordings });
    const recording = channel.record({
      key: 'voicemail/demo/1',
      beep: false,
      silenceTimeoutMs: 400,
      maxDurationMs: 10_000,
    });
    const sent = endpoint.play(readFileSync(tonePath));
    await expect(sent).resolves.toBe('completed');
    const result = await recording;
    expect(result).toMatchObject({ key: 'voicemail/demo/1', reason: 'silence' });
    const sink = recordings.get('voicemail/demo/1');
    expect(sink?.writableFinished, 'the sink was ended').toBe(true);
    const bytes = sink?.bytes ?? Buffer.alloc(0);
    const wav = readWav(bytes);
    expect(wav).toMatchObject({ sampleRate: 8000, channels: 1, encoding: 'pcm16' });
    const seconds = wav.data.length / 2 / 8000;
    console.log(`recorded ${seconds} s (result ${result.durationMs} ms)`);
    expect(Math.abs(seconds - 3)).toBeLessThanOrEqual(0.1);
    expect(Math.abs(result.durationMs - seconds * 1000)).toBeLessThanOrEqual(20);
    // The streamed header declares an unknown length: give sox a complete one.
    const recPath = join(dir, 'voicemail.wav');
    writeFileSync(
      recPath,
      Buffer.concat([wavHeader({ encoding: 'pcm16', dataBytes: wav.data.length }), wav.data]),
    );
    const measured = measure(recPath);
    console.log(`recording measured by sox: ${measured.seconds} s, peak ${measured.peakHz} Hz`);
    expect(Math.abs(measured.peakHz - 1000)).toBeLessThanOrEqual(5);
    expect(Math.abs(measured.seconds - 3)).toBeLessThanOrEqual(0.1);
    await sip.bye();
    await expect.poll(() => channel.state).toBe('ended');
  });

  it('runs an IVR flow over SIP and RTP: menu, 9 pressed as RFC 4733, a 3 s voicemail, goodbye', async () => {
    const flow: IvrFlow = {
      id: 'main',
      start: 'menu',
      nodes: {
        menu: {
          type: 'menu',
          config: { prompt: 'menu', options: ['1', '9'] },
          outputs: {
            '1': 'thanks',
            '9': 'vm',
            'no-input': 'bye',
            'no-match': 'bye',
            'max-attempts': 'bye',
          },
        },
        vm: {
          type: 'record',
          config: {
            prompt: 'after-the-tone',
            maxDurationMs: 10_000,
            silenceTimeoutMs: 800,
            beep: false,
          },
          outputs: { recorded: 'thanks', 'no-audio': 'bye' },
        },
        thanks: { type: 'play', config: { prompt: 'thanks' } },
        bye: { type: 'hangup' },
      },
    };
    const tones: Record<string, number> = { menu: 400, 'after-the-tone': 500, thanks: 700 };
    const recordings = new Map<string, MemorySink>();
    const { channel, sip, endpoint } = await call({
      recordings,
      prompts: (source) =>
        'prompt' in source ? { toneHz: tones[source.prompt] ?? 300, durationMs: 600 } : undefined,
    });
    // The far end: presses 9 once the menu is heard, speaks (a 3 s tone) once the next prompt ended.
    let heard = 0;
    let lastAudio = 0;
    endpoint.on('audio', () => {
      heard++;
      lastAudio = Date.now();
    });
    const running = new IvrRuntime().run(flow, channel, { answer: false });
    const tonePath = join(dir, 'speech.wav');
    tone(tonePath, 3);
    const caller = (async () => {
      await expect.poll(() => heard, { timeout: 5000 }).toBeGreaterThan(5);
      endpoint.sendDigits('9');
      // The menu prompt is interrupted or over; wait for the 'after-the-tone' prompt and its end.
      const before = heard;
      await expect.poll(() => heard - before, { timeout: 5000 }).toBeGreaterThan(20);
      await expect.poll(() => Date.now() - lastAudio > 100, { timeout: 5000 }).toBe(true);
      expect(await endpoint.play(readFileSync(tonePath))).toBe('completed');
    })();
    const result = await running;
    await caller;
    expect(result.outcome).toBe('completed');
    expect(result.steps.map((s) => s.nodeId)).toEqual(['menu', 'vm', 'thanks']);
    await expect.poll(() => sip.state).toBe('terminated');
    expect(sip.end).toMatchObject({ cause: 'bye', by: 'remote' });
    const key = result.variables.recording ?? '';
    const sink = recordings.get(key);
    expect(sink, `no recording under '${key}'`).toBeDefined();
    const wav = readWav(sink?.bytes ?? Buffer.alloc(0));
    const recPath = join(dir, 'ivr-voicemail.wav');
    writeFileSync(
      recPath,
      Buffer.concat([wavHeader({ encoding: 'pcm16', dataBytes: wav.data.length }), wav.data]),
    );
    const measured = measure(recPath);
    console.log(
      `IVR voicemail: ${wav.data.length / 16000} s written, sox ${measured.seconds} s at ${measured.peakHz} Hz`,
    );
    expect(Math.abs(measured.peakHz - 1000)).toBeLessThanOrEqual(5);
    expect(Math.abs(wav.data.length / 16000 - 3)).toBeLessThanOrEqual(0.1);
  });
});
