import {
  FakeClock,
  type MediaAnswerRequest,
  type MediaController,
  type MediaControllerEvents,
  type MediaOfferRequest,
  type MediaTeardownRequest,
  TypedEventEmitter,
  VoxmeshError,
} from '@voxmesh/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  B2bua,
  type Bridge,
  type BridgeEnd,
  type BridgeOptions,
  type Call,
  SipB2buaErrorCode,
  type SipRequest,
  type SipResponse,
  UserAgent,
  isPlausibleSdp,
  passThroughHeaders,
  SipRequest as Request,
  trunkFailover,
} from '@voxmesh/sip';
import { MemoryNetwork, VirtualPhone } from '@voxmesh/sip/testing';

const SDP_B =
  'v=0\r\no=- 2 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Records every media operation and rewrites SDP so each hop is visible. */
class RecordingMedia extends TypedEventEmitter<MediaControllerEvents> implements MediaController {
  readonly ops: string[] = [];
  #n = 0;
  gate: Promise<void> | undefined;

  #rewrite(sdp: string): string {
    if (!isPlausibleSdp(sdp)) throw new Error('not SDP');
    this.#n++;
    return sdp.replace(/c=IN IP4 \S+/g, `c=IN IP4 192.0.2.${this.#n}`);
  }

  async offer(r: MediaOfferRequest): Promise<{ sdp: string }> {
    this.ops.push(`offer ${r.from}>${r.to}`);
    await this.gate;
    return { sdp: this.#rewrite(r.sdp) };
  }

  answer(r: MediaAnswerRequest): Promise<{ sdp: string }> {
    this.ops.push(`answer ${r.from}>${r.to}`);
    return Promise.resolve({ sdp: this.#rewrite(r.sdp) });
  }

  update(): Promise<void> {
    return Promise.resolve();
  }

  teardown(r: MediaTeardownRequest): Promise<void> {
    this.ops.push(r.leg === undefined ? `teardown ${r.sessionId}` : `teardown leg ${r.leg}`);
    return Promise.resolve();
  }
}

async function flush(rounds = 40): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** Waits (event loop turns, no timers) until `check` holds. */
async function until(check: () => boolean, rounds = 400): Promise<void> {
  for (let i = 0; i < rounds && !check(); i++) await new Promise((r) => setImmediate(r));
  expect(check()).toBe(true);
}

function setup(options: { media?: MediaController; retryAfterS?: number } = {}) {
  const clock = new FakeClock();
  const net = new MemoryNetwork();
  const ua = new UserAgent({
    transport: net.transport({ host: '10.0.0.100', port: 5060 }),
    uri: 'sip:pbx@10.0.0.100',
    clock,
    sessionTimer: false,
  });
  const b2bua = new B2bua({ ua, media: options.media, clock, retryAfterS: options.retryAfterS });
  cleanups.push(async () => {
    await b2bua.stop();
    await ua.stop();
  });
  const bridges: Bridge[] = [];
  const phone = (user: string, host: string, autoAnswer = false) => {
    const p = new VirtualPhone({
      transport: net.transport({ host, port: 5060 }),
      uri: `sip:${user}@${host}`,
      clock,
      autoAnswer,
    });
    cleanups.push(() => p.stop());
    return p;
  };
  const agent = (user: string, host: string) => {
    const a = new UserAgent({
      transport: net.transport({ host, port: 5060 }),
      uri: `sip:${user}@${host}`,
      clock,
      sessionTimer: false,
    });
    cleanups.push(() => a.stop());
    return a;
  };
  const route = (options: (call: Call) => Omit<BridgeOptions, 'call'>) => {
    ua.use({
      method: 'INVITE',
      handler: ({ call }) => {
        bridges.push(b2bua.bridge({ call: call!, ...options(call!) }));
      },
    });
  };
  const start = async (...parties: { start(): Promise<void> }[]) => {
    await ua.start();
    await b2bua.start();
    await Promise.all(parties.map((p) => p.start()));
  };
  return { clock, net, ua, b2bua, bridges, phone, agent, route, start };
}

function nextCall(ua: UserAgent): Promise<Call> {
  return new Promise((resolve) => ua.once('invite', resolve));
}

function endOf(bridge: Bridge): Promise<BridgeEnd> {
  return new Promise((resolve) => {
    if (bridge.end !== undefined) resolve(bridge.end);
    else bridge.once('ended', resolve);
  });
}

describe('B2bua.bridge', () => {
  it('bridges A to B with SDP passed through untouched, and propagates the caller’s BYE', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    await alice.call({ uri: 'sip:bob@10.0.0.100' });
    expect(alice.state).toBe('talking');
    await bob.waitForState('talking');
    const bridge = t.bridges[0]!;
    expect(bridge.state).toBe('answered');
    expect(bridge.answeredAt).toBe(t.clock.now());
    const outcome = await bridge.result;
    expect(outcome.answered).toBe(true);
    // Pass-through: each side sees the other's SDP byte for byte.
    const aliceOffer = alice.sent('INVITE')[0]!.body.toString();
    expect(bob.received('INVITE')[0]!.body.toString()).toBe(aliceOffer);
    expect(alice.currentCall!.remoteBody!.toString()).toBe(bob.currentCall!.localBody!.toString());
    // The B leg is a new dialog: its own Call-ID, From = the caller's URI.
    const bInvite = bob.received('INVITE')[0] as SipRequest;
    expect(bInvite.callId).not.toBe(alice.sent('INVITE')[0]!.callId);
    expect(bInvite.from?.uri.toString()).toBe('sip:alice@10.0.0.1');
    expect(bInvite.maxForwards).toBe(69);
    const ended = endOf(bridge);
    t.clock.advance(5000);
    await alice.hangup();
    await bob.waitForState('hungup');
    expect(await ended).toMatchObject({ by: 'caller', reason: 'bye', durationMs: 5000 });
    expect(bob.received('BYE')).toHaveLength(1);
    expect(t.b2bua.bridges).toHaveLength(0);
  });

  it('a caller behind NAT (private Contact) gets the BYE at the address its INVITE came from', async () => {
    const t = setup();
    const natted = t.net.transport({ host: '10.0.0.1', port: 5060 });
    // The phone advertises its private address, which nothing can reach.
    const alice = new VirtualPhone({
      transport: { ...natted, localAddress: () => ({ host: '192.168.1.10', port: 5060 }) },
      uri: 'sip:alice@pbx.test',
      clock: t.clock,
    });
    cleanups.push(() => alice.stop());
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    await alice.call({ uri: 'sip:bob@10.0.0.100' });
    expect(alice.sent('INVITE')[0]!.headers.get('contact')).toContain('192.168.1.10');
    await bob.hangup();
    await alice.waitForState('hungup');
    expect(alice.received('BYE')).toHaveLength(1);
  });

  it('propagates a BYE from the callee to the caller', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    await alice.call({ uri: 'sip:bob@10.0.0.100' });
    await bob.waitForState('talking');
    const ended = endOf(t.bridges[0]!);
    await bob.hangup();
    await alice.waitForState('hungup');
    expect(await ended).toMatchObject({ by: 'callee', reason: 'bye' });
    expect(alice.received('BYE')).toHaveLength(1);
  });

  it('fails over sequentially: 486 from the first target, the second answers', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    const carol = t.phone('carol', '10.0.0.3', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }, { uri: 'sip:carol@10.0.0.3' }] }));
    await t.start(alice, bob, carol);
    const failed: number[] = [];
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('ringing');
    t.bridges[0]!.on('failed', (_t, status) => failed.push(status));
    bob.reject({ status: 486 });
    await calling;
    await carol.waitForState('talking');
    expect(failed).toEqual([486]);
    const outcome = await t.bridges[0]!.result;
    expect(outcome).toMatchObject({ answered: true, target: { uri: 'sip:carol@10.0.0.3' } });
    expect(t.bridges[0]!.bLeg).toBe(outcome.answered ? outcome.bLeg : undefined);
  });

  it('passes 486 to the caller (with Reason) when continueOn allows only 408/5xx', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    const carol = t.phone('carol', '10.0.0.3', true);
    t.route(() => ({
      targets: [{ uri: 'sip:bob@10.0.0.2' }, { uri: 'sip:carol@10.0.0.3' }],
      continueOn: trunkFailover,
    }));
    await t.start(alice, bob, carol);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('ringing');
    bob.reject({ status: 486 });
    await expect(calling).rejects.toMatchObject({ status: 486 });
    const final = alice.received(486)[0] as SipResponse;
    expect(final.headers.get('reason')).toMatch(/^SIP;cause=486/);
    expect(carol.received('INVITE')).toHaveLength(0);
    expect(await t.bridges[0]!.result).toEqual({
      answered: false,
      status: 486,
      reason: 'Busy Here',
    });
    expect(await endOf(t.bridges[0]!)).toMatchObject({ by: 'callee', reason: 'failed' });
  });

  it('fails over on 503 with trunkFailover, and stops at a 6xx by default', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    const carol = t.phone('carol', '10.0.0.3');
    const dave = t.phone('dave', '10.0.0.4', true);
    let n = 0;
    t.route(() =>
      n++ === 0
        ? {
            targets: [{ uri: 'sip:bob@10.0.0.2' }, { uri: 'sip:dave@10.0.0.4' }],
            continueOn: trunkFailover,
          }
        : { targets: [{ uri: 'sip:carol@10.0.0.3' }, { uri: 'sip:dave@10.0.0.4' }] },
    );
    await t.start(alice, bob, carol, dave);
    const first = alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('ringing');
    bob.reject({ status: 503 });
    await first;
    await dave.waitForState('talking');
    await alice.hangup();
    await dave.waitForState('hungup');
    const second = alice.call({ uri: 'sip:x@10.0.0.100' });
    await carol.waitForState('ringing');
    carol.reject({ status: 603 });
    await expect(second).rejects.toMatchObject({ status: 603 });
    expect(dave.received('INVITE')).toHaveLength(1);
  });

  it('cancels a target that rings longer than its ring timeout and tries the next', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    const carol = t.phone('carol', '10.0.0.3', true);
    t.route(() => ({
      targets: [{ uri: 'sip:bob@10.0.0.2', ringTimeoutMs: 5000 }, { uri: 'sip:carol@10.0.0.3' }],
      ringTimeoutMs: 20_000,
    }));
    await t.start(alice, bob, carol);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('ringing');
    t.clock.advance(4999);
    await flush();
    expect(carol.received('INVITE')).toHaveLength(0);
    t.clock.advance(1);
    await calling;
    await bob.waitForState('hungup');
    expect(bob.received('CANCEL')).toHaveLength(1);
    expect(bob.received('CANCEL')[0]!.headers.get('reason')).toMatch(/cause=408/);
    await carol.waitForState('talking');
  });

  it('gives the caller 408 when the only target never answers', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }], ringTimeoutMs: 30_000 }));
    await t.start(alice, bob);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('ringing');
    t.clock.advance(30_000);
    await expect(calling).rejects.toMatchObject({ status: 408 });
    expect(await endOf(t.bridges[0]!)).toMatchObject({ by: 'local', reason: 'timeout' });
  });

  it('forks in parallel: the first 2xx wins, the others are cancelled with Reason', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    const carol = t.phone('carol', '10.0.0.3');
    t.route(() => ({
      targets: [{ uri: 'sip:bob@10.0.0.2' }, { uri: 'sip:carol@10.0.0.3' }],
      strategy: 'parallel',
    }));
    await t.start(alice, bob, carol);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    await Promise.all([bob.waitForState('ringing'), carol.waitForState('ringing')]);
    expect(t.bridges[0]!.pendingLegs).toHaveLength(2);
    await carol.answer();
    await calling;
    await bob.waitForState('hungup');
    const cancel = bob.received('CANCEL')[0] as SipRequest;
    expect(cancel.headers.get('reason')).toBe('SIP;cause=200;text="Call completed elsewhere"');
    expect(t.bridges[0]!.bLeg?.callId).toBe(carol.received('INVITE')[0]!.callId);
  });

  it('in parallel, passes on the best failure once every branch failed (4xx before 5xx)', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    const carol = t.phone('carol', '10.0.0.3');
    t.route(() => ({
      targets: [{ uri: 'sip:bob@10.0.0.2' }, { uri: 'sip:carol@10.0.0.3' }],
      strategy: 'parallel',
    }));
    await t.start(alice, bob, carol);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    await Promise.all([bob.waitForState('ringing'), carol.waitForState('ringing')]);
    bob.reject({ status: 503 });
    await flush();
    carol.reject({ status: 486 });
    await expect(calling).rejects.toMatchObject({ status: 486 });
  });

  it('a CANCEL from the caller cancels every fork', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    const carol = t.phone('carol', '10.0.0.3');
    t.route(() => ({
      targets: [{ uri: 'sip:bob@10.0.0.2' }, { uri: 'sip:carol@10.0.0.3' }],
      strategy: 'parallel',
    }));
    await t.start(alice, bob, carol);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    calling.catch(() => undefined);
    await Promise.all([bob.waitForState('ringing'), carol.waitForState('ringing')]);
    const ended = endOf(t.bridges[0]!);
    await alice.hangup();
    await Promise.all([bob.waitForState('hungup'), carol.waitForState('hungup')]);
    await expect(calling).rejects.toMatchObject({ status: 487 });
    expect(await ended).toMatchObject({ by: 'caller', reason: 'canceled', status: 487 });
    expect(await t.bridges[0]!.result).toMatchObject({ answered: false, status: 487 });
    expect(bob.received('CANCEL')).toHaveLength(1);
    expect(carol.received('CANCEL')).toHaveLength(1);
  });

  it('a CANCEL that arrives before the B leg was sent means no B leg is sent', async () => {
    const media = new RecordingMedia();
    let open!: () => void;
    media.gate = new Promise((r) => (open = r));
    const t = setup({ media });
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    calling.catch(() => undefined);
    await until(() => media.ops.length === 1);
    // The UA sent 100 Trying, so the CANCEL goes out at once.
    await alice.hangup();
    await expect(calling).rejects.toMatchObject({ status: 487 });
    open();
    expect(await endOf(t.bridges[0]!)).toMatchObject({ by: 'caller', reason: 'canceled' });
    await flush();
    expect(bob.received('INVITE')).toHaveLength(0);
    expect(media.ops).toContain('teardown leg b1');
  });

  it('relays 180 and a 183 with early media (SDP) to the caller', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.agent('bob', '10.0.0.2');
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    const incoming = nextCall(bob);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    const bobCall = await incoming;
    await bobCall.progress({ status: 180 });
    await until(() => alice.received(180).length === 1);
    await bobCall.progress({ status: 183, body: SDP_B });
    await until(() => alice.received(183).length === 1);
    expect(alice.received(183)[0]!.body.toString()).toBe(SDP_B);
    const progress: number[] = [];
    t.bridges[0]!.on('progress', (r) => progress.push(r.status));
    await bobCall.accept({ body: SDP_B });
    await calling;
    expect(alice.state).toBe('talking');
    await alice.hangup();
  });

  it('a target that fails after early media lets the next target send its own', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.agent('bob', '10.0.0.2');
    const carol = t.agent('carol', '10.0.0.3');
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }, { uri: 'sip:carol@10.0.0.3' }] }));
    await t.start(alice, bob, carol);
    const toBob = nextCall(bob);
    const toCarol = nextCall(carol);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    const bobCall = await toBob;
    await bobCall.progress({ status: 183, body: SDP_B });
    await until(() => alice.received(183).length === 1);
    bobCall.reject({ status: 480 });
    const carolCall = await toCarol;
    const carolSdp = SDP_B.replace('6000', '6004');
    await carolCall.progress({ status: 183, body: carolSdp });
    await until(() => alice.received(183).length === 2);
    expect(alice.received(183)[1]!.body.toString()).toBe(carolSdp);
    await carolCall.accept({ body: carolSdp });
    await calling;
    await alice.hangup();
  });

  it('answers a B leg that sends a body that is not SDP with BYE (488) and tries the next target', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.agent('bob', '10.0.0.2');
    const carol = t.phone('carol', '10.0.0.3', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }, { uri: 'sip:carol@10.0.0.3' }] }));
    await t.start(alice, bob, carol);
    const incoming = nextCall(bob);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    const bobCall = await incoming;
    const byeReceived = new Promise<void>((resolve) => bobCall.once('terminated', () => resolve()));
    await bobCall.accept({ body: 'this is not a session description' });
    await byeReceived;
    expect(bobCall.end).toMatchObject({ cause: 'bye', by: 'remote' });
    expect(bobCall.end?.reason).toMatch(/cause=488/);
    await calling;
    await carol.waitForState('talking');
  });

  it('early media through the media controller: the 183 SDP is answered by the media plane', async () => {
    const media = new RecordingMedia();
    const t = setup({ media });
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.agent('bob', '10.0.0.2');
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    const incoming = nextCall(bob);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    const bobCall = await incoming;
    await bobCall.progress({ status: 183, body: SDP_B });
    await until(() => alice.received(183).length === 1);
    expect(alice.received(183)[0]!.body.toString()).toContain('c=IN IP4 192.0.2.2');
    await bobCall.accept({ body: SDP_B });
    await calling;
    expect(media.ops).toEqual(['offer a>b1', 'answer b1>a', 'answer b1>a']);
    await alice.hangup();
  });

  it('in parallel, a second 2xx is ACKed and ended with BYE', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.agent('bob', '10.0.0.2');
    const carol = t.agent('carol', '10.0.0.3');
    t.route(() => ({
      targets: [{ uri: 'sip:bob@10.0.0.2' }, { uri: 'sip:carol@10.0.0.3' }],
      strategy: 'parallel',
    }));
    await t.start(alice, bob, carol);
    const toBob = nextCall(bob);
    const toCarol = nextCall(carol);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    const [bobCall, carolCall] = await Promise.all([toBob, toCarol]);
    // Both answer in the same turn: one wins, the other is hung up.
    const answered = Promise.allSettled([
      bobCall.accept({ body: SDP_B }),
      carolCall.accept({ body: SDP_B }),
    ]);
    await calling;
    await answered;
    await until(() => [bobCall, carolCall].filter((c) => c.state === 'terminated').length === 1);
    const loser = bobCall.state === 'terminated' ? bobCall : carolCall;
    const winner = loser === bobCall ? carolCall : bobCall;
    expect(loser.end).toMatchObject({ cause: 'bye', by: 'remote' });
    expect(winner.state).toBe('confirmed');
    expect(t.bridges[0]!.bLeg?.callId).toBe(winner.callId);
    await alice.hangup();
    await until(() => winner.state === 'terminated');
  });

  it('a B-leg answer the media controller refuses ends that leg (488) and fails the caller', async () => {
    const media = new RecordingMedia();
    const t = setup({ media });
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.agent('bob', '10.0.0.2');
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    const incoming = nextCall(bob);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    const bobCall = await incoming;
    await bobCall.accept({ body: 'v=0\r\nnot really\r\n' });
    await expect(calling).rejects.toMatchObject({ status: 488 });
    await until(() => bobCall.state === 'terminated');
    expect(bobCall.end?.reason).toMatch(/cause=488/);
    await until(() => media.ops.includes('teardown leg b1'));
  });

  it('refuses a target whose URI does not parse, or no targets, with a clear error', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const errors: unknown[] = [];
    t.ua.use({
      method: 'INVITE',
      handler: ({ call }) => {
        for (const targets of [[{ uri: 'sip:bob@' }], [{ uri: 'tel:+4930' }], []]) {
          try {
            t.b2bua.bridge({ call: call!, targets });
          } catch (error) {
            errors.push(error);
          }
        }
        call!.reject({ status: 404 });
      },
    });
    await t.start(alice);
    await expect(alice.call({ uri: 'sip:x@10.0.0.100' })).rejects.toMatchObject({ status: 404 });
    expect(errors).toHaveLength(3);
    for (const error of errors) {
      expect(VoxmeshError.is(error, SipB2buaErrorCode.SIP_B2BUA_INVALID_TARGET)).toBe(true);
    }
  });

  it('answers 483 when the caller’s Max-Forwards is exhausted', async () => {
    const t = setup();
    const alice = t.agent('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    const call = alice.invite({ uri: 'sip:x@10.0.0.100', body: SDP_B, maxForwards: 0 });
    await expect(call.answered()).rejects.toMatchObject({ status: 483 });
    expect(bob.received('INVITE')).toHaveLength(0);
  });

  it('an unexpected error while preparing a B leg fails that leg with 500, no hang', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({
      targets: [{ uri: 'sip:bob@10.0.0.2' }],
      headers: [42 as unknown as string],
    }));
    await t.start(alice, bob);
    await expect(alice.call({ uri: 'sip:x@10.0.0.100' })).rejects.toMatchObject({ status: 500 });
    expect(bob.received('INVITE')).toHaveLength(0);
    expect(await endOf(t.bridges[0]!)).toMatchObject({ reason: 'failed', status: 500 });
  });

  it('a listener that throws does not break the bridge', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    t.b2bua.on('bridge', (bridge) => {
      bridge.on('answered', () => {
        throw new Error('listener bug');
      });
    });
    await t.start(alice, bob);
    await alice.call({ uri: 'sip:x@10.0.0.100' });
    expect(t.bridges[0]!.state).toBe('answered');
    const ended = endOf(t.bridges[0]!);
    await bob.hangup();
    await alice.waitForState('hungup');
    expect((await ended).by).toBe('callee');
  });

  it('hangup() before the answer cancels the forks and answers the caller 480', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('ringing');
    await t.bridges[0]!.hangup();
    await expect(calling).rejects.toMatchObject({ status: 480 });
    await bob.waitForState('hungup');
    expect(t.bridges[0]!.end).toMatchObject({ by: 'local', reason: 'hangup' });
  });

  it('rejectCallerOnFailure: false leaves the caller ringing for the next route (voicemail)', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    const voicemail = t.phone('vm', '10.0.0.9', true);
    t.ua.use({
      method: 'INVITE',
      handler: async ({ call }) => {
        const first = t.b2bua.bridge({
          call: call!,
          targets: [{ uri: 'sip:bob@10.0.0.2' }],
          ringTimeoutMs: 20_000,
          rejectCallerOnFailure: false,
        });
        t.bridges.push(first);
        const outcome = await first.result;
        if (!outcome.answered && outcome.status === 408) {
          t.bridges.push(t.b2bua.bridge({ call: call!, targets: [{ uri: 'sip:vm@10.0.0.9' }] }));
        }
      },
    });
    await t.start(alice, bob, voicemail);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('ringing');
    t.clock.advance(20_000);
    await calling;
    await voicemail.waitForState('talking');
    expect(t.bridges).toHaveLength(2);
    await alice.hangup();
    await voicemail.waitForState('hungup');
  });
});

