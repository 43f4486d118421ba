import { FakeClock, type VoxmeshError } from '@voxmesh/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  B2bua,
  type Bridge,
  type Call,
  DigestAuthenticator,
  type RequestContext,
  SipB2buaErrorCode,
  type SipRequest,
  Trunk,
  UserAgent,
  trunkFailover,
  trunkTargets,
} from '@voxmesh/sip';
import { MemoryNetwork, VirtualPhone } from '@voxmesh/sip/testing';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const SDP =
  'v=0\r\no=- 3 1 IN IP4 10.0.0.50\r\ns=-\r\nc=IN IP4 10.0.0.50\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n';

async function until(check: () => boolean, rounds = 400): Promise<void> {
  for (let i = 0; i < rounds && !check(); i++) await new Promise((r) => setImmediate(r));
  expect(check()).toBe(true);
}

interface CarrierOptions {
  host: string;
  /** What REGISTER gets after authentication. @defaultValue 200 */
  registerStatus?: () => number;
  /** Granted expiry. */
  expiresS?: number;
  /** Shorter requests get 423 with this Min-Expires. */
  minExpiresS?: number;
  /** Challenge INVITEs with 407 (proxy) instead of 401. */
  proxyAuth?: boolean;
  /** What an authenticated INVITE gets. @defaultValue 200 with SDP */
  inviteStatus?: number;
}

function world() {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const ua = new UserAgent({
    transport: net.transport({ host: '10.0.0.100', port: 5060 }),
    uri: 'sip:pbx@10.0.0.100',
    clock,
    sessionTimer: false,
  });
  cleanups.push(() => ua.stop());

  /** A carrier: a registrar and a call server, both behind digest auth. */
  const carrier = (options: CarrierOptions) => {
    const cua = new UserAgent({
      transport: net.transport({ host: options.host, port: 5060 }),
      uri: `sip:carrier@${options.host}`,
      clock,
      sessionTimer: false,
    });
    cleanups.push(() => cua.stop());
    const lookup = ({ username }: { username: string }) =>
      username === 'acme' ? { password: 's3cret' } : undefined;
    const registrarAuth = new DigestAuthenticator({ lookup, clock, algorithms: ['MD5'] });
    const callAuth = new DigestAuthenticator({
      lookup,
      clock,
      proxy: options.proxyAuth ?? false,
    });
    const registers: SipRequest[] = [];
    const invites: SipRequest[] = [];
    cua.use({
      method: 'REGISTER',
      handler: async (ctx: RequestContext) => {
        registers.push(ctx.request);
        const result = await registrarAuth.verify({
          realm: 'carrier.test',
          method: 'REGISTER',
          requestUri: ctx.request.uri.toString(),
          authorization: ctx.request.headers.getAll('Authorization'),
        });
        if (!result.ok) {
          ctx.respond({
            status: result.status,
            headers: result.challenges.map((c) => [result.headerName, c] as const),
          });
          return;
        }
        const asked = Number(ctx.request.headers.get('expires'));
        if (options.minExpiresS !== undefined && asked > 0 && asked < options.minExpiresS) {
          ctx.respond({ status: 423, headers: [['Min-Expires', String(options.minExpiresS)]] });
          return;
        }
        const status = options.registerStatus?.() ?? 200;
        if (status !== 200) {
          ctx.respond({ status });
          return;
        }
        const expires = asked === 0 ? 0 : (options.expiresS ?? asked);
        ctx.respond({
          status: 200,
          headers: [['Contact', `${ctx.request.headers.get('Contact')!};expires=${expires}`]],
        });
      },
    });
    cua.use({
      method: 'INVITE',
      handler: async ({ call, request }) => {
        invites.push(request);
        const result = await callAuth.verify({
          realm: 'carrier.test',
          method: 'INVITE',
          requestUri: request.uri.toString(),
          authorization: request.headers.getAll(
            options.proxyAuth === true ? 'Proxy-Authorization' : 'Authorization',
          ),
        });
        if (!result.ok) {
          call!.reject({
            status: result.status,
            headers: result.challenges.map((c) => [result.headerName, c] as const),
          });
          return;
        }
        const status = options.inviteStatus ?? 200;
        if (status >= 300) {
          call!.reject({ status });
          return;
        }
        await call!.progress({ status: 180 });
        await call!.accept({ body: SDP });
      },
    });
    return { ua: cua, registers, invites };
  };

  const trunk = (
    name: string,
    proxy: string,
    extra: Partial<ConstructorParameters<typeof Trunk>[0]> = {},
  ) => {
    const t = new Trunk({
      ua,
      name,
      domain: 'carrier.test',
      proxy,
      username: 'acme',
      password: 's3cret',
      clock,
      ...extra,
    });
    cleanups.push(() => t.stop());
    return t;
  };
  return { clock, net, ua, carrier, trunk };
}

