import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FakeClock, VoxmeshError, onceEvent } from '@voxmesh/core';
import {
  type Flow,
  type ListenerOptions,
  SipRequest,
  SipTransport,
  type SipTransportOptions,
  type TransportProtocol,
  createResponse,
  parseMessage,
  responseTarget,
  stampReceived,
} from '@voxmesh/sip';

const running: SipTransport[] = [];
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await Promise.all(running.splice(0).map((t) => t.stop()));
});

async function transport(
  listeners: ListenerOptions[],
  options: Partial<SipTransportOptions> = {},
): Promise<SipTransport> {
  const t = new SipTransport({ listeners, ...options });
  running.push(t);
  await t.start();
  return t;
}

const timeout = (): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(10_000) });

let n = 0;
function options(protocol: TransportProtocol, host: string, port: number): SipRequest {
  n++;
  return new SipRequest({
    method: 'OPTIONS',
    uri: `sip:b@${host}:${port}`,
    headers: [
      ['Via', `SIP/2.0/${protocol} 127.0.0.1:9;branch=z9hG4bKt${n};rport`],
      ['Max-Forwards', '70'],
      ['From', `<sip:a@127.0.0.1>;tag=f${n}`],
      ['To', `<sip:b@${host}>`],
      ['Call-ID', `call-${n}`],
      ['CSeq', '1 OPTIONS'],
    ],
  });
}

/** Answers every request with 200 through sendResponse. */
function answer200(t: SipTransport): void {
  t.on('message', (message, flow) => {
    if (message.isRequest())
      void t.sendResponse(createResponse(message, 200, { toTag: 'srv' }), { flow });
  });
}

describe('routing helpers (RFC 3261 §18.2, RFC 3581)', () => {
  it('stamps received and rport, and routes the response by them', () => {
    const request = options('UDP', '127.0.0.1', 5060);
    expect(stampReceived(request, { host: '192.0.2.7', port: 40000 })).toBe(true);
    expect(request.topVia?.received).toBe('192.0.2.7');
    expect(request.topVia?.rport).toBe(40000);
    const response = createResponse(request, 200);
    expect(responseTarget(response)).toEqual({ protocol: 'UDP', host: '192.0.2.7', port: 40000 });
  });

  it('adds received only when sent-by differs, and keeps other Via entries', () => {
    const request = options('TCP', '127.0.0.1', 5060);
    request.headers.set(
      'Via',
      'SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bKa, SIP/2.0/UDP p.example.com;branch=z9hG4bKb',
    );
    stampReceived(request, { host: '10.0.0.1', port: 33333 });
    expect(request.topVia?.received).toBeUndefined();
    stampReceived(request, { host: '192.0.2.1', port: 33333 });
    expect(request.via.map((v) => v.received)).toEqual(['192.0.2.1', undefined]);
    expect(responseTarget(createResponse(request, 200))).toEqual({
      protocol: 'TCP',
      host: '192.0.2.1',
      port: 5070,
    });
  });
});

