// The registrar served by the real transport and transaction layers, against
// real peers on loopback: SIPp registering with digest (-au/-ap) over UDP and
// TCP, and sipvicious (svwar, svcrack) scanning and brute-forcing it.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Binding,
  type DigestAlgorithm,
  Registrar,
  SipRequest,
  type SipMessage,
  RegistrarServer,
  SipTransport,
  type TransportProtocol,
} from '@voxmesh/sip';
import { Registerer, RegistererState, UserAgent } from 'sip.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

const SCENARIO = fileURLToPath(new URL('./fixtures/sipp/register-digest.xml', import.meta.url));
const USERS = new Map([
  ['alice', 'wonderland-42'],
  ['1001', 'n0t-in-any-wordlist-7'],
]);

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a peer binary to completion (killed after `timeoutMs`); a missing binary fails the test. */
function run(
  command: string,
  args: string[],
  options: {
    cwd: string;
    timeoutMs: number;
    env?: NodeJS.ProcessEnv;
    /** Ends the peer (SIGTERM) once this resolves. */
    stopWhen?: Promise<void>;
  },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    void options.stopWhen?.then(() => child.kill('SIGTERM'));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command} could not run (is it installed?): ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A port free for both UDP and TCP on 127.0.0.1 (for SIPp's own listener). */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port');
}

let dir: string;
let transport: SipTransport;
let registrar: Registrar;
let server: RegistrarServer;
let events: { kind: 'registered' | 'unregistered' | 'expired'; binding: Binding }[] = [];

function portOf(protocol: TransportProtocol): number {
  const listener = transport.listener(protocol);
  if (listener === undefined) throw new Error(`no ${protocol} listener`);
  return listener.local.port;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voxmesh-registrar-'));
  transport = new SipTransport({
    listeners: [
      { protocol: 'UDP', host: '127.0.0.1', port: 0 },
      { protocol: 'TCP', host: '127.0.0.1', port: 0 },
      { protocol: 'WS', host: '127.0.0.1', port: 0 },
    ],
  });
  await transport.start();
});

