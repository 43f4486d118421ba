import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { afterAll, describe, expect, it } from 'vitest';
import { B2bua, type Bridge, type BridgeEnd, SipTransport, UserAgent } from '@voxmesh/sip';

// Real peers: SIPp uac → our B2BUA → SIPp uas over UDP on loopback. CI
// installs SIPp (Debian sip-tester); a missing binary fails this test.
const SIPP = '/usr/bin/sipp';
const CALLS = 5;

const children = new Set<ChildProcess>();
const stops: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const stop of stops.reverse()) await stop();
});

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Resolves once something listens on UDP `port` (a bounded number of tries). */
async function waitForUdp(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const inUse = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => {
        socket.close();
        resolve(true);
      });
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(false)));
    });
    if (inUse) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on UDP ${port}`);
}

function sipp(args: string[]): { exited: Promise<{ code: number | null; output: string }> } {
  const child = spawn(SIPP, [...args, '-nostdin'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; output: string }>((resolve) => {
    child.on('error', (error) => {
      children.delete(child);
      resolve({ code: -1, output: `${output}\n${error.message}` });
    });
    child.on('exit', (code) => {
      children.delete(child);
      resolve({ code, output });
    });
  });
  return { exited };
}

describe('B2BUA smoke test with real peers', () => {
  it(`SIPp uac → B2BUA → SIPp uas over UDP: ${CALLS} calls, all answered and ended by the caller`, async () => {
    const uasPort = await freeUdpPort();
    sipp(['-sn', 'uas', '-i', '127.0.0.1', '-p', String(uasPort)]);
    await waitForUdp(uasPort);

    const transport = new SipTransport({
      listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
    });
    await transport.start();
    const ua = new UserAgent({ transport, uri: 'sip:pbx@127.0.0.1', sessionTimer: false });
    const b2bua = new B2bua({ ua });
    stops.push(async () => {
      await b2bua.stop();
      await ua.stop();
      await transport.stop();
    });
    await ua.start();
    await b2bua.start();
    const bridges: Bridge[] = [];
    const ends: Promise<BridgeEnd>[] = [];
    ua.use({
      method: 'INVITE',
      handler: ({ call }) => {
        const bridge = b2bua.bridge({
          call: call!,
          targets: [{ uri: `sip:service@127.0.0.1:${uasPort}` }],
        });
        bridges.push(bridge);
        ends.push(new Promise((resolve) => bridge.once('ended', resolve)));
      },
    });
    const port = transport.listening[0]!.local.port;
    const uacPort = await freeUdpPort();
    const uac = sipp([
      '-sn',
      'uac',
      `127.0.0.1:${port}`,
      '-i',
      '127.0.0.1',
      '-p',
      String(uacPort),
      '-m',
      String(CALLS),
      '-r',
      '5',
      '-d',
      '200',
      '-timeout',
      '30s',
      '-timeout_error',
    ]);
    const { code, output } = await uac.exited;
    expect(code, output).toBe(0);
    expect(bridges).toHaveLength(CALLS);
    const outcomes = await Promise.all(bridges.map((b) => b.result));
    expect(outcomes.every((o) => o.answered)).toBe(true);
    const ended = await Promise.all(ends);
    expect(ended.map((e) => `${e.by} ${e.reason}`)).toEqual(
      Array.from({ length: CALLS }, () => 'caller bye'),
    );
    expect(b2bua.bridges).toHaveLength(0);
  }, 60_000);
});
