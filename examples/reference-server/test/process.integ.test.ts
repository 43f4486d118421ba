// The server as an operator runs it: a child process started like
// `npm start`, stopped with SIGTERM (drain, exit 0), refusing bad settings
// (exit 2) and ports in use (exit 1) with readable messages, and keeping its
// data across restarts.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SipTransport } from '@voxmesh/sip';
import { VirtualPhone } from '@voxmesh/sip/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const TSX = fileURLToPath(new URL('../../../node_modules/tsx/dist/cli.mjs', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
let dataDir: string;

function start(env: Record<string, string>, args: string[] = []): Running {
  const child = spawn(process.execPath, [TSX, '--conditions=@voxmesh/source', MAIN, ...args], {
    env: {
      ...process.env,
      VOXMESH_DATA_DIR: dataDir,
      VOXMESH_SIP_UDP_PORT: '0',
      VOXMESH_SIP_TCP_PORT: '0',
      VOXMESH_SIP_WS_PORT: '0',
      VOXMESH_HTTP_PORT: '0',
      VOXMESH_MEDIA_MIN_PORT: '0',
      VOXMESH_MEDIA_MAX_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Waits for the banner and returns the admin API's base URL. */
async function ready(running: Running): Promise<string> {
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    const match = /Admin API: (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(running.stdout());
    if (match) return match[1]!;
    if (running.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the server did not start:\n${running.stdout()}\n${running.stderr()}`);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'voxmesh-process-'));
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('the server process', () => {
  let tenantKey = '';

  it('starts, seeds and prints the demo tenant, serves /health, and drains on SIGTERM (exit 0)', async () => {
    const running = start({});
    const base = await ready(running);
    const banner = running.stdout();
    expect(banner).toMatch(/extension 1001: user 1001 {2}password [A-Za-z0-9]{18}/);
    expect(banner).toMatch(/extension 1002: user 1002 {2}password [A-Za-z0-9]{18}/);
    expect(banner).toContain('DID +15550100 → IVR: press 1 for 1001, 2 for 1002, 9 for voicemail');
    tenantKey = /tenant API key: (\S+)/.exec(banner)![1]!;
    expect((await fetch(`${base}/health`)).status).toBe(200);
    // Structured logs: JSON lines with the service name.
    const firstLog = JSON.parse(
      running
        .stdout()
        .split('\n')
        .find((l) => l.startsWith('{'))!,
    ) as Record<string, unknown>;
    expect(firstLog).toMatchObject({ service: 'voxmesh-reference-server', level: 30 });
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    expect(running.stdout()).toMatch(/"msg":"Draining"/);
    expect(running.stdout()).toMatch(/"msg":"Stopped"/);
  });

  it('keeps its data across restarts: no second seed, the tenant key still works', async () => {
    const running = start({});
    const base = await ready(running);
    expect(running.stdout()).not.toContain('Demo tenant');
    const users = await fetch(`${base}/v1/tenants/demo/users`, {
      headers: { authorization: `Bearer ${tenantKey}` },
    });
    expect(users.status).toBe(200);
    expect(((await users.json()) as { extension: string }[]).map((u) => u.extension)).toEqual([
      '1001',
      '1002',
    ]);
    running.child.kill('SIGINT');
    expect(await running.exited).toBe(0);
  });

  it('SIGTERM with a call in progress: new calls get 503, the call finishes, then exit 0', async () => {
    const running = start({}, []);
    await ready(running);
    const udp = Number(/SIP: {7}UDP 127\.0\.0\.1:(\d+)/.exec(running.stdout())?.[1]);
    expect(udp).toBeGreaterThan(0);
    // The data directory is the first test's: the passwords are in its database, not this banner.
    const users = await fetch(
      `${/Admin API: (http:\/\/127\.0\.0\.1:\d+)/.exec(running.stdout())![1]}/v1/tenants/demo/users`,
      {
        headers: { authorization: `Bearer ${tenantKey}` },
      },
    );
    expect(users.status).toBe(200);
    const phones: VirtualPhone[] = [];
    const transports: SipTransport[] = [];
    const make = async (extension: string): Promise<VirtualPhone> => {
      const transport = new SipTransport({
        listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
      });
      await transport.start();
      // A DID call needs no credentials: the IVR answers it.
      const phone = new VirtualPhone({ transport, uri: `sip:${extension}@outside.example` });
      await phone.start();
      phones.push(phone);
      transports.push(transport);
      return phone;
    };
    try {
      const caller = await make('+4930111');
      await caller.call({ uri: `sip:+15550100@127.0.0.1:${udp}` });
      running.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 1000));
      expect(running.child.exitCode).toBeNull();
      const late = await make('+4930222');
      await expect(late.call({ uri: `sip:+15550100@127.0.0.1:${udp}` })).rejects.toThrow();
      expect(late.received(503)).toHaveLength(1);
      expect(caller.state).toBe('talking');
      await caller.hangup();
      expect(await running.exited).toBe(0);
      const drainLine = running
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg?: string; calls?: number })
        .find((l) => l.msg === 'Draining: new calls get 503, calls in progress finish');
      expect(drainLine?.calls).toBe(1);
    } finally {
      for (const p of phones) await p.stop();
      for (const t of transports) await t.stop();
    }
  });

  it('exits 2 naming every bad setting and its source', async () => {
    const running = start({ VOXMESH_SIP_UDP_PORT: 'abc', VOXMESH_LOG_LEVEL: 'loud' });
    expect(await running.exited).toBe(2);
    expect(running.stderr()).toContain('Invalid configuration:');
    expect(running.stderr()).toContain(
      'sip.udpPort (VOXMESH_SIP_UDP_PORT): expected an integer, got "abc"',
    );
    expect(running.stderr()).toContain('logLevel (VOXMESH_LOG_LEVEL)');
  });

  it('exits 1 with a readable message, not a stack trace, when a port is in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const running = start({ VOXMESH_HTTP_PORT: String(port) });
      expect(await running.exited).toBe(1);
      expect(running.stderr()).toContain(
        `Cannot listen for the admin API on 127.0.0.1:${port}: the address is already in use`,
      );
      expect(running.stderr()).toContain('Change http.port (VOXMESH_HTTP_PORT)');
      expect(running.stderr() + running.stdout()).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