afterAll(async () => {
  await transport?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A fresh registrar (fresh throttling state) served over the shared transport. */
async function openRegistrar(
  options: { open?: boolean; algorithms?: readonly DigestAlgorithm[] } = {},
): Promise<void> {
  registrar = new Registrar({
    ...(options.open === true ? { authenticator: false as const } : {}),
    credentials: ({ username }) => {
      const password = USERS.get(username);
      return password === undefined ? undefined : { password };
    },
    minExpiresS: 60,
    // SIPp 3.6 answers the first challenge only, and knows only MD5.
    digestAlgorithms: options.algorithms ?? ['MD5', 'SHA-256'],
  });
  events = [];
  registrar.on('registered', (binding) => events.push({ kind: 'registered', binding }));
  registrar.on('unregistered', (binding) => events.push({ kind: 'unregistered', binding }));
  registrar.on('expired', (binding) => events.push({ kind: 'expired', binding }));
  server = new RegistrarServer({ transport, registrar });
  await registrar.start();
  await server.start();
}

afterEach(async () => {
  await server?.stop();
  await registrar?.stop();
});

async function sippRegister(
  protocol: 'UDP' | 'TCP',
  password: string,
): Promise<{ result: RunResult; localPort: number }> {
  const localPort = await freePort();
  const result = await run(
    'sipp',
    [
      `127.0.0.1:${portOf(protocol)}`,
      '-sf',
      SCENARIO,
      '-s',
      'alice',
      '-au',
      'alice',
      '-ap',
      password,
      '-t',
      protocol === 'UDP' ? 'u1' : 't1',
      '-i',
      '127.0.0.1',
      '-p',
      String(localPort),
      '-m',
      '1',
      '-nostdin',
      '-timeout',
      '30',
      '-timeout_error',
      '-max_recv_loops',
      '100',
    ],
    { cwd: dir, timeoutMs: 45_000 },
  );
  return { result, localPort };
}

describe.each(['UDP', 'TCP'] as const)('SIPp REGISTER with digest over %s', (protocol) => {
  it('registers, is found by lookup with its received path, and unregisters', async () => {
    await openRegistrar();
    let seen: Awaited<ReturnType<Registrar['lookup']>> = [];
    registrar.once('registered', () => {
      void registrar.lookup('sip:alice@127.0.0.1').then((routes) => (seen = routes));
    });
    const { result, localPort } = await sippRegister(protocol, 'wonderland-42');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(events.map((e) => e.kind)).toEqual(['registered', 'unregistered']);
    const binding = events[0]!.binding;
    expect(binding.aor).toBe('sip:alice@127.0.0.1');
    expect(binding.contact).toBe(`sip:alice@127.0.0.1:${localPort};transport=${protocol}`);
    expect(binding.userAgent).toBe('SIPp');
    expect(binding.received.protocol).toBe(protocol);
    expect(binding.received.source.host).toBe('127.0.0.1');
    expect(binding.received.flowId).toEqual(expect.any(String));
    expect(seen).toHaveLength(1);
    expect(seen[0]?.uri).toBe(binding.contact);
    expect(seen[0]?.target.protocol).toBe(protocol);
    expect(await registrar.lookup('sip:alice@127.0.0.1')).toEqual([]);
  });

  it('refuses a wrong password: SIPp fails and nothing is registered', async () => {
    await openRegistrar();
    const { result } = await sippRegister(protocol, 'not-the-password');
    expect(result.code).not.toBe(0);
    expect(events).toEqual([]);
    expect(await registrar.lookup('sip:alice@127.0.0.1')).toEqual([]);
  });
});

describe('sipvicious against the registrar', () => {
  it('svwar finds no extensions (known and unknown users are answered alike)', async () => {
    await openRegistrar();
    const home = await mkdtemp(join(dir, 'svwar-'));
    const result = await run(
      'svwar',
      ['-m', 'REGISTER', '-e', '990-1010', '-p', String(portOf('UDP')), '127.0.0.1'],
      { cwd: home, timeoutMs: 45_000, env: { ...process.env, HOME: home } },
    );
    const output = result.stdout + result.stderr;
    // svwar probes a random extension first; answered like every other, it
    // cannot tell which exist and gives up. Found ones would be table rows.
    expect(output).toContain('authentication request for an unknown extension');
    expect(output).toContain('found nothing');
    expect(output).not.toMatch(/\|\s*\d{3,4}\s*\|/);
    expect(events).toEqual([]);
  });

  it('svcrack is throttled before it reaches the password', async () => {
    await openRegistrar();
    const home = await mkdtemp(join(dir, 'svcrack-'));
    // The right password sits at line 40: only reachable without throttling.
    const words = Array.from({ length: 39 }, (_, i) => `guess${i}`);
    words.push(USERS.get('1001')!);
    const dictionary = join(home, 'words.txt');
    await writeFile(dictionary, words.join('\n') + '\n');
    // svcrack keeps probing once it is refused; stop it after 20 probes
    // without credentials, and count the guesses it got to make.
    let guesses = 0;
    let probes = 0;
    let enough!: () => void;
    const stopWhen = new Promise<void>((resolve) => (enough = resolve));
    const onMessage = (message: SipMessage): void => {
      if (!message.isRequest() || message.method !== 'REGISTER') return;
      if (message.headers.has('authorization')) guesses++;
      else if (++probes >= 20) enough();
    };
    transport.on('message', onMessage);
    let result: RunResult;
    try {
      result = await run(
        'svcrack',
        ['-u', '1001', '-d', dictionary, '-p', String(portOf('UDP')), '127.0.0.1'],
        { cwd: home, timeoutMs: 50_000, env: { ...process.env, HOME: home }, stopWhen },
      );
    } finally {
      transport.off('message', onMessage);
    }
    expect(probes, 'svcrack stopped probing by itself').toBeGreaterThanOrEqual(20);
    // Throttled after 10 failures (give or take the guesses already in flight).
    expect(guesses).toBeGreaterThanOrEqual(10);
    expect(guesses).toBeLessThan(20);
    expect(result.stdout + result.stderr).not.toContain(USERS.get('1001')!);
    expect(events).toEqual([]);
  });
});

function rawRegister(options: {
  protocol: 'UDP' | 'TCP';
  local: { host: string; port: number };
  contact: string;
  branch: string;
  callId?: string;
}): Buffer {
  const text = [
    `REGISTER sip:127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/${options.protocol} ${options.local.host}:${options.local.port};branch=${options.branch};rport`,
    'Max-Forwards: 70',
    'From: <sip:carol@127.0.0.1>;tag=raw1',
    'To: <sip:carol@127.0.0.1>',
    `Call-ID: ${options.callId ?? `raw-${options.branch}`}`,
    'CSeq: 1 REGISTER',
    `Contact: ${options.contact}`,
    'Expires: 300',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return Buffer.from(text);
}

/** Collects SIP messages from a byte stream or datagrams; resolves waiters by predicate. */
class Inbox {
  readonly messages: string[] = [];
  #waiters: { match: (m: string) => boolean; resolve: (m: string) => void }[] = [];
  #buffer = '';
  push(text: string): void {
    this.messages.push(text);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(text)) return true;
      w.resolve(text);
      return false;
    });
  }
  pushStream(chunk: string): void {
    this.#buffer += chunk;
    for (;;) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.#buffer.slice(0, end + 4);
      const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? '0');
      if (this.#buffer.length < end + 4 + length) return;
      this.push(this.#buffer.slice(0, end + 4 + length));
      this.#buffer = this.#buffer.slice(end + 4 + length);
    }
  }
  next(match: (m: string) => boolean, count = 1): Promise<string> {
    const found = this.messages.filter(match);
    if (found.length >= count) return Promise.resolve(found[count - 1]!);
    return new Promise((resolve) => {
      let seen = found.length;
      this.#waiters.push({
        match: (m) => match(m) && ++seen >= count,
        resolve,
      });
    });
  }
}