describe('SipTransport on loopback', () => {
  it('UDP: a request gets received/rport and its response goes back to the source port', async () => {
    const server = await transport([{ protocol: 'UDP', host: '127.0.0.1', port: 0 }]);
    const client = await transport([{ protocol: 'UDP', host: '127.0.0.1', port: 0 }]);
    answer200(server);
    const port = server.listening[0]?.local.port as number;
    const arrived = onceEvent(server, 'message', timeout());
    const responded = onceEvent(client, 'message', timeout());
    await client.send(options('UDP', '127.0.0.1', port), {
      protocol: 'UDP',
      host: '127.0.0.1',
      port,
    });
    const [request, flow] = await arrived;
    expect(flow.protocol).toBe('UDP');
    expect(flow.reliable).toBe(false);
    expect(request.topVia?.received).toBe('127.0.0.1');
    expect(request.topVia?.rport).toBe(client.listening[0]?.local.port);
    const [response] = await responded;
    expect(response.isResponse() && response.status).toBe(200);
    expect(response.to?.tag).toBe('srv');
    // A UDP flow can be found again by its id (e.g. one stored with a registration).
    const again = server.flow(flow.id);
    expect(again?.id).toBe(flow.id);
    expect(again?.remote).toEqual(flow.remote);
    expect(server.flow('udp:127.0.0.1:1-127.0.0.1:2')).toBeUndefined();
  });

  it('UDP: sets the socket buffers a listener asks for, and refuses an invalid size', async () => {
    const server = await transport([
      {
        protocol: 'UDP',
        host: '127.0.0.1',
        port: 0,
        recvBufferSize: 300_000,
        sendBufferSize: 200_000,
      },
    ]);
    const client = await transport([{ protocol: 'UDP', host: '127.0.0.1', port: 0 }]);
    const port = server.listening[0]?.local.port as number;
    const arrived = onceEvent(server, 'message', timeout());
    await client.send(options('UDP', '127.0.0.1', port), {
      protocol: 'UDP',
      host: '127.0.0.1',
      port,
    });
    const [, flow] = await arrived;
    const socket = (flow as unknown as { socket: ReturnType<typeof createSocket> }).socket;
    // Linux doubles the request for its bookkeeping; other kernels grant it as asked.
    expect(socket.getRecvBufferSize()).toBeGreaterThanOrEqual(300_000);
    expect(socket.getSendBufferSize()).toBeGreaterThanOrEqual(200_000);
    const bad = new SipTransport({
      listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0, recvBufferSize: 0 }],
    });
    await expect(bad.start()).rejects.toMatchObject({
      code: 'START_FAILED',
      cause: expect.any(RangeError) as unknown,
    });
    await bad.stop();
  });

  it('TCP: reuses one connection both ways and answers over it', async () => {
    const server = await transport([{ protocol: 'TCP', host: '127.0.0.1', port: 0 }]);
    const client = await transport([{ protocol: 'TCP', host: '127.0.0.1', port: 0 }]);
    answer200(server);
    const port = server.listening[0]?.local.port as number;
    const target = { protocol: 'TCP', host: '127.0.0.1', port } as const;
    const responses: number[] = [];
    client.on('message', (m) => {
      if (m.isResponse()) responses.push(m.status);
    });
    const first = await client.send(options('TCP', '127.0.0.1', port), target, timeout());
    const second = await client.send(options('TCP', '127.0.0.1', port), target, timeout());
    expect(second).toBe(first);
    while (responses.length < 2) await onceEvent(client, 'message', timeout());
    expect(responses).toEqual([200, 200]);
    expect(client.connections).toHaveLength(1);
    expect(server.connections).toHaveLength(1);
    // The server reaches the client over the connection the client opened.
    const serverFlow = server.connections[0] as Flow;
    const back = onceEvent(client, 'message', timeout());
    const used = await server.send(options('TCP', '127.0.0.1', 1), {
      protocol: 'TCP',
      host: serverFlow.remote.host,
      port: serverFlow.remote.port,
    });
    expect(used).toBe(serverFlow);
    const [request, flow] = await back;
    expect(request.isRequest()).toBe(true);
    expect(flow).toBe(first);
  });

  it('WS: exchanges messages with the "sip" subprotocol', async () => {
    const server = await transport([{ protocol: 'WS', host: '127.0.0.1', port: 0 }]);
    const client = await transport([{ protocol: 'UDP', host: '127.0.0.1', port: 0 }]);
    answer200(server);
    const port = server.listening[0]?.local.port as number;
    const responded = onceEvent(client, 'message', timeout());
    const flow = await client.send(
      options('WS', '127.0.0.1', port),
      { protocol: 'WS', host: '127.0.0.1', port },
      timeout(),
    );
    expect(flow.protocol).toBe('WS');
    const [response, via] = await responded;
    expect(response.isResponse() && response.status).toBe(200);
    expect(via).toBe(flow);
  });

  it('answers a malformed UDP request with 400 and drops garbage and bad ACKs silently', async () => {
    const server = await transport([{ protocol: 'UDP', host: '127.0.0.1', port: 0 }]);
    const port = server.listening[0]?.local.port as number;
    const seen: string[] = [];
    server.on('message', (m) => seen.push(m.callId ?? ''));
    const drops: string[] = [];
    server.on('dropped', (reason) => drops.push(reason));
    const socket = createSocket('udp4');
    cleanups.push(() => socket.close());
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const firstReply = once(socket, 'message', timeout()) as Promise<[Buffer]>;
    const bad = options('UDP', '127.0.0.1', port)
      .toString()
      .replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE');
    const badAck = bad.replace(/^OPTIONS/, 'ACK').replace('CSeq: 1 INVITE', 'CSeq: 1 BYE');
    // Sent in order on loopback: had the bad ACK been answered, that answer would come first.
    socket.send('complete garbage\r\n\r\n', port, '127.0.0.1');
    socket.send(badAck, port, '127.0.0.1');
    socket.send(bad, port, '127.0.0.1');
    const [data] = await firstReply;
    const reply = parseMessage(data);
    if (!reply.ok || !reply.message.isResponse()) throw new Error('expected a response');
    expect(reply.message.status).toBe(400);
    expect(reply.message.cseq).toEqual({ seq: 1, method: 'INVITE' });
    expect(reply.message.headers.get('warning')).toMatch(/CSeq method/);
    expect(drops).toHaveLength(3);
    expect(seen).toEqual([]);
  });

  it('TCP: answers a CRLF ping with a pong, and closes on an oversized header', async () => {
    const server = await transport([{ protocol: 'TCP', host: '127.0.0.1', port: 0 }], {
      maxHeaderBytes: 2048,
    });
    const port = server.listening[0]?.local.port as number;
    const socket = connect(port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    await once(socket, 'connect', timeout());
    socket.write('\r\n\r\n');
    const [pong] = (await once(socket, 'data', timeout())) as [Buffer];
    expect(pong.toString()).toBe('\r\n');
    socket.write(`OPTIONS sip:x@h SIP/2.0\r\nX-Big: ${'a'.repeat(4096)}`);
    await once(socket, 'close', timeout());
    expect(server.connections).toHaveLength(0);
  });

  it('TCP: answers a request whose body is over the limit with 413, then closes', async () => {
    const server = await transport([{ protocol: 'TCP', host: '127.0.0.1', port: 0 }], {
      maxBodyBytes: 1000,
    });
    const seen: string[] = [];
    server.on('message', (m) => seen.push(m.callId ?? ''));
    const port = server.listening[0]?.local.port as number;
    const socket = connect(port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    await once(socket, 'connect', timeout());
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    const closed = once(socket, 'close', timeout());
    const request = options('TCP', '127.0.0.1', port);
    request.body = Buffer.alloc(5000, 0x61);
    socket.write(request.serialize());
    await closed;
    const reply = parseMessage(Buffer.from(received));
    if (!reply.ok || !reply.message.isResponse())
      throw new Error(`expected a response, got ${received}`);
    expect(reply.message.status).toBe(413);
    expect(reply.message.callId).toBe(request.callId);
    expect(seen).toEqual([]);
  });

  it('refuses connections beyond maxConnections', async () => {
    const server = await transport([{ protocol: 'TCP', host: '127.0.0.1', port: 0 }], {
      maxConnections: 1,
    });
    const port = server.listening[0]?.local.port as number;
    const a = connect(port, '127.0.0.1');
    cleanups.push(() => a.destroy());
    await onceEvent(server, 'flowOpened', timeout());
    const b = connect(port, '127.0.0.1');
    cleanups.push(() => b.destroy());
    await once(b, 'close', timeout());
    expect(server.connections).toHaveLength(1);
    const client = await transport([{ protocol: 'TCP', host: '127.0.0.1', port: 0 }], {
      maxConnections: 0,
    });
    await expect(client.connect({ protocol: 'TCP', host: '127.0.0.1', port })).rejects.toSatisfy(
      (e) => VoxmeshError.is(e, 'SIP_CONNECTION_LIMIT'),
    );
  });

  it('closes a connection whose peer stops reading once maxBufferedBytes is exceeded', async () => {
    const stalled: Socket[] = [];
    const peer: Server = createServer((s) => {
      s.pause(); // never reads: the kernel buffers fill, then ours
      stalled.push(s);
    });
    cleanups.push(() => {
      for (const s of stalled) s.destroy();
      peer.close();
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const port = (peer.address() as { port: number }).port;
    const client = await transport([{ protocol: 'TCP', host: '127.0.0.1', port: 0 }], {
      maxBufferedBytes: 256 * 1024,
    });
    const flow = await client.connect({ protocol: 'TCP', host: '127.0.0.1', port }, timeout());
    const big = Buffer.alloc(64 * 1024, 0x61);
    let error: unknown;
    // Bounded: far more than loopback socket buffers hold.
    for (let i = 0; i < 4000 && error === undefined; i++) {
      try {
        void flow.send(big).catch(() => undefined);
        if (flow.closed) await flow.send(big);
      } catch (e) {
        error = e;
      }
      if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(VoxmeshError.is(error, 'SIP_FLOW_CLOSED')).toBe(true);
    expect(client.connections).toHaveLength(0);
  });

  it('WS: refuses a WebSocket without the "sip" subprotocol (RFC 7118 §4.1)', async () => {
    const server = await transport([{ protocol: 'WS', host: '127.0.0.1', port: 0 }]);
    const port = server.listening[0]?.local.port as number;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, 'chat');
    cleanups.push(() => ws.terminate());
    const [error] = (await once(ws, 'error', timeout())) as [Error];
    expect(error.message).toMatch(/subprotocol/);
    expect(server.connections).toHaveLength(0);
  });

  it('drain() stops accepting connections while UDP keeps serving', async () => {
    const server = await transport([
      { protocol: 'UDP', host: '127.0.0.1', port: 0 },
      { protocol: 'TCP', host: '127.0.0.1', port: 0 },
    ]);
    answer200(server);
    const udpPort = server.listening[0]?.local.port as number;
    const tcpPort = server.listening[1]?.local.port as number;
    const work = server.beginWork(); // keeps the service draining until released
    const draining = server.drain();
    expect(server.state).toBe('draining');
    const client = await transport([{ protocol: 'UDP', host: '127.0.0.1', port: 0 }]);
    await expect(
      client.connect({ protocol: 'TCP', host: '127.0.0.1', port: tcpPort }, timeout()),
    ).rejects.toSatisfy((e) => VoxmeshError.is(e, 'SIP_CONNECT_FAILED'));
    const answered = onceEvent(client, 'message', timeout());
    await client.send(options('UDP', '127.0.0.1', udpPort), {
      protocol: 'UDP',
      host: '127.0.0.1',
      port: udpPort,
    });
    const [response] = await answered;
    expect(response.isResponse() && response.status).toBe(200);
    work.release();
    await draining;
    expect(server.state).toBe('stopped');
  });

  it('rejects connecting to a closed port with SIP_CONNECT_FAILED', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = await transport([{ protocol: 'TCP', host: '127.0.0.1', port: 0 }]);
    await expect(
      client.connect({ protocol: 'TCP', host: '127.0.0.1', port }, timeout()),
    ).rejects.toSatisfy((e) => VoxmeshError.is(e, 'SIP_CONNECT_FAILED') && e.retryable);
  });

  it('sends keep-alives over connections it opened and closes them when no pong comes (fake clock)', async () => {
    const silent: Socket[] = [];
    const received: Buffer[] = [];
    const peer: Server = createServer((s) => {
      silent.push(s);
      s.on('data', (d) => received.push(d));
    });
    cleanups.push(() => {
      for (const s of silent) s.destroy();
      peer.close();
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const port = (peer.address() as { port: number }).port;
    const clock = new FakeClock();
    const client = await transport([{ protocol: 'TCP', host: '127.0.0.1', port: 0 }], {
      clock,
      keepAliveIntervalMs: 30_000,
      keepAliveTimeoutMs: 10_000,
    });
    const flow = await client.connect({ protocol: 'TCP', host: '127.0.0.1', port }, timeout());
    clock.advance(30_000);
    while (Buffer.concat(received).length < 4)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(Buffer.concat(received).toString()).toBe('\r\n\r\n');
    expect(flow.closed).toBe(false);
    const closed = onceEvent(client, 'flowClosed', timeout());
    clock.advance(10_000);
    const [, reason] = await closed;
    expect(reason).toBe('keep-alive timeout');
  });

  it('closes silent accepted connections after idleTimeoutMs (fake clock)', async () => {
    const clock = new FakeClock();
    const server = await transport([{ protocol: 'TCP', host: '127.0.0.1', port: 0 }], {
      clock,
      idleTimeoutMs: 60_000,
    });
    const port = server.listening[0]?.local.port as number;
    const socket = connect(port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    await onceEvent(server, 'flowOpened', timeout());
    clock.advance(59_000);
    expect(server.connections).toHaveLength(1);
    clock.advance(2_000);
    await once(socket, 'close', timeout());
    expect(server.connections).toHaveLength(0);
  });

  it('advertises the configured NAT address', async () => {
    const t = await transport([
      {
        protocol: 'UDP',
        host: '127.0.0.1',
        port: 0,
        advertised: { host: '203.0.113.5', port: 5060 },
      },
    ]);
    expect(t.advertisedAddress('UDP')).toEqual({ host: '203.0.113.5', port: 5060 });
    expect(t.advertisedAddress('TCP')).toBeUndefined();
    await expect(
      t.send(options('TCP', 'h', 1), { protocol: 'TCP', host: '127.0.0.1', port: 1 }),
    ).rejects.toThrow();
  });
});
