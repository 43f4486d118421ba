// End to end with real softphones: two baresip instances register as 1001
// and 1002 with the demo tenant's generated passwords; 1001 calls 1002
// (digest-challenged INVITE, auto answer), each sends its own tone (1001:
// 700 Hz, 1002: 1100 Hz) and records what it hears; the recordings are
// measured at each far end, and the call's CDR carries the talk time.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../src/config.js';
import { decodeWav } from '@voxmesh/media';
import { startServer, type TestServer } from './helpers.js';
import { peakFrequency } from './audio.js';
import { freePort, run } from './peers.js';

let t: TestServer;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voxmesh-e2e-'));
  t = await startServer({ sip: { ...DEFAULT_CONFIG.sip, udpPort: 0, tcpPort: 0, wsPort: 0 } });
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The samples after the first loud one, i.e. once audio started to arrive. */
function audible(samples: Int16Array): Int16Array {
  const start = samples.findIndex((s) => Math.abs(s) > 2000);
  return start < 0 ? new Int16Array(0) : samples.subarray(start);
}

async function tone(path: string, hz: number): Promise<void> {
  const result = await run(
    'sox',
    [
      '-n',
      '-r',
      '8000',
      '-c',
      '1',
      '-b',
      '16',
      path,
      'synth',
      '30',
      'sine',
      String(hz),
      'vol',
      '0.5',
    ],
    {
      cwd: dir,
      timeoutMs: 20_000,
    },
  );
  expect(result.code, result.stderr).toBe(0);
}

async function baresipHome(
  name: string,
  extension: string,
  toneHz: number,
  extra: string,
): Promise<string> {
  const home = join(dir, name);
  await mkdir(join(home, 'rec'), { recursive: true });
  await tone(join(home, 'tone.wav'), toneHz);
  const udp = t.server.addresses.sip.find((l) => l.protocol === 'UDP')!.port;
  const pass = t.server.seeded!.users.find((u) => u.extension === extension)!.password;
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
      'module sndfile.so',
      `audio_source aufile,${join(home, 'tone.wav')}`,
      'audio_player aubridge,sink',
      `snd_path ${join(home, 'rec')}`,
      '',
    ].join('\n'),
  );
  await writeFile(
    join(home, 'accounts'),
    `<sip:${extension}@demo.local>;auth_pass=${pass};outbound="sip:127.0.0.1:${udp}";regint=300${extra}\n`,
  );
  return home;
}

function start(
  home: string,
  args: string[],
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn('baresip', ['-f', home, ...args], {
    cwd: home,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', (error) =>
      reject(new Error(`baresip could not run (is it installed?): ${error.message}`)),
    );
    child.on('exit', (code) => resolve(code));
  });
  return { child, output: () => out, exited };
}

/** The recording of what a baresip heard (sndfile writes `-dec` for decoded, received audio). */
async function heard(home: string): Promise<{ sampleRate: number; samples: Int16Array }> {
  const files = (await readdir(join(home, 'rec'))).filter((f) => f.endsWith('.wav'));
  const decoded = files.find((f) => /dec/.test(f));
  if (decoded === undefined)
    throw new Error(`no recording of received audio in ${files.join(', ')}`);
  return decodeWav(await readFile(join(home, 'rec', decoded)));
}

describe('two baresip phones', () => {
  it("1001 calls 1002: each hears the other one's tone, and the CDR has the talk time", async () => {
    const homeB = await baresipHome('b', '1002', 1100, ';answermode=auto');
    const homeA = await baresipHome('a', '1001', 700, '');
    const registered = new Promise<void>((resolve) => {
      const on = (binding: { aor: string }): void => {
        if (binding.aor === 'sip:1002@demo.local') {
          t.server.registrar.off('registered', on);
          resolve();
        }
      };
      t.server.registrar.on('registered', on);
    });
    const b = start(homeB, ['-t', '40']);
    await registered;
    const a = start(homeA, ['-e', '/dial sip:1002@demo.local', '-t', '9']);
    expect(await a.exited, a.output()).toBe(0);
    // A hung up when it quit; B sees the BYE, then is stopped.
    await new Promise((r) => setTimeout(r, 1000));
    b.child.kill('SIGTERM');
    await b.exited;

    const atB = await heard(homeB);
    const atA = await heard(homeA);
    const fromA = audible(atB.samples);
    const fromB = audible(atA.samples);
    expect(fromA.length / atB.sampleRate, a.output() + b.output()).toBeGreaterThan(3);
    expect(fromB.length / atA.sampleRate).toBeGreaterThan(3);
    const middle = (s: Int16Array, rate: number) => s.subarray(rate, rate * 2);
    expect(
      Math.abs(peakFrequency(middle(fromA, atB.sampleRate), atB.sampleRate) - 700),
    ).toBeLessThanOrEqual(10);
    expect(
      Math.abs(peakFrequency(middle(fromB, atA.sampleRate), atA.sampleRate) - 1100),
    ).toBeLessThanOrEqual(10);

    await t.server.history.flush();
    const { items } = await t.server.historyStore.queryCdrs({ tenantId: 'demo', user: '1002' });
    expect(items).toHaveLength(1);
    const cdr = items[0]!;
    expect(cdr).toMatchObject({
      disposition: 'answered',
      from: '1001',
      to: '1002',
      direction: 'internal',
    });
    // The talk time is what B heard, within a second (setup and teardown of the media).
    const heardMs = (atB.samples.length / atB.sampleRate) * 1000;
    expect(
      Math.abs(cdr.talkMs - heardMs),
      `talk ${cdr.talkMs} ms, heard ${heardMs} ms`,
    ).toBeLessThan(1500);
  });
});
