// Tenant trunks through a server running in-process on ephemeral ports: a
// phone registered as 1001 dials an external number that an outbound route
// sends to carrier A, then carrier B. The carriers are user agents on real
// SIP transports over UDP loopback: carrier A challenges INVITEs with 401
// (digest) and answers, refuses with 503 (the call fails over to B) or 486
// (no failover: the caller gets 486). A trunk with `register: true`
// registers with a carrier running our Registrar (digest), and the admin
// API and /metrics show it; turning `register` off removes the binding.
import type { Tenant, Trunk as TrunkConfig } from '@voxmesh/core';
import {
  DigestAuthenticator,
  MemoryBindingStore,
  Registrar,
  SipResponseError,
  SipTransport,
} from '@voxmesh/sip';
import { VirtualPhone } from '@voxmesh/sip/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TrunkStatus } from '../src/trunks.js';
import { api, ROOT_KEY, startServer, type TestServer } from './helpers.js';

const ACCOUNT = { username: 'acme-trunk', password: 'carrier-secret-7' };
const REALM = 'carrier.test';

let t: TestServer;
let udpPort = 0;
const started: { stop(): Promise<void> }[] = [];
const perTest: { stop(): Promise<void> }[] = [];

interface Carrier {
  port: number;
  phone: VirtualPhone;
  /** How the next INVITEs are answered (after the digest challenge, when there is one). */
  mode: 'answer' | 'busy' | 'unavailable';
  invites: number;
  registrar: Registrar;
}

/** A carrier: a user agent on UDP loopback that checks digest on INVITE (401) and REGISTER. */
async function carrier(options: { challenge: boolean }): Promise<Carrier> {
  const transport = new SipTransport({
    listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
  });
  await transport.start();
  const phone = new VirtualPhone({ transport, uri: `sip:carrier@${REALM}`, autoAnswer: true });
  const lookup = ({ username }: { username: string }) =>
    username === ACCOUNT.username ? { password: ACCOUNT.password } : undefined;
  const registrar = new Registrar({
    store: new MemoryBindingStore(),
    realm: () => REALM,
    credentials: lookup,
  });
  await registrar.start();
  const auth = new DigestAuthenticator({ lookup, proxy: false });
  const c: Carrier = {
    port: transport.listening[0]!.local.port,
    phone,
    mode: 'answer',
    invites: 0,
    registrar,
  };
  phone.ua.use({ method: 'REGISTER', handler: registrar.middleware() });
  phone.ua.use({
    method: 'INVITE',
    handler: async (ctx, next) => {
      const call = ctx.call;
      if (call === undefined) return next();
      if (options.challenge) {
        // RFC 3261 §22.2: a UAS challenges with 401 and WWW-Authenticate.
        const result = await auth.verify({
          realm: REALM,
          method: 'INVITE',
          authorization: ctx.request.headers.getAll('Authorization'),
          source: ctx.flow.remote.host,
        });
        if (!result.ok) {
          call.reject({
            status: result.status,
            headers: result.challenges.map((h) => [result.headerName, h] as const),
          });
          return;
        }
      }
      c.invites++;
      if (c.mode === 'busy') call.reject({ status: 486 });
      else if (c.mode === 'unavailable') call.reject({ status: 503 });
      else return next();
    },
  });
  await phone.start();
  started.push(transport, registrar, phone);
  return c;
}

let a: Carrier;
let b: Carrier;
let r: Carrier;

function password(extension: string): string {
  return t.server.seeded!.users.find((u) => u.extension === extension)!.password;
}

async function phone(extension: string): Promise<VirtualPhone> {
  const transport = new SipTransport({
    listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
  });
  await transport.start();
  const p = new VirtualPhone({
    transport,
    uri: `sip:${extension}@demo.local`,
    credentials: { username: extension, password: password(extension) },
  });
  await p.start();
  perTest.push(transport, p);
  await p.register({ registrar: `sip:127.0.0.1:${udpPort}`, expiresS: 300 });
  perTest.push({
    stop: async () => {
      await p.register({
        registrar: `sip:127.0.0.1:${udpPort}`,
        expiresS: 0,
        signal: AbortSignal.timeout(5000),
      });
    },
  });
  return p;
}

