import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type Call,
  type CallEnd,
  SipTransport,
  type UaTransport,
  UserAgent,
  userAgentTransport,
} from '@voxmesh/sip';

// Real-peer tests: SIPp (Debian sip-tester) against our UAS and UAC over
// UDP and TCP on loopback. CI installs SIPp; a missing binary fails here.
const SIPP = '/usr/bin/sipp';
const FIXTURES = fileURLToPath(new URL('./fixtures/sipp-ua/', import.meta.url));
const SDP =
  'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

type Protocol = 'UDP' | 'TCP';

/** A free port on 127.0.0.1 for `protocol` (bound, read and released). */
async function freePort(protocol: Protocol): Promise<number> {
  if (protocol === 'UDP') {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const { port } = socket.address();
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    return port;
  }
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Resolves once something listens on `port` (binding it fails), polling a bounded number of times. */
async function waitForBound(protocol: Protocol, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const inUse = await new Promise<boolean>((resolve) => {
      if (protocol === 'UDP') {
        const socket = createSocket('udp4');
        socket.once('error', () => {
          socket.close();
          resolve(true);
        });
        socket.bind(port, '127.0.0.1', () => {
          socket.close(() => resolve(false));
        });
      } else {
        const server = createServer();
        server.once('error', () => resolve(true));
        server.listen(port, '127.0.0.1', () => server.close(() => resolve(false)));
      }
    });
    if (inUse) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`SIPp did not bind ${protocol} port ${port}`);
}

/**
 * The total of SIPp's `Lost` column in its last scenario screen: how many
 * messages its `-lost` option dropped.
 */
function sippLost(output: string): number {
  const lines = output.split('\n');
  let header = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/Messages\s+Retrans.*Lost/.test(lines[i] ?? '')) {
      header = i;
      break;
    }
  }
  if (header < 0) return 0;
  const column = (lines[header] ?? '').indexOf('Lost');
  let total = 0;
  for (const line of lines.slice(header + 1)) {
    if (!/-->|<--/.test(line)) {
      if (/Screen/.test(line)) break;
      continue;
    }
    const cell = line.slice(column - 4, column + 6).trim();
    if (/^\d+$/.test(cell)) total += Number(cell);
  }
  return total;
}

const children = new Set<ChildProcess>();

interface SippRun {
  child: ChildProcess;
  exited: Promise<{ code: number | null; output: string }>;
}