describe('Trunk registration', () => {
  it('registers through the proxy answering the challenge, refreshes before expiry, unregisters on stop', async () => {
    const w = world();
    const carrier = w.carrier({ host: '10.0.0.50', expiresS: 120 });
    await Promise.all([w.ua.start(), carrier.ua.start()]);
    const trunk = w.trunk('carrier-a', '10.0.0.50', { expiresS: 300 });
    const granted: number[] = [];
    trunk.on('registered', (s) => granted.push(s));
    await trunk.start();
    w.clock.advance(0);
    await until(() => granted.length === 1);
    expect(granted).toEqual([120]);
    expect(trunk.registered).toBe(true);
    expect(carrier.registers).toHaveLength(2);
    const [first, second] = carrier.registers as [SipRequest, SipRequest];
    expect(first.uri.toString()).toBe('sip:carrier.test');
    expect(first.to?.uri.toString()).toBe('sip:acme@carrier.test');
    expect(first.from?.uri.toString()).toBe('sip:acme@carrier.test');
    expect(second.headers.get('authorization')).toMatch(/username="acme"/);
    // RFC 3261 §10.2: the same Call-ID, CSeq increasing.
    expect(second.callId).toBe(first.callId);
    expect(second.cseq!.seq).toBeGreaterThan(first.cseq!.seq);
    // Refresh at max(120/2, 120-60) = 60 s.
    w.clock.advance(59_999);
    await until(() => true);
    expect(carrier.registers).toHaveLength(2);
    w.clock.advance(1);
    await until(() => granted.length === 2);
    expect(carrier.registers).toHaveLength(4);
    expect(carrier.registers[2]!.callId).toBe(first.callId);
    expect(carrier.registers[2]!.cseq!.seq).toBeGreaterThan(second.cseq!.seq);
    const unregistered = new Promise<void>((r) => trunk.once('unregistered', () => r()));
    await trunk.stop();
    await unregistered;
    const last = carrier.registers.at(-1)!;
    expect(last.headers.get('expires')).toBe('0');
    expect(last.headers.get('authorization')).toBeDefined();
  });

  it('retries a failed registration with doubling backoff, then registers', async () => {
    const w = world();
    let fail = 2;
    const carrier = w.carrier({
      host: '10.0.0.50',
      registerStatus: () => (fail-- > 0 ? 503 : 200),
    });
    await Promise.all([w.ua.start(), carrier.ua.start()]);
    const trunk = w.trunk('carrier-a', '10.0.0.50', { retryInitialMs: 1000, retryMaxMs: 1500 });
    const failures: { code: string; retryIn: number }[] = [];
    trunk.on('failed', (error: VoxmeshError, retryIn) =>
      failures.push({ code: error.code, retryIn }),
    );
    let registered = false;
    trunk.on('registered', () => (registered = true));
    await trunk.start();
    w.clock.advance(0);
    await until(() => failures.length === 1);
    expect(failures[0]).toEqual({
      code: SipB2buaErrorCode.SIP_TRUNK_REGISTRATION_FAILED,
      retryIn: 1000,
    });
    w.clock.advance(999);
    await until(() => true);
    expect(failures).toHaveLength(1);
    w.clock.advance(1);
    await until(() => failures.length === 2);
    expect(failures[1]!.retryIn).toBe(1500);
    expect(trunk.registered).toBe(false);
    w.clock.advance(1500);
    await until(() => registered);
    expect(trunk.registered).toBe(true);
  });

  it('retries at once with the Min-Expires of a 423', async () => {
    const w = world();
    const carrier = w.carrier({ host: '10.0.0.50', minExpiresS: 900 });
    await Promise.all([w.ua.start(), carrier.ua.start()]);
    const trunk = w.trunk('carrier-a', '10.0.0.50', { expiresS: 60 });
    const granted: number[] = [];
    trunk.on('registered', (s) => granted.push(s));
    const failures: number[] = [];
    trunk.on('failed', (_e, retryIn) => failures.push(retryIn));
    await trunk.start();
    w.clock.advance(0);
    // 401, then 423 for the authenticated REGISTER.
    await until(() => carrier.registers.length === 2);
    // The retry is scheduled without delay: due timers fire on every turn.
    await until(() => {
      w.clock.advance(0);
      return granted.length === 1;
    });
    expect(carrier.registers).toHaveLength(4);
    expect(granted).toEqual([900]);
    expect(failures).toEqual([]);
    expect(carrier.registers.at(-1)!.headers.get('expires')).toBe('900');
  });

  it('does not register when register is false, and rejects bad numbers', async () => {
    const w = world();
    const carrier = w.carrier({ host: '10.0.0.50' });
    await Promise.all([w.ua.start(), carrier.ua.start()]);
    const trunk = w.trunk('carrier-a', '10.0.0.50', { register: false });
    await trunk.start();
    w.clock.advance(10_000);
    await until(() => true);
    expect(carrier.registers).toHaveLength(0);
    expect(() => trunk.target('+49 30 <script>')).toThrow(/not a number/i);
    expect(trunk.target('+4930123')).toMatchObject({
      uri: 'sip:+4930123@carrier.test',
      next: { protocol: 'UDP', host: '10.0.0.50', port: 5060 },
      from: 'sip:acme@carrier.test',
      label: 'carrier-a',
    });
    // Caller-ID presentation: an asserted identity, or a withheld one.
    expect(
      trunk.target('+4930123', {
        from: '<sip:+4930200@carrier.test>',
        assertedIdentity: 'sip:+4930100@carrier.test',
      }),
    ).toMatchObject({
      from: '<sip:+4930200@carrier.test>',
      headers: [['P-Asserted-Identity', '<sip:+4930100@carrier.test>']],
    });
    expect(trunk.target('+4930123', { privacy: true })).toMatchObject({
      from: '"Anonymous" <sip:anonymous@anonymous.invalid>',
      headers: [
        ['P-Asserted-Identity', '<sip:acme@carrier.test>'],
        ['Privacy', 'id'],
      ],
    });
  });
});

