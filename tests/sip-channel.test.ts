// SipCallChannel (@voxmesh/sip) over a real UserAgent pair on UDP loopback,
// with the media terminated by InProcessMediaController (@voxmesh/media):
// core's CallChannel conformance suite twice (digits by SIP INFO, then as
// RFC 4733 events from a real RTP endpoint), then SIP-specific behaviour (488 for
// hostile SDP, late offer, INFO DTMF, hang-up during play and record, blind
// transfer by 302 and REFER, bridging through a callback and through uaBridge).
// Cross-package, so it lives here: sip and media never import each other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, VoxmeshError, type BridgeResult } from '@voxmesh/core';
import { callChannelSuite } from '@voxmesh/core/testing';
import {
  InProcessMediaController,
  MediaClock,
  MediaLeg,
  PortAllocator,
  RtpEndpoint,
  parseSdp,
  readWav,
} from '@voxmesh/media';
import { MemorySink, RtpPeer, testOffer } from '@voxmesh/media/testing';
import {
  SipCallChannel,
  SipChannelErrorCode,
  SipResponseError,
  SipTransport,
  UserAgent,
  infoDigit,
  uaBridge,
  userAgentTransport,
  type Call,
  type SipCallChannelOptions,
  type UaTransport,
} from '@voxmesh/sip';

const cleanup: (() => unknown)[] = [];
let media: InProcessMediaController;
let server: UserAgent;
let caller: UserAgent;
let serverPort = 0;
/** SDP the caller's transport adds to the next ACK it sends (a late-offer answer). */
let ackBody: string | undefined;
const invites: Call[] = [];
const waiting: ((call: Call) => void)[] = [];

async function agent(uri: string, wrap?: (t: UaTransport) => UaTransport) {
  const transport = new SipTransport({
    listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
  });
  await transport.start();
  const inner = userAgentTransport(transport);
  const ua = new UserAgent({ transport: wrap ? wrap(inner) : inner, uri, sessionTimer: false });
  await ua.start();
  cleanup.push(
    () => ua.stop(),
    () => transport.stop(),
  );
  return { ua, port: transport.listening[0]?.local.port ?? 0 };
}

beforeAll(async () => {
  media = new InProcessMediaController({ mediaTimeoutMs: 60_000 });
  await media.start();
  cleanup.push(() => media.stop());
  const s = await agent('sip:ivr@127.0.0.1');
  server = s.ua;
  serverPort = s.port;
  server.on('invite', (call) => {
    const w = waiting.shift();
    if (w) w(call);
    else invites.push(call);
  });
  const c = await agent('sip:caller@127.0.0.1', (inner) => ({
    ...inner,
    localAddress: (p) => inner.localAddress(p),
    onMessage: (h) => inner.onMessage(h),
    connect: async (target, options) => {
      const flow = await inner.connect(target, options);
      return {
        ...flow,
        protocol: flow.protocol,
        reliable: flow.reliable,
        remote: flow.remote,
        send: (message) => {
          if (message.isRequest() && message.method === 'ACK' && ackBody !== undefined) {
            message.body = Buffer.from(ackBody);
            message.headers.set('Content-Type', 'application/sdp');
            ackBody = undefined;
          }
          return flow.send(message);
        },
      };
    },
  }));
  caller = c.ua;
});

