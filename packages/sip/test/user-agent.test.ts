import { FakeClock, VoxmeshError } from '@voxmesh/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DigestAuthenticator,
  SipResponseError,
  UserAgent,
  type Call,
  type CallEnd,
  type ClientTransaction,
  type SipRequest,
} from '@voxmesh/sip';
import { MemoryNetwork } from '@voxmesh/sip/testing';

const SDP_A =
  'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const SDP_B =
  'v=0\r\no=- 2 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n';

const started: UserAgent[] = [];
afterEach(async () => {
  for (const ua of started.splice(0)) await ua.stop();
});

function pair(
  options: {
    reliable?: boolean;
    sessionTimer?: false | { expiresS: number; minSeS?: number };
  } = {},
) {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const make = (
    user: string,
    host: string,
    extra: Partial<ConstructorParameters<typeof UserAgent>[0]> = {},
  ) => {
    const ua = new UserAgent({
      transport: net.transport({ host, port: 5060, reliable: options.reliable }),
      uri: `sip:${user}@${host}`,
      clock,
      sessionTimer: options.sessionTimer ?? false,
      ...extra,
    });
    started.push(ua);
    return ua;
  };
  return { clock, net, make };
}

/** Lets the in-memory network deliver everything in flight. */
async function flush(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

function nextCall(ua: UserAgent): Promise<Call> {
  return new Promise((resolve) => ua.once('invite', resolve));
}

describe('UserAgent calls over the in-memory network', () => {
  it('INVITE → 180 → 200 → ACK, then BYE from the callee ends both sides', async () => {
    const { make } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const incoming = nextCall(bob);
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2', body: SDP_A });
    const bobCall = await incoming;
    expect(bobCall.state).toBe('ringing');
    expect(bobCall.remoteBody?.toString()).toBe(SDP_A);
    await bobCall.progress();
    await flush();
    expect(call.state).toBe('early');
    const acked = bobCall.accept({ body: SDP_B });
    const ok = await call.answered();
    await acked;
    expect(ok.status).toBe(200);
    expect(call.state).toBe('confirmed');
    expect(bobCall.state).toBe('confirmed');
    expect(call.remoteBody?.toString()).toBe(SDP_B);
    expect(call.dialog?.id).toBe(
      `${bobCall.callId}\n${bobCall.dialog?.remoteTag}\n${bobCall.dialog?.localTag}`,
    );
    const ended = new Promise<CallEnd>((r) => call.once('terminated', r));
    await bobCall.bye({ reason: { protocol: 'Q.850', cause: 16, text: 'Normal call clearing' } });
    expect(await ended).toMatchObject({
      cause: 'bye',
      by: 'remote',
      reason: 'Q.850;cause=16;text="Normal call clearing"',
    });
    expect(bobCall.end).toMatchObject({ cause: 'bye', by: 'local' });
    expect(alice.calls).toHaveLength(0);
    expect(bob.calls).toHaveLength(0);
  });

  it('an ended call leaves no listener on its INVITE transaction while that lingers (Timer M)', async () => {
    const { make, clock } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const sent: ClientTransaction[] = [];
    const layer = alice.transactions;
    const sendRequest = layer.sendRequest.bind(layer);
    layer.sendRequest = (options) => {
      const tx = sendRequest(options);
      sent.push(tx);
      return tx;
    };
    bob.use({ method: 'INVITE', handler: ({ call }) => void call!.accept({ body: SDP_B }) });
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2', body: SDP_A });
    await call.answered();
    const invite = sent.find((tx) => tx.request.method === 'INVITE')!;
    expect(invite.state).toBe('accepted');
    // While the call is up, a retransmitted 2xx still reaches it (RFC 6026 §7.2).
    expect(invite.listenerCount('response')).toBeGreaterThan(0);
    await call.bye();
    expect(call.state).toBe('terminated');
    // The transaction waits for Timer M but no longer holds the call.
    expect(invite.state).toBe('accepted');
    expect(invite.listenerCount('response')).toBe(0);
    expect(invite.listenerCount('failure')).toBe(0);
    clock.advance(64 * 500);
    await flush();
    expect(invite.state).toBe('terminated');
  });

  it('a rejected call rejects answered() with SipResponseError and the transaction ACKs the 486', async () => {
    const { make, net } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    bob.use({ method: 'INVITE', handler: ({ call }) => call!.reject({ status: 486 }) });
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2' });
    const error = await call.answered().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SipResponseError);
    expect(error).toMatchObject({ status: 486, code: 'SIP_REQUEST_FAILED' });
    expect(call.end).toMatchObject({ cause: 'rejected', by: 'remote', status: 486 });
    await flush();
    const acks = net.log.filter((l) => l.message.isRequest() && l.message.method === 'ACK');
    expect(acks).toHaveLength(1);
  });

  it('CANCEL with a Reason ends a ringing call on both sides (RFC 3261 §9, RFC 3326)', async () => {
    const { make } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const incoming = nextCall(bob);
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2' });
    const bobCall = await incoming;
    await bobCall.progress();
    await flush();
    const bobEnded = new Promise<CallEnd>((r) => bobCall.once('terminated', r));
    call.cancel({ reason: { protocol: 'SIP', cause: 200, text: 'Call completed elsewhere' } });
    await expect(call.answered()).rejects.toMatchObject({ status: 487 });
    expect(await bobEnded).toMatchObject({
      cause: 'canceled',
      by: 'remote',
      reason: 'SIP;cause=200;text="Call completed elsewhere"',
    });
    expect(call.end).toMatchObject({ cause: 'canceled', status: 487 });
  });

  it('a CANCEL requested before any 1xx waits for the provisional response', async () => {
    const { make, net } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2', {});
    await Promise.all([alice.start(), bob.start()]);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    bob.use({
      method: 'INVITE',
      handler: async ({ call }) => {
        await gate;
        await call!.progress();
      },
    });
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2' });
    call.cancel();
    await flush();
    // 100 Trying arrived, so the CANCEL may go (RFC 3261 §9.1: any provisional response).
    const cancels = () =>
      net.log.filter((l) => l.message.isRequest() && l.message.method === 'CANCEL');
    expect(cancels()).toHaveLength(1);
    release();
    await expect(call.answered()).rejects.toMatchObject({ status: 487 });
  });

  it('answers OPTIONS with capabilities, unknown methods with 501, unknown dialogs with 481, unsupported Require with 420', async () => {
    const { make } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const options = await alice.request({ method: 'OPTIONS', uri: 'sip:bob@10.0.0.2' });
    expect(options.status).toBe(200);
    expect(options.headers.get('Allow')).toContain('INVITE');
    expect(options.supported).toContain('100rel');
    expect((await alice.request({ method: 'FOO', uri: 'sip:bob@10.0.0.2' })).status).toBe(501);
    expect((await alice.request({ method: 'SUBSCRIBE', uri: 'sip:bob@10.0.0.2' })).status).toBe(
      501,
    );
    const stray = await alice.request({
      method: 'BYE',
      uri: 'sip:bob@10.0.0.2',
      to: '<sip:bob@10.0.0.2>;tag=nope',
    });
    expect(stray.status).toBe(481);
    const required = await alice.request({
      method: 'OPTIONS',
      uri: 'sip:bob@10.0.0.2',
      headers: [['Require', 'foo, timer']],
    });
    expect(required.status).toBe(420);
    expect(required.headers.get('Unsupported')).toBe('foo');
  });

  it('runs middleware in order, filtered by method', async () => {
    const { make } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const seen: string[] = [];
    bob.use({
      handler: async (ctx, next) => {
        seen.push(`all:${ctx.request.method}`);
        await next();
      },
    });
    bob.use({ method: ['MESSAGE'], handler: (ctx) => ctx.respond({ status: 202 }) });
    bob.use({
      method: 'OPTIONS',
      handler: (ctx, next) => {
        seen.push('options');
        return next();
      },
    });
    expect(
      (
        await alice.request({
          method: 'MESSAGE',
          uri: 'sip:bob@10.0.0.2',
          body: 'hi',
          contentType: 'text/plain',
        })
      ).status,
    ).toBe(202);
    expect((await alice.request({ method: 'OPTIONS', uri: 'sip:bob@10.0.0.2' })).status).toBe(200);
    expect(seen).toEqual(['all:MESSAGE', 'all:OPTIONS', 'options']);
  });

  it('a handler that throws produces a 500, not a crash', async () => {
    const { make } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    bob.use({
      method: 'MESSAGE',
      handler: () => {
        throw new Error('boom');
      },
    });
    expect((await alice.request({ method: 'MESSAGE', uri: 'sip:bob@10.0.0.2' })).status).toBe(500);
    bob.use({ method: 'INVITE', handler: () => Promise.reject(new Error('boom')) });
    await expect(alice.invite({ uri: 'sip:bob@10.0.0.2' }).answered()).rejects.toMatchObject({
      status: 500,
    });
  });

  it('re-INVITE (hold), UPDATE and INFO within the dialog reach the delegate', async () => {
    const { make } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const incoming = nextCall(bob);
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2', body: SDP_A });
    const bobCall = await incoming;
    const received: string[] = [];
    bobCall.delegate = {
      onReinvite: ({ request }) => {
        received.push(`INVITE ${request.body.toString().includes('sendonly') ? 'hold' : 'resume'}`);
        return {
          status: 200,
          body: SDP_B.replace('t=0 0', 't=0 0\r\na=recvonly'),
          contentType: 'application/sdp',
        };
      },
      onInfo: ({ request }) => {
        received.push(`INFO ${request.body.toString().trim()}`);
        return { status: 200 };
      },
    };
    await bobCall.accept({ body: SDP_B });
    await call.answered();
    const hold = await call.reinvite({ body: `${SDP_A}a=sendonly\r\n` });
    expect(hold.body.toString()).toContain('recvonly');
    expect(bobCall.remoteBody?.toString()).toContain('sendonly');
    await call.dtmf({ digit: '5' });
    const update = await call.update();
    expect(update.status).toBe(200);
    expect(received).toEqual(['INVITE hold', 'INFO Signal=5\r\nDuration=160']);
    await flush();
    // CSeq increased on every request from alice (RFC 3261 §12.2.1.1).
    expect(bobCall.dialog?.remoteSeq).toBe((call.invite.cseq?.seq ?? 0) + 3);
    await call.bye();
  });

  it('a REFER without a delegate is declined with 603', async () => {
    const { make } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    bob.use({ method: 'INVITE', handler: ({ call }) => call!.accept() });
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2' });
    await call.answered();
    await expect(call.refer({ target: 'sip:carol@10.0.0.3' })).rejects.toMatchObject({
      status: 603,
    });
    expect(call.state).toBe('confirmed');
    await expect(call.refer({})).rejects.toThrow(TypeError);
  });

  it('retries an INVITE with digest credentials after a 407', async () => {
    const { make } = pair();
    const alice = make('alice', '10.0.0.1', {
      credentials: { username: 'alice', password: 'secret' },
    });
    const mallory = make('mallory', '10.0.0.3', {
      credentials: { username: 'alice', password: 'wrong' },
    });
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start(), mallory.start()]);
    const auth = new DigestAuthenticator({
      lookup: ({ username }) => (username === 'alice' ? { password: 'secret' } : undefined),
      proxy: true,
    });
    bob.use({
      method: 'INVITE',
      handler: async ({ call, request }) => {
        const result = await auth.verify({
          realm: 'voxmesh.test',
          method: request.method,
          requestUri: request.uri.toString(),
          authorization: request.headers.getAll('Proxy-Authorization'),
        });
        if (!result.ok) {
          call!.reject({
            status: result.status,
            headers: result.challenges.map((c) => [result.headerName, c] as const),
          });
          return;
        }
        await call!.accept();
      },
    });
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2' });
    await call.answered();
    expect(call.invite.headers.get('Proxy-Authorization')).toMatch(/^Digest username="alice"/);
    expect(call.invite.cseq?.seq).toBe(2);
    const bad = mallory.invite({ uri: 'sip:bob@10.0.0.2' });
    await expect(bad.answered()).rejects.toMatchObject({ status: 407 });
  });

  it('reliable provisional responses are PRACKed (RFC 3262)', async () => {
    const { make } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const incoming = nextCall(bob);
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2', body: SDP_A });
    const bobCall = await incoming;
    await bobCall.progress({ status: 183, body: SDP_B, reliable: true });
    expect(call.state).toBe('early');
    expect(call.remoteBody?.toString()).toBe(SDP_B);
    await bobCall.accept({ body: SDP_B });
    await call.answered();
  });

  it('drain() refuses new out-of-dialog requests with 503 while calls finish', async () => {
    const { make } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    bob.use({ method: 'INVITE', handler: ({ call }) => call!.accept() });
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2' });
    await call.answered();
    const drained = bob.drain();
    const response = await alice.request({ method: 'OPTIONS', uri: 'sip:bob@10.0.0.2' });
    expect(response.status).toBe(503);
    expect(response.headers.get('Retry-After')).toBe('30');
    // The call in progress still works, and ending it lets the drain finish.
    await call.dtmf({ digit: '1' });
    await call.bye();
    await drained;
    expect(bob.state).toBe('stopped');
  });
});