describe('registrar server on raw sockets', () => {
  it('absorbs a retransmitted REGISTER: the same 200 again, one binding saved', async () => {
    await openRegistrar({ open: true });
    const socket = createSocket('udp4');
    const inbox = new Inbox();
    socket.on('message', (data) => inbox.push(data.toString()));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    try {
      const local = { host: '127.0.0.1', port: socket.address().port };
      const request = rawRegister({
        protocol: 'UDP',
        local,
        contact: `<sip:carol@127.0.0.1:${local.port}>`,
        branch: 'z9hG4bK-retrans-1',
      });
      const port = portOf('UDP');
      socket.send(request, port, '127.0.0.1');
      const first = await inbox.next((m) => m.startsWith('SIP/2.0 200'));
      socket.send(request, port, '127.0.0.1');
      const second = await inbox.next((m) => m.startsWith('SIP/2.0 200'), 2);
      const tag = (m: string): string | undefined => /^To:.*;tag=([^;\r]+)/im.exec(m)?.[1];
      expect(tag(second)).toBe(tag(first));
      expect(tag(first)).toBeDefined();
      expect(events.map((e) => e.kind)).toEqual(['registered']);
      // rport/received: the binding knows the real source port.
      expect(events[0]?.binding.received.source).toEqual(local);
    } finally {
      socket.close();
    }
  });

  it('reaches a NATed TCP phone back over the connection it registered on (flow reuse)', async () => {
    await openRegistrar({ open: true });
    const inbox = new Inbox();
    const socket: Socket = connect({ host: '127.0.0.1', port: portOf('TCP') });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => inbox.pushStream(chunk));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    try {
      // The phone believes it is 10.0.0.5:5060 (behind NAT); only the connection reaches it.
      socket.write(
        rawRegister({
          protocol: 'TCP',
          local: { host: '10.0.0.5', port: 5060 },
          contact: '<sip:carol@10.0.0.5:5060;transport=tcp>',
          branch: 'z9hG4bK-nat-1',
        }),
      );
      const ok = await inbox.next((m) => m.startsWith('SIP/2.0 200'));
      expect(ok).toMatch(/^Contact: <sip:carol@10\.0\.0\.5:5060;transport=tcp>;expires=300\r$/m);
      const [route] = await registrar.lookup('sip:carol@127.0.0.1');
      expect(route?.behindNat).toBe(true);
      expect(route?.flowRequired).toBe(true);
      expect(route?.target).toEqual({
        protocol: 'TCP',
        host: '127.0.0.1',
        port: socket.localPort,
      });
      const flow = transport.flow(route!.flowId!);
      expect(flow?.protocol).toBe('TCP');
      expect(flow?.remote.port).toBe(socket.localPort);
      const options = Buffer.from(
        [
          `OPTIONS ${route!.uri} SIP/2.0`,
          'Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-back-1',
          'Max-Forwards: 70',
          'From: <sip:registrar@127.0.0.1>;tag=r1',
          'To: <sip:carol@127.0.0.1>',
          'Call-ID: back-1',
          'CSeq: 1 OPTIONS',
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      );
      await flow!.send(options);
      const arrived = await inbox.next((m) => m.startsWith('OPTIONS '));
      expect(arrived).toContain('Call-ID: back-1');
    } finally {
      socket.destroy();
    }
  });

  it('answers bad REGISTERs with the protocol error and keeps serving', async () => {
    await openRegistrar({ open: true });
    const socket = createSocket('udp4');
    const inbox = new Inbox();
    socket.on('message', (data) => inbox.push(data.toString()));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    try {
      const local = { host: '127.0.0.1', port: socket.address().port };
      const port = portOf('UDP');
      const badQ = rawRegister({
        protocol: 'UDP',
        local,
        contact: `<sip:carol@127.0.0.1:${local.port}>;q=7`,
        branch: 'z9hG4bK-bad-q',
      });
      socket.send(badQ, port, '127.0.0.1');
      expect(await inbox.next((m) => m.includes('branch=z9hG4bK-bad-q'))).toMatch(/^SIP\/2.0 400/);
      socket.send(Buffer.from('\x00\xffnot sip at all\r\n\r\n'), port, '127.0.0.1');
      const brief = rawRegister({
        protocol: 'UDP',
        local,
        contact: `<sip:carol@127.0.0.1:${local.port}>;expires=5`,
        branch: 'z9hG4bK-brief',
      });
      socket.send(brief, port, '127.0.0.1');
      const tooBrief = await inbox.next((m) => m.includes('branch=z9hG4bK-brief'));
      expect(tooBrief).toMatch(/^SIP\/2.0 423/);
      expect(tooBrief).toMatch(/^Min-Expires: 60\r$/m);
      expect(events).toEqual([]);
    } finally {
      socket.close();
    }
  });
});