function sipp(args: string[]): SippRun {
  const child = spawn(SIPP, [...args, '-nostdin', '-timeout', '30s', '-timeout_error'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; output: string }>((resolve) => {
    child.on('exit', (code) => {
      children.delete(child);
      resolve({ code, output });
    });
  });
  return { child, exited };
}

const agents: { ua: UserAgent; transport: SipTransport }[] = [];

async function startAgent(protocol: Protocol, name: string) {
  const transport = new SipTransport({
    listeners: [{ protocol, host: '127.0.0.1', port: 0 }],
  });
  await transport.start();
  const ua = new UserAgent({
    transport,
    uri: `sip:${name}@127.0.0.1`,
    defaultProtocol: protocol,
    sessionTimer: false,
  });
  await ua.start();
  agents.push({ ua, transport });
  const port = transport.listening[0]!.local.port;
  return { ua, transport, port };
}

afterEach(async () => {
  for (const { ua, transport } of agents.splice(0)) {
    await ua.stop();
    await transport.stop();
  }
  for (const child of children) child.kill('SIGKILL');
});

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

function endOf(call: Call): Promise<CallEnd> {
  return call.end !== undefined
    ? Promise.resolve(call.end)
    : new Promise((resolve) => call.once('terminated', resolve));
}

describe('SIPp is installed', () => {
  it('runs', () => {
    // `sipp -v` prints its version and exits with 99.
    const result = spawnSync(SIPP, ['-v']);
    expect(result.error).toBeUndefined();
    expect(result.stdout.toString()).toMatch(/SIPp v3/);
  });
});

describe.each(['UDP', 'TCP'] as const)('SIPp against our user agent over %s', (protocol) => {
  const transportArgs = protocol === 'TCP' ? ['-t', 't1'] : ['-t', 'u1'];

  it('SIPp uac → our UAS: three calls answered with 180/200, ACKed, ended by BYE', async () => {
    const { ua, port } = await startAgent(protocol, 'uas');
    const calls: Call[] = [];
    ua.use({
      method: 'INVITE',
      handler: async ({ call }) => {
        calls.push(call!);
        await call!.progress();
        await call!.accept({ body: SDP });
      },
    });
    const sippPort = await freePort(protocol);
    const run = sipp([
      '-sn',
      'uac',
      `127.0.0.1:${port}`,
      '-i',
      '127.0.0.1',
      '-p',
      String(sippPort),
      ...transportArgs,
      '-m',
      '3',
      '-r',
      '10',
      '-d',
      '200',
    ]);
    const { code, output } = await run.exited;
    expect(code, output).toBe(0);
    expect(calls).toHaveLength(3);
    // Our Contact names the transport the INVITE came in on.
    const contact = calls[0]!.finalResponse?.headers.get('Contact') ?? '';
    expect(contact).toContain(`127.0.0.1:${port}`);
    expect(contact.includes(';transport=tcp')).toBe(protocol === 'TCP');
    const ends = await Promise.all(calls.map(endOf));
    for (const end of ends) expect(end).toMatchObject({ cause: 'bye', by: 'remote' });
    expect(ua.calls).toHaveLength(0);
  });

  it('our UAC → SIPp uas: the call is answered, ACKed and ended with our BYE', async () => {
    const { ua } = await startAgent(protocol, 'uac');
    const sippPort = await freePort(protocol);
    const run = sipp([
      '-sn',
      'uas',
      '-i',
      '127.0.0.1',
      '-p',
      String(sippPort),
      ...transportArgs,
      '-m',
      '1',
    ]);
    await waitForBound(protocol, sippPort);
    const uri = `sip:service@127.0.0.1:${sippPort}${protocol === 'TCP' ? ';transport=tcp' : ''}`;
    const call = ua.invite({ uri, body: SDP });
    await call.answered();
    expect(call.state).toBe('confirmed');
    expect(call.remoteBody?.toString()).toContain('m=audio');
    await call.bye();
    const { code, output } = await run.exited;
    expect(code, output).toBe(0);
  });

  it('our UAC cancels a ringing call at a SIPp uas: 200 to CANCEL, 487 to INVITE', async () => {
    const { ua } = await startAgent(protocol, 'uac');
    const sippPort = await freePort(protocol);
    const run = sipp([
      '-sf',
      `${FIXTURES}uas-cancel.xml`,
      '-i',
      '127.0.0.1',
      '-p',
      String(sippPort),
      ...transportArgs,
      '-m',
      '1',
    ]);
    await waitForBound(protocol, sippPort);
    const uri = `sip:service@127.0.0.1:${sippPort}${protocol === 'TCP' ? ';transport=tcp' : ''}`;
    const call = ua.invite({ uri });
    await new Promise<void>((resolve) => call.once('progress', () => resolve()));
    const result = call.answered().catch((e: unknown) => e);
    call.cancel({ reason: { protocol: 'SIP', cause: 487, text: 'Cancelled by test' } });
    const outcome = await result;
    expect(call.end).toMatchObject({ cause: 'canceled', status: 487 });
    expect(outcome).toMatchObject({ status: 487 });
    const { code, output } = await run.exited;
    expect(code, output).toBe(0);
  });

  it('SIPp uac cancels a ringing call at our UAS', async () => {
    const { ua, port } = await startAgent(protocol, 'uas');
    const calls: Call[] = [];
    ua.use({
      method: 'INVITE',
      handler: async ({ call }) => {
        calls.push(call!);
        await call!.progress();
      },
    });
    const sippPort = await freePort(protocol);
    const run = sipp([
      '-sf',
      `${FIXTURES}uac-cancel.xml`,
      `127.0.0.1:${port}`,
      '-i',
      '127.0.0.1',
      '-p',
      String(sippPort),
      ...transportArgs,
      '-m',
      '1',
    ]);
    const { code, output } = await run.exited;
    expect(code, output).toBe(0);
    expect(calls).toHaveLength(1);
    expect(await endOf(calls[0]!)).toMatchObject({
      cause: 'canceled',
      by: 'remote',
      reason: 'SIP;cause=200;text="Call completed elsewhere"',
    });
  });
});

describe('retransmissions over UDP with SIPp', () => {
  it('our UAC retransmits the INVITE (Timer A) while a SIPp uas withholds its answer', async () => {
    const transport = new SipTransport({
      listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
    });
    await transport.start();
    // Count what goes on the wire, retransmissions included.
    const inner = userAgentTransport(transport);
    const wire: string[] = [];
    const counting: UaTransport = {
      ...inner,
      connect: async (target, options) => {
        const flow = await inner.connect(target, options);
        return {
          protocol: flow.protocol,
          reliable: flow.reliable,
          remote: flow.remote,
          send: (message) => {
            if (message.isRequest()) wire.push(message.method);
            return flow.send(message);
          },
        };
      },
    };
    const ua = new UserAgent({
      transport: counting,
      uri: 'sip:uac@127.0.0.1',
      sessionTimer: false,
    });
    await ua.start();
    agents.push({ ua, transport });
    const sippPort = await freePort('UDP');
    const run = sipp([
      '-sf',
      `${FIXTURES}uas-delayed-answer.xml`,
      '-i',
      '127.0.0.1',
      '-p',
      String(sippPort),
      '-m',
      '1',
    ]);
    await waitForBound('UDP', sippPort);
    const call = ua.invite({ uri: `sip:service@127.0.0.1:${sippPort}`, body: SDP });
    await call.answered();
    expect(call.state).toBe('confirmed');
    // Sent at 0, 0.5 and 1.5 s; SIPp answered at 1.8 s.
    expect(wire.filter((m) => m === 'INVITE').length).toBeGreaterThanOrEqual(3);
    await call.bye();
    const { code, output } = await run.exited;
    expect(code, output).toBe(0);
  });

  it('SIPp uac with 10 % loss still completes every call against our UAS', async () => {
    const { ua, port } = await startAgent('UDP', 'uas');
    ua.use({
      method: 'INVITE',
      handler: async ({ call }) => {
        await call!.accept({ body: SDP });
      },
    });
    const sippPort = await freePort('UDP');
    // 20 calls of 6 messages at 10 % loss: some are lost in practice every run
    // (the chance of none is below one in a million).
    const run = sipp([
      '-sn',
      'uac',
      `127.0.0.1:${port}`,
      '-i',
      '127.0.0.1',
      '-p',
      String(sippPort),
      '-m',
      '20',
      '-r',
      '20',
      '-d',
      '100',
      '-lost',
      '10',
    ]);
    const { code, output } = await run.exited;
    expect(code, output).toBe(0);
    expect(sippLost(output), output).toBeGreaterThan(0);
  });
});