describe('Trunk calls', () => {
  async function bridgeThrough(
    w: ReturnType<typeof world>,
    targets: (call: Call) => Parameters<B2bua['bridge']>[0],
  ) {
    const b2bua = new B2bua({ ua: w.ua, clock: w.clock });
    cleanups.push(() => b2bua.stop());
    const bridges: Bridge[] = [];
    w.ua.use({
      method: 'INVITE',
      handler: ({ call }) => {
        bridges.push(b2bua.bridge(targets(call!)));
      },
    });
    const alice = new VirtualPhone({
      transport: w.net.transport({ host: '10.0.0.1', port: 5060 }),
      uri: 'sip:alice@10.0.0.1',
      clock: w.clock,
    });
    cleanups.push(() => alice.stop());
    await b2bua.start();
    await alice.start();
    return { b2bua, bridges, alice };
  }

  for (const proxyAuth of [false, true]) {
    it(`answers the carrier's ${proxyAuth ? '407' : '401'} challenge on an outbound call`, async () => {
      const w = world();
      const carrier = w.carrier({ host: '10.0.0.50', proxyAuth });
      await Promise.all([w.ua.start(), carrier.ua.start()]);
      const trunk = w.trunk('carrier-a', '10.0.0.50', { register: false });
      await trunk.start();
      const { alice } = await bridgeThrough(w, (call) => ({
        call,
        targets: [trunk.target('+4930123456', { from: '"ACME" <sip:+4930999@carrier.test>' })],
      }));
      await alice.call({ uri: 'sip:+4930123456@10.0.0.100' });
      expect(alice.state).toBe('talking');
      expect(carrier.invites).toHaveLength(2);
      const authorized = carrier.invites[1]!;
      expect(authorized.uri.toString()).toBe('sip:+4930123456@carrier.test');
      expect(authorized.from?.uri.toString()).toBe('sip:+4930999@carrier.test');
      expect(authorized.from?.displayName).toBe('ACME');
      expect(authorized.headers.get(proxyAuth ? 'proxy-authorization' : 'authorization')).toMatch(
        /username="acme"/,
      );
      await alice.hangup();
      await until(() => carrier.ua.calls.length === 0);
    });
  }

  it('fails over across trunks on 503, but passes a 486 through', async () => {
    const w = world();
    const down = w.carrier({ host: '10.0.0.50', inviteStatus: 503 });
    const up = w.carrier({ host: '10.0.0.51' });
    const busy = w.carrier({ host: '10.0.0.52', inviteStatus: 486 });
    await Promise.all([w.ua.start(), down.ua.start(), up.ua.start(), busy.ua.start()]);
    const a = w.trunk('a', '10.0.0.50', { register: false });
    const b = w.trunk('b', '10.0.0.51', { register: false });
    const c = w.trunk('c', '10.0.0.52', { register: false });
    await Promise.all([a.start(), b.start(), c.start()]);
    let order = [a, b];
    const { alice, bridges } = await bridgeThrough(w, (call) => ({
      call,
      targets: trunkTargets(order, '+4930123456'),
      continueOn: trunkFailover,
    }));
    await alice.call({ uri: 'sip:+4930123456@10.0.0.100' });
    // The first trunk is challenged, then answers 503; the second answers.
    expect(down.invites).toHaveLength(2);
    expect(up.invites).toHaveLength(2);
    expect(await bridges[0]!.result).toMatchObject({ answered: true, target: { label: 'b' } });
    await alice.hangup();
    await alice.waitForState('hungup');
    order = [c, b];
    await expect(alice.call({ uri: 'sip:+4930123456@10.0.0.100' })).rejects.toMatchObject({
      status: 486,
    });
    expect(busy.invites).toHaveLength(2);
    expect(up.invites).toHaveLength(2);
    expect(await bridges[1]!.result).toMatchObject({ answered: false, status: 486 });
  });
});