describe('UserAgent timers on fake time', () => {
  it('the UAS retransmits a lost 200 at T1 and the UAC ACKs the retransmission (RFC 3261 §13.3.1.4)', async () => {
    const { make, net, clock } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    bob.use({ method: 'INVITE', handler: ({ call }) => call!.accept({ body: SDP_B }) });
    net.drop((m) => m.isResponse() && m.status === 200);
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2', body: SDP_A });
    await flush();
    expect(call.state).toBe('proceeding');
    await clock.advanceAsync(500);
    await flush();
    expect(call.state).toBe('confirmed');
    const oks = net.log.filter((l) => l.message.isResponse() && l.message.status === 200);
    expect(oks.map((l) => l.dropped)).toEqual([true, false]);
    expect(bob.calls[0]?.state).toBe('confirmed');
  });

  it('the UAC retransmits a lost INVITE at T1 (Timer A)', async () => {
    const { make, net, clock } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    bob.use({ method: 'INVITE', handler: ({ call }) => call!.accept() });
    net.drop((m) => m.isRequest() && m.method === 'INVITE');
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2' });
    await flush();
    expect(call.state).toBe('calling');
    await clock.advanceAsync(500);
    await flush();
    await call.answered();
  });

  it('a lost reliable 183 is retransmitted at T1 until the PRACK arrives (RFC 3262 §3)', async () => {
    const { make, net, clock } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const incoming = nextCall(bob);
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2', body: SDP_A });
    const bobCall = await incoming;
    net.drop((m) => m.isResponse() && m.status === 183);
    const pracked = bobCall.progress({ status: 183, body: SDP_B, reliable: true });
    await flush();
    expect(call.state).toBe('proceeding');
    await clock.advanceAsync(500);
    await flush();
    await pracked;
    expect(call.state).toBe('early');
    const sent183 = net.log.filter((l) => l.message.isResponse() && l.message.status === 183);
    expect(sent183.map((l) => l.dropped)).toEqual([true, false]);
    expect(sent183[1]!.message.headers.get('RSeq')).toBe('1');
    const prack = net.log.find((l) => l.message.isRequest() && l.message.method === 'PRACK');
    expect(prack?.message.headers.get('RAck')).toBe(`1 ${call.invite.cseq?.seq} INVITE`);
    await bobCall.accept({ body: SDP_B });
    await call.answered();
  });

  it('without a PRACK the reliable provisional gives up after 64*T1 with 504', async () => {
    const { make, net, clock } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const incoming = nextCall(bob);
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2' });
    const bobCall = await incoming;
    net.drop((m) => m.isRequest() && m.method === 'PRACK', 100);
    const pracked = bobCall.progress({ status: 180, reliable: true }).catch((e: unknown) => e);
    const answered = call.answered().catch((e: unknown) => e);
    await clock.advanceAsync(32_000);
    await flush();
    expect(await pracked).toMatchObject({ code: 'SIP_TRANSACTION_TIMEOUT' });
    expect(await answered).toMatchObject({ status: 504 });
    expect(bobCall.end).toMatchObject({ cause: 'timeout', status: 504 });
  });

  it('refuses a reliable provisional response when the caller did not offer 100rel', async () => {
    const { make } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    const incoming = nextCall(bob);
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2', headers: [['Supported', 'timer']] });
    const bobCall = await incoming;
    // alice always adds Supported: 100rel; strip it from what bob saw to model an old phone.
    bobCall.invite.headers.set('Supported', 'timer');
    await expect(bobCall.progress({ reliable: true })).rejects.toThrow(TypeError);
    bobCall.reject({ status: 486 });
    await expect(call.answered()).rejects.toMatchObject({ status: 486 });
  });

  it('an unanswered INVITE to nobody times out with Timer B as SIP_TRANSACTION_TIMEOUT', async () => {
    const { make, clock } = pair();
    const alice = make('alice', '10.0.0.1');
    await alice.start();
    const call = alice.invite({ uri: 'sip:nobody@10.9.9.9' });
    const result = call.answered().catch((e: unknown) => e);
    await clock.advanceAsync(32_000);
    const error = await result;
    expect(VoxmeshError.is(error, 'SIP_TRANSACTION_TIMEOUT')).toBe(true);
    expect(call.end).toMatchObject({ cause: 'timeout' });
  });

  it('the UAS ends the call with BYE when no ACK arrives within 64*T1', async () => {
    const { make, net, clock } = pair();
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    let accepted: Promise<void> | undefined;
    bob.use({
      method: 'INVITE',
      handler: ({ call }) => {
        accepted = call!.accept();
        accepted.catch(() => undefined);
      },
    });
    net.drop((m) => m.isRequest() && m.method === 'ACK', 100);
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2' });
    await call.answered();
    await clock.advanceAsync(32_000);
    await flush();
    await expect(accepted).rejects.toMatchObject({ code: 'SIP_TRANSACTION_TIMEOUT' });
    expect(call.end).toMatchObject({ cause: 'bye', by: 'remote' });
  });

  it('session timers: the refresher re-INVITEs at half the interval (RFC 4028 §10)', async () => {
    const { make, clock, net } = pair({ sessionTimer: { expiresS: 120 } });
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    bob.use({ method: 'INVITE', handler: ({ call }) => call!.accept({ body: SDP_B }) });
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2', body: SDP_A });
    const ok = await call.answered();
    expect(ok.headers.get('Session-Expires')).toBe('120;refresher=uac');
    expect(ok.require).toContain('timer');
    const invites = () =>
      net.log.filter((l) => l.message.isRequest() && l.message.method === 'INVITE' && !l.dropped);
    expect(invites()).toHaveLength(1);
    await clock.advanceAsync(60_000);
    await flush();
    expect(invites()).toHaveLength(2);
    expect((invites()[1]!.message as SipRequest).headers.get('Session-Expires')).toBe(
      '120;refresher=uac',
    );
    expect(call.state).toBe('confirmed');
  });

  it('session timers: without refreshes the other side sends BYE before expiry', async () => {
    const { make, clock, net } = pair({ sessionTimer: { expiresS: 90 } });
    const alice = make('alice', '10.0.0.1');
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    bob.use({ method: 'INVITE', handler: ({ call }) => call!.accept({ body: SDP_B }) });
    const call = alice.invite({ uri: 'sip:bob@10.0.0.2', body: SDP_A });
    await call.answered();
    await flush();
    // Alice's refreshes are lost: bob hangs up at 90 - 30 = 60 s.
    net.drop((m) => m.isRequest() && m.method === 'INVITE', 100);
    const ended = new Promise<CallEnd>((r) => call.once('terminated', r));
    await clock.advanceAsync(60_000);
    await flush();
    expect(await ended).toMatchObject({ cause: 'bye', by: 'remote' });
    expect(call.end?.reason).toContain('408');
  });

  it('a Session-Expires below Min-SE is answered 422 (RFC 4028 §8.1)', async () => {
    const { make } = pair({ sessionTimer: { expiresS: 1800, minSeS: 600 } });
    const alice = make('alice', '10.0.0.1', { sessionTimer: { expiresS: 100, minSeS: 90 } });
    const bob = make('bob', '10.0.0.2');
    await Promise.all([alice.start(), bob.start()]);
    await expect(alice.invite({ uri: 'sip:bob@10.0.0.2' }).answered()).rejects.toMatchObject({
      status: 422,
    });
  });
});
