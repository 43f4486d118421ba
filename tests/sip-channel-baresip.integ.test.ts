// A real softphone (baresip) calls a SipCallChannel served by our UserAgent,
// with the media terminated by InProcessMediaController. The channel plays a
// 600 Hz tone, collects two digits that baresip sends (its `sndcode`
// command over ctrl_tcp, which baresip sends as RFC 4733 events), records
// 3 s of baresip's audio source (a sox-made 1 kHz tone), then hangs up. sox
// measures what each side heard. CI installs baresip and sox; a missing
// binary fails this test.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { InProcessMediaController, readWav, wavHeader } from '@voxmesh/media';
import { MemorySink } from '@voxmesh/media/testing';
import {
  SipCallChannel,
  SipTransport,
  UserAgent,
  userAgentTransport,
  type Call,
} from '@voxmesh/sip';
import {
  freePort,
  requireBinary,
  startPeer,
  stopAllPeers,
} from '../packages/sip/test/helpers/peers.js';

let dir: string;
let media: InProcessMediaController;
let ua: UserAgent;
let transport: SipTransport;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voxmesh-channel-baresip-'));
  media = new InProcessMediaController();
  await media.start();
  transport = new SipTransport({ listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }] });
  await transport.start();
  ua = new UserAgent({
    transport: userAgentTransport(transport),
    uri: 'sip:ivr@127.0.0.1',
    sessionTimer: false,
  });
  await ua.start();
});

afterAll(async () => {
  await stopAllPeers();
  await ua?.stop();
  await transport?.stop();
  await media?.stop();
  await rm(dir, { recursive: true, force: true });
});

function peakFrequency(statOutput: string): number {
  let best = 0;
  let bestPower = -Infinity;
  for (const line of statOutput.split('\n')) {
    const m = /^\s*([\d.]+)\s+([\d.eE+-]+)\s*$/.exec(line);
    if (!m) continue;
    if (Number(m[2]) > bestPower) {
      bestPower = Number(m[2]);
      best = Number(m[1]);
    }
  }
  return best;
}

