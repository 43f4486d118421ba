// A trunk to a carrier played by SIPp: the trunk registers answering the
// carrier's 401 challenge, and a call from a SIPp phone goes out through the
// B2BUA and the trunk, answering the carrier's challenge to the INVITE; SIPp
// checks both sets of credentials itself (verifyauth). A wrong password is refused by the carrier
// and reported by the trunk. CI installs SIPp; a missing binary fails these.
import { fileURLToPath } from 'node:url';
import { type B2buaTarget, Trunk } from '@voxmesh/sip';
import { afterAll, afterEach, expect, it } from 'vitest';
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

const SIPP = '/usr/bin/sipp';
const FIXTURES = fileURLToPath(new URL('./fixtures/sipp/', import.meta.url));

let sw: Switch | undefined;
let trunk: Trunk | undefined;

afterEach(async () => {
  await trunk?.stop();
  trunk = undefined;
  await stopAllPeers();
  await sw?.stop();
  sw = undefined;
});

afterAll(async () => {
  await stopAllPeers();
});

/** SIPp as the carrier, for `calls` scenario runs (a registration is one, a call another). */
async function startCarrier(calls: number): Promise<{ port: number; peer: Peer }> {
  const port = await freePort();
  const peer = startPeer(SIPP, [
    '-sf',
    `${FIXTURES}b2bua-carrier.xml`,
    ...sippArgs({ port, timeoutS: 40 }),
    '-m',
    String(calls),
  ]);
  await waitForBound('UDP', port, { exited: peer.exited });
  return { port, peer };
}

function once<T>(what: string, subscribe: (done: (value: T) => void) => void, timeoutMs = 20_000) {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not happen in time`)), timeoutMs);
    subscribe((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

it('SIPp is installed', () => {
  expect(requireBinary(SIPP)).toMatch(/SIPp v3/);
});

it('registers with the carrier through its digest challenge, then calls out through it', async () => {
  const carrier = await startCarrier(2);
  const targets: B2buaTarget[] = [];
  sw = await startSwitch({ route: () => targets });
  trunk = new Trunk({
    ua: sw.ua,
    name: 'carrier',
    domain: `127.0.0.1:${carrier.port}`,
    username: 'trunk-acct',
    password: 'carrier-secret-5',
    // The registration must not be refreshed during the test.
    expiresS: 3600,
  });
  const registered = once<unknown>('the trunk registering', (done) =>
    trunk!.once('registered', done),
  );
  await trunk.start();
  await registered;
  expect(trunk.registered).toBe(true);

  targets.push(trunk.target('+4930123456'));
  const port = await freePort();
  const caller = await runPeer(
    SIPP,
    [
      '-sn',
      'uac',
      `127.0.0.1:${sw.port('UDP')}`,
      '-s',
      '+4930123456',
      ...sippArgs({ port, timeoutS: 30 }),
      '-m',
      '1',
      '-d',
      '300',
    ],
    { timeoutMs: 40_000 },
  );
  expect(caller.code, caller.output + carrier.peer.output()).toBe(0);
  const [bridge] = sw.bridges;
  const outcome = await bridge!.outcome;
  expect(outcome.answered).toBe(true);
  // The carrier saw the number in the Request-URI and answered only after its challenge.
  expect(outcome.answered && outcome.bLeg.invite.uri.toString()).toMatch(/^sip:\+4930123456@/);
  expect(outcome.answered && outcome.bLeg.invite.headers.has('authorization')).toBe(true);
  expect(await bridge!.ended).toMatchObject({ by: 'caller', reason: 'bye' });
  // Both scenario runs (registration and call) passed SIPp's own credential checks.
  const exit = await carrier.peer.exited;
  expect(exit.code, carrier.peer.output()).toBe(0);
});

it('a wrong password: the carrier refuses the registration and the trunk reports it', async () => {
  const carrier = await startCarrier(1);
  sw = await startSwitch();
  trunk = new Trunk({
    ua: sw.ua,
    name: 'carrier',
    domain: `127.0.0.1:${carrier.port}`,
    username: 'trunk-acct',
    password: 'not-the-secret',
    retryInitialMs: 60_000,
  });
  const failed = once<unknown>('the trunk failing', (done) => trunk!.once('failed', done));
  await trunk.start();
  await failed;
  expect(trunk.registered).toBe(false);
  const exit = await carrier.peer.exited;
  expect(exit.code).not.toBe(0);
});
