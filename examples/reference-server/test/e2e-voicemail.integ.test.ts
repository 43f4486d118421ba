// End to end through the IVR: baresip calls the demo DID, hears the menu,
// presses 9 (RFC 4733, sent by its `sndcode` command over ctrl_tcp), and
// leaves a message: 3 s of an 800 Hz tone between stretches of silence. The
// message is fetched through the admin API as a WAV whose tone lasts 3 s, a
// `voicemail` activity and the call's CDR (with its IVR path) are in history.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav } from '@voxmesh/media';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../src/config.js';
import { peakFrequency } from './audio.js';
import { api, startServer, type TestServer } from './helpers.js';
import { freePort, run } from './peers.js';

let t: TestServer;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voxmesh-vm-'));
  t = await startServer({ sip: { ...DEFAULT_CONFIG.sip, udpPort: 0, tcpPort: 0, wsPort: 0 } });
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

async function sox(args: string[]): Promise<void> {
  const result = await run('sox', args, { cwd: dir, timeoutMs: 20_000 });
  expect(result.code, result.stderr).toBe(0);
}

/** Sends one ctrl_tcp command (netstring-framed JSON) to baresip. */
async function control(port: number, command: string, params = ''): Promise<void> {
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

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('DID → IVR → 9 → voicemail', () => {
  it('records a 3 s message that the admin API serves as a WAV', async () => {
    const home = join(dir, 'caller');
    await mkdir(home, { recursive: true });
    // What the caller sends: 6 s of silence (menu, the key, the greeting), 3 s of 800 Hz, silence.
    await sox([
      '-n',
      '-r',
      '8000',
      '-c',
      '1',
      '-b',
      '16',
      join(home, 'lead.wav'),
      'trim',
      '0',
      '6',
    ]);
    await sox([
      '-n',
      '-r',
      '8000',
      '-c',
      '1',
      '-b',
      '16',
      join(home, 'tone.wav'),
      'synth',
      '3',
      'sine',
      '800',
      'vol',
      '0.5',
    ]);
    await sox([
      '-n',
      '-r',
      '8000',
      '-c',
      '1',
      '-b',
      '16',
      join(home, 'tail.wav'),
      'trim',
      '0',
      '20',
    ]);
    await sox([
      join(home, 'lead.wav'),
      join(home, 'tone.wav'),
      join(home, 'tail.wav'),
      join(home, 'message.wav'),
    ]);
    const ctrlPort = await freePort();
    const udp = t.server.addresses.sip.find((l) => l.protocol === 'UDP')!.port;
    await writeFile(
      join(home, 'config'),
      [
        'poll_method epoll',
        `sip_listen 127.0.0.1:${await freePort()}`,
        'module_path /usr/lib/baresip/modules',
        'module g711.so',
        'module account.so',
        'module menu.so',
        'module uuid.so',
        'module aufile.so',
        'module aubridge.so',
        'module ctrl_tcp.so',
        `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
        `audio_source aufile,${join(home, 'message.wav')}`,
        'audio_player aubridge,sink',
        '',
      ].join('\n'),
    );
    // A caller from outside: no registration, the DID is not challenged.
    await writeFile(
      join(home, 'accounts'),
      `<sip:+4930555@outside.example>;outbound="sip:127.0.0.1:${udp}";regint=0\n`,
    );
    const child = spawn(
      'baresip',
      ['-f', home, '-e', '/dial sip:+15550100@demo.local', '-t', '60'],
      {
        cwd: home,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve, reject) => {
      child.on('error', (error) =>
        reject(new Error(`baresip could not run (is it installed?): ${error.message}`)),
      );
      child.on('exit', (code) => resolve(code));
    });

    await waitFor('the IVR to answer', () => /established/i.test(output), 20_000);
    const answeredAt = Date.now();
    await new Promise((r) => setTimeout(r, 2000)); // the menu prompt is 1.05 s
    await control(ctrlPort, 'sndcode', '9');
    // The tone ends 9 s after the answer; hang up at 11 s.
    await new Promise((r) => setTimeout(r, Math.max(0, answeredAt + 11_000 - Date.now())));
    await control(ctrlPort, 'hangup');
    child.kill('SIGTERM');
    await exited;

    // The message, through the admin API.
    const key = t.server.seeded!.apiKey;
    let list: { id: string; durationMs: number; from: string }[] = [];
    const deadline = Date.now() + 15_000;
    while (list.length === 0 && Date.now() < deadline) {
      list = (await api(t.base, 'GET', '/v1/tenants/demo/users/u1001/voicemails', { key }))
        .body as typeof list;
      if (list.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(list, output).toHaveLength(1);
    expect(list[0]!.from).toBe('+4930555');
    const response = await fetch(
      `${t.base}/v1/tenants/demo/users/u1001/voicemails/${list[0]!.id}`,
      {
        headers: { authorization: `Bearer ${key}` },
      },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('audio/wav');
    const wav = decodeWav(new Uint8Array(await response.arrayBuffer()));
    const loud = [...wav.samples.keys()].filter((i) => Math.abs(wav.samples[i]!) > 3000);
    const toneSeconds = (loud[loud.length - 1]! - loud[0]!) / wav.sampleRate;
    expect(Math.abs(toneSeconds - 3), `tone lasted ${toneSeconds} s`).toBeLessThan(0.15);
    const start = loud[0]!;
    const hz = peakFrequency(wav.samples.subarray(start + 4000, start + 12000), wav.sampleRate);
    expect(Math.abs(hz - 800)).toBeLessThanOrEqual(10);
    // The recording began before the tone and ran to the hang-up.
    expect(wav.samples.length / wav.sampleRate).toBeGreaterThan(4);
    expect(
      Math.abs(list[0]!.durationMs - (wav.samples.length / wav.sampleRate) * 1000),
    ).toBeLessThan(50);

    // History: the voicemail activity and the CDR with the IVR path.
    await t.server.history.flush();
    const activities = await t.server.historyStore.queryActivities({ tenantId: 'demo' });
    expect(activities.items.map((a) => a.type)).toContain('voicemail');
    const { items } = await t.server.historyStore.queryCdrs({
      tenantId: 'demo',
      number: '+15550100',
    });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      direction: 'inbound',
      disposition: 'answered',
      from: '+4930555',
    });
    expect(items[0]!.ivrPath).toEqual(['main-menu/menu', 'main-menu/voicemail']);
    expect(items[0]!.recordings).toHaveLength(1);
  });
});