/** The length (s) and peak frequency (Hz) of a WAV's non-silent part, by sox. */
function measure(file: string): { seconds: number; peakHz: number } {
  const trimmed = `${file}.trimmed.wav`;
  const trim = spawnSync('sox', [
    file,
    trimmed,
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
  expect(trim.status, trim.stderr.toString()).toBe(0);
  const seconds = Number(spawnSync('soxi', ['-D', trimmed]).stdout.toString());
  const peakHz = peakFrequency(
    spawnSync('sox', [trimmed, '-n', 'stat', '-freq']).stderr.toString(),
  );
  return { seconds, peakHz };
}

/** Sends one ctrl_tcp command (netstring-framed JSON) to baresip, retrying the connection until it listens. */
async function control(port: number, command: string, params: string): Promise<void> {
  const json = JSON.stringify({ command, params, token: `t${Date.now()}` });
  for (let attempt = 0; ; attempt++) {
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = createConnection({ host: '127.0.0.1', port }, () => {
          socket.end(`${Buffer.byteLength(json)}:${json},`, () => resolve());
        });
        socket.once('error', reject);
      });
      return;
    } catch (error) {
      if (attempt >= 50) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

it('baresip and sox are installed', () => {
  expect(requireBinary('baresip', ['-h'])).toMatch(/baresip/i);
  expect(requireBinary('sox', ['--version'])).toMatch(/SoX/);
});

it('baresip calls the channel: hears its prompt, its RFC 4733 digits are collected once each, its audio is recorded', async () => {
  const home = join(dir, 'phone');
  const records = join(home, 'records');
  await mkdir(records, { recursive: true });
  const source = join(home, 'tone.wav');
  const sox = spawnSync('sox', [
    '-n',
    '-r',
    '8000',
    '-c',
    '1',
    '-b',
    '16',
    source,
    'synth',
    '30',
    'sine',
    '1000',
    'vol',
    '0.5',
  ]);
  expect(sox.status, sox.stderr.toString()).toBe(0);
  const sipPort = await freePort();
  const ctrlPort = await freePort();
  await writeFile(
    join(home, 'config'),
    [
      'poll_method epoll',
      `sip_listen 127.0.0.1:${sipPort}`,
      'net_interface 127.0.0.1',
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module aufile.so',
      'module aubridge.so',
      'module sndfile.so',
      'module account.so',
      'module menu.so',
      'module uuid.so',
      'module ctrl_tcp.so',
      `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
      `audio_source aufile,${source}`,
      'audio_player aubridge,sink',
      `snd_path ${records}`,
      '',
    ].join('\n'),
  );
  await writeFile(join(home, 'accounts'), '<sip:caller@127.0.0.1>;regint=0\n');

  const sink = new MemorySink();
  const digits: string[] = [];
  const incoming = new Promise<Call>((resolve) => ua.once('invite', resolve));
  const serverPort = transport.listening[0]?.local.port ?? 0;
  const phone = startPeer(
    'baresip',
    ['-f', home, '-e', `/dial sip:100@127.0.0.1:${serverPort}`, '-t', '40'],
    { cwd: home },
  );
  const call = await Promise.race([
    incoming,
    phone.exited.then(() => {
      throw new Error(`baresip exited before calling:\n${phone.output()}`);
    }),
  ]);
  const channel = new SipCallChannel({
    call,
    media,
    tenantId: 'demo',
    recordingSink: () => sink,
  });
  channel.on('dtmf', (e) => digits.push(`${e.digit}:${e.source}`));
  await channel.answer();
  const played = await channel.play({ toneHz: 600, durationMs: 2000 });
  expect(played.reason).toBe('finished');
  const collecting = channel.collectDigits({ maxDigits: 2, firstDigitTimeoutMs: 15_000 });
  await control(ctrlPort, 'sndcode', '4');
  await new Promise((r) => setTimeout(r, 400));
  await control(ctrlPort, 'sndcode', '2');
  const collected = await collecting;
  expect(collected, phone.output()).toMatchObject({ digits: '42', reason: 'max-digits' });
  const recorded = await channel.record({ key: 'vm', beep: false, maxDurationMs: 3000 });
  expect(recorded).toMatchObject({ reason: 'max-duration', durationMs: 3000 });
  await new Promise((r) => setTimeout(r, 300));
  expect(digits).toEqual(['4:rfc4733', '2:rfc4733']);
  await channel.hangup();
  await phone.stop();

  // What the channel recorded: baresip's 1 kHz source, 3 s.
  const wav = readWav(sink.bytes);
  const ours = join(dir, 'recorded.wav');
  await writeFile(
    ours,
    Buffer.concat([wavHeader({ encoding: 'pcm16', dataBytes: wav.data.length }), wav.data]),
  );
  const atChannel = measure(ours);
  // What baresip heard (sndfile's decoded stream): our 600 Hz prompt.
  const decoded = (await readdir(records)).find((f) => f.endsWith('-dec.wav'));
  expect(decoded, `baresip recorded nothing:\n${phone.output()}`).toBeDefined();
  const atPhone = measure(join(records, decoded ?? ''));
  console.log(
    `baresip heard ${atPhone.peakHz} Hz for ${atPhone.seconds} s; the channel recorded ${atChannel.peakHz} Hz for ${atChannel.seconds} s`,
  );
  expect(Math.abs(atPhone.peakHz - 600)).toBeLessThanOrEqual(5);
  // baresip's jitter buffer drops the first packets while it fills (about
  // 100 ms here); our own far end in sip-channel.integ.test.ts hears 2 s ± 50 ms.
  expect(atPhone.seconds).toBeGreaterThanOrEqual(1.8);
  expect(atPhone.seconds).toBeLessThanOrEqual(2.05);
  expect(Math.abs(atChannel.peakHz - 1000)).toBeLessThanOrEqual(5);
  expect(Math.abs(atChannel.seconds - 3)).toBeLessThanOrEqual(0.1);
});
