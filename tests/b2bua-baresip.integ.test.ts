// Two real softphones (baresip) register with digest and call each other
// through the B2BUA, with media anchored by @voxmesh/media's
// InProcessMediaController. Each phone sends its own tone (a sox-generated
// WAV as its audio source) and records what it hears (sndfile); sox measures
// the recordings: each side must hear the other's frequency. CI installs
// baresip and sox; a missing binary fails this test.
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InProcessMediaController } from '@voxmesh/media';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
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

afterEach(async () => {
  await stopAllPeers();
  await sw?.stop();
  sw = undefined;
});

afterAll(async () => {
  await stopAllPeers();
  await sw?.stop();
  await media?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A baresip home for `user`: its tone as the audio source, calls recorded into `records`. */
async function phoneHome(
  user: '1001' | '1002',
  options: { autoAnswer: boolean; label: string; ctrlPort?: number },
) {
  const home = join(dir, `${options.label}-${user}`);
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
      ...(options.ctrlPort === undefined
        ? []
        : ['module ctrl_tcp.so', `ctrl_tcp_listen 127.0.0.1:${options.ctrlPort}`]),
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
  const callee = await phoneHome('1002', { autoAnswer: true, label: 'tones' });
  const caller = await phoneHome('1001', { autoAnswer: false, label: 'tones' });
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

/** baresip's ctrl_tcp: netstring-framed JSON commands, one answer each. */
async function control(port: number, command: string, params = ''): Promise<{ ok?: boolean }> {
  const socket = connect({ host: '127.0.0.1', port });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const json = JSON.stringify({ command, params, token: command });
    socket.write(`${Buffer.byteLength(json)}:${json},`);
    let buffer = '';
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`baresip did not answer ${command}`)),
        10_000,
      );
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        // Answers and events arrive as netstrings; take the response to ours.
        for (;;) {
          const colon = buffer.indexOf(':');
          const length = Number(buffer.slice(0, colon));
          if (colon < 0 || buffer.length < colon + 1 + length + 1) return;
          const body = buffer.slice(colon + 1, colon + 1 + length);
          buffer = buffer.slice(colon + 2 + length);
          const message = JSON.parse(body) as { response?: boolean; ok?: boolean };
          if (message.response === true) {
            clearTimeout(timer);
            resolve(message);
            return;
          }
        }
      });
    });
  } finally {
    socket.destroy();
  }
}

it('baresip puts the call on hold and resumes it: the re-INVITEs cross the B2BUA and audio comes back', async () => {
  sw = await startSwitch({ protocols: ['UDP'], users: USERS, algorithms: ['MD5'], media });
  const ctrlPort = await freePort();
  const callee = await phoneHome('1002', { autoAnswer: true, label: 'hold' });
  const caller = await phoneHome('1001', { autoAnswer: false, label: 'hold', ctrlPort });
  const registered = new Set<string>();
  sw.registrar.on('registered', (binding) => registered.add(binding.aor));
  const calleePeer = startPeer('baresip', ['-f', callee.home], { cwd: callee.home });
  const callerPeer = startPeer('baresip', ['-f', caller.home], { cwd: caller.home });
  await waitFor(
    'both phones registering',
    () => registered.has('sip:1001@127.0.0.1') && registered.has('sip:1002@127.0.0.1'),
    20_000,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}\n${callerPeer.output()}\n${calleePeer.output()}`, {
      cause: error,
    });
  });
  // Every re-INVITE the B2BUA sends to the callee, and the callee's answers.
  const toCallee: string[] = [];
  const fromCallee: string[] = [];
  sw.ua.on('message', (message, direction) => {
    const bLeg = sw?.bridges[0]?.bridge.bLeg;
    if (bLeg === undefined || message.callId !== bLeg.callId) return;
    if (direction === 'out' && message.isRequest() && message.method === 'INVITE') {
      toCallee.push(message.body.toString());
    }
    if (direction === 'in' && message.isResponse() && message.status === 200) {
      fromCallee.push(message.body.toString());
    }
  });
  expect(await control(ctrlPort, 'dial', 'sip:1002@127.0.0.1')).toMatchObject({ ok: true });
  const bridge = await sw.nthBridge(1, 20_000);
  expect(await bridge.outcome).toMatchObject({ answered: true });
  await new Promise((r) => setTimeout(r, 1_500));
  expect(await control(ctrlPort, 'hold')).toMatchObject({ ok: true });
  await waitFor(
    'the hold re-INVITE at the callee',
    () => toCallee.some((b) => /a=sendonly/.test(b)),
    10_000,
  );
  await waitFor(
    'the callee answering recvonly',
    () => fromCallee.some((b) => /a=recvonly/.test(b)),
    10_000,
  );
  // The callee, answering recvonly, stopped sending: nothing reaches its leg.
  const fromCalleeLeg = (): number =>
    media.legStats(bridge.bridge.sessionId, 'b1')?.packetsReceived ?? 0;
  await new Promise((r) => setTimeout(r, 500));
  const heldAt = fromCalleeLeg();
  expect(heldAt).toBeGreaterThan(50);
  await new Promise((r) => setTimeout(r, 1_500));
  expect(fromCalleeLeg() - heldAt).toBeLessThanOrEqual(5);
  expect(await control(ctrlPort, 'resume')).toMatchObject({ ok: true });
  await waitFor(
    'the resume re-INVITE at the callee',
    () => toCallee.length >= 2 && !/a=sendonly/.test(toCallee[toCallee.length - 1] ?? ''),
    10_000,
  );
  const resumedAt = fromCalleeLeg();
  await new Promise((r) => setTimeout(r, 2_500));
  // 50 packets/s again (generously: 2.5 s should bring 125).
  expect(fromCalleeLeg() - resumedAt).toBeGreaterThan(60);
  expect(await control(ctrlPort, 'hangup')).toMatchObject({ ok: true });
  expect(await bridge.ended).toMatchObject({ by: 'caller', reason: 'bye' });
  await callerPeer.stop();
  await calleePeer.stop();
  // The callee heard the caller's tone.
  const atCallee = measure(await heard(callee.records));
  expect(Math.abs(atCallee.peakHz - TONES['1001'])).toBeLessThanOrEqual(5);
});
