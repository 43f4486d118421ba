// sip.js (a third-party WebSocket user agent, RFC 7118) registers over WS
// and calls a SIPp phone registered over UDP through the B2BUA, and is
// called back over its WebSocket flow (found by the location service).
// sip.js runs in Node with the `ws` package as its WebSocket and a small
// session description handler that offers and answers fixed SDP.
import { fileURLToPath } from 'node:url';
import {
  type Invitation,
  Inviter,
  type Session,
  type SessionDescriptionHandler,
  SessionState,
  Registerer,
  RegistererState,
  UserAgent as SipJsUserAgent,
} from 'sip.js';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  type Peer,
  freePort,
  requireBinary,
  runPeer,
  sippArgs,
  startPeer,
  stopAllPeers,
} from './helpers/peers.js';
import { type Switch, startSwitch } from './helpers/switch.js';

const SIPP = '/usr/bin/sipp';
const FIXTURES = fileURLToPath(new URL('./fixtures/sipp/', import.meta.url));
const USERS = new Map([
  ['alice', 'wonderland-42'],
  ['bob', 'builder-of-things-9'],
]);

/** The SDP sip.js offers or answers: one PCMU stream on loopback. */
function sdp(port: number): string {
  return [
    'v=0',
    `o=sipjs ${port} 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    '',
  ].join('\r\n');
}

/** What the handlers saw: the far end's session descriptions. */
const remoteDescriptions: string[] = [];

function handlerFactory(): SessionDescriptionHandler {
  return {
    close: () => undefined,
    getDescription: () => Promise.resolve({ body: sdp(40000), contentType: 'application/sdp' }),
    hasDescription: (contentType) => contentType === 'application/sdp',
    setDescription: (description) => {
      remoteDescriptions.push(description);
      return Promise.resolve();
    },
    sendDtmf: () => false,
  };
}

let sw: Switch | undefined;
let bob: SipJsUserAgent | undefined;
let registerer: Registerer | undefined;
let previousWebSocket: unknown;
const invitations: Invitation[] = [];

beforeAll(() => {
  const g = globalThis as { WebSocket?: unknown };
  previousWebSocket = g.WebSocket;
  g.WebSocket = WebSocket;
});

afterEach(async () => {
  await registerer?.dispose().catch(() => undefined);
  await bob?.stop().catch(() => undefined);
  bob = undefined;
  registerer = undefined;
  await stopAllPeers();
  await sw?.stop();
  sw = undefined;
  remoteDescriptions.length = 0;
  invitations.length = 0;
});

afterAll(async () => {
  await stopAllPeers();
  (globalThis as { WebSocket?: unknown }).WebSocket = previousWebSocket;
});

/** sip.js as bob over WS, registered with digest (sip.js 0.21 answers MD5 only). */
async function registerBob(): Promise<SipJsUserAgent> {
  const ua = new SipJsUserAgent({
    uri: SipJsUserAgent.makeURI('sip:bob@127.0.0.1'),
    transportOptions: { server: `ws://127.0.0.1:${sw!.port('WS')}` },
    authorizationUsername: 'bob',
    authorizationPassword: USERS.get('bob')!,
    sessionDescriptionHandlerFactory: handlerFactory,
    logBuiltinEnabled: false,
    delegate: {
      onInvite: (invitation) => {
        invitations.push(invitation);
        void invitation.accept();
      },
    },
  });
  bob = ua;
  await ua.start();
  registerer = new Registerer(ua, { expires: 300 });
  const registered = new Promise<void>((resolve) => {
    registerer!.stateChange.addListener((state) => {
      if (state === RegistererState.Registered) resolve();
    });
  });
  await registerer.register();
  await registered;
  return ua;
}

/** A SIPp phone registered as alice over UDP that answers one call. */
async function registerAlice(): Promise<Peer> {
  const port = await freePort();
  const registered = new Promise<void>((resolve) =>
    sw!.registrar.once('registered', () => resolve()),
  );
  const phone = startPeer(SIPP, [
    `127.0.0.1:${sw!.port('UDP')}`,
    '-sf',
    `${FIXTURES}b2bua-register-and-wait.xml`,
    '-oocsf',
    `${FIXTURES}b2bua-ooc-answer.xml`,
    '-s',
    'alice',
    '-au',
    'alice',
    '-ap',
    USERS.get('alice')!,
    ...sippArgs({ port, timeoutS: 40 }),
    '-m',
    '1',
  ]);
  await Promise.race([
    registered,
    phone.exited.then(() => {
      throw new Error(`the SIPp phone ended before registering:\n${phone.output()}`);
    }),
  ]);
  return phone;
}

/** Resolves when a sip.js session reaches `state` (bounded). */
function reach(session: Session, state: SessionState, timeoutMs = 20_000): Promise<void> {
  if (session.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`session stayed ${session.state}, not ${state}`)),
      timeoutMs,
    );
    session.stateChange.addListener((now) => {
      if (now === state) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

it('SIPp is installed', () => {
  expect(requireBinary(SIPP)).toMatch(/SIPp v3/);
});

it('sip.js over WS calls a SIPp phone registered over UDP, and hangs up', async () => {
  sw = await startSwitch({ protocols: ['UDP', 'WS'], users: USERS });
  const alice = await registerAlice();
  const [route] = await sw.registrar.lookup('sip:alice@127.0.0.1');
  const ua = await registerBob();
  const inviter = new Inviter(ua, SipJsUserAgent.makeURI('sip:alice@127.0.0.1')!);
  await inviter.invite();
  await reach(inviter, SessionState.Established);
  // The answer came from the SIPp phone, through the B2BUA.
  expect(remoteDescriptions.join('')).toContain('o=sipp');
  const [bridge] = sw.bridges;
  const outcome = await bridge!.outcome;
  expect(outcome.answered && outcome.target.uri).toBe(route!.uri);
  expect(sw.bridges[0]!.bridge.aLeg.invite.headers.get('via')).toMatch(/^SIP\/2\.0\/WSS? /);
  await inviter.bye();
  await reach(inviter, SessionState.Terminated);
  expect(await bridge!.ended).toMatchObject({ by: 'caller', reason: 'bye' });
  await alice.stop();
});

it('a SIPp phone over UDP calls sip.js, reached over its WebSocket flow', async () => {
  sw = await startSwitch({ protocols: ['UDP', 'WS'], users: USERS });
  await registerBob();
  const [route] = await sw.registrar.lookup('sip:bob@127.0.0.1');
  expect(route?.flowRequired).toBe(true);
  const port = await freePort();
  const caller = await runPeer(
    SIPP,
    [
      '-sn',
      'uac',
      `127.0.0.1:${sw.port('UDP')}`,
      '-s',
      'bob',
      ...sippArgs({ port, timeoutS: 30 }),
      '-m',
      '1',
      '-d',
      '300',
    ],
    { timeoutMs: 40_000 },
  );
  expect(caller.code, caller.output).toBe(0);
  expect(invitations).toHaveLength(1);
  await reach(invitations[0]!, SessionState.Terminated);
  const [bridge] = sw.bridges;
  const outcome = await bridge!.outcome;
  expect(outcome.answered && outcome.target.uri).toBe(route!.uri);
  expect(await bridge!.ended).toMatchObject({ by: 'caller', reason: 'bye' });
  // sip.js got SIPp's offer through the B2BUA.
  expect(remoteDescriptions.join('')).toMatch(/m=audio \d+ RTP\/AVP 0/);
});
