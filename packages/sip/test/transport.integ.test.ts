import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Registerer, RegistererState, UserAgent } from 'sip.js';
import { onceEvent } from '@voxmesh/core';
import {
  type Flow,
  type ListenerOptions,
  SipRequest,
  SipTransport,
  type SipTransportOptions,
  createResponse,
  parseUri,
} from '@voxmesh/sip';

// Real peers on loopback: openssl (TLS), sip.js (WS) and SIPp (UDP, TCP)
// against a minimal responder built directly on the transport layer.

const dir = mkdtempSync(join(tmpdir(), 'voxmesh-sip-integ-'));
const running: SipTransport[] = [];
const children = new Set<ChildProcess>();
let cert = '';
let key = '';

beforeAll(() => {
  // A self-signed certificate for 127.0.0.1, made now (openssl must be installed: CI installs it).
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=voxmesh-test',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`openssl failed: ${made.error?.message ?? made.stderr}`);
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  key = readFileSync(join(dir, 'key.pem'), 'utf8');
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(running.splice(0).map((t) => t.stop()));
  rmSync(dir, { recursive: true, force: true });
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

const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

/** A stateless responder: 100/180/200 for INVITE, 200 for everything else, nothing for ACK. */
function respond(t: SipTransport): { methods: string[] } {
  const seen = { methods: [] as string[] };
  t.on('message', (message, flow) => {
    if (!message.isRequest()) return;
    seen.methods.push(message.method);
    const reply = (status: number, headers: [string, string][] = [], body?: string): void => {
      const response = createResponse(message, status, {
        toTag: status > 100 ? 'resp1' : undefined,
        headers,
        body,
      });
      t.sendResponse(response, { flow }).catch(() => undefined);
    };
    const local = t.advertisedAddress(flow.protocol);
    const contact: [string, string] = [
      'Contact',
      `<sip:responder@127.0.0.1:${local?.port};transport=${flow.protocol.toLowerCase()}>`,
    ];
    switch (message.method) {
      case 'ACK':
        return;
      case 'INVITE':
        reply(100);
        reply(180, [contact]);
        reply(200, [contact, ['Content-Type', 'application/sdp']], SDP);
        return;
      case 'REGISTER':
        reply(200, [
          ['Contact', `${message.headers.get('contact') ?? ''};expires=600`],
          ['Expires', '600'],
        ]);
        return;
      default:
        reply(200, [contact]);
    }
  });
  return seen;
}

function optionsRequest(protocol: string, port: number, n: number): SipRequest {
  return new SipRequest({
    method: 'OPTIONS',
    uri: `sip:responder@127.0.0.1:${port}`,
    headers: [
      ['Via', `SIP/2.0/${protocol} 127.0.0.1:9;branch=z9hG4bKinteg${n};rport`],
      ['Max-Forwards', '70'],
      ['From', `<sip:tester@127.0.0.1>;tag=t${n}`],
      ['To', `<sip:responder@127.0.0.1:${port}>`],
      ['Call-ID', `integ-${n}@127.0.0.1`],
      ['CSeq', '1 OPTIONS'],
    ],
  });
}

function freePort(kind: 'udp' | 'tcp'): Promise<number> {
  if (kind === 'tcp') {
    const server = createServer();
    return new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      }),
    );
  }
  const socket = createSocket('udp4');
  return new Promise((resolve) =>
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    }),
  );
}

/** Runs a child to completion (bounded); returns its exit code and output. */
function run(
  command: string,
  args: string[],
  options: { input?: string; timeoutMs: number },
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(
        new Error(`${command} could not run (is it installed? CI installs it): ${error.message}`),
      );
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, out });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
  });
}

describe('TLS (self-signed certificate made with openssl at test time)', () => {
  it('our TLS client and server exchange OPTIONS / 200', async () => {
    const server = await transport([
      { protocol: 'TLS', host: '127.0.0.1', port: 0, tls: { cert, key } },
    ]);
    respond(server);
    const client = await transport(
      [{ protocol: 'TLS', host: '127.0.0.1', port: 0, tls: { cert, key } }],
      {
        tlsClient: { ca: cert },
      },
    );
    const port = server.listening[0]?.local.port as number;
    const answered = onceEvent(client, 'message', { signal: AbortSignal.timeout(15_000) });
    const flow = await client.send(optionsRequest('TLS', port, 1), {
      protocol: 'TLS',
      host: '127.0.0.1',
      port,
    });
    expect(flow.protocol).toBe('TLS');
    const [response, via] = await answered;
    expect(response.isResponse() && response.status).toBe(200);
    expect(via).toBe(flow);
  });

  it('WSS: our client and server exchange OPTIONS / 200 over a verified TLS WebSocket', async () => {
    const server = await transport([
      { protocol: 'WSS', host: '127.0.0.1', port: 0, tls: { cert, key } },
    ]);
    respond(server);
    const client = await transport([{ protocol: 'UDP', host: '127.0.0.1', port: 0 }], {
      tlsClient: { ca: cert },
    });
    const port = server.listening[0]?.local.port as number;
    const answered = onceEvent(client, 'message', { signal: AbortSignal.timeout(15_000) });
    const flow = await client.send(optionsRequest('WSS', port, 4), {
      protocol: 'WSS',
      host: '127.0.0.1',
      port,
    });
    expect(flow.protocol).toBe('WSS');
    const [response, via] = await answered;
    expect(response.isResponse() && response.status).toBe(200);
    expect(via).toBe(flow);
  });

  it('refuses a server whose certificate is not trusted', async () => {
    const server = await transport([
      { protocol: 'TLS', host: '127.0.0.1', port: 0, tls: { cert, key } },
    ]);
    const client = await transport([{ protocol: 'UDP', host: '127.0.0.1', port: 0 }]);
    const port = server.listening[0]?.local.port as number;
    await expect(
      client.connect({ protocol: 'TLS', host: '127.0.0.1', port }),
    ).rejects.toMatchObject({
      code: 'SIP_CONNECT_FAILED',
    });
  });

  it('answers an OPTIONS sent by openssl s_client', async () => {
    const server = await transport([
      { protocol: 'TLS', host: '127.0.0.1', port: 0, tls: { cert, key } },
    ]);
    const seen = respond(server);
    const port = server.listening[0]?.local.port as number;
    const child = spawn(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-quiet',
        '-CAfile',
        join(dir, 'cert.pem'),
        '-verify_return_error',
      ],
      {
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    children.add(child);
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const errorOrExit = Promise.race([once(child, 'error'), once(child, 'exit')]).then(() => {
        throw new Error('openssl s_client ended before the response arrived');
      });
      const request = optionsRequest('TLS', port, 2).toString();
      child.stdin.write(request);
      const deadline = AbortSignal.timeout(15_000);
      const gotResponse = (async () => {
        while (!/\r\n\r\n/.test(out.slice(out.indexOf('SIP/2.0 ')))) {
          await Promise.race([once(child.stdout, 'data', { signal: deadline }), errorOrExit]);
        }
      })();
      await gotResponse;
      expect(out).toMatch(/^SIP\/2\.0 200 OK\r\n/m);
      expect(out).toMatch(
        /^Via: SIP\/2\.0\/TLS 127\.0\.0\.1:9;branch=z9hG4bKinteg2;rport=\d+;received=127\.0\.0\.1/m,
      );
      expect(seen.methods).toEqual(['OPTIONS']);
    } finally {
      child.kill('SIGKILL');
      children.delete(child);
    }
  });
});