describe('B2bua in-dialog requests', () => {
  it('relays re-INVITE holds in both directions through the media controller', async () => {
    const media = new RecordingMedia();
    const t = setup({ media });
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    await alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('talking');
    expect(media.ops).toEqual(['offer a>b1', 'answer b1>a']);
    // Each side sees the media plane's addresses, not the other phone's.
    expect(bob.received('INVITE')[0]!.body.toString()).toContain('c=IN IP4 192.0.2.1');
    expect(alice.currentCall!.remoteBody!.toString()).toContain('c=IN IP4 192.0.2.2');
    await alice.hold();
    await flush();
    expect(alice.state).toBe('holding');
    expect(bob.state).toBe('holding');
    const reinvite = bob.received('INVITE')[1] as SipRequest;
    expect(reinvite.body.toString()).toContain('a=sendonly');
    expect(reinvite.body.toString()).toContain('c=IN IP4 192.0.2.3');
    await alice.unhold();
    await flush();
    expect(bob.state).toBe('talking');
    await bob.hold();
    await flush();
    expect(alice.state).toBe('holding');
    expect(alice.received('INVITE')).toHaveLength(1);
    expect(alice.received('INVITE')[0]!.body.toString()).toContain('a=sendonly');
    expect(media.ops).toEqual([
      'offer a>b1',
      'answer b1>a',
      'offer a>b1',
      'answer b1>a',
      'offer a>b1',
      'answer b1>a',
      'offer b1>a',
      'answer a>b1',
    ]);
    await bob.hangup();
    await alice.waitForState('hungup');
    await until(() => media.ops.includes(`teardown ${t.bridges[0]!.sessionId}`));
  });

  it('a re-INVITE from B before the caller ACKed gets 491, and passes once the ACK arrived', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.agent('bob', '10.0.0.2');
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    // The caller's first ACK is lost.
    t.net.drop((m, from) => from === '10.0.0.1:5060' && m.isRequest() && m.method === 'ACK');
    const incoming = nextCall(bob);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    const bobCall = await incoming;
    await bobCall.accept({ body: SDP_B });
    await calling;
    await expect(bobCall.reinvite({ body: SDP_B })).rejects.toMatchObject({ status: 491 });
    expect(bobCall.state).toBe('confirmed');
    // T1 later the B2BUA retransmits its 2xx; the caller ACKs again.
    t.clock.advance(500);
    await until(() => t.bridges[0]!.aLeg.state === 'confirmed');
    const ok = await bobCall.reinvite({ body: SDP_B });
    expect(ok.status).toBe(200);
    await alice.hangup();
  });

  it('relays UPDATE offers in both directions and passes a refusal back', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.agent('bob', '10.0.0.2');
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    const incoming = nextCall(bob);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    const bobCall = await incoming;
    await bobCall.accept({ body: SDP_B });
    await calling;
    const newOffer = SDP_B.replace('6000', '6002');
    const seen: string[] = [];
    bobCall.delegate = {
      onUpdate: (ctx) => {
        seen.push(ctx.request.body.toString());
        return { status: 200, body: newOffer, contentType: 'application/sdp' };
      },
      onReinvite: () => ({ status: 488 }),
    };
    const aliceCall = alice.currentCall!;
    const offer = aliceCall.localBody!.toString().replace('40000', '40002');
    const response = await aliceCall.update({ body: offer });
    expect(seen).toEqual([offer]);
    expect(response.body.toString()).toBe(newOffer);
    await expect(aliceCall.reinvite({ body: offer })).rejects.toMatchObject({ status: 488 });
    // From B to A.
    const back = await bobCall.update({ body: newOffer });
    expect(back.status).toBe(200);
    expect(alice.received('UPDATE')[0]!.body.toString()).toBe(newOffer);
    await alice.hangup();
  });

  it('tears down the losing forks’ media legs and the session at the end', async () => {
    const media = new RecordingMedia();
    const t = setup({ media });
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    const carol = t.phone('carol', '10.0.0.3');
    t.route(() => ({
      targets: [{ uri: 'sip:bob@10.0.0.2' }, { uri: 'sip:carol@10.0.0.3' }],
      strategy: 'parallel',
      sessionId: 'session-1',
    }));
    await t.start(alice, bob, carol);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    await Promise.all([bob.waitForState('ringing'), carol.waitForState('ringing')]);
    await carol.answer();
    await calling;
    expect(media.ops).toContain('teardown leg b1');
    expect(media.ops).toContain('answer b2>a');
    await alice.hangup();
    await carol.waitForState('hungup');
    await until(() => media.ops.includes('teardown session-1'));
  });

  it('passes the headers the policy allows', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({
      targets: [
        {
          uri: 'sip:bob@10.0.0.2',
          headers: [
            ['X-Target', 'bob'],
            ['X-Account', '7'],
          ],
        },
      ],
      headers: ['all', '-X-Secret'],
    }));
    await t.start(alice, bob);
    await alice.call({
      uri: 'sip:x@10.0.0.100',
      headers: [
        ['X-Account', '42'],
        ['X-Secret', 'hush'],
        ['P-Asserted-Identity', '<sip:+4930111@example.test>'],
      ],
    });
    const invite = bob.received('INVITE')[0] as SipRequest;
    // The target's own X-Account replaces the caller's.
    expect(invite.headers.getAll('x-account')).toEqual(['7']);
    expect(invite.headers.get('p-asserted-identity')).toBe('<sip:+4930111@example.test>');
    expect(invite.headers.get('x-target')).toBe('bob');
    expect(invite.headers.get('x-secret')).toBeUndefined();
    expect(invite.headers.getAll('via')).toHaveLength(1);
    await alice.hangup();
  });

  it('passThroughHeaders: none by default, a list, all-but; never the essentials', () => {
    const request = new Request({
      method: 'INVITE',
      uri: 'sip:x@example.test',
      headers: [
        ['Via', 'SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1'],
        ['X-Foo', '1'],
        ['x-bar', '2'],
        ['Contact', '<sip:a@10.0.0.1>'],
        ['CSeq', '1 INVITE'],
      ],
    });
    expect(passThroughHeaders(request, undefined)).toEqual([]);
    expect(passThroughHeaders(request, ['X-Bar'])).toEqual([['X-Bar', '2']]);
    expect(passThroughHeaders(request, ['all', '-x-foo'])).toEqual([['X-Bar', '2']]);
    expect(passThroughHeaders(request, ['Contact', 'Via'])).toEqual([]);
  });

  it('blind transfer: the callee REFERs, the caller is bridged to the new target', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    const carol = t.phone('carol', '10.0.0.3', true);
    const transfers: string[] = [];
    t.route(() => ({
      targets: [{ uri: 'sip:bob@10.0.0.2' }],
      onTransfer: ({ party, referTo }) => {
        transfers.push(`${party} ${referTo}`);
        return [{ uri: 'sip:carol@10.0.0.3' }];
      },
    }));
    await t.start(alice, bob, carol);
    await alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('talking');
    const bridge = t.bridges[0]!;
    const transferred = new Promise((r) => bridge.once('transferred', (party) => r(party)));
    await bob.transfer({ target: 'sip:carol@pbx.test' });
    expect(await transferred).toBe('callee');
    expect(transfers).toEqual(['callee sip:carol@pbx.test']);
    await bob.waitForState('hungup');
    await carol.waitForState('talking');
    expect(alice.state).toBe('talking');
    expect(bridge.bLeg?.callId).toBe(carol.received('INVITE')[0]!.callId);
    expect(bridge.state).toBe('answered');
    // The caller now hangs up on the new party.
    await alice.hangup();
    await carol.waitForState('hungup');
    expect((await endOf(bridge)).by).toBe('caller');
  });

  it('blind transfer by the caller (async onTransfer), and REFERs refused: no Refer-To → 400, no handler → 403', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    const carol = t.phone('carol', '10.0.0.3', true);
    let n = 0;
    t.route(() =>
      n++ === 0
        ? { targets: [{ uri: 'sip:bob@10.0.0.2' }] }
        : {
            targets: [{ uri: 'sip:bob@10.0.0.2' }],
            onTransfer: async () => {
              await new Promise((r) => setImmediate(r));
              return [{ uri: 'sip:carol@10.0.0.3' }];
            },
          },
    );
    await t.start(alice, bob, carol);
    await alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('talking');
    const noHandler = await alice.currentCall!.sendRequest('REFER', {
      headers: [['Refer-To', '<sip:carol@pbx.test>']],
    });
    expect(noHandler.status).toBe(403);
    await alice.hangup();
    await bob.waitForState('hungup');
    await alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('talking');
    const missing = await alice.currentCall!.sendRequest('REFER', {});
    expect(missing.status).toBe(400);
    const garbage = await alice.currentCall!.sendRequest('REFER', {
      headers: [['Refer-To', '<not a uri']],
    });
    expect(garbage.status).toBe(400);
    await alice.transfer({ target: 'sip:carol@pbx.test' });
    await carol.waitForState('talking');
    expect(bob.state).toBe('talking');
    expect(t.bridges[1]!.aLeg.callId).toBe(carol.received('INVITE')[0]!.callId);
    await bob.hangup();
    await carol.waitForState('hungup');
  });

  for (const withMedia of [false, true]) {
    it(`attended transfer${withMedia ? ' through the media controller' : ''}: REFER with Replaces joins the two other parties`, async () => {
      const media = withMedia ? new RecordingMedia() : undefined;
      const t = setup({ media });
      const alice = t.agent('alice', '10.0.0.1');
      const bob = t.phone('bob', '10.0.0.2', true);
      const carol = t.phone('carol', '10.0.0.3', true);
      t.route((call) => ({
        targets: [
          {
            uri: call.invite.uri.toString().startsWith('sip:bob@')
              ? 'sip:bob@10.0.0.2'
              : 'sip:carol@10.0.0.3',
          },
        ],
        onTransfer: () => undefined,
      }));
      await t.start(alice, bob, carol);
      const toBob = alice.invite({ uri: 'sip:bob@10.0.0.100', body: SDP_B });
      await toBob.answered();
      const toCarol = alice.invite({
        uri: 'sip:carol@10.0.0.100',
        body: SDP_B.replace('6000', '6002'),
      });
      await toCarol.answered();
      await Promise.all([bob.waitForState('talking'), carol.waitForState('talking')]);
      const [first, second] = t.bridges as [Bridge, Bridge];
      const secondEnded = endOf(second);
      const transferred = new Promise((r) => first.once('transferred', (party) => r(party)));
      const notified: string[] = [];
      toBob.delegate = {
        onNotify: (ctx) => {
          notified.push(ctx.request.body.toString().trim());
          return { status: 200 };
        },
      };
      const accepted = await toBob.refer({ replaces: toCarol });
      expect(accepted.status).toBe(202);
      expect(await transferred).toBe('caller');
      expect(await secondEnded).toMatchObject({ reason: 'transferred' });
      await until(() => toBob.state === 'terminated' && toCarol.state === 'terminated');
      expect(notified).toEqual(['SIP/2.0 100 Trying', 'SIP/2.0 200 OK']);
      // Bob and Carol now talk through the first bridge.
      expect(first.state).toBe('answered');
      expect(first.aLeg.callId).toBe(carol.received('INVITE')[0]!.callId);
      expect(bob.state).toBe('talking');
      expect(carol.state).toBe('talking');
      const carolReinvite = carol.received('INVITE')[1] as SipRequest;
      if (media === undefined) {
        // Each party was pointed at the other.
        expect(carolReinvite.body.toString()).toContain('m=audio 40000');
        expect(bob.received('INVITE')).toHaveLength(2);
      } else {
        expect(media.ops).toContain('offer b1>b2');
        expect(media.ops).toContain('answer b2>b1');
        expect(media.ops).toContain('teardown leg a');
        expect(bob.received('INVITE')).toHaveLength(1);
      }
      await bob.hangup();
      await carol.waitForState('hungup');
      expect((await endOf(first)).by).toBe('callee');
    });
  }

  for (const answers of [true, false]) {
    it(`the referrer hangs up right after the 202: the transfer ${answers ? 'completes' : 'fails and the other party is hung up'}`, async () => {
      const t = setup();
      const alice = t.agent('alice', '10.0.0.1');
      const bob = t.phone('bob', '10.0.0.2', true);
      const carol = t.phone('carol', '10.0.0.3');
      t.route(() => ({
        targets: [{ uri: 'sip:bob@10.0.0.2' }],
        onTransfer: () => [{ uri: 'sip:carol@10.0.0.3' }],
      }));
      await t.start(alice, bob, carol);
      const call = alice.invite({ uri: 'sip:x@10.0.0.100', body: SDP_B });
      await call.answered();
      await bob.waitForState('talking');
      const bridge = t.bridges[0]!;
      expect((await call.refer({ target: 'sip:carol@pbx.test' })).status).toBe(202);
      await call.bye();
      await carol.waitForState('ringing');
      expect(bridge.state).toBe('answered');
      expect(bob.state).toBe('talking');
      if (answers) {
        await carol.answer();
        await until(() => bridge.aLeg.callId === carol.currentCall?.callId);
        expect(bob.state).toBe('talking');
        await carol.hangup();
        await bob.waitForState('hungup');
      } else {
        carol.reject({ status: 486 });
        await bob.waitForState('hungup');
        expect(await endOf(bridge)).toMatchObject({ by: 'caller', reason: 'bye' });
      }
    });
  }

  it('a REFER with Replaces naming an unknown dialog is a blind transfer', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    const seen: string[] = [];
    t.route(() => ({
      targets: [{ uri: 'sip:bob@10.0.0.2' }],
      onTransfer: ({ referTo }) => {
        seen.push(referTo);
        return undefined;
      },
    }));
    await t.start(alice, bob);
    await alice.call({ uri: 'sip:x@10.0.0.100' });
    const response = await alice.currentCall!.sendRequest('REFER', {
      headers: [['Refer-To', '<sip:carol@pbx.test?Replaces=nope%3Bto-tag%3D1%3Bfrom-tag%3D2>']],
    });
    expect(response.status).toBe(403);
    expect(seen).toEqual(['sip:carol@pbx.test']);
    await alice.hangup();
  });

  it('relays INFO (DTMF) to the other party', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    await alice.call({ uri: 'sip:x@10.0.0.100' });
    await alice.sendDtmf({ digits: '1#' });
    expect(bob.dtmfReceived).toEqual(['1', '#']);
    await alice.hangup();
  });
});