afterAll(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function nextInvite(): Promise<Call> {
  const queued = invites.shift();
  if (queued) return Promise.resolve(queued);
  return new Promise((resolve) => waiting.push(resolve));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves once `predicate` holds, polling every 10 ms; fails after `timeoutMs`. */
async function until(
  predicate: () => boolean,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Dialled {
  channel: SipCallChannel;
  call: Call;
  peer: RtpPeer;
}

/** The caller dials the server; the server wraps the incoming call in a channel. */
async function dial(
  options: {
    body?: string | null;
    contentType?: string;
    channel?: Partial<SipCallChannelOptions>;
  } = {},
): Promise<Dialled> {
  const peer = await RtpPeer.open();
  cleanup.push(() => peer.close());
  const incoming = nextInvite();
  const body = options.body === null ? undefined : (options.body ?? testOffer({ port: peer.port }));
  const call = caller.invite({
    uri: `sip:100@127.0.0.1:${serverPort}`,
    body,
    contentType: options.contentType,
  });
  call.answered().catch(() => undefined);
  const channel = new SipCallChannel({
    call: await incoming,
    media,
    tenantId: 'demo',
    ...options.channel,
  });
  return { channel, call, peer };
}

async function ended(channel: SipCallChannel): Promise<void> {
  await until(() => channel.state === 'ended', 5000, 'the channel to end');
}

describe('SipCallChannel conformance (UDP loopback, InProcessMediaController)', () => {
  callChannelSuite({
    test: it,
    factory: async () => {
      const { channel, call, peer } = await dial();
      return {
        channel,
        // SIP INFO: the 200 comes after the channel took the digit.
        press: async (digit) => {
          await call.dtmf({ digit });
        },
        advance: (ms) => sleep(ms),
        callerHangup: async () => {
          if (call.state === 'confirmed') await call.bye();
          else call.cancel();
          await ended(channel);
        },
        close: async () => {
          peer.close();
          await until(() => call.state === 'terminated', 5000, 'the caller to hang up');
        },
      };
    },
  });
});

describe('SipCallChannel conformance, digits as RFC 4733 events from a real RTP endpoint', () => {
  const farClock = new MediaClock();
  callChannelSuite({
    test: it,
    prefix: 'CallChannel (RFC 4733): ',
    factory: async () => {
      const ports = await new PortAllocator().allocate({ rtcp: false });
      const leg = new MediaLeg({ ports, rtcpMux: true });
      const incoming = nextInvite();
      const call = caller.invite({
        uri: `sip:100@127.0.0.1:${serverPort}`,
        body: testOffer({ port: leg.port }),
      });
      call.answered().catch(() => undefined);
      const channel = new SipCallChannel({ call: await incoming, media, tenantId: 'demo' });
      let endpoint: RtpEndpoint | undefined;
      const farEnd = (): RtpEndpoint => {
        if (endpoint !== undefined) return endpoint;
        const audio = parseSdp(call.remoteBody?.toString() ?? '').media[0];
        const te = audio?.formats.find((f) => f.name === 'telephone-event');
        endpoint = new RtpEndpoint({
          leg,
          mediaClock: farClock,
          codec: 'PCMU',
          payloadType: 0,
          telephoneEventPayloadType: te?.payloadType,
          remote: { address: audio?.address ?? '127.0.0.1', port: audio?.port ?? 0 },
        });
        return endpoint;
      };
      return {
        channel,
        // Resolves once the channel reported the digit (or after 3 s).
        press: async (digit) => {
          const seen = new Promise<void>((resolve) => {
            const on = (e: { digit: string }): void => {
              if (e.digit !== digit) return;
              channel.off('dtmf', on);
              resolve();
            };
            channel.on('dtmf', on);
          });
          farEnd().sendDigits(digit, { durationMs: 60 });
          await Promise.race([seen, sleep(3000)]);
        },
        advance: (ms) => sleep(ms),
        callerHangup: async () => {
          if (call.state === 'confirmed') await call.bye();
          else call.cancel();
          await ended(channel);
        },
        close: async () => {
          if (endpoint !== undefined) endpoint.close();
          else leg.close();
          await until(() => call.state === 'terminated', 5000, 'the caller to hang up');
        },
      };
    },
  });
});

describe('SipCallChannel', () => {
  it('answers with the media plane SDP, and the caller receives the prompt as RTP', async () => {
    const { channel, call, peer } = await dial();
    expect(channel.state).toBe('ringing');
    expect(channel.from.user).toBe('caller');
    expect(channel.to.user).toBe('100');
    await channel.answer();
    expect(call.state).toBe('confirmed');
    const answer = call.remoteBody?.toString();
    expect(answer).toMatch(/m=audio \d+ RTP\/AVP 0/);
    const played = await channel.play({ toneHz: 1000, durationMs: 300 });
    expect(played).toMatchObject({ reason: 'finished' });
    await peer.waitFor((r) => r.length >= 12);
    await channel.hangup();
    await until(() => call.state === 'terminated');
    expect(call.end).toMatchObject({ cause: 'bye', by: 'remote' });
    expect(media.legPort(channel.sessionId, 'a')).toBeUndefined();
  });

  it('a malformed or hostile SDP gets 488 and answer() rejects with SIP_CHANNEL_MEDIA_REFUSED', async () => {
    const hostile = [
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 99999 RTP/AVP 0\r\n',
      'not sdp at all',
      `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n${'m=audio 4000 RTP/AVP 0\r\n'.repeat(40)}`,
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n',
      'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n',
    ];
    for (const body of hostile) {
      const sessions = media.sessionCount;
      const { channel, call } = await dial({ body });
      const error = await channel.answer().catch((e: unknown) => e);
      expect(VoxmeshError.is(error, SipChannelErrorCode.SIP_CHANNEL_MEDIA_REFUSED)).toBe(true);
      const failure = await call.answered().catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(SipResponseError);
      expect((failure as SipResponseError).status).toBe(488);
      expect(call.finalResponse?.headers.get('warning')).toMatch(/^305 /);
      expect(channel.state).toBe('ended');
      expect(media.sessionCount).toBe(sessions);
    }
  });

  it('a body that is not SDP gets 415 with Accept', async () => {
    const { channel, call } = await dial({ body: '<xml/>', contentType: 'application/xml' });
    await expect(channel.answer()).rejects.toMatchObject({ code: 'SIP_CHANNEL_MEDIA_REFUSED' });
    await expect(call.answered()).rejects.toMatchObject({ status: 415 });
    expect(call.finalResponse?.headers.get('accept')).toBe('application/sdp');
  });

  it('a late offer (INVITE without SDP) is answered in the ACK and works', async () => {
    const { channel, call, peer } = await dial({ body: null });
    ackBody = testOffer({ port: peer.port, formats: [[8, 'PCMA']] });
    await channel.answer();
    expect(call.remoteBody?.toString()).toMatch(/m=audio \d+ RTP\/AVP 0 8/);
    const played = await channel.play({ silenceMs: 200 });
    expect(played.reason).toBe('finished');
    await peer.waitFor((r) => r.length >= 5);
    expect((peer.received[0]?.data[1] ?? 0) & 0x7f).toBe(8);
    await channel.hangup();
  });

  it('a late offer whose ACK brings no SDP ends with BYE and SIP_CHANNEL_NO_SDP_ANSWER', async () => {
    const { channel, call } = await dial({ body: null });
    ackBody = undefined;
    await expect(channel.answer()).rejects.toMatchObject({ code: 'SIP_CHANNEL_NO_SDP_ANSWER' });
    expect(channel.state).toBe('ended');
    await until(() => call.state === 'terminated');
    expect(call.end).toMatchObject({ cause: 'bye', by: 'remote' });
  });

  it('hanging up during play and record resolves them with hangup, not an error', async () => {
    const sink = new MemorySink();
    const { channel, call, peer } = await dial({ channel: { recordingSink: () => sink } });
    await channel.answer();
    const playing = channel.play({ silenceMs: 30_000 });
    await peer.waitFor((r) => r.length >= 3);
    await channel.hangup({ reason: 'test' });
    await expect(playing).resolves.toMatchObject({ reason: 'hangup' });
    await until(() => call.state === 'terminated');
    expect(call.end?.reason).toMatch(/Q\.850;cause=16;text="test"/);

    const second = await dial({ channel: { recordingSink: () => sink } });
    await second.channel.answer();
    const recording = second.channel.record({ key: 'vm/1', beep: false });
    await sleep(300);
    await second.call.bye();
    await expect(recording).resolves.toMatchObject({ key: 'vm/1', reason: 'hangup' });
    expect(readWav(sink.bytes).sampleRate).toBe(8000);
    await expect(second.channel.play({ silenceMs: 10 })).rejects.toMatchObject({
      code: ErrorCode.INVALID_STATE,
    });
  });

  it('record() without a recordingSink and prompts it cannot resolve are NOT_SUPPORTED', async () => {
    const { channel } = await dial();
    await channel.answer();
    await expect(channel.record({ key: 'k' })).rejects.toMatchObject({ code: 'NOT_SUPPORTED' });
    await expect(channel.play({ prompt: 'welcome' })).rejects.toMatchObject({
      code: 'NOT_SUPPORTED',
    });
    await expect(channel.play({ url: 'https://example.com/a.wav' })).rejects.toMatchObject({
      code: 'NOT_SUPPORTED',
    });
    await expect(channel.play({ url: '/nonexistent/prompt.wav' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await channel.hangup();
  });

  it('takes DTMF by SIP INFO and refuses INFO bodies it cannot read', async () => {
    const { channel, call } = await dial();
    await channel.answer();
    const collecting = channel.collectDigits({ maxDigits: 2 });
    await call.dtmf({ digit: '4' });
    await call.info({ contentType: 'application/dtmf', body: '*' });
    await expect(collecting).resolves.toMatchObject({ digits: '4*', reason: 'max-digits' });
    await expect(
      call.info({ contentType: 'application/dtmf-relay', body: 'Signal=Z\r\n' }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(call.info({ contentType: 'text/plain', body: 'hello' })).rejects.toMatchObject({
      status: 415,
    });
    expect(infoDigit('application/dtmf-relay', 'Signal= 11\r\nDuration= 100')).toBe('#');
    await channel.hangup();
  });

  it('transfer() of an unanswered call redirects it with 302', async () => {
    const { channel, call } = await dial();
    await channel.transfer({ extension: '1001' });
    expect(channel.state).toBe('ended');
    await expect(call.answered()).rejects.toMatchObject({ status: 302 });
    expect(call.finalResponse?.headers.get('contact')).toBe('<sip:1001@127.0.0.1>');
  });

  it('transfer() of an answered call sends REFER, then BYE once the caller accepted it', async () => {
    const { channel, call } = await dial();
    let referTo: string | undefined;
    call.delegate = {
      onRefer: ({ request }) => {
        referTo = request.headers.get('refer-to');
        return { status: 202 };
      },
    };
    const ends: string[] = [];
    channel.on('ended', (by, reason) => ends.push(`${by}:${reason}`));
    await channel.answer();
    await channel.transfer({ uri: 'sip:sales@example.com' });
    expect(referTo).toBe('<sip:sales@example.com>');
    expect(ends).toEqual(['local:transferred']);
    await until(() => call.state === 'terminated');
  });

  it('transfer() falls back to the bridge callback when the caller refuses REFER', async () => {
    const targets: unknown[] = [];
    const bridge = (_c: SipCallChannel, target: unknown): Promise<BridgeResult> => {
      targets.push(target);
      return Promise.resolve({ outcome: 'completed', talkMs: 10 });
    };
    const { channel, call } = await dial({ channel: { bridge } });
    await channel.answer();
    await channel.transfer({ number: '+4930123' });
    expect(targets).toEqual([{ number: '+4930123' }]);
    expect(channel.state).toBe('ended');
    await until(() => call.state === 'terminated');

    const refused = await dial();
    await refused.channel.answer();
    await expect(refused.channel.transfer({ extension: '7' })).rejects.toMatchObject({
      code: 'SIP_CHANNEL_TRANSFER_FAILED',
    });
    await refused.channel.hangup();
  });

  it('bridge() lets the callback connect the caller to a third party with media relayed', async () => {
    const third = await agent('sip:third@127.0.0.1');
    const thirdPeer = await RtpPeer.open();
    cleanup.push(() => thirdPeer.close());
    third.ua.on('invite', (call) => {
      void call.accept({ body: testOffer({ port: thirdPeer.port, formats: [[8, 'PCMA']] }) });
    });
    const bridge = async (channel: SipCallChannel): Promise<BridgeResult> => {
      const offer = await channel.bridgeOffer('b1');
      const out = server.invite({ uri: `sip:third@127.0.0.1:${third.port}`, body: offer });
      const ok = await out.answered();
      await channel.bridgeAnswer('b1', ok.body.toString());
      const started = Date.now();
      await new Promise<void>((resolve) => {
        out.once('terminated', () => resolve());
        channel.once('ended', () => {
          void out.bye().then(resolve);
        });
      });
      await channel.unbridge('b1').catch(() => undefined);
      return { outcome: 'completed', talkMs: Date.now() - started };
    };
    const { channel, call, peer } = await dial({ channel: { bridge } });
    await channel.answer();
    const answer = /m=audio (\d+)/.exec(call.remoteBody?.toString() ?? '')?.[1];
    const bridging = channel.bridge({ uri: 'sip:third@127.0.0.1' });
    // The caller's RTP reaches the third party (transcoded PCMU → PCMA).
    const payload = new Uint8Array(160).fill(0x55);
    await until(() => media.legPort(channel.sessionId, 'b1') !== undefined, 5000, 'the B leg');
    let delivered = false;
    for (let i = 0; i < 100 && !delivered; i++) {
      peer.sendAudio(payload, Number(answer));
      await sleep(20);
      delivered = thirdPeer.received.some((p) => ((p.data[1] ?? 0) & 0x7f) === 8);
    }
    expect(delivered).toBe(true);
    await call.bye();
    await expect(bridging).resolves.toMatchObject({ outcome: 'hangup' });
  });

  it('uaBridge(): a busy first target, then one that answers and hangs up; the caller is back in the IVR', async () => {
    const busy = await agent('sip:busy@127.0.0.1');
    busy.ua.on('invite', (call) => {
      call.reject({ status: 486 });
    });
    const agentB = await agent('sip:sales@127.0.0.1');
    const salesPeer = await RtpPeer.open();
    cleanup.push(() => salesPeer.close());
    let salesCall: Call | undefined;
    agentB.ua.on('invite', (call) => {
      salesCall = call;
      void call.accept({ body: testOffer({ port: salesPeer.port, formats: [[0, 'PCMU']] }) });
    });
    const bridge = uaBridge({
      ua: server,
      resolve: (target) => {
        expect(target).toEqual({ extension: 'sales' });
        return [`sip:busy@127.0.0.1:${busy.port}`, { uri: `sip:sales@127.0.0.1:${agentB.port}` }];
      },
    });
    const { channel, call, peer } = await dial({ channel: { bridge } });
    await channel.answer();
    const callerPort = Number(/m=audio (\d+)/.exec(call.remoteBody?.toString() ?? '')?.[1]);
    const bridging = channel.bridge(
      { extension: 'sales' },
      { callerId: { user: '1001', displayName: 'Front "desk"', uri: 'sip:1001@demo.local' } },
    );
    await until(() => salesCall?.state === 'confirmed', 5000, 'sales to answer');
    expect(salesCall?.invite.headers.get('from')).toMatch(
      /^"?Front desk"? <sip:1001@demo\.local>;tag=/,
    );
    const payload = new Uint8Array(160).fill(0x42);
    let relayed = false;
    for (let i = 0; i < 100 && !relayed; i++) {
      peer.sendAudio(payload, callerPort);
      await sleep(20);
      relayed = salesPeer.received.some((p) =>
        Buffer.from(p.data.subarray(12)).equals(Buffer.from(payload)),
      );
    }
    expect(relayed, 'the caller is heard by sales').toBe(true);
    await sleep(100);
    await salesCall?.bye();
    const result = await bridging;
    expect(result.outcome).toBe('completed');
    expect(result.talkMs).toBeGreaterThan(50);
    // Back in the IVR: the channel plays to the caller again.
    const before = peer.received.length;
    await expect(channel.play({ toneHz: 800, durationMs: 200 })).resolves.toMatchObject({
      reason: 'finished',
    });
    await peer.waitFor((r) => r.length >= before + 8);
    await channel.hangup();
  });

  it('uaBridge(): busy, no answer and the caller hanging up while it rings', async () => {
    const busy = await agent('sip:busy2@127.0.0.1');
    busy.ua.on('invite', (call) => {
      call.reject({ status: 486 });
    });
    const silent = await agent('sip:silent@127.0.0.1');
    const ringing: Call[] = [];
    silent.ua.on('invite', (call) => {
      ringing.push(call);
      void call.progress({ status: 180 });
    });
    const targets: Record<string, string> = {
      busy: `sip:busy2@127.0.0.1:${busy.port}`,
      silent: `sip:silent@127.0.0.1:${silent.port}`,
    };
    const bridge = uaBridge({
      ua: server,
      resolve: (target) => targets['extension' in target ? target.extension : ''] ?? '',
    });
    const { channel, call } = await dial({ channel: { bridge } });
    await channel.answer();
    await expect(channel.bridge({ extension: 'busy' })).resolves.toMatchObject({
      outcome: 'busy',
      sipStatus: 486,
    });
    await expect(channel.play({ silenceMs: 40 })).resolves.toMatchObject({ reason: 'finished' });
    await expect(
      channel.bridge({ extension: 'silent' }, { timeoutMs: 300 }),
    ).resolves.toMatchObject({
      outcome: 'no-answer',
    });
    await until(() => ringing[0]?.state === 'terminated', 5000, 'the CANCEL');
    expect(ringing[0]?.end?.cause).toBe('canceled');
    const third = channel.bridge({ extension: 'silent' });
    await until(() => ringing.length === 2, 5000, 'the second INVITE');
    await call.bye();
    await expect(third).resolves.toMatchObject({ outcome: 'hangup' });
    await until(() => ringing[1]?.state === 'terminated', 5000, 'the CANCEL after the caller left');
  });

  it('a re-INVITE from the caller is answered by the media plane on the same port, with a codec change', async () => {
    const { channel, call, peer } = await dial();
    await channel.answer();
    const first = /m=audio (\d+)/.exec(call.remoteBody?.toString() ?? '')?.[1];
    const ok = await call.reinvite({
      body: testOffer({ port: peer.port, formats: [[8, 'PCMA']] }),
    });
    const answer = ok.body.toString();
    expect(/m=audio (\d+) RTP\/AVP 8/.exec(answer)?.[1]).toBe(first);
    const before = peer.received.length;
    await channel.play({ silenceMs: 200 });
    await peer.waitFor((r) => r.length >= before + 5);
    expect((peer.received.at(-1)?.data[1] ?? 0) & 0x7f).toBe(8);
    // An offer the media plane cannot take is refused with 488 and changes nothing.
    await expect(
      call.reinvite({ body: testOffer({ port: peer.port, formats: [[18, 'G729']] }) }),
    ).rejects.toMatchObject({ status: 488 });
    expect(channel.state).toBe('answered');
    await expect(channel.play({ silenceMs: 40 })).resolves.toMatchObject({ reason: 'finished' });
    await channel.hangup();
  });

  it('bargeIn any: the caller speaking stops a prompt (barge-in), and nothing is queued', async () => {
    const { channel, call, peer } = await dial();
    await channel.answer();
    const port = Number(/m=audio (\d+)/.exec(call.remoteBody?.toString() ?? '')?.[1]);
    const playing = channel.play({ silenceMs: 20_000 }, { bargeIn: 'any' });
    const voice = new Uint8Array(160).map((_, i) => (i % 2 === 0 ? 0x10 : 0x90));
    let done = false;
    void playing.then(() => (done = true));
    for (let i = 0; i < 100 && !done; i++) {
      peer.sendAudio(voice, port);
      await sleep(20);
    }
    await expect(playing).resolves.toMatchObject({ reason: 'barge-in' });
    const collected = await channel.collectDigits({ firstDigitTimeoutMs: 200 });
    expect(collected).toMatchObject({ digits: '', reason: 'timeout' });
    await channel.hangup();
  });

  it('many concurrent channels share one set of listeners on the media controller', async () => {
    const calls = await Promise.all(Array.from({ length: 12 }, () => dial()));
    expect(media.listenerCount('dtmf')).toBe(1);
    expect(media.listenerCount('ended')).toBe(1);
    await Promise.all(calls.map(({ channel }) => channel.answer()));
    // Each channel hears only its own caller's digits.
    const collecting = calls.map(({ channel }) =>
      channel.collectDigits({ firstDigitTimeoutMs: 1500 }),
    );
    await calls[5]?.call.dtmf({ digit: '5' });
    const got = await Promise.all(collecting);
    expect(got.map((r) => r.digits)).toEqual(calls.map((_, i) => (i === 5 ? '5' : '')));
    await Promise.all(calls.map(({ channel }) => channel.hangup()));
    expect(media.listenerCount('dtmf')).toBeLessThanOrEqual(1);
  });

  it('play() before answer() is early media: 183 with the media plane SDP, then 200 with the same SDP', async () => {
    const { channel, call, peer } = await dial();
    const progress: number[] = [];
    call.on('progress', (r) => progress.push(r.status));
    const states: string[] = [];
    channel.on('state', (s) => states.push(s));
    await expect(channel.play({ toneHz: 440, durationMs: 200 })).resolves.toMatchObject({
      reason: 'finished',
    });
    expect(channel.state).toBe('early');
    expect(progress).toContain(183);
    await peer.waitFor((r) => r.length >= 8);
    await expect(channel.record({ key: 'early' })).rejects.toMatchObject({
      code: ErrorCode.INVALID_STATE,
    });
    const early = call.remoteBody?.toString();
    await channel.answer();
    expect(call.state).toBe('confirmed');
    expect(call.remoteBody?.toString()).toBe(early);
    expect(states).toEqual(['early', 'answered']);
    await channel.hangup();

    // Hanging up during early media is a final response, not a BYE.
    const second = await dial();
    await second.channel.play({ silenceMs: 60 });
    await second.channel.hangup({ sipStatus: 486 });
    await expect(second.call.answered()).rejects.toMatchObject({ status: 486 });
  });

  it('play() before answer() without an SDP offer in the INVITE is refused with INVALID_STATE', async () => {
    const { channel } = await dial({ body: null });
    await expect(channel.play({ silenceMs: 20 })).rejects.toMatchObject({
      code: ErrorCode.INVALID_STATE,
    });
    await channel.hangup();
  });

  it('a caller that holds the IVR (sendonly re-INVITE) gets recvonly and no RTP until it resumes', async () => {
    const { channel, call, peer } = await dial();
    await channel.answer();
    const held = await call.reinvite({
      body: testOffer({ port: peer.port, direction: 'sendonly' }),
    });
    expect(held.body.toString()).toMatch(/a=recvonly/);
    await sleep(100);
    const before = peer.received.length;
    await expect(channel.play({ toneHz: 500, durationMs: 300 })).resolves.toMatchObject({
      reason: 'finished',
    });
    await sleep(100);
    expect(peer.received.length).toBe(before);
    const resumed = await call.reinvite({ body: testOffer({ port: peer.port }) });
    expect(resumed.body.toString()).toMatch(/a=sendrecv/);
    await channel.play({ toneHz: 500, durationMs: 200 });
    await peer.waitFor((r) => r.length >= before + 8);
    await channel.hangup();
  });
});
