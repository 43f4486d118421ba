import { FakeClock } from '@voxmesh/core';
import {
  type Binding,
  DigestClient,
  MemoryBindingStore,
  Registrar,
  type RegistrarFlow,
  type RegistrarOptions,
  SipRequest,
  type SipResponse,
  parseDigestChallenge,
} from '@voxmesh/sip';
import { afterEach, describe, expect, it } from 'vitest';

const DOMAIN = 'tenant.example';
const natFlow: RegistrarFlow = {
  id: 'flow-1',
  protocol: 'UDP',
  remote: { host: '203.0.113.7', port: 40_000 },
  local: { host: '198.51.100.1', port: 5060 },
};
const directFlow: RegistrarFlow = {
  id: 'flow-2',
  protocol: 'UDP',
  remote: { host: '192.0.2.10', port: 5062 },
};

interface RegisterInit {
  user?: string;
  contacts?: string[];
  expires?: number;
  callId?: string;
  cseq?: number;
  headers?: [string, string][];
  to?: string;
}

function register(init: RegisterInit = {}): SipRequest {
  const user = init.user ?? 'alice';
  const headers: [string, string][] = [
    ['Via', 'SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-test;rport'],
    ['Max-Forwards', '70'],
    ['From', `<sip:${user}@${DOMAIN}>;tag=f1`],
    ['To', init.to ?? `<sip:${user}@${DOMAIN}>`],
    ['Call-ID', init.callId ?? 'call-1'],
    ['CSeq', `${init.cseq ?? 1} REGISTER`],
  ];
  for (const contact of init.contacts ?? [`<sip:${user}@192.0.2.10:5062>`]) {
    headers.push(['Contact', contact]);
  }
  if (init.expires !== undefined) headers.push(['Expires', String(init.expires)]);
  headers.push(...(init.headers ?? []));
  return new SipRequest({ method: 'REGISTER', uri: `sip:${DOMAIN}`, headers });
}

const registrars: Registrar[] = [];
afterEach(async () => {
  for (const r of registrars.splice(0)) await r.stop();
});

async function open(
  options: Partial<RegistrarOptions> = {},
): Promise<{ registrar: Registrar; clock: FakeClock }> {
  const clock = new FakeClock();
  const registrar = new Registrar({ authenticator: false, clock, ...options });
  registrars.push(registrar);
  await registrar.start();
  return { registrar, clock };
}

function contactsOf(response: SipResponse): string[] {
  return response.headers.getAll('contact');
}

