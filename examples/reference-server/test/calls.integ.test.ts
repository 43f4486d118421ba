// Calls through a server running in-process on ephemeral ports, between
// virtual phones on real SIP transports over UDP loopback: digest on
// REGISTER and INVITE (407), extension to extension through the B2BUA with
// media anchored, ring groups, the CDR of each call, and drain with a call
// in progress.
import { SipTransport } from '@voxmesh/sip';
import { VirtualPhone } from '@voxmesh/sip/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Cdr } from '@voxmesh/history';
import { DEFAULT_CONFIG } from '../src/config.js';
import { api, startServer, type TestServer } from './helpers.js';

let t: TestServer;
let udpPort = 0;
const started: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  t = await startServer({ sip: { ...DEFAULT_CONFIG.sip, udpPort: 0, tcpPort: 0, wsPort: 0 } });
  udpPort = t.server.addresses.sip.find((l) => l.protocol === 'UDP')!.port;
});
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop().catch(() => undefined);
  if (t.server.state === 'running') {
    expect(await t.server.registrar.lookup('sip:1001@demo.local')).toEqual([]);
  }
});
afterAll(async () => {
  await t?.close();
});

function password(extension: string): string {
  return t.server.seeded!.users.find((u) => u.extension === extension)!.password;
}

async function phone(
  extension: string,
  options: { autoAnswer?: boolean; register?: boolean } = {},
) {
  const transport = new SipTransport({
    listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
  });
  await transport.start();
  const p = new VirtualPhone({
    transport,
    uri: `sip:${extension}@demo.local`,
    credentials: { username: extension, password: password(extension) },
    autoAnswer: options.autoAnswer,
  });
  await p.start();
  started.push(transport, p);
  if (options.register !== false) {
    await p.register({ registrar: `sip:127.0.0.1:${udpPort}`, expiresS: 300 });
    // A phone that goes away unregisters first (what a softphone does on exit).
    started.push({
      stop: async () => {
        if (t.server.state !== 'running') return;
        await p.register({
          registrar: `sip:127.0.0.1:${udpPort}`,
          expiresS: 0,
          signal: AbortSignal.timeout(5000),
        });
      },
    });
  }
  return p;
}

