import { FakeClock } from '@voxmesh/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DigestAuthenticator, SipResponseError, UserAgent } from '@voxmesh/sip';
import { MemoryNetwork, VirtualPhone, type VirtualPhoneState } from '@voxmesh/sip/testing';

const phones: VirtualPhone[] = [];
const agents: UserAgent[] = [];
afterEach(async () => {
  for (const p of phones.splice(0)) await p.stop();
  for (const a of agents.splice(0)) await a.stop();
});

function setup() {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const phone = (
    user: string,
    host: string,
    extra: { autoAnswer?: boolean; password?: string } = {},
  ) => {
    const p = new VirtualPhone({
      transport: net.transport({ host, port: 5060 }),
      uri: `sip:${user}@${host}`,
      clock,
      autoAnswer: extra.autoAnswer,
      credentials:
        extra.password === undefined ? undefined : { username: user, password: extra.password },
    });
    phones.push(p);
    return p;
  };
  return { clock, net, phone };
}

async function flush(rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

describe('VirtualPhone', () => {
  it('registers with digest authentication against a registrar', async () => {
    const { net, clock, phone } = setup();
    const registrar = new UserAgent({
      transport: net.transport({ host: '10.0.0.100', port: 5060 }),
      uri: 'sip:registrar@10.0.0.100',
      clock,
    });
    agents.push(registrar);
    const auth = new DigestAuthenticator({
      lookup: ({ username }) => (username === 'alice' ? { password: 'pw1' } : undefined),
      clock,
    });
    const bindings = new Map<string, string>();
    registrar.use({
      method: 'REGISTER',
      handler: async (ctx) => {
        const result = await auth.verify({
          realm: 'voxmesh.test',
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
        bindings.set(result.username, ctx.request.contact[0]!.uri.toString());
        ctx.respond({ status: 200, headers: [['Contact', ctx.request.headers.get('Contact')!]] });
      },
    });
    await registrar.start();
    const alice = phone('alice', '10.0.0.1', { password: 'pw1' });
    const eve = phone('alice', '10.0.0.9', { password: 'guess' });
    await Promise.all([alice.start(), eve.start()]);
    const ok = await alice.register({ registrar: 'sip:10.0.0.100' });
    expect(ok.status).toBe(200);
    expect(bindings.get('alice')).toBe('sip:alice@10.0.0.1:5060');
    expect(alice.sent('REGISTER')).toHaveLength(2);
    expect(alice.received(401)).toHaveLength(1);
    expect(alice.sent('REGISTER')[1]!.headers.get('Authorization')).toMatch(/algorithm=SHA-256/);
    await expect(eve.register({ registrar: 'sip:10.0.0.100' })).rejects.toBeInstanceOf(
      SipResponseError,
    );
  });

  it('calls, rings, answers, holds, resumes, sends DTMF and hangs up, with states and a message log', async () => {
    const { phone } = setup();
    const alice = phone('alice', '10.0.0.1');
    const bob = phone('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const bobStates: VirtualPhoneState[] = [];
    bob.on('state', (s) => bobStates.push(s));
    expect(alice.state).toBe('idle');
    const calling = alice.call({ uri: 'sip:bob@10.0.0.2' });
    await bob.waitForState('ringing');
    expect(alice.state).toBe('early');
    await bob.answer();
    await calling;
    expect(alice.state).toBe('talking');
    expect(bob.state).toBe('talking');
    await alice.hold();
    expect(alice.state).toBe('holding');
    await flush();
    expect(bob.state).toBe('holding');
    expect(alice.sent('INVITE')[1]!.body.toString()).toContain('a=sendonly');
    await alice.unhold();
    await flush();
    expect(alice.state).toBe('talking');
    expect(bob.state).toBe('talking');
    await alice.sendDtmf({ digits: '4#' });
    expect(bob.dtmfReceived).toEqual(['4', '#']);
    await bob.hangup();
    await alice.waitForState('hungup');
    expect(bob.state).toBe('hungup');
    expect(bobStates).toEqual(['ringing', 'talking', 'holding', 'talking', 'hungup']);
    expect(bob.received('BYE')).toHaveLength(0);
    expect(bob.sent('BYE')).toHaveLength(1);
    expect(alice.received('BYE')).toHaveLength(1);
    expect(alice.received(200).length).toBeGreaterThanOrEqual(5);
  });

  it('rejects a call and is busy while in another call', async () => {
    const { phone } = setup();
    const alice = phone('alice', '10.0.0.1');
    const bob = phone('bob', '10.0.0.2', { autoAnswer: true });
    const carol = phone('carol', '10.0.0.3');
    await Promise.all([alice.start(), bob.start(), carol.start()]);
    const calling = alice.call({ uri: 'sip:carol@10.0.0.3' });
    await carol.waitForState('ringing');
    carol.reject({ status: 603 });
    await expect(calling).rejects.toMatchObject({ status: 603 });
    expect(alice.state).toBe('hungup');
    await alice.call({ uri: 'sip:bob@10.0.0.2' });
    await expect(carol.call({ uri: 'sip:bob@10.0.0.2' })).rejects.toMatchObject({ status: 486 });
    await alice.hangup();
  });

  it('hangs up a ringing outgoing call with CANCEL', async () => {
    const { phone } = setup();
    const alice = phone('alice', '10.0.0.1');
    const bob = phone('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const calling = alice.call({ uri: 'sip:bob@10.0.0.2' }).catch((e: unknown) => e);
    await bob.waitForState('ringing');
    await flush();
    await alice.hangup();
    expect(await calling).toMatchObject({ status: 487 });
    await bob.waitForState('hungup');
    expect(alice.sent('CANCEL')).toHaveLength(1);
  });

  it('blind transfer: bob refers alice to carol; alice ends up talking to carol', async () => {
    const { phone } = setup();
    const alice = phone('alice', '10.0.0.1');
    const bob = phone('bob', '10.0.0.2', { autoAnswer: true });
    const carol = phone('carol', '10.0.0.3', { autoAnswer: true });
    await Promise.all([alice.start(), bob.start(), carol.start()]);
    await alice.call({ uri: 'sip:bob@10.0.0.2' });
    await bob.waitForState('talking');
    await bob.transfer({ target: 'sip:carol@10.0.0.3' });
    await flush();
    expect(bob.state).toBe('hungup');
    expect(carol.state).toBe('talking');
    expect(alice.state).toBe('talking');
    const refer = bob.sent('REFER')[0]!;
    expect(refer.headers.get('Refer-To')).toBe('<sip:carol@10.0.0.3>');
    expect(refer.headers.get('Referred-By')).toBe('<sip:bob@10.0.0.2>');
    const invite = carol.received('INVITE')[0]!;
    expect(invite.headers.get('Referred-By')).toBe('<sip:bob@10.0.0.2>');
    const notifies = bob.received('NOTIFY').map((m) => m.body.toString().trim());
    expect(notifies).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 200 OK']);
    expect(alice.currentCall?.dialog?.remoteUri.uri.toString()).toBe('sip:carol@10.0.0.3');
    await alice.hangup();
    await carol.waitForState('hungup');
  });

  it('attended transfer: alice consults carol, then connects bob to carol with Replaces (RFC 3891)', async () => {
    const { net, phone, clock } = setup();
    const alice = phone('alice', '10.0.0.1');
    const bob = phone('bob', '10.0.0.2', { autoAnswer: true });
    const carol = phone('carol', '10.0.0.3', { autoAnswer: true });
    await Promise.all([alice.start(), bob.start(), carol.start()]);
    const toBob = await alice.call({ uri: 'sip:bob@10.0.0.2' });
    await alice.hold();
    // A second user agent of alice's consults carol (a phone holds one call at a time).
    const consult = new UserAgent({
      transport: net.transport({ host: '10.0.0.11', port: 5060 }),
      uri: 'sip:alice@10.0.0.11',
      clock,
      sessionTimer: false,
    });
    agents.push(consult);
    await consult.start();
    const toCarol = consult.invite({ uri: 'sip:carol@10.0.0.3' });
    await toCarol.answered();
    await carol.waitForState('talking');
    const consultEnded = new Promise<string>((r) =>
      toCarol.once('terminated', (end) => r(end.cause)),
    );
    await alice.transfer({ replaces: toCarol });
    expect(toBob.state).toBe('terminated');
    expect(await consultEnded).toBe('bye');
    await flush();
    const invite = carol.received('INVITE')[1]!;
    expect(invite.headers.get('Replaces')).toBe(
      `${toCarol.callId};to-tag=${toCarol.dialog!.remoteTag};from-tag=${toCarol.dialog!.localTag}`,
    );
    expect(bob.state).toBe('talking');
    expect(carol.state).toBe('talking');
    expect(bob.currentCall?.dialog?.remoteTag).toBe(carol.currentCall?.dialog?.localTag);
  });

  it('an INVITE with Replaces for an unknown dialog gets 481', async () => {
    const { phone } = setup();
    const alice = phone('alice', '10.0.0.1');
    const bob = phone('bob', '10.0.0.2', { autoAnswer: true });
    await Promise.all([alice.start(), bob.start()]);
    await expect(
      alice.call({ uri: 'sip:bob@10.0.0.2', headers: [['Replaces', 'nope;to-tag=a;from-tag=b']] }),
    ).rejects.toMatchObject({ status: 481 });
  });
});
