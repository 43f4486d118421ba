// sipvicious against a switch whose B2BUA requires callers to authenticate:
// svwar scanning extensions with INVITE and REGISTER finds none (every
// extension, known or not, is answered with the same challenge), nothing is
// ever bridged to the phone behind it, and svcrack is throttled so that the
// source is refused on the INVITE path as well. CI installs sipvicious; a
// missing binary fails these tests.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { B2buaTarget, SipMessage } from '@voxmesh/sip';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import {
  type Peer,
  freePort,
  requireBinary,
  runPeer,
  sippArgs,
  startPeer,
  stopAllPeers,
  waitForBound,
} from './helpers/peers.js';
import { type Switch, startSwitch } from './helpers/switch.js';

const USERS = new Map([
  ['1001', 'n0t-in-any-wordlist-7'],
  ['1002', 'also-n0t-in-a-list-9'],
]);

let dir: string;
let sw: Switch | undefined;
let callee: { port: number; peer: Peer; target: B2buaTarget } | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voxmesh-scanners-'));
});

afterEach(async () => {
  await stopAllPeers();
  await sw?.stop();
  sw = undefined;
});

afterAll(async () => {
  await stopAllPeers();
  await rm(dir, { recursive: true, force: true });
});

/** A switch that authenticates callers and would bridge every call to a SIPp uas. */
async function openSwitch(): Promise<Switch> {
  const port = await freePort();
  const peer = startPeer('/usr/bin/sipp', ['-sn', 'uas', ...sippArgs({ port, timeoutS: 120 })]);
  await waitForBound('UDP', port, { exited: peer.exited });
  callee = { port, peer, target: { uri: `sip:service@127.0.0.1:${port}` } };
  const target = callee.target;
  return startSwitch({ users: USERS, authenticateCallers: true, route: () => [target] });
}

async function scan(method: 'INVITE' | 'REGISTER') {
  const home = await mkdtemp(join(dir, 'svwar-'));
  return runPeer(
    'svwar',
    ['-m', method, '-e', '990-1010', '-p', String(sw!.port('UDP')), '127.0.0.1'],
    {
      cwd: home,
      timeoutMs: 50_000,
      env: { ...process.env, HOME: home },
    },
  );
}

it('svwar and svcrack are installed', () => {
  expect(requireBinary('svwar', ['--version'])).toMatch(/\d+\.\d+/);
  expect(requireBinary('svcrack', ['--version'])).toMatch(/\d+\.\d+/);
});

it.each(['INVITE', 'REGISTER'] as const)(
  'svwar scanning with %s finds no extensions, and no call is bridged',
  async (method) => {
    sw = await openSwitch();
    const result = await scan(method);
    const output = result.output;
    expect(result.timedOut, output).toBe(false);
    // svwar probes a random extension first; answered like every other, it
    // cannot tell which exist and gives up. Found ones would be table rows.
    expect(output).toContain('authentication request for an unknown extension');
    expect(output).toContain('found nothing');
    expect(output).not.toMatch(/\|\s*\d{3,4}\s*\|/);
    expect(sw.bridges).toHaveLength(0);
    if (method === 'INVITE') {
      // Every INVITE that got through was challenged (401), never answered.
      expect(sw.refused.length).toBeGreaterThan(0);
      expect(new Set(sw.refused)).toEqual(new Set([401]));
    }
    expect(sw.ua.calls).toHaveLength(0);
  },
);

it('svcrack is throttled before it reaches the password, and the source is then refused INVITEs too', async () => {
  sw = await openSwitch();
  const home = await mkdtemp(join(dir, 'svcrack-'));
  // The right password sits at line 40: only reachable without throttling.
  const words = Array.from({ length: 39 }, (_, i) => `guess${i}`);
  words.push(USERS.get('1001')!);
  const dictionary = join(home, 'words.txt');
  await writeFile(dictionary, words.join('\n') + '\n');
  // svcrack keeps probing once it is refused; stop it after 20 probes
  // without credentials, and count the guesses it got to make.
  let guesses = 0;
  let probes = 0;
  let enough!: () => void;
  const stopWhen = new Promise<void>((resolve) => (enough = resolve));
  const onMessage = (message: SipMessage): void => {
    if (!message.isRequest() || message.method !== 'REGISTER') return;
    if (message.headers.has('authorization')) guesses++;
    else if (++probes >= 20) enough();
  };
  sw.transport.on('message', onMessage);
  let output: string;
  try {
    const result = await runPeer(
      'svcrack',
      ['-u', '1001', '-d', dictionary, '-p', String(sw.port('UDP')), '127.0.0.1'],
      { cwd: home, timeoutMs: 50_000, env: { ...process.env, HOME: home }, stopWhen },
    );
    output = result.output;
  } finally {
    sw.transport.off('message', onMessage);
  }
  expect(probes, 'svcrack stopped probing by itself').toBeGreaterThanOrEqual(20);
  expect(guesses).toBeGreaterThanOrEqual(10);
  expect(guesses).toBeLessThan(20);
  expect(output).not.toContain(USERS.get('1001')!);
  expect(await sw.registrar.lookup('sip:1001@127.0.0.1')).toEqual([]);

  // The same source now calls with the right credentials: refused (403), not bridged.
  const port = await freePort();
  const caller = await runPeer(
    '/usr/bin/sipp',
    [
      '-sn',
      'uac',
      `127.0.0.1:${sw.port('UDP')}`,
      '-s',
      '1002',
      '-au',
      '1001',
      '-ap',
      USERS.get('1001')!,
      ...sippArgs({ port, timeoutS: 20 }),
      '-m',
      '1',
    ],
    { timeoutMs: 30_000 },
  );
  expect(caller.code).not.toBe(0);
  expect(sw.refused).toContain(403);
  expect(sw.bridges).toHaveLength(0);
});