async function cdrOf(callId: string): Promise<Cdr> {
  await t.server.history.flush();
  for (let i = 0; i < 50; i++) {
    const page = await t.server.historyStore.queryCdrs({ tenantId: 'demo', limit: 50 });
    const found = page.items.find((c) => c.callId === callId);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no CDR for ${callId}`);
}

describe('extension to extension', () => {
  it('1001 calls 1002 through the B2BUA with media anchored; the CDR has the talk time', async () => {
    const a = await phone('1001');
    const b = await phone('1002', { autoAnswer: true });
    const call = await a.call({ uri: `sip:1002@127.0.0.1:${udpPort}` });
    await b.waitForState('talking');
    // The INVITE was challenged (407) and answered with credentials.
    expect(a.received(407)).toHaveLength(1);
    // The B leg's SDP is the media plane's, not the caller's.
    const offerAtB = b.received('INVITE')[0]!;
    expect(offerAtB.body.toString()).not.toContain('m=audio 40000');
    await new Promise((r) => setTimeout(r, 1200));
    await a.hangup();
    await b.waitForState('hungup');
    const cdr = await cdrOf(call.callId);
    expect(cdr).toMatchObject({
      disposition: 'answered',
      direction: 'internal',
      from: '1001',
      to: '1002',
      sipStatus: 200,
    });
    expect(cdr.users.sort()).toEqual(['1001', '1002']);
    expect(cdr.talkMs).toBeGreaterThanOrEqual(1000);
    expect(cdr.talkMs).toBeLessThan(10_000);
  });

  it('refuses a caller without valid credentials', async () => {
    const transport = new SipTransport({
      listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
    });
    await transport.start();
    const intruder = new VirtualPhone({
      transport,
      uri: 'sip:1001@demo.local',
      credentials: { username: '1001', password: 'wrong-password-1' },
    });
    await intruder.start();
    started.push(transport, intruder);
    await expect(intruder.call({ uri: `sip:1002@127.0.0.1:${udpPort}` })).rejects.toThrow();
    expect(intruder.received(407).length).toBeGreaterThanOrEqual(1);
  });

  it('rings a ring group: every member at once, the first to answer takes the call', async () => {
    const a = await phone('1001');
    const b = await phone('1002', { autoAnswer: true });
    const caller = await phone('1002', { register: false });
    const call = await caller.call({ uri: `sip:2000@127.0.0.1:${udpPort}` });
    await b.waitForState('talking');
    // 1001 rang too, and was cancelled when 1002 answered.
    expect(a.received('INVITE')).toHaveLength(1);
    await a.waitForState('hungup');
    expect(a.received('CANCEL')).toHaveLength(1);
    await caller.hangup();
    const cdr = await cdrOf(call.callId);
    expect(cdr.disposition).toBe('answered');
    expect(cdr.users).toEqual(expect.arrayContaining(['1001', '1002']));
  });
});

describe('parallel forks with anchored media', () => {
  // InProcessMediaController keeps one pending offer per media session and the
  // B2BUA offers every parallel fork in the same session; without the server's
  // forkSafeMedia wrapper only the fork offered last could answer (488).
  it('rings two phones of one user at once and the first-offered one answers', async () => {
    const older = await phone('1002');
    const newer = await phone('1002', { autoAnswer: true });
    const caller = await phone('1001', { register: false });
    await caller.call({ uri: `sip:1002@127.0.0.1:${udpPort}` });
    // Contacts are rung most recent first: `newer` is fork b1 and answers, `older` is b2.
    await newer.waitForState('talking');
    await older.waitForState('hungup');
    expect(older.received('CANCEL')).toHaveLength(1);
    // The answering phone got the media plane's SDP, and the caller the media plane's answer.
    expect(newer.received('INVITE')[0]!.body.toString()).not.toContain('m=audio 40000');
    await caller.hangup();
    await newer.waitForState('hungup');
  });
});

describe('forwarding and transfer', () => {
  it('sends a call for a phone that is not registered to its voicemail', async () => {
    const caller = await phone('1001', { register: false });
    const call = await caller.call({ uri: `sip:1002@127.0.0.1:${udpPort}` });
    // Answered by the server's voicemail (a terminated leg), not by a phone.
    expect(caller.state).toBe('talking');
    await new Promise((r) => setTimeout(r, 500));
    await caller.hangup();
    const cdr = await cdrOf(call.callId);
    expect(cdr.disposition).toBe('answered');
    expect(cdr.users).toContain('1002');
    expect(cdr.ivrPath).toEqual(['voicemail-1002/record']);
  });

  it('forwards on busy and, after the no-answer time, to voicemail', async () => {
    const key = t.server.seeded!.apiKey;
    const users = (await api(t.base, 'GET', '/v1/tenants/demo/users/u1002', { key }))
      .body as Record<string, unknown>;
    const put = await api(t.base, 'PUT', '/v1/tenants/demo/users/u1002', {
      key,
      body: {
        ...users,
        forwarding: {
          noAnswer: { destination: { type: 'voicemail', extension: '1002' }, afterSeconds: 5 },
          busy: { type: 'voicemail', extension: '1002' },
        },
      },
    });
    expect(put.status).toBe(200);
    const b = await phone('1002');
    const caller = await phone('1001', { register: false });
    // No answer: 1002 rings for 5 s, then voicemail answers.
    const started = Date.now();
    const first = await caller.call({ uri: `sip:1002@127.0.0.1:${udpPort}` });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4500);
    expect(b.received('INVITE')).toHaveLength(1);
    expect(b.received('CANCEL')).toHaveLength(1);
    await caller.hangup();
    expect((await cdrOf(first.callId)).ivrPath).toEqual(['voicemail-1002/record']);
    // Busy: 1002 rejects with 486, voicemail answers at once.
    b.on('state', (state) => {
      if (state === 'ringing') b.reject({ status: 486 });
    });
    const second = await caller.call({ uri: `sip:1002@127.0.0.1:${udpPort}` });
    expect(caller.state).toBe('talking');
    await caller.hangup();
    expect((await cdrOf(second.callId)).ivrPath).toEqual(['voicemail-1002/record']);
  });

  it('blind transfer: 1002 sends 1001 on to another extension', async () => {
    const key = t.server.seeded!.apiKey;
    const added = await api(t.base, 'POST', '/v1/tenants/demo/users', {
      key,
      body: {
        id: 'u1004',
        extension: '1004',
        displayName: 'Transfer target',
        sip: { username: '1004', password: 'transfer-target-1004' },
      },
    });
    expect(added.status).toBe(201);
    const transport = new SipTransport({
      listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
    });
    await transport.start();
    const target = new VirtualPhone({
      transport,
      uri: 'sip:1004@demo.local',
      credentials: { username: '1004', password: 'transfer-target-1004' },
      autoAnswer: true,
    });
    await target.start();
    started.push(transport, target);
    await target.register({ registrar: `sip:127.0.0.1:${udpPort}`, expiresS: 300 });
    started.push({
      stop: () =>
        target
          .register({ registrar: `sip:127.0.0.1:${udpPort}`, expiresS: 0 })
          .then(() => undefined),
    });
    const b = await phone('1002', { autoAnswer: true });
    const a = await phone('1001');
    await a.call({ uri: `sip:1002@127.0.0.1:${udpPort}` });
    await b.waitForState('talking');
    await new Promise((r) => setTimeout(r, 300)); // the registration cache follows the registrar
    await b.transfer({ target: 'sip:1004@demo.local' });
    await target.waitForState('talking');
    await b.waitForState('hungup');
    expect(a.state).toBe('talking');
    await a.hangup();
    await target.waitForState('hungup');
  });
});

describe('IVR', () => {
  it('DID → IVR → 1 rings 1001 from the menu; the caller talks to 1001 until it hangs up', async () => {
    const callee = await phone('1001', { autoAnswer: true });
    const caller = await phone('1002', { register: false });
    const call = await caller.call({ uri: `sip:+15550100@127.0.0.1:${udpPort}` });
    // Answered by the IVR; the menu takes the digit (SIP INFO) and dials 1001.
    expect(caller.state).toBe('talking');
    await caller.sendDtmf({ digits: '1' });
    await callee.waitForState('talking');
    const invite = callee.received('INVITE')[0]!;
    // The dialled leg carries the media plane's SDP and the caller's number.
    expect(invite.body.toString()).toContain('m=audio');
    expect(invite.headers.get('From')).toContain('sip:1002@demo.local');
    await new Promise((r) => setTimeout(r, 500));
    await callee.hangup();
    await caller.hangup();
    const cdr = await cdrOf(call.callId);
    expect(cdr.users).toContain('1001');
  });
});

describe('drain', () => {
  it('refuses new calls with 503 while the calls in progress (bridged and IVR) finish', async () => {
    const a = await phone('1001');
    const b = await phone('1002', { autoAnswer: true });
    await a.call({ uri: `sip:1002@127.0.0.1:${udpPort}` });
    await b.waitForState('talking');
    // A second call in progress, answered by the server itself (the DID's IVR).
    const ivr = await phone('1002', { register: false });
    await ivr.call({ uri: `sip:+15550100@127.0.0.1:${udpPort}` });
    const health = () => fetch(`${t.base}/health`).then((r) => r.status);
    expect(await health()).toBe(200);
    const draining = t.server.drain();
    await new Promise((r) => setTimeout(r, 200));
    expect(await health()).toBe(503);
    const late = await phone('1002', { register: false });
    await expect(late.call({ uri: `sip:1001@127.0.0.1:${udpPort}` })).rejects.toThrow();
    expect(late.received(503)).toHaveLength(1);
    // Calls to the IVR are refused too, even though the server would answer them itself.
    await expect(late.call({ uri: `sip:+15550100@127.0.0.1:${udpPort}` })).rejects.toThrow();
    expect(late.received(503)).toHaveLength(2);
    expect(t.server.state).toBe('draining');
    expect(a.state).toBe('talking');
    expect(ivr.state).toBe('talking');
    await a.hangup();
    await new Promise((r) => setTimeout(r, 300));
    // Still draining: the IVR call is in progress.
    expect(t.server.state).toBe('draining');
    await ivr.hangup();
    await draining;
    expect(t.server.state).toBe('stopped');
  });
});