async function setTrunks(trunks: TrunkConfig[], extra: Partial<Tenant> = {}): Promise<void> {
  await t.server.directory.update('demo', (current) => ({ ...current!, trunks, ...extra }));
}

/** Polls `check` until it holds (bounded). */
async function eventually(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not happen in time`);
}

beforeAll(async () => {
  t = await startServer();
  udpPort = t.server.addresses.sip.find((l) => l.protocol === 'UDP')!.port;
  a = await carrier({ challenge: true });
  b = await carrier({ challenge: false });
  r = await carrier({ challenge: true });
  await setTrunks(
    [
      { id: 'carrier-a', host: '127.0.0.1', port: a.port, auth: { ...ACCOUNT } },
      { id: 'carrier-b', host: '127.0.0.1', port: b.port },
    ],
    {
      outboundRoutes: [
        {
          id: 'national',
          prefixes: ['0'],
          trunkIds: ['carrier-a', 'carrier-b'],
          presentation: { mode: 'fixed', number: '+4930555000', displayName: 'Demo Ltd' },
        },
      ],
    },
  );
});
afterEach(async () => {
  for (const s of perTest.splice(0).reverse()) await s.stop().catch(() => undefined);
  a.mode = 'answer';
  b.mode = 'answer';
});
afterAll(async () => {
  await t?.close();
  for (const s of started.splice(0).reverse()) await s.stop().catch(() => undefined);
});

describe('outbound routes through trunks', () => {
  it('carrier A challenges the INVITE; the call succeeds with digest and the route presentation', async () => {
    const caller = await phone('1001');
    const before = { a: a.invites, b: b.invites };
    const call = await caller.call({
      uri: `sip:030123456@127.0.0.1:${udpPort}`,
      signal: AbortSignal.timeout(20_000),
    });
    expect(a.invites).toBe(before.a + 1);
    expect(b.invites).toBe(before.b);
    const invites = a.phone.received('INVITE');
    const last = invites.at(-1)!;
    // The first INVITE was challenged, the last one carries the credentials.
    expect(invites.length).toBeGreaterThanOrEqual(2);
    expect(invites.at(-2)!.headers.has('authorization')).toBe(false);
    expect(last.headers.get('authorization')).toMatch(/username="acme-trunk"/);
    expect(last.isRequest() && last.uri.toString()).toMatch(/^sip:030123456@127\.0\.0\.1:/);
    expect(last.headers.get('from')).toMatch(/^"?Demo Ltd"? <sip:\+4930555000@/);
    expect(last.headers.get('p-asserted-identity')).toMatch(/<sip:\+4930555000@/);
    await a.phone.waitForState('talking', { signal: AbortSignal.timeout(10_000) });
    await call.bye();
    await a.phone.waitForState('hungup', { signal: AbortSignal.timeout(10_000) });
  });

  it('carrier A answering 503 fails over to carrier B', async () => {
    a.mode = 'unavailable';
    const caller = await phone('1001');
    const before = { a: a.invites, b: b.invites };
    const call = await caller.call({
      uri: `sip:030123456@127.0.0.1:${udpPort}`,
      signal: AbortSignal.timeout(20_000),
    });
    expect(a.invites).toBe(before.a + 1);
    expect(b.invites).toBe(before.b + 1);
    await b.phone.waitForState('talking', { signal: AbortSignal.timeout(10_000) });
    await call.bye();
    await b.phone.waitForState('hungup', { signal: AbortSignal.timeout(10_000) });
  });

  it('carrier A answering 486 does not fail over: the caller gets 486', async () => {
    a.mode = 'busy';
    const caller = await phone('1001');
    const before = { a: a.invites, b: b.invites };
    const failure = await caller
      .call({ uri: `sip:030123456@127.0.0.1:${udpPort}`, signal: AbortSignal.timeout(20_000) })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(SipResponseError);
    expect((failure as SipResponseError).status).toBe(486);
    expect(a.invites).toBe(before.a + 1);
    expect(b.invites).toBe(before.b);
  });
});

describe('trunk registration', () => {
  const aor = () => `sip:${ACCOUNT.username}@127.0.0.1:${r.port}`;
  const statusOf = async (id: string): Promise<{ code: number; body: TrunkStatus }> => {
    const answer = await api(t.base, 'GET', `/v1/tenants/demo/trunks/${id}/status`, {
      key: ROOT_KEY,
    });
    return { code: answer.status, body: answer.body as TrunkStatus };
  };
  const status = () => statusOf('carrier-r');

  it('a trunk with register: true registers with the carrier (digest); status and metric show it', async () => {
    const trunks = t.server.directory.tenant('demo')!.trunks!;
    await setTrunks([
      ...trunks.filter((x) => x.id !== 'carrier-r'),
      {
        id: 'carrier-r',
        host: '127.0.0.1',
        port: r.port,
        auth: { ...ACCOUNT },
        register: true,
        registerExpiresS: 600,
      },
    ]);
    await eventually(
      'the trunk registering',
      async () => (await status()).body.state === 'registered',
    );
    const answer = await status();
    expect(answer.code).toBe(200);
    expect(answer.body).toMatchObject({ tenantId: 'demo', trunkId: 'carrier-r', register: true });
    expect(Date.parse(answer.body.registeredUntil ?? '')).toBeGreaterThan(Date.now() + 500_000);
    // The carrier's registrar holds the binding, after its own digest check.
    expect(await r.registrar.lookup(aor())).toHaveLength(1);
    const metrics = await (await fetch(`${t.base}/metrics`)).text();
    expect(metrics).toMatch(/pbx_trunk_registered\{tenant="demo",trunk="carrier-r"\} 1/);
    // A trunk that does not register says so; an unknown one is 404.
    expect((await statusOf('carrier-b')).body.state).toBe('disabled');
    expect((await statusOf('nope')).code).toBe(404);
  });

  it('turning register off in configdb removes the registration from the carrier', async () => {
    const trunks = t.server.directory.tenant('demo')!.trunks!;
    expect(await r.registrar.lookup(aor())).toHaveLength(1);
    await setTrunks(trunks.map((x) => (x.id === 'carrier-r' ? { ...x, register: false } : x)));
    await eventually(
      'the trunk unregistering',
      async () => (await r.registrar.lookup(aor())).length === 0,
    );
    expect((await status()).body.state).toBe('disabled');
    const metrics = await (await fetch(`${t.base}/metrics`)).text();
    expect(metrics).not.toMatch(/pbx_trunk_registered\{tenant="demo",trunk="carrier-r"\}/);
  });

  it('a wrong password: the status shows the failure', async () => {
    const trunks = t.server.directory.tenant('demo')!.trunks!;
    await setTrunks(
      trunks.map((x) =>
        x.id === 'carrier-r'
          ? {
              ...x,
              register: true,
              auth: { username: ACCOUNT.username, password: 'not-the-secret' },
            }
          : x,
      ),
    );
    await eventually(
      'the registration failing',
      async () => (await status()).body.state === 'failed',
    );
    expect((await status()).body.lastError).toMatch(/could not register/);
    expect(await r.registrar.lookup(aor())).toHaveLength(0);
  });

  it('draining the server unregisters the trunk from the carrier', async () => {
    const trunks = t.server.directory.tenant('demo')!.trunks!;
    await setTrunks(
      trunks.map((x) =>
        x.id === 'carrier-r' ? { ...x, register: true, auth: { ...ACCOUNT } } : x,
      ),
    );
    await eventually(
      'the trunk registering',
      async () => (await status()).body.state === 'registered',
    );
    expect(await r.registrar.lookup(aor())).toHaveLength(1);
    await t.server.drain();
    expect(await r.registrar.lookup(aor())).toHaveLength(0);
  });
});
