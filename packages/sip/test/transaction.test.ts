import { FakeClock, type VoxmeshError } from '@voxmesh/core';
import { describe, expect, it } from 'vitest';
import {
  SipRequest,
  TransactionLayer,
  createResponse,
  generateBranch,
  type SipMessage,
  type TransactionFlow,
} from '@voxmesh/sip';

class RecordingFlow implements TransactionFlow {
  readonly sent: { at: number; message: SipMessage }[] = [];
  fail = false;
  constructor(
    readonly reliable: boolean,
    private readonly clock: FakeClock,
  ) {}
  send(message: SipMessage): void {
    if (this.fail) throw new Error('network down');
    this.sent.push({ at: this.clock.monotonic(), message });
  }
  times(filter: (m: SipMessage) => boolean = () => true): number[] {
    return this.sent.filter((s) => filter(s.message)).map((s) => s.at / 1000);
  }
}

function request(method: string, branch = generateBranch(), sentBy = '192.0.2.10:5060') {
  return new SipRequest({
    method,
    uri: 'sip:bob@example.com',
    headers: [
      ['Via', `SIP/2.0/UDP ${sentBy};branch=${branch}`],
      ['Max-Forwards', '70'],
      ['From', '<sip:alice@example.com>;tag=a1'],
      ['To', '<sip:bob@example.com>'],
      ['Call-ID', 'call-1@example.com'],
      ['CSeq', `1 ${method}`],
    ],
  });
}

function setup(reliable = false) {
  const clock = new FakeClock();
  const layer = new TransactionLayer({ clock });
  const flow = new RecordingFlow(reliable, clock);
  return { clock, layer, flow };
}

describe('branches', () => {
  it('start with the magic cookie and carry 128 random bits', () => {
    const a = generateBranch();
    expect(a).toMatch(/^z9hG4bK[A-Za-z0-9_-]{22}$/);
    const many = new Set(Array.from({ length: 1000 }, generateBranch));
    expect(many.size).toBe(1000);
  });
});