describe('B2bua delayed offer', () => {
  it('an INVITE without SDP: the B leg offers in its 2xx, the caller answers in the ACK', async () => {
    const media = new RecordingMedia();
    const t = setup({ media });
    const alice = t.agent('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    const call = alice.invite({ uri: 'sip:x@10.0.0.100', deferAck: true });
    const ok = await call.answered();
    // The caller gets the B leg's offer through the media plane.
    expect(ok.body.toString()).toContain('c=IN IP4 192.0.2.1');
    expect(ok.body.toString()).toContain('m=audio 40000');
    expect(bob.received('INVITE')[0]!.body.length).toBe(0);
    call.ack({ body: SDP_B });
    await until(() => bob.currentCall?.remoteBody !== undefined);
    expect(bob.currentCall!.remoteBody!.toString()).toContain('c=IN IP4 192.0.2.2');
    expect(bob.currentCall!.remoteBody!.toString()).toContain('m=audio 6000');
    expect(media.ops).toEqual(['offer b1>a', 'answer a>b1']);
    await call.bye();
    await bob.waitForState('hungup');
  });

  it('refuses to bridge a call twice at once', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2');
    let second: unknown;
    t.ua.use({
      method: 'INVITE',
      handler: ({ call }) => {
        t.bridges.push(t.b2bua.bridge({ call: call!, targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
        try {
          t.b2bua.bridge({ call: call!, targets: [{ uri: 'sip:bob@10.0.0.2' }] });
        } catch (error) {
          second = error;
        }
      },
    });
    await t.start(alice, bob);
    const calling = alice.call({ uri: 'sip:x@10.0.0.100' });
    await bob.waitForState('ringing');
    expect(second).toBeInstanceOf(TypeError);
    await bob.answer();
    await calling;
    await alice.hangup();
  });
});

describe('B2bua lifecycle', () => {
  it('drain(): new calls get 503 with Retry-After, the bridged call finishes, then it stops', async () => {
    const t = setup({ retryAfterS: 7 });
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    const dave = t.phone('dave', '10.0.0.4');
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob, dave);
    await alice.call({ uri: 'sip:x@10.0.0.100' });
    let drained = false;
    const draining = t.b2bua.drain().then(() => (drained = true));
    await flush();
    expect(t.b2bua.state).toBe('draining');
    await expect(dave.call({ uri: 'sip:x@10.0.0.100' })).rejects.toMatchObject({ status: 503 });
    expect(dave.received(503)[0]!.headers.get('retry-after')).toBe('7');
    expect(drained).toBe(false);
    await alice.hangup();
    await draining;
    expect(t.b2bua.state).toBe('stopped');
  });

  it('hangs a bridge up when the media controller reports a media timeout on one of its legs', async () => {
    const media = new RecordingMedia();
    const t = setup({ media });
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    await alice.call({ uri: 'sip:x@10.0.0.100' });
    const bridge = t.bridges[0]!;
    media.emit('timeout', 'another-session', 'b1');
    media.emit('timeout', bridge.sessionId, 'b7');
    await flush();
    expect(bridge.state).toBe('answered');
    // On hold, a silent party is expected.
    await alice.hold();
    media.emit('timeout', bridge.sessionId, 'b1');
    await flush();
    expect(bridge.state).toBe('answered');
    await alice.unhold();
    media.emit('timeout', bridge.sessionId, 'b1');
    await Promise.all([alice.waitForState('hungup'), bob.waitForState('hungup')]);
    expect(bridge.end).toMatchObject({ by: 'local', reason: 'timeout' });
    expect(bob.received('BYE')[0]!.headers.get('reason')).toBe(
      'SIP;cause=408;text="Media timeout"',
    );
  });

  it('stop() hangs every bridge up', async () => {
    const t = setup();
    const alice = t.phone('alice', '10.0.0.1');
    const bob = t.phone('bob', '10.0.0.2', true);
    t.route(() => ({ targets: [{ uri: 'sip:bob@10.0.0.2' }] }));
    await t.start(alice, bob);
    await alice.call({ uri: 'sip:x@10.0.0.100' });
    await t.b2bua.stop();
    await Promise.all([alice.waitForState('hungup'), bob.waitForState('hungup')]);
    expect(t.bridges[0]!.end).toMatchObject({ by: 'local', reason: 'hangup' });
  });
});
