// The B2BUA behind a real edge proxy: SIPp → Kamailio (Record-Route) →
// B2BUA → SIPp. The caller's leg has a route set through Kamailio, so the
// B2BUA's own requests on it (the BYE when the callee hangs up) must carry
// the Route header and go to Kamailio, which loose-routes them to the caller
// (RFC 3261 §12.2.1.1, §16.12). CI installs SIPp and Kamailio; a missing
// binary fails these tests.
import { fileURLToPath } from 'node:url';
import type { B2buaTarget, SipMessage } from '@voxmesh/sip';
import { afterAll, afterEach, expect, it } from 'vitest';
import { type Kamailio, KAMAILIO, startKamailio } from './helpers/kamailio.js';
import {
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
let kamailio: Kamailio | undefined;

afterEach(async () => {
  await kamailio?.stop();
  kamailio = undefined;
  await stopAllPeers();
  await sw?.stop();
  sw = undefined;
});

afterAll(async () => {
  await stopAllPeers();
});

it('SIPp and Kamailio are installed', () => {
  expect(requireBinary(SIPP)).toMatch(/SIPp v3/);
  expect(requireBinary(KAMAILIO, ['-v'])).toMatch(/kamailio 5\./);
});

it.each([
  ['the caller hangs up', 'uac', 'uas', 'caller'],
  ['the callee hangs up', 'b2bua-uac-hungup.xml', 'b2bua-uas-hangup.xml', 'callee'],
] as const)(
  'SIPp → Kamailio → B2BUA → SIPp, %s: in-dialog requests follow the route set',
  async (_, callerScenario, calleeScenario, by) => {
    const targets: B2buaTarget[] = [];
    sw = await startSwitch({ protocols: ['UDP'], route: () => targets });
    kamailio = await startKamailio({ next: { host: '127.0.0.1', port: sw.port('UDP') } });
    const calleePort = await freePort();
    const callee = startPeer(SIPP, [
      ...(calleeScenario === 'uas' ? ['-sn', 'uas'] : ['-sf', `${FIXTURES}${calleeScenario}`]),
      ...sippArgs({ port: calleePort, timeoutS: 30 }),
      '-m',
      '1',
    ]);
    await waitForBound('UDP', calleePort, { exited: callee.exited });
    targets.push({ uri: `sip:service@127.0.0.1:${calleePort}` });
    const aLegRequests: SipMessage[] = [];
    sw.ua.on('message', (message, direction) => {
      const aLeg = sw?.bridges[0]?.bridge.aLeg;
      if (direction === 'out' && message.isRequest() && message.callId === aLeg?.callId) {
        aLegRequests.push(message);
      }
    });
    const callerPort = await freePort();
    const caller = await runPeer(
      SIPP,
      [
        ...(callerScenario === 'uac' ? ['-sn', 'uac'] : ['-sf', `${FIXTURES}${callerScenario}`]),
        `127.0.0.1:${kamailio.port}`,
        '-s',
        'service',
        ...sippArgs({ port: callerPort, timeoutS: 30 }),
        '-m',
        '1',
        '-d',
        '300',
      ],
      { timeoutMs: 40_000 },
    );
    expect(caller.code, caller.output + kamailio.peer.output()).toBe(0);
    expect((await callee.exited).code, callee.output()).toBe(0);
    const [bridge] = sw.bridges;
    // The caller's INVITE came through Kamailio, which recorded its route.
    expect(bridge!.bridge.aLeg.invite.headers.get('record-route')).toContain(
      `127.0.0.1:${kamailio.port}`,
    );
    expect(await bridge!.outcome).toMatchObject({ answered: true });
    expect(await bridge!.ended).toMatchObject({ by, reason: 'bye' });
    if (by === 'callee') {
      // The B2BUA's BYE to the caller went through Kamailio, naming it in Route.
      const bye = aLegRequests.find((m) => m.isRequest() && m.method === 'BYE');
      expect(bye?.headers.get('route')).toContain(`127.0.0.1:${kamailio.port}`);
    }
  },
);