describe('INVITE client transaction (RFC 3261 §17.1.1, RFC 6026)', () => {
  it('retransmits at 0.5, 1, 2, 4, 8, 16 s and times out with Timer B at 32 s', () => {
    const { clock, layer, flow } = setup();
    const tx = layer.sendRequest({ request: request('INVITE'), flow });
    const failures: VoxmeshError[] = [];
    tx.on('failure', (e) => failures.push(e));
    clock.advance(31_999);
    expect(flow.times()).toEqual([0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]);
    expect(failures).toEqual([]);
    clock.advance(1);
    expect(failures[0]?.code).toBe('SIP_TRANSACTION_TIMEOUT');
    expect(tx.state).toBe('terminated');
    expect(layer.size.client).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('honours T1 options and never retransmits on a reliable transport', () => {
    const clock = new FakeClock();
    const layer = new TransactionLayer({ clock, timers: { t1: 100 } });
    const flow = new RecordingFlow(true, clock);
    const tx = layer.sendRequest({ request: request('INVITE'), flow });
    let failed = false;
    tx.on('failure', () => (failed = true));
    clock.advance(6_399);
    expect(flow.times()).toEqual([0]);
    expect(failed).toBe(false);
    clock.advance(1);
    expect(failed).toBe(true);
  });

  it('stops retransmitting on 1xx, sends ACK for a non-2xx final and absorbs retransmissions until Timer D', () => {
    const { clock, layer, flow } = setup();
    const invite = request('INVITE');
    const tx = layer.sendRequest({ request: invite, flow });
    const seen: number[] = [];
    tx.on('response', (r) => seen.push(r.status));
    clock.advance(600);
    expect(layer.receiveResponse(createResponse(invite, 180, { toTag: 'b1' }))).toBe(true);
    expect(tx.state).toBe('proceeding');
    clock.advance(60_000);
    expect(flow.sent).toHaveLength(2);
    const busy = createResponse(invite, 486, { toTag: 'b1' });
    layer.receiveResponse(busy);
    expect(tx.state).toBe('completed');
    const ack = flow.sent[2]!.message as SipRequest;
    expect(ack.method).toBe('ACK');
    expect(ack.headers.get('CSeq')).toBe('1 ACK');
    expect(ack.to?.tag).toBe('b1');
    expect(ack.topVia?.branch).toBe(invite.topVia?.branch);
    expect(ack.uri.toString()).toBe(invite.uri.toString());
    // A retransmitted 486 is answered with the ACK again and not passed up.
    layer.receiveResponse(busy);
    expect(flow.sent.map((s) => (s.message as SipRequest).method)).toEqual([
      'INVITE',
      'INVITE',
      'ACK',
      'ACK',
    ]);
    expect(seen).toEqual([180, 486]);
    clock.advance(31_999);
    expect(tx.state).toBe('completed');
    clock.advance(1);
    expect(tx.state).toBe('terminated');
  });

  it('Timer D is zero on a reliable transport', () => {
    const { clock, layer, flow } = setup(true);
    const invite = request('INVITE');
    const tx = layer.sendRequest({ request: invite, flow });
    layer.receiveResponse(createResponse(invite, 503, { toTag: 'x' }));
    expect(tx.state).toBe('completed');
    clock.advance(0);
    expect(tx.state).toBe('terminated');
  });

  it('enters accepted on 2xx, passes 2xx retransmissions up and ends with Timer M (RFC 6026 §7.2)', () => {
    const { clock, layer, flow } = setup();
    const invite = request('INVITE');
    const tx = layer.sendRequest({ request: invite, flow });
    const seen: number[] = [];
    tx.on('response', (r) => seen.push(r.status));
    const ok = createResponse(invite, 200, { toTag: 'b2' });
    layer.receiveResponse(ok);
    expect(tx.state).toBe('accepted');
    expect(tx.runningTimers).toEqual(['M']);
    layer.receiveResponse(ok);
    expect(seen).toEqual([200, 200]);
    expect(flow.sent).toHaveLength(1); // the TU sends the ACK for a 2xx, not the transaction
    clock.advance(32_000);
    expect(tx.state).toBe('terminated');
    expect(layer.receiveResponse(ok)).toBe(false);
  });

  it('reports a transport error and terminates (RFC 3261 §17.1.4)', async () => {
    const { layer, flow } = setup();
    flow.fail = true;
    const failures: string[] = [];
    const tx = layer.sendRequest({ request: request('INVITE'), flow });
    tx.on('failure', (e) => failures.push(e.code));
    await Promise.resolve();
    expect(failures).toEqual(['SIP_TRANSPORT_FAILED']);
    expect(tx.state).toBe('terminated');
    expect(layer.size.client).toBe(0);
  });
});

describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  it('retransmits with E doubling up to T2 and times out with Timer F at 32 s', () => {
    const { clock, layer, flow } = setup();
    const tx = layer.sendRequest({ request: request('OPTIONS'), flow });
    const failures: string[] = [];
    tx.on('failure', (e) => failures.push(e.code));
    clock.advance(32_000);
    expect(flow.times()).toEqual([0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]);
    expect(failures).toEqual(['SIP_TRANSACTION_TIMEOUT']);
    expect(tx.state).toBe('terminated');
  });

  it('retransmits every T2 once proceeding, then completes and waits Timer K (T4)', () => {
    const { clock, layer, flow } = setup();
    const options = request('REGISTER');
    const tx = layer.sendRequest({ request: options, flow });
    clock.advance(600); // one retransmission at 0.5 s
    layer.receiveResponse(createResponse(options, 100));
    expect(tx.state).toBe('proceeding');
    clock.advance(8_000);
    expect(flow.times()).toEqual([0, 0.5, 4.6, 8.6]);
    const seen: number[] = [];
    tx.on('response', (r) => seen.push(r.status));
    layer.receiveResponse(createResponse(options, 200, { toTag: 't' }));
    layer.receiveResponse(createResponse(options, 200, { toTag: 't' }));
    expect(seen).toEqual([200]);
    expect(tx.state).toBe('completed');
    clock.advance(4_999);
    expect(tx.state).toBe('completed');
    clock.advance(1);
    expect(tx.state).toBe('terminated');
  });

  it('does not retransmit on a reliable transport and Timer K is zero', () => {
    const { clock, layer, flow } = setup(true);
    const bye = request('BYE');
    const tx = layer.sendRequest({ request: bye, flow });
    clock.advance(20_000);
    expect(flow.times()).toEqual([0]);
    layer.receiveResponse(createResponse(bye, 200));
    clock.advance(0);
    expect(tx.state).toBe('terminated');
  });

  it('matches responses by branch and CSeq method (RFC 3261 §17.1.3)', () => {
    const { layer, flow } = setup();
    const branch = generateBranch();
    const invite = request('INVITE', branch);
    const inviteTx = layer.sendRequest({ request: invite, flow });
    const cancel = request('CANCEL', branch);
    const cancelTx = layer.sendRequest({ request: cancel, flow });
    layer.receiveResponse(createResponse(cancel, 200));
    expect(cancelTx.state).toBe('completed');
    expect(inviteTx.state).toBe('calling');
    expect(layer.receiveResponse(createResponse(request('INVITE'), 200))).toBe(false);
  });

  it('refuses requests without a z9hG4bK branch', () => {
    const { layer, flow } = setup();
    expect(() => layer.sendRequest({ request: request('OPTIONS', 'abc'), flow })).toThrow(
      TypeError,
    );
  });
});