describe('Registrar: bindings (RFC 3261 §10.3)', () => {
  it('registers a contact, answers 200 listing it, and finds it by lookup', async () => {
    const { registrar } = await open();
    const events: [Binding, boolean][] = [];
    registrar.on('registered', (b, refreshed) => events.push([b, refreshed]));
    const response = await registrar.handle({
      request: register({ expires: 600 }),
      flow: directFlow,
    });
    expect(response.status).toBe(200);
    expect(response.to?.tag).toBeDefined();
    expect(contactsOf(response)).toEqual(['<sip:alice@192.0.2.10:5062>;expires=600']);
    expect(response.headers.get('date')).toMatch(/GMT$/);
    expect(events).toHaveLength(1);
    expect(events[0]?.[1]).toBe(false);
    const routes = await registrar.lookup('sip:alice@TENANT.example;transport=tcp');
    expect(routes.map((r) => r.uri)).toEqual(['sip:alice@192.0.2.10:5062']);
    expect(routes[0]?.binding.aor).toBe('sip:alice@tenant.example');
  });

  it('refreshing keeps one binding and reports it as refreshed', async () => {
    const { registrar, clock } = await open();
    const refreshed: boolean[] = [];
    registrar.on('registered', (_b, r) => refreshed.push(r));
    await registrar.handle({ request: register({ expires: 600, cseq: 1 }), flow: directFlow });
    clock.advance(300_000);
    const response = await registrar.handle({
      request: register({ expires: 600, cseq: 2 }),
      flow: directFlow,
    });
    expect(contactsOf(response)).toEqual(['<sip:alice@192.0.2.10:5062>;expires=600']);
    expect(refreshed).toEqual([false, true]);
    expect(await registrar.bindings('sip:alice@tenant.example')).toHaveLength(1);
  });

  it('takes the contact expires parameter over the Expires header, and shortens to the maximum', async () => {
    const { registrar } = await open({ maxExpiresS: 1800, defaultExpiresS: 900 });
    const response = await registrar.handle({
      request: register({
        expires: 120,
        contacts: [
          '<sip:alice@192.0.2.10:5062>;expires=300',
          '<sip:alice@192.0.2.11:5060>',
          '<sip:alice@192.0.2.12:5060>;expires=7200',
        ],
      }),
      flow: directFlow,
    });
    expect(contactsOf(response)).toEqual([
      '<sip:alice@192.0.2.10:5062>;expires=300',
      '<sip:alice@192.0.2.11:5060>;expires=120',
      '<sip:alice@192.0.2.12:5060>;expires=1800',
    ]);
    const noExpires = await registrar.handle({
      request: register({ user: 'bob', contacts: ['<sip:bob@192.0.2.20>'] }),
      flow: directFlow,
    });
    expect(contactsOf(noExpires)).toEqual(['<sip:bob@192.0.2.20>;expires=900']);
  });

  it('answers 423 with Min-Expires to a too brief interval, and saves nothing', async () => {
    const { registrar } = await open({ minExpiresS: 60 });
    const response = await registrar.handle({
      request: register({ expires: 30 }),
      flow: directFlow,
    });
    expect(response.status).toBe(423);
    expect(response.headers.get('min-expires')).toBe('60');
    expect(await registrar.bindings('sip:alice@tenant.example')).toEqual([]);
    const ok = await registrar.handle({ request: register({ expires: 60 }), flow: directFlow });
    expect(ok.status).toBe(200);
  });

  it('expires bindings on the clock and emits expired from the sweep', async () => {
    const { registrar, clock } = await open({ sweepIntervalMs: 5_000 });
    const expired: string[] = [];
    registrar.on('expired', (b) => expired.push(b.contact));
    await registrar.handle({
      request: register({
        contacts: ['<sip:alice@192.0.2.10:5062>;expires=60', '<sip:alice@192.0.2.11>;expires=120'],
      }),
      flow: directFlow,
    });
    await clock.advanceAsync(59_000);
    expect((await registrar.lookup('sip:alice@tenant.example')).map((r) => r.uri)).toHaveLength(2);
    await clock.advanceAsync(1_000);
    // Gone from lookups at once, whatever the sweep interval.
    expect((await registrar.lookup('sip:alice@tenant.example')).map((r) => r.uri)).toEqual([
      'sip:alice@192.0.2.11',
    ]);
    await clock.advanceAsync(5_000);
    expect(expired).toEqual(['sip:alice@192.0.2.10:5062']);
    await clock.advanceAsync(60_000);
    expect(expired).toEqual(['sip:alice@192.0.2.10:5062', 'sip:alice@192.0.2.11']);
    expect(await registrar.store.get('sip:alice@tenant.example')).toEqual([]);
  });

  it('reports an expired binding once when a sweep races a REGISTER of the same AOR', async () => {
    const inner = new MemoryBindingStore();
    const gate: { wait: Promise<void> } = { wait: Promise.resolve() };
    const gated = {
      get: async (aor: string) => {
        const result = await inner.get(aor);
        await gate.wait;
        return result;
      },
      set: (aor: string, b: readonly Binding[]) => inner.set(aor, b),
      expire: (now: number) => inner.expire(now),
    };
    const { registrar, clock } = await open({ store: gated, sweepIntervalMs: 3_600_000 });
    const expired: string[] = [];
    registrar.on('expired', (b) => expired.push(b.contact));
    await registrar.handle({
      request: register({ contacts: ['<sip:alice@192.0.2.1>;expires=60'], callId: 'a' }),
      flow: directFlow,
    });
    clock.advance(61_000);
    let release!: () => void;
    gate.wait = new Promise((resolve) => (release = resolve));
    // The REGISTER reads the expired binding, then the sweep removes it, then the REGISTER writes.
    const update = registrar.handle({
      request: register({ contacts: ['<sip:alice@192.0.2.2>'], callId: 'b' }),
      flow: directFlow,
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(await registrar.sweep()).toBe(1);
    release();
    expect((await update).status).toBe(200);
    expect(expired).toEqual(['sip:alice@192.0.2.1']);
    expect((await registrar.lookup('sip:alice@tenant.example')).map((r) => r.uri)).toEqual([
      'sip:alice@192.0.2.2',
    ]);
  });

  it('orders lookups by q, then most recently refreshed', async () => {
    const { registrar, clock } = await open();
    await registrar.handle({
      request: register({ contacts: ['<sip:alice@192.0.2.1>;q=0.5'], callId: 'a' }),
      flow: directFlow,
    });
    clock.advance(1000);
    await registrar.handle({
      request: register({ contacts: ['<sip:alice@192.0.2.2>'], callId: 'b' }),
      flow: directFlow,
    });
    clock.advance(1000);
    await registrar.handle({
      request: register({ contacts: ['<sip:alice@192.0.2.3>;q=1.0'], callId: 'c' }),
      flow: directFlow,
    });
    clock.advance(1000);
    await registrar.handle({
      request: register({ contacts: ['<sip:alice@192.0.2.4>;q=0.8'], callId: 'd' }),
      flow: directFlow,
    });
    const routes = await registrar.lookup('sip:alice@tenant.example');
    expect(routes.map((r) => r.uri)).toEqual([
      'sip:alice@192.0.2.3',
      'sip:alice@192.0.2.2',
      'sip:alice@192.0.2.4',
      'sip:alice@192.0.2.1',
    ]);
    expect(routes.map((r) => r.binding.q)).toEqual([1, 1, 0.8, 0.5]);
  });

  it('rejects a malformed q-value with 400', async () => {
    const { registrar } = await open();
    for (const q of ['1.5', 'abc', '0.1234']) {
      const response = await registrar.handle({
        request: register({ contacts: [`<sip:alice@192.0.2.1>;q=${q}`] }),
        flow: directFlow,
      });
      expect(response.status, q).toBe(400);
    }
  });

  it('answers a query (no Contact) with the current bindings and changes nothing', async () => {
    const { registrar } = await open();
    await registrar.handle({ request: register({ expires: 600 }), flow: directFlow });
    const response = await registrar.handle({
      request: register({ contacts: [], cseq: 2 }),
      flow: directFlow,
    });
    expect(response.status).toBe(200);
    expect(contactsOf(response)).toEqual(['<sip:alice@192.0.2.10:5062>;expires=600']);
  });

  it('refuses more bindings than maxBindingsPerAor with 403', async () => {
    const { registrar } = await open({ maxBindingsPerAor: 2 });
    const response = await registrar.handle({
      request: register({
        contacts: ['<sip:alice@192.0.2.1>', '<sip:alice@192.0.2.2>', '<sip:alice@192.0.2.3>'],
      }),
      flow: directFlow,
    });
    expect(response.status).toBe(403);
    expect(await registrar.bindings('sip:alice@tenant.example')).toEqual([]);
  });
});

describe('Registrar: unregistering', () => {
  it('removes one contact with expires=0', async () => {
    const { registrar } = await open();
    const removed: string[] = [];
    registrar.on('unregistered', (b) => removed.push(b.contact));
    await registrar.handle({
      request: register({ contacts: ['<sip:alice@192.0.2.1>', '<sip:alice@192.0.2.2>'] }),
      flow: directFlow,
    });
    const response = await registrar.handle({
      request: register({ contacts: ['<sip:alice@192.0.2.1>;expires=0'], cseq: 2 }),
      flow: directFlow,
    });
    expect(response.status).toBe(200);
    expect(contactsOf(response)).toEqual(['<sip:alice@192.0.2.2>;expires=3600']);
    expect(removed).toEqual(['sip:alice@192.0.2.1']);
  });

  it('removes every binding with Contact: * and Expires: 0', async () => {
    const { registrar } = await open();
    const removed: string[] = [];
    registrar.on('unregistered', (b) => removed.push(b.contact));
    await registrar.handle({
      request: register({ contacts: ['<sip:alice@192.0.2.1>'], callId: 'x' }),
      flow: directFlow,
    });
    await registrar.handle({
      request: register({ contacts: ['<sip:alice@192.0.2.2>'], callId: 'y' }),
      flow: directFlow,
    });
    const response = await registrar.handle({
      request: register({ contacts: ['*'], expires: 0, callId: 'z' }),
      flow: directFlow,
    });
    expect(response.status).toBe(200);
    expect(contactsOf(response)).toEqual([]);
    expect(removed.sort()).toEqual(['sip:alice@192.0.2.1', 'sip:alice@192.0.2.2']);
    expect(await registrar.lookup('sip:alice@tenant.example')).toEqual([]);
  });

  it('answers 400 to Contact: * without Expires: 0 or with other contacts', async () => {
    const { registrar } = await open();
    await registrar.handle({ request: register(), flow: directFlow });
    for (const request of [
      register({ contacts: ['*'], cseq: 2 }),
      register({ contacts: ['*'], expires: 60, cseq: 3 }),
      register({ contacts: ['*', '<sip:alice@192.0.2.9>'], expires: 0, cseq: 4 }),
    ]) {
      expect((await registrar.handle({ request, flow: directFlow })).status).toBe(400);
    }
    expect(await registrar.bindings('sip:alice@tenant.example')).toHaveLength(1);
  });
});

describe('Registrar: Call-ID and CSeq ordering (RFC 3261 §10.3 step 7)', () => {
  it('fails a REGISTER with the same Call-ID and a CSeq that is not higher', async () => {
    const { registrar } = await open();
    await registrar.handle({ request: register({ cseq: 5, expires: 600 }), flow: directFlow });
    for (const cseq of [5, 4]) {
      const response = await registrar.handle({
        request: register({ cseq, expires: 0 }),
        flow: directFlow,
      });
      expect(response.status).toBe(500);
    }
    expect(await registrar.bindings('sip:alice@tenant.example')).toHaveLength(1);
    const later = await registrar.handle({
      request: register({ cseq: 6, expires: 0 }),
      flow: directFlow,
    });
    expect(later.status).toBe(200);
    expect(await registrar.bindings('sip:alice@tenant.example')).toEqual([]);
  });

  it('lets another Call-ID replace a binding whatever its CSeq', async () => {
    const { registrar } = await open();
    await registrar.handle({ request: register({ cseq: 50, callId: 'old' }), flow: directFlow });
    const response = await registrar.handle({
      request: register({ cseq: 1, callId: 'new', expires: 120 }),
      flow: directFlow,
    });
    expect(response.status).toBe(200);
    const [binding] = await registrar.bindings('sip:alice@tenant.example');
    expect(binding?.callId).toBe('new');
    expect(binding?.cseq).toBe(1);
  });

  it('fails Contact: * when a binding has the same Call-ID and a higher CSeq', async () => {
    const { registrar } = await open();
    await registrar.handle({ request: register({ cseq: 9 }), flow: directFlow });
    const response = await registrar.handle({
      request: register({ contacts: ['*'], expires: 0, cseq: 3 }),
      flow: directFlow,
    });
    expect(response.status).toBe(500);
    expect(await registrar.bindings('sip:alice@tenant.example')).toHaveLength(1);
  });

  it('applies REGISTERs for one AOR in the order they arrive, even with a slow store', async () => {
    const inner = new MemoryBindingStore();
    let delay = 5;
    const slow = {
      get: async (aor: string) => {
        const d = delay;
        delay = Math.max(0, delay - 4);
        await new Promise((r) => setTimeout(r, d));
        return inner.get(aor);
      },
      set: (aor: string, b: readonly Binding[]) => inner.set(aor, b),
      expire: (now: number) => inner.expire(now),
    };
    const { registrar } = await open({ store: slow });
    const first = registrar.handle({ request: register({ cseq: 1 }), flow: directFlow });
    const second = registrar.handle({
      request: register({ cseq: 2, expires: 0 }),
      flow: directFlow,
    });
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(await registrar.bindings('sip:alice@tenant.example')).toEqual([]);
  });
});

describe('Registrar: NAT and flows', () => {
  it('keeps the received path and routes a NATed contact through it', async () => {
    const { registrar } = await open();
    await registrar.handle({
      request: register({ contacts: ['<sip:alice@10.0.0.5:5060>'] }),
      flow: natFlow,
    });
    const [route] = await registrar.lookup('sip:alice@tenant.example');
    expect(route?.behindNat).toBe(true);
    expect(route?.target).toEqual({ protocol: 'UDP', host: '203.0.113.7', port: 40_000 });
    expect(route?.flowId).toBe('flow-1');
    // UDP through a NAT binding: the source address works without the flow.
    expect(route?.flowRequired).toBe(false);
    expect(route?.binding.received).toEqual({
      protocol: 'UDP',
      source: { host: '203.0.113.7', port: 40_000 },
      local: { host: '198.51.100.1', port: 5060 },
      flowId: 'flow-1',
    });
  });

  it('reaches a contact that matches its source address directly', async () => {
    const { registrar } = await open();
    await registrar.handle({ request: register(), flow: directFlow });
    const [route] = await registrar.lookup('sip:alice@tenant.example');
    expect(route?.behindNat).toBe(false);
    expect(route?.target).toEqual({ protocol: 'UDP', host: '192.0.2.10', port: 5062 });
    expect(route?.flowRequired).toBe(false);
  });

  it('marks contacts that only their flow reaches: NATed TCP and WebSocket phones', async () => {
    const { registrar, clock } = await open();
    await registrar.handle({
      request: register({ contacts: ['<sip:alice@10.0.0.5:5060;transport=tcp>'], callId: 't' }),
      flow: { id: 'tcp-1', protocol: 'TCP', remote: { host: '203.0.113.7', port: 51_000 } },
    });
    clock.advance(1000);
    await registrar.handle({
      request: register({ contacts: ['<sip:x1@abc.invalid;transport=ws>'], callId: 'w' }),
      flow: { id: 'ws-1', protocol: 'WS', remote: { host: '203.0.113.8', port: 52_000 } },
    });
    const routes = await registrar.lookup('sip:alice@tenant.example');
    expect(routes.map((r) => [r.flowId, r.flowRequired, r.target.protocol])).toEqual([
      ['ws-1', true, 'WS'],
      ['tcp-1', true, 'TCP'],
    ]);
  });

  it('reaches a TCP contact registered over UDP at its own address, without the UDP flow', async () => {
    const { registrar } = await open();
    await registrar.handle({
      request: register({ contacts: ['<sip:alice@192.0.2.10:5062;transport=tcp>'] }),
      flow: directFlow,
    });
    const [route] = await registrar.lookup('sip:alice@tenant.example');
    // Other protocol than the REGISTER's: only the received path is known to work.
    expect(route?.target).toEqual({ protocol: 'UDP', host: '192.0.2.10', port: 5062 });
    expect(route?.flowId).toBe('flow-2');
  });

  it('RFC 5626: a new contact of the same instance and reg-id replaces the old binding', async () => {
    const { registrar } = await open();
    const removed: string[] = [];
    registrar.on('unregistered', (b) => removed.push(b.contact));
    const instance = '"<urn:uuid:00000000-0000-1000-8000-000000000001>"';
    const first = await registrar.handle({
      request: register({
        contacts: [`<sip:alice@10.0.0.5:5060>;+sip.instance=${instance};reg-id=1`],
        headers: [['Supported', 'outbound, path']],
      }),
      flow: natFlow,
    });
    expect(first.headers.get('require')).toBe('outbound');
    await registrar.handle({
      request: register({
        contacts: [`<sip:alice@10.0.0.99:5070>;+sip.instance=${instance};reg-id=1`],
        headers: [['Supported', 'outbound']],
        callId: 'other',
      }),
      flow: { ...natFlow, id: 'flow-9' },
    });
    const routes = await registrar.lookup('sip:alice@tenant.example');
    expect(routes.map((r) => r.uri)).toEqual(['sip:alice@10.0.0.99:5070']);
    expect(routes[0]?.binding.instanceId).toBe('<urn:uuid:00000000-0000-1000-8000-000000000001>');
    expect(routes[0]?.binding.regId).toBe(1);
    expect(routes[0]?.flowId).toBe('flow-9');
    expect(removed).toEqual(['sip:alice@10.0.0.5:5060']);
  });
});

describe('Registrar: bad requests and lifecycle', () => {
  it('answers 404 for a To that is not a SIP AOR, or a domain not served', async () => {
    const { registrar } = await open({
      realm: ({ domain }) => (domain === DOMAIN ? 'tenant-realm' : undefined),
    });
    const tel = register({ to: '<tel:+15551234>' });
    expect((await registrar.handle({ request: tel, flow: directFlow })).status).toBe(404);
    const other = register({ to: '<sip:alice@elsewhere.example>' });
    expect((await registrar.handle({ request: other, flow: directFlow })).status).toBe(404);
  });

  it('answers 420 with Unsupported to an unknown Require', async () => {
    const { registrar } = await open();
    const response = await registrar.handle({
      request: register({ headers: [['Require', 'foo, outbound']] }),
      flow: directFlow,
    });
    expect(response.status).toBe(420);
    expect(response.headers.get('unsupported')).toBe('foo');
  });

  it('answers 500 with Retry-After when the store fails', async () => {
    const failing = {
      get: () => Promise.reject(new Error('disk on fire')),
      set: () => Promise.resolve(),
      expire: () => Promise.resolve([]),
    };
    const { registrar } = await open({ store: failing });
    const response = await registrar.handle({ request: register(), flow: directFlow });
    expect(response.status).toBe(500);
    expect(response.headers.get('retry-after')).toBe('5');
  });

  it('answers 503 once draining or stopped', async () => {
    const { registrar } = await open();
    await registrar.drain();
    const response = await registrar.handle({ request: register(), flow: directFlow });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
  });

  it('rejects with ABORTED when the signal aborts', async () => {
    const { registrar } = await open();
    await expect(
      registrar.handle({
        request: register(),
        flow: directFlow,
        signal: AbortSignal.abort(),
      }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('needs credentials or an authenticator', () => {
    expect(() => new Registrar({})).toThrow(TypeError);
  });
});

describe('Registrar: digest authentication and scanner defence', () => {
  const passwords = new Map([['alice', 'correct horse']]);
  const credentials: RegistrarOptions['credentials'] = ({ username }) => {
    const password = passwords.get(username);
    return password === undefined ? undefined : { password };
  };

  async function withAuth(request: SipRequest, registrar: Registrar, password: string) {
    const challenge = await registrar.handle({ request, flow: natFlow });
    expect(challenge.status).toBe(401);
    const client = new DigestClient({
      username: request.to?.uri.toString().split(':')[1]?.split('@')[0] ?? '',
      password,
    });
    const [auth] = client.authorize({
      challenges: challenge.headers.getAll('www-authenticate'),
      method: 'REGISTER',
      uri: request.uri.toString(),
    });
    const retry = new SipRequest({
      method: 'REGISTER',
      uri: request.uri,
      headers: request.headers.clone(),
    });
    retry.headers.set('CSeq', `${(request.cseq?.seq ?? 1) + 1} REGISTER`);
    retry.headers.append('Authorization', auth!.value);
    return registrar.handle({ request: retry, flow: natFlow });
  }

  it('challenges, then accepts the right password', async () => {
    const { registrar } = await open({ authenticator: undefined, credentials });
    const response = await withAuth(register(), registrar, 'correct horse');
    expect(response.status).toBe(200);
    expect(await registrar.lookup('sip:alice@tenant.example')).toHaveLength(1);
  });

  it('refuses a wrong password with a new challenge and saves nothing', async () => {
    const { registrar } = await open({ authenticator: undefined, credentials });
    const response = await withAuth(register(), registrar, 'wrong');
    expect(response.status).toBe(401);
    expect(response.headers.getAll('www-authenticate').length).toBeGreaterThan(0);
    expect(await registrar.lookup('sip:alice@tenant.example')).toEqual([]);
  });

  it('gives unknown and known users the same challenge and the same failure', async () => {
    const { registrar } = await open({ authenticator: undefined, credentials });
    const shape = (r: SipResponse) => ({
      status: r.status,
      reason: r.reason,
      headers: [...r.headers].map((h) => h.name).filter((n) => n !== 'To'),
      challenges: r.headers.getAll('www-authenticate').map((c) => {
        const { nonce: _nonce, ...rest } = parseDigestChallenge(c);
        return rest;
      }),
    });
    const known = await registrar.handle({ request: register(), flow: natFlow });
    const unknown = await registrar.handle({
      request: register({ user: 'nobody' }),
      flow: natFlow,
    });
    expect(shape(unknown)).toEqual(shape(known));
    const knownWrong = await withAuth(register(), registrar, 'guess');
    const unknownWrong = await withAuth(register({ user: 'nobody' }), registrar, 'guess');
    expect(shape(unknownWrong)).toEqual(shape(knownWrong));
  });

  it('throttles a source after repeated failures: 403 with Retry-After, even for the right password', async () => {
    const { registrar } = await open({ authenticator: undefined, credentials });
    for (let i = 0; i < 10; i++) {
      expect((await withAuth(register({ callId: `c${i}` }), registrar, `guess${i}`)).status).toBe(
        401,
      );
    }
    // Right credentials, computed from a challenge fetched from elsewhere,
    // still get 403 from the throttled source, and the source is told when to retry.
    const request = register({ callId: 'last' });
    const otherFlow: RegistrarFlow = { ...natFlow, remote: { host: '203.0.113.99', port: 5060 } };
    const challenge = await registrar.handle({ request, flow: otherFlow });
    const [auth] = new DigestClient({ username: 'alice', password: 'correct horse' }).authorize({
      challenges: challenge.headers.getAll('www-authenticate'),
      method: 'REGISTER',
      uri: request.uri.toString(),
    });
    request.headers.append('Authorization', auth!.value);
    request.headers.set('CSeq', '2 REGISTER');
    const throttled = await registrar.handle({ request, flow: natFlow });
    expect(throttled.status).toBe(403);
    expect(throttled.headers.getAll('www-authenticate')).toEqual([]);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await registrar.lookup('sip:alice@tenant.example')).toEqual([]);
    // Another source is not affected.
    request.headers.set('CSeq', '3 REGISTER');
    expect((await registrar.handle({ request, flow: otherFlow })).status).toBe(200);
  });

  it("refuses an authenticated user registering someone else's AOR with 403", async () => {
    const { registrar } = await open({ authenticator: undefined, credentials });
    const request = register({ to: `<sip:bob@${DOMAIN}>` });
    const challenge = await registrar.handle({ request, flow: natFlow });
    const [auth] = new DigestClient({ username: 'alice', password: 'correct horse' }).authorize({
      challenges: challenge.headers.getAll('www-authenticate'),
      method: 'REGISTER',
      uri: request.uri.toString(),
    });
    request.headers.append('Authorization', auth!.value);
    request.headers.set('CSeq', '2 REGISTER');
    const response = await registrar.handle({ request, flow: natFlow });
    expect(response.status).toBe(403);
  });
});
