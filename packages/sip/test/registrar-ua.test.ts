// The registrar as middleware of a UserAgent, with user agents on the
// in-memory network registering through the full UAC path (digest included).
import { Registrar, SipResponseError, UserAgent } from '@voxmesh/sip';
import { MemoryNetwork } from '@voxmesh/sip/testing';
import { afterEach, expect, it } from 'vitest';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function setup(): Promise<{ registrar: Registrar; network: MemoryNetwork }> {
  const network = new MemoryNetwork();
  const registrar = new Registrar({
    credentials: ({ username }) => (username === 'alice' ? { password: 'pw-alice' } : undefined),
  });
  const host = new UserAgent({
    transport: network.transport({ host: '10.0.0.1', port: 5060 }),
    uri: 'sip:registrar@voxmesh.test',
  });
  host.use({ method: 'REGISTER', handler: registrar.middleware() });
  await registrar.start();
  await host.start();
  stops.push(
    () => registrar.stop(),
    () => host.stop(),
  );
  return { registrar, network };
}

async function phone(network: MemoryNetwork, user: string, password: string): Promise<UserAgent> {
  const ua = new UserAgent({
    transport: network.transport({ host: '10.0.0.2', port: 5062 }),
    uri: `sip:${user}@voxmesh.test`,
    credentials: { username: user, password },
    outboundProxy: { protocol: 'UDP', host: '10.0.0.1', port: 5060 },
  });
  await ua.start();
  stops.push(() => ua.stop());
  return ua;
}

it('a user agent registers with digest through the middleware, is found, and unregisters', async () => {
  const { registrar, network } = await setup();
  const ua = await phone(network, 'alice', 'pw-alice');
  const response = await ua.register({ expiresS: 600 });
  expect(response.status).toBe(200);
  expect(response.headers.getAll('contact')).toEqual(['<sip:alice@10.0.0.2:5062>;expires=600']);
  const [route] = await registrar.lookup('sip:alice@voxmesh.test');
  expect(route?.uri).toBe('sip:alice@10.0.0.2:5062');
  expect(route?.behindNat).toBe(false);
  expect(route?.target).toEqual({ protocol: 'UDP', host: '10.0.0.2', port: 5062 });
  // The challenge round trip went over the network: 401 first, then 200.
  const statuses = network.log
    .map((entry) => entry.message)
    .filter((m) => m.isResponse())
    .map((m) => (m.isResponse() ? m.status : 0));
  expect(statuses).toEqual([401, 200]);

  await ua.register({ expiresS: 0 });
  expect(await registrar.lookup('sip:alice@voxmesh.test')).toEqual([]);
});

it('a wrong password is refused and nothing is bound', async () => {
  const { registrar, network } = await setup();
  const ua = await phone(network, 'alice', 'not-it');
  const failure = await ua.register().catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(SipResponseError);
  expect((failure as SipResponseError).status).toBe(401);
  expect(await registrar.lookup('sip:alice@voxmesh.test')).toEqual([]);
});