describe('INVITE server transaction (RFC 3261 §17.2.1, RFC 6026)', () => {
  it('sends 100 at once, answers retransmissions with the last response, retransmits a 486 with G up to T2, and fails with Timer H', () => {
    const { clock, layer, flow } = setup();
    const invite = request('INVITE');
    const r = layer.receiveRequest(invite, flow);
    expect(r.kind).toBe('new');
    const tx = r.kind === 'new' ? r.transaction : undefined;
    if (tx?.request.method !== 'INVITE' || !('lastResponse' in tx)) throw new Error('unexpected');
    expect(flow.sent.map((s) => (s.message as { status?: number }).status)).toEqual([100]);
    expect(layer.receiveRequest(invite, flow).kind).toBe('absorbed');
    expect(flow.sent).toHaveLength(2);
    const failures: string[] = [];
    tx.on('failure', (e) => failures.push(e.code));
    tx.respond(createResponse(invite, 486, { toTag: 'u1' }));
    expect(tx.state).toBe('completed');
    clock.advance(32_000);
    // 486 at 0, then G at 0.5, 1.5, 3.5, 7.5, then every 4 s up to H at 32 s
    const at = flow.times((m) => 'status' in m && m.status === 486);
    expect(at).toEqual([0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]);
    expect(failures).toEqual(['SIP_TRANSACTION_TIMEOUT']);
    expect(tx.state).toBe('terminated');
  });

  it('absorbs the ACK of a non-2xx final, moves to confirmed and ends after Timer I (T4)', () => {
    const { clock, layer, flow } = setup();
    const invite = request('INVITE');
    const r = layer.receiveRequest(invite, flow);
    if (r.kind !== 'new' || r.transaction.request.method !== 'INVITE')
      throw new Error('unexpected');
    const tx = r.transaction;
    const final = createResponse(invite, 404, { toTag: 'u2' });
    tx.respond(final);
    const ack = request('ACK', invite.topVia!.branch);
    ack.headers.set('To', final.headers.get('To')!);
    const acks: string[] = [];
    if ('on' in tx) tx.on('ack', (a: SipRequest) => acks.push(a.method));
    expect(layer.receiveRequest(ack, flow).kind).toBe('absorbed');
    expect(tx.state).toBe('confirmed');
    expect(acks).toEqual(['ACK']);
    clock.advance(10_000);
    expect(flow.times((m) => 'status' in m && m.status === 404)).toEqual([0]);
    expect(tx.state).toBe('terminated');
    expect(layer.size.server).toBe(0);
  });

  it('enters accepted on 2xx, absorbs INVITE retransmissions, lets 2xx retransmissions through, ends with Timer L', () => {
    const { clock, layer, flow } = setup();
    const invite = request('INVITE');
    const r = layer.receiveRequest(invite, flow);
    if (r.kind !== 'new' || r.transaction.request.method !== 'INVITE')
      throw new Error('unexpected');
    const tx = r.transaction;
    const ok = createResponse(invite, 200, { toTag: 'u3' });
    tx.respond(ok);
    expect(tx.state).toBe('accepted');
    expect(layer.receiveRequest(invite, flow).kind).toBe('absorbed');
    expect(flow.sent).toHaveLength(2); // 100 and 200: the retransmitted INVITE got nothing
    tx.respond(ok);
    expect(flow.sent).toHaveLength(3);
    expect(() => tx.respond(createResponse(invite, 500))).toThrow(TypeError);
    // An ACK for a 2xx has its own branch: it is not this transaction's.
    expect(layer.receiveRequest(request('ACK'), flow).kind).toBe('ack');
    clock.advance(32_000);
    expect(tx.state).toBe('terminated');
  });

  it('uses no Timer G and a zero Timer I on reliable transports', () => {
    const { clock, layer, flow } = setup(true);
    const invite = request('INVITE');
    const r = layer.receiveRequest(invite, flow);
    if (r.kind !== 'new' || r.transaction.request.method !== 'INVITE')
      throw new Error('unexpected');
    r.transaction.respond(createResponse(invite, 480, { toTag: 'u' }));
    expect(r.transaction.runningTimers).toEqual(['H']);
    layer.receiveRequest(request('ACK', invite.topVia!.branch), flow);
    clock.advance(0);
    expect(r.transaction.state).toBe('terminated');
  });

  it('finds the INVITE a CANCEL refers to (RFC 3261 §9.2)', () => {
    const { layer, flow } = setup();
    const branch = generateBranch();
    const invite = request('INVITE', branch);
    const r = layer.receiveRequest(invite, flow);
    const cancel = request('CANCEL', branch);
    const c = layer.receiveRequest(cancel, flow);
    expect(c.kind).toBe('new');
    expect(layer.findCancelTarget(cancel)).toBe(r.kind === 'new' ? r.transaction : undefined);
    expect(layer.findCancelTarget(request('CANCEL'))).toBeUndefined();
    // Same branch from another sent-by is a different transaction (RFC 3261 §17.2.3).
    expect(layer.receiveRequest(request('INVITE', branch, '198.51.100.7:5060'), flow).kind).toBe(
      'new',
    );
  });

  it('matches RFC 2543 requests without a magic cookie', () => {
    const { layer, flow } = setup();
    const invite = request('INVITE', 'legacy1');
    expect(layer.receiveRequest(invite, flow).kind).toBe('new');
    expect(layer.receiveRequest(request('INVITE', 'legacy1'), flow).kind).toBe('absorbed');
  });
});

