// The B2BUA against real SIPp peers on loopback, over UDP and TCP: calls
// bridged uac → B2BUA → uas, a registered SIPp phone reached through the
// location service, CANCEL before the answer, BYE from the callee, failover
// from a busy callee, and retransmissions under loss. CI installs SIPp; a
// missing binary fails these tests.
import { fileURLToPath } from 'node:url';
import type { B2buaTarget } from '@voxmesh/sip';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type Peer,
  type PeerProtocol,
  freePort,
  requireBinary,
  runPeer,
  sippArgs,
  sippLost,
  startPeer,
  stopAllPeers,
  waitForBound,
} from './helpers/peers.js';
import { type Switch, startSwitch } from './helpers/switch.js';

const SIPP = '/usr/bin/sipp';
const FIXTURES = fileURLToPath(new URL('./fixtures/sipp/', import.meta.url));

let sw: Switch | undefined;

afterEach(async () => {
  await stopAllPeers();
  await sw?.stop();
  sw = undefined;
});

afterAll(async () => {
  await stopAllPeers();
});

/** A SIPp callee on a free port: the built-in uas, or a scenario file. */
async function startCallee(
  protocol: PeerProtocol,
  options: { scenario?: string; calls?: number; extra?: string[] } = {},
): Promise<{ port: number; peer: Peer; target: B2buaTarget }> {
  const port = await freePort();
  const peer = startPeer(SIPP, [
    ...(options.scenario === undefined
      ? ['-sn', 'uas']
      : ['-sf', `${FIXTURES}${options.scenario}`]),
    ...sippArgs({ protocol, port, timeoutS: 40 }),
    '-m',
    String(options.calls ?? 1),
    ...(options.extra ?? []),
  ]);
  await waitForBound(protocol, port, { exited: peer.exited });
  const transport = protocol === 'TCP' ? ';transport=tcp' : '';
  return { port, peer, target: { uri: `sip:service@127.0.0.1:${port}${transport}` } };
}

/** A SIPp caller to the switch: the built-in uac, or a scenario file; runs to completion. */
async function call(
  protocol: PeerProtocol,
  options: { scenario?: string; calls?: number; rate?: number; extra?: string[] } = {},
) {
  const port = await freePort();
  return runPeer(
    SIPP,
    [
      ...(options.scenario === undefined
        ? ['-sn', 'uac']
        : ['-sf', `${FIXTURES}${options.scenario}`]),
      `127.0.0.1:${sw!.port(protocol)}`,
      '-s',
      'service',
      ...sippArgs({ protocol, port, timeoutS: 40 }),
      '-m',
      String(options.calls ?? 1),
      '-r',
      String(options.rate ?? 10),
      ...(options.extra ?? []),
    ],
    { timeoutMs: 50_000 },
  );
}

