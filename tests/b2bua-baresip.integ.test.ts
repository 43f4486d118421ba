// Two real softphones (baresip) register with digest and call each other
// through the B2BUA, with media anchored by @voxmesh/media's
// InProcessMediaController. Each phone sends its own tone (a sox-generated
// WAV as its audio source) and records what it hears (sndfile); sox measures
// the recordings: each side must hear the other's frequency. CI installs
// baresip and sox; a missing binary fails this test.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessMediaController } from '@voxmesh/media';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { peakFrequency } from '../packages/media/test/helpers/sox.js';
import {
  type Peer,
  freePort,
  requireBinary,
  startPeer,
  stopAllPeers,
} from '../packages/sip/test/helpers/peers.js';
import { type Switch, startSwitch } from '../packages/sip/test/helpers/switch.js';

const USERS = new Map([
  ['1001', 'first-phone-pass-1'],
  ['1002', 'second-phone-pass-2'],
]);
const TONES = { '1001': 600, '1002': 1000 } as const;

let dir: string;
let media: InProcessMediaController;
let sw: Switch | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voxmesh-baresip-'));
  media = new InProcessMediaController();
  await media.start();
});

afterAll(async () => {
  await stopAllPeers();
  await sw?.stop();
  await media?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A baresip home for `user`: its tone as the audio source, calls recorded into `records`. */
async function phoneHome(user: '1001' | '1002', options: { autoAnswer: boolean }) {
  const home = join(dir, user);
  const records = join(home, 'records');
  await mkdir(records, { recursive: true });
  const tone = join(home, 'tone.wav');
  const sox = spawnSync('sox', [
    '-n',
    '-r',
    '8000',
    '-c',
    '1',
    '-b',
    '16',
    tone,
    'synth',
    '20',
    'sine',
    String(TONES[user]),
    'vol',
    '0.5',
  ]);
  expect(sox.status, `sox could not make the tone: ${sox.stderr.toString()}`).toBe(0);
  const port = await freePort();
  await writeFile(
    join(home, 'config'),
    [
      'poll_method epoll',
      `sip_listen 127.0.0.1:${port}`,
      'net_interface 127.0.0.1',
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module aufile.so',
      'module aubridge.so',
      'module sndfile.so',
      'module account.so',
      'module menu.so',
      'module uuid.so',
      `audio_source aufile,${tone}`,
      'audio_player aubridge,sink',
      `snd_path ${records}`,
      '',
    ].join('\n'),
  );
  if (sw === undefined) throw new Error('start the switch first');
  const outbound = `sip:127.0.0.1:${sw.port('UDP')}`;
  await writeFile(
    join(home, 'accounts'),
    `<sip:${user}@127.0.0.1>;auth_pass=${USERS.get(user) ?? ''};outbound="${outbound}";regint=300` +
      `${options.autoAnswer ? ';answermode=auto' : ''}\n`,
  );
  return { home, records };
}

/** The recording of what a phone heard (sndfile's decoded stream). */
async function heard(records: string): Promise<string> {
  const files = await readdir(records);
  const decoded = files.find((f) => f.endsWith('-dec.wav'));
  if (decoded === undefined) throw new Error(`no decoded recording in ${files.join(', ')}`);
  return join(records, decoded);
}

/** The tone's frequency in a recording, silence before and after trimmed away. */
function measure(file: string): { peakHz: number; seconds: number } {
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
  return { peakHz, seconds };
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it('baresip and sox are installed', () => {
  expect(requireBinary('baresip', ['-h'])).toMatch(/baresip/i);
  expect(requireBinary('sox', ['--version'])).toMatch(/SoX/);
});

it('baresip 1001 calls baresip 1002 through the B2BUA; each hears the other’s tone through the anchored media', async () => {
  sw = await startSwitch({ protocols: ['UDP'], users: USERS, algorithms: ['MD5'], media });
  const callee = await phoneHome('1002', { autoAnswer: true });
  const caller = await phoneHome('1001', { autoAnswer: false });
  const registered = new Set<string>();
  sw.registrar.on('registered', (binding) => registered.add(binding.aor));

  const calleePeer: Peer = startPeer('baresip', ['-f', callee.home], { cwd: callee.home });
  await waitFor('1002 registering', () => registered.has('sip:1002@127.0.0.1'), 20_000).catch(
    (error: unknown) => {
      throw new Error(`${String(error)}\n${calleePeer.output()}`, { cause: error });
    },
  );
  // The caller dials at once and quits after 8 s, hanging up.
  const callerPeer = startPeer(
    'baresip',
    ['-f', caller.home, '-e', '/dial sip:1002@127.0.0.1', '-t', '8'],
    { cwd: caller.home },
  );
  const bridge = await sw.nthBridge(1, 20_000);
  const outcome = await bridge.outcome;
  expect(outcome.answered, callerPeer.output() + calleePeer.output()).toBe(true);
  // The media plane anchored the call: the callee was offered the
  // controller's port, not the caller's, and RTP flowed on the caller's leg.
  const audioPort = (body: Buffer | string | undefined): string | undefined =>
    /^m=audio (\d+) /m.exec(body?.toString() ?? '')?.[1];
  const callerPort = audioPort(bridge.bridge.aLeg.invite.body);
  const calleeOfferPort = audioPort(bridge.bridge.bLeg?.invite.body);
  expect(callerPort).toBeDefined();
  expect(calleeOfferPort).toBeDefined();
  expect(calleeOfferPort).not.toBe(callerPort);
  await new Promise((r) => setTimeout(r, 2_000));
  expect(media.legStats(bridge.bridge.sessionId, 'a')?.packetsReceived).toBeGreaterThan(50);
  const ended = await bridge.ended;
  expect(ended).toMatchObject({ by: 'caller', reason: 'bye' });
  await callerPeer.exited;
  await calleePeer.stop();

  const atCallee = measure(await heard(callee.records));
  const atCaller = measure(await heard(caller.records));
  console.log(
    `baresip through the B2BUA: 1002 heard ${atCallee.peakHz} Hz for ${atCallee.seconds} s,` +
      ` 1001 heard ${atCaller.peakHz} Hz for ${atCaller.seconds} s`,
  );
  expect(Math.abs(atCallee.peakHz - TONES['1001'])).toBeLessThanOrEqual(5);
  expect(Math.abs(atCaller.peakHz - TONES['1002'])).toBeLessThanOrEqual(5);
  // Several seconds of audio each way, not a stray packet.
  expect(atCallee.seconds).toBeGreaterThan(3);
  expect(atCaller.seconds).toBeGreaterThan(3);
});