describe('sip.js over WebSocket', () => {
  it('registers with digest, and is reached over its WebSocket flow found by lookup', async () => {
    // SIP.js 0.21 answers the last challenge only, and knows only MD5.
    await openRegistrar({ algorithms: ['MD5'] });
    const g = globalThis as { WebSocket?: unknown };
    const previous = g.WebSocket;
    g.WebSocket = WebSocket;
    const ua = new UserAgent({
      uri: UserAgent.makeURI('sip:alice@127.0.0.1'),
      transportOptions: { server: `ws://127.0.0.1:${portOf('WS')}` },
      authorizationUsername: 'alice',
      authorizationPassword: USERS.get('alice')!,
      logBuiltinEnabled: false,
    });
    try {
      await ua.start();
      const registerer = new Registerer(ua, { expires: 300 });
      const registered = new Promise<void>((resolve) => {
        registerer.stateChange.addListener((state) => {
          if (state === RegistererState.Registered) resolve();
        });
      });
      await registerer.register();
      await registered;
      const [route] = await registrar.lookup('sip:alice@127.0.0.1');
      expect(route).toBeDefined();
      // A browser-class phone: its contact host is made up (RFC 7118 §5), so only its flow reaches it.
      expect(route!.uri).toMatch(/\.invalid/);
      expect(route!.behindNat).toBe(true);
      expect(route!.flowRequired).toBe(true);
      expect(route!.binding.received.protocol).toBe('WS');
      const flow = transport.flow(route!.flowId!);
      expect(flow?.protocol).toBe('WS');
      const answered = new Promise<SipMessage>((resolve) => {
        const onMessage = (message: SipMessage): void => {
          if (message.isResponse() && message.callId === 'ws-back-1') {
            transport.off('message', onMessage);
            resolve(message);
          }
        };
        transport.on('message', onMessage);
      });
      const options = new SipRequest({
        method: 'OPTIONS',
        uri: 'sip:alice@127.0.0.1',
        headers: [
          ['Via', `SIP/2.0/WS 127.0.0.1:${portOf('WS')};branch=z9hG4bK-ws-back-1`],
          ['Max-Forwards', '70'],
          ['From', '<sip:registrar@127.0.0.1>;tag=r1'],
          ['To', '<sip:alice@127.0.0.1>'],
          ['Call-ID', 'ws-back-1'],
          ['CSeq', '1 OPTIONS'],
        ],
      });
      await transport.send(options, flow!);
      const response = await answered;
      expect(response.isResponse() && response.status).toBe(200);
      await registerer.unregister();
      await registerer.dispose();
    } finally {
      await ua.stop();
      g.WebSocket = previous;
    }
    expect(events.map((e) => e.kind)).toEqual(['registered', 'unregistered']);
  });
});