/** Resolves once the user agent holds no calls (bounded). */
async function allCallsGone(timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (sw!.ua.calls.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(sw!.ua.calls.map((c) => c.state)).toEqual([]);
}

it('SIPp is installed', () => {
  expect(requireBinary(SIPP)).toMatch(/SIPp v3/);
});

describe.each(['UDP', 'TCP'] as const)('SIPp through the B2BUA over %s', (protocol) => {
  it('uac → B2BUA → uas: five calls bridged, answered and ended by the caller', async () => {
    const targets: B2buaTarget[] = [];
    sw = await startSwitch({ route: () => targets });
    const callee = await startCallee(protocol, { calls: 5 });
    targets.push(callee.target);
    const caller = await call(protocol, { calls: 5, extra: ['-d', '200'] });
    expect(caller.code, caller.output).toBe(0);
    expect((await callee.peer.exited).code, callee.peer.output()).toBe(0);
    expect(sw.bridges).toHaveLength(5);
    for (const bridge of sw.bridges) {
      expect(await bridge.outcome).toMatchObject({ answered: true });
      expect(await bridge.ended).toMatchObject({ by: 'caller', reason: 'bye' });
    }
    await allCallsGone();
  });

  it('a caller that cancels while the callee rings: 487 to the caller, the callee is cancelled', async () => {
    const targets: B2buaTarget[] = [];
    sw = await startSwitch({ route: () => targets });
    const callee = await startCallee(protocol, { scenario: 'b2bua-uas-ring-cancel.xml' });
    targets.push(callee.target);
    const caller = await call(protocol, { scenario: 'b2bua-uac-cancel.xml' });
    expect(caller.code, caller.output).toBe(0);
    // The callee got its CANCEL, answered 487 and received the ACK.
    expect((await callee.peer.exited).code, callee.peer.output()).toBe(0);
    const [bridge] = sw.bridges;
    expect(await bridge!.outcome).toMatchObject({ answered: false, status: 487 });
    expect(await bridge!.ended).toMatchObject({ by: 'caller', reason: 'canceled' });
    await allCallsGone();
  });

  it('the callee hangs up: its BYE reaches the caller, both dialogs end', async () => {
    const targets: B2buaTarget[] = [];
    sw = await startSwitch({ route: () => targets });
    const callee = await startCallee(protocol, { scenario: 'b2bua-uas-hangup.xml' });
    targets.push(callee.target);
    const caller = await call(protocol, { scenario: 'b2bua-uac-hungup.xml' });
    expect(caller.code, caller.output).toBe(0);
    expect((await callee.peer.exited).code, callee.peer.output()).toBe(0);
    const [bridge] = sw.bridges;
    expect(await bridge!.outcome).toMatchObject({ answered: true });
    expect(await bridge!.ended).toMatchObject({ by: 'callee', reason: 'bye' });
    await allCallsGone();
  });

  it('early media: the callee’s 183 with its answer reaches the caller before the 200', async () => {
    const targets: B2buaTarget[] = [];
    sw = await startSwitch({ route: () => targets });
    const callee = await startCallee(protocol, { scenario: 'b2bua-uas-early-media.xml' });
    targets.push(callee.target);
    const progress: number[] = [];
    const caller = call(protocol, { scenario: 'b2bua-uac-early-media.xml' });
    const bridge = await sw.nthBridge(1);
    bridge.bridge.on('progress', (response) => progress.push(response.status));
    const done = await caller;
    expect(done.code, done.output).toBe(0);
    expect((await callee.peer.exited).code, callee.peer.output()).toBe(0);
    expect(progress).toContain(183);
    expect(await bridge.outcome).toMatchObject({ answered: true });
    await allCallsGone();
  });

  it('486 from the first callee: the call fails over to the second, which answers', async () => {
    const targets: B2buaTarget[] = [];
    sw = await startSwitch({ route: () => targets, bridge: { strategy: 'sequential' } });
    const busy = await startCallee(protocol, { scenario: 'b2bua-uas-busy.xml' });
    const good = await startCallee(protocol);
    targets.push({ ...busy.target, label: 'busy' }, { ...good.target, label: 'good' });
    const failed: [string | undefined, number][] = [];
    const caller = call(protocol, { extra: ['-d', '200'] });
    const bridge = await sw.nthBridge(1);
    bridge.bridge.on('failed', (target, status) => failed.push([target.label, status]));
    expect((await caller).code, (await caller).output).toBe(0);
    expect((await busy.peer.exited).code, busy.peer.output()).toBe(0);
    expect((await good.peer.exited).code, good.peer.output()).toBe(0);
    const outcome = await bridge.outcome;
    expect(outcome.answered).toBe(true);
    expect(outcome.answered && outcome.target.label).toBe('good');
    expect(failed).toEqual([['busy', 486]]);
    await allCallsGone();
  });

  it('parallel forking: the first callee to answer wins, the one still ringing is cancelled', async () => {
    const targets: B2buaTarget[] = [];
    sw = await startSwitch({ route: () => targets, bridge: { strategy: 'parallel' } });
    const ringing = await startCallee(protocol, { scenario: 'b2bua-uas-ring-cancel.xml' });
    const answering = await startCallee(protocol);
    targets.push(
      { ...ringing.target, label: 'ringing' },
      { ...answering.target, label: 'answering' },
    );
    const caller = await call(protocol, { extra: ['-d', '200'] });
    expect(caller.code, caller.output).toBe(0);
    // The ringing callee got its CANCEL, answered 487 and had it ACKed.
    expect((await ringing.peer.exited).code, ringing.peer.output()).toBe(0);
    expect((await answering.peer.exited).code, answering.peer.output()).toBe(0);
    const [bridge] = sw.bridges;
    const outcome = await bridge!.outcome;
    expect(outcome.answered && outcome.target.label).toBe('answering');
    expect(await bridge!.ended).toMatchObject({ by: 'caller', reason: 'bye' });
    await allCallsGone();
  });

  it('a SIPp phone registers with digest and is called through the location service', async () => {
    const users = new Map([['alice', 'wonderland-42']]);
    sw = await startSwitch({ users, algorithms: ['MD5'] });
    const phonePort = await freePort();
    const registered = new Promise<void>((resolve) =>
      sw!.registrar.once('registered', () => resolve()),
    );
    const phone = startPeer(SIPP, [
      `127.0.0.1:${sw.port(protocol)}`,
      '-sf',
      `${FIXTURES}b2bua-register-and-wait.xml`,
      '-oocsf',
      `${FIXTURES}b2bua-ooc-answer.xml`,
      '-s',
      'alice',
      '-au',
      'alice',
      '-ap',
      'wonderland-42',
      ...sippArgs({ protocol, port: phonePort, timeoutS: 40 }),
      '-m',
      '1',
    ]);
    await Promise.race([
      registered,
      phone.exited.then(() => {
        throw new Error(`the SIPp phone ended before registering:\n${phone.output()}`);
      }),
    ]);
    const [route] = await sw.registrar.lookup('sip:alice@127.0.0.1');
    expect(route?.uri).toBe(`sip:alice@127.0.0.1:${phonePort};transport=${protocol}`);
    const callerPort = await freePort();
    const caller = await runPeer(
      SIPP,
      [
        '-sn',
        'uac',
        `127.0.0.1:${sw.port(protocol)}`,
        '-s',
        'alice',
        ...sippArgs({ protocol, port: callerPort, timeoutS: 30 }),
        '-m',
        '1',
        '-d',
        '200',
      ],
      { timeoutMs: 40_000 },
    );
    expect(caller.code, caller.output + phone.output()).toBe(0);
    const [bridge] = sw.bridges;
    const outcome = await bridge!.outcome;
    expect(outcome.answered && outcome.target.uri).toBe(route!.uri);
    expect(await bridge!.ended).toMatchObject({ by: 'caller', reason: 'bye' });
    await phone.stop();
    await allCallsGone();
  });
});

describe('draining with real peers', () => {
  it('a call in progress finishes while a new caller gets 503 with Retry-After', async () => {
    const targets: B2buaTarget[] = [];
    sw = await startSwitch({ route: () => targets });
    const callee = await startCallee('UDP', { calls: 1 });
    targets.push(callee.target);
    // A call that stays up for 3 s.
    const first = call('UDP', { extra: ['-d', '3000'] });
    const bridge = await sw.nthBridge(1);
    expect(await bridge.outcome).toMatchObject({ answered: true });
    const drained = sw.b2bua.drain();
    const refused = await call('UDP', { scenario: 'b2bua-uac-expect-503.xml' });
    expect(refused.code, refused.output).toBe(0);
    expect(sw.bridges).toHaveLength(1);
    const done = await first;
    expect(done.code, done.output).toBe(0);
    expect(await bridge.ended).toMatchObject({ by: 'caller', reason: 'bye' });
    await drained;
    expect(sw.b2bua.state).toBe('stopped');
    expect((await callee.peer.exited).code, callee.peer.output()).toBe(0);
  });
});

describe('retransmissions over UDP', () => {
  it('SIPp caller and callee both losing 10 % of messages: all 20 calls complete', async () => {
    const targets: B2buaTarget[] = [];
    sw = await startSwitch({ route: () => targets });
    const callee = await startCallee('UDP', {
      scenario: 'b2bua-uas-lossy.xml',
      calls: 20,
      extra: ['-lost', '10', '-default_behaviors', 'all,-abortunexp'],
    });
    targets.push(callee.target);
    const caller = await call('UDP', {
      scenario: 'b2bua-uac-lossy.xml',
      calls: 20,
      rate: 10,
      extra: ['-lost', '10', '-default_behaviors', 'all,-abortunexp'],
    });
    const calleeDone = await callee.peer.exited;
    expect(caller.code, caller.output).toBe(0);
    expect(calleeDone.code, callee.peer.output()).toBe(0);
    // SIPp really dropped messages on at least one side.
    expect(sippLost(caller.output) + sippLost(callee.peer.output())).toBeGreaterThan(0);
    expect(sw.bridges).toHaveLength(20);
    for (const bridge of sw.bridges) expect(await bridge.outcome).toMatchObject({ answered: true });
    await allCallsGone(40_000);
  });
});