describe('non-INVITE server transaction (RFC 3261 §17.2.2, RFC 4320)', () => {
  it('discards retransmissions while trying, repeats the final and ends after Timer J (64*T1)', () => {
    const { clock, layer, flow } = setup();
    const options = request('OPTIONS');
    const r = layer.receiveRequest(options, flow);
    if (r.kind !== 'new') throw new Error('unexpected');
    const tx = r.transaction;
    expect(layer.receiveRequest(options, flow).kind).toBe('absorbed');
    expect(flow.sent).toHaveLength(0);
    tx.respond(createResponse(options, 200, { toTag: 's' }));
    layer.receiveRequest(options, flow);
    expect(flow.sent).toHaveLength(2);
    clock.advance(31_999);
    expect(tx.state).toBe('completed');
    clock.advance(1);
    expect(tx.state).toBe('terminated');
  });

  it('refuses provisional responses other than 100 and any 408 (RFC 4320 §4)', () => {
    const { layer, flow } = setup();
    const options = request('OPTIONS');
    const r = layer.receiveRequest(options, flow);
    if (r.kind !== 'new') throw new Error('unexpected');
    expect(() => r.transaction.respond(createResponse(options, 180))).toThrow(TypeError);
    expect(() => r.transaction.respond(createResponse(options, 408))).toThrow(TypeError);
    r.transaction.respond(createResponse(options, 100));
    expect(r.transaction.state).toBe('proceeding');
  });

  it('Timer J is zero on reliable transports', () => {
    const { clock, layer, flow } = setup(true);
    const bye = request('BYE');
    const r = layer.receiveRequest(bye, flow);
    if (r.kind !== 'new') throw new Error('unexpected');
    r.transaction.respond(createResponse(bye, 200));
    clock.advance(0);
    expect(r.transaction.state).toBe('terminated');
  });

  it('terminateAll stops every timer', () => {
    const { clock, layer, flow } = setup();
    layer.sendRequest({ request: request('INVITE'), flow });
    layer.sendRequest({ request: request('OPTIONS'), flow });
    layer.receiveRequest(request('INVITE'), flow);
    expect(clock.pendingTimers).toBeGreaterThan(0);
    layer.terminateAll();
    expect(clock.pendingTimers).toBe(0);
    expect(layer.size).toEqual({ client: 0, server: 0 });
  });
});