describe('WS with sip.js as the client', () => {
  it('sip.js registers over our WS transport and answers our OPTIONS over the same flow', async () => {
    const server = await transport([{ protocol: 'WS', host: '127.0.0.1', port: 0 }]);
    const seen = respond(server);
    const port = server.listening[0]?.local.port as number;
    const flows: Flow[] = [];
    server.on('message', (m, flow) => {
      if (m.isRequest() && m.method === 'REGISTER') flows.push(flow);
    });
    const g = globalThis as { WebSocket?: unknown };
    const previous = g.WebSocket;
    g.WebSocket = WebSocket;
    const ua = new UserAgent({
      uri: UserAgent.makeURI('sip:alice@127.0.0.1'),
      transportOptions: { server: `ws://127.0.0.1:${port}` },
      logBuiltinEnabled: false,
    });
    try {
      await ua.start();
      const registerer = new Registerer(ua);
      const registered = new Promise<void>((resolve) => {
        registerer.stateChange.addListener((state) => {
          if (state === RegistererState.Registered) resolve();
        });
      });
      await registerer.register();
      await registered;
      expect(seen.methods).toContain('REGISTER');
      const flow = flows[0] as Flow;
      expect(flow.protocol).toBe('WS');
      // Server → client over the flow the client opened (the only way to reach a browser).
      const answered = onceEvent(server, 'message', { signal: AbortSignal.timeout(15_000) });
      const options = optionsRequest('WS', port, 3);
      options.uri = parseUri('sip:alice@127.0.0.1'); // sip.js answers only for its own user
      await server.send(options, flow);
      const [response, via] = await answered;
      expect(response.isResponse() && response.status).toBe(200);
      expect(via).toBe(flow);
      await registerer.dispose();
    } finally {
      await ua.stop();
      g.WebSocket = previous;
    }
  });
});

describe('SIPp against a responder on our transport', () => {
  const optionsScenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <send retrans="500">
    <![CDATA[
OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" />
</scenario>
`;

  for (const protocol of ['UDP', 'TCP'] as const) {
    it(`${protocol}: SIPp's OPTIONS and INVITE calls all succeed`, async () => {
      const server = await transport([{ protocol, host: '127.0.0.1', port: 0 }]);
      const seen = respond(server);
      const port = server.listening[0]?.local.port as number;
      const mode = protocol === 'UDP' ? 'u1' : 't1';
      writeFileSync(join(dir, 'options.xml'), optionsScenario);
      const common = [
        '-i',
        '127.0.0.1',
        '-t',
        mode,
        '-nostdin',
        '-timeout',
        '30s',
        '-timeout_error',
        '-trace_err',
      ];
      const options = await run(
        'sipp',
        [
          `127.0.0.1:${port}`,
          '-sf',
          'options.xml',
          '-p',
          String(await freePort(protocol === 'UDP' ? 'udp' : 'tcp')),
          '-m',
          '5',
          '-r',
          '10',
          ...common,
        ],
        { timeoutMs: 60_000 },
      );
      expect(options.code, options.out.slice(-2000)).toBe(0);
      const calls = await run(
        'sipp',
        [
          `127.0.0.1:${port}`,
          '-sn',
          'uac',
          '-p',
          String(await freePort(protocol === 'UDP' ? 'udp' : 'tcp')),
          '-m',
          '5',
          '-r',
          '10',
          '-d',
          '100',
          ...common,
        ],
        { timeoutMs: 60_000 },
      );
      expect(calls.code, calls.out.slice(-2000)).toBe(0);
      expect(seen.methods.filter((m) => m === 'OPTIONS').length).toBeGreaterThanOrEqual(5);
      expect(seen.methods.filter((m) => m === 'INVITE').length).toBeGreaterThanOrEqual(5);
      expect(seen.methods.filter((m) => m === 'ACK').length).toBeGreaterThanOrEqual(5);
      expect(seen.methods.filter((m) => m === 'BYE').length).toBeGreaterThanOrEqual(5);
    }, 150_000);
  }
});
