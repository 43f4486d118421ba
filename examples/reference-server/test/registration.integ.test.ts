// Phones register with digest against the demo tenant of a server running
// in-process on ephemeral ports: SIPp over UDP and TCP, sip.js over
// WebSocket and baresip over UDP — and which digest algorithm offers each
// of them can answer (the README's table).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registerer, UserAgent } from 'sip.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ServerConfig } from '../src/config.js';
import { DEFAULT_CONFIG } from '../src/config.js';
import { api, startServer, type TestServer } from './helpers.js';
import { freePort, run } from './peers.js';

const SCENARIO = fileURLToPath(new URL('./fixtures/register.xml', import.meta.url));
type Algorithms = ServerConfig['sip']['digestAlgorithms'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voxmesh-register-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withServer(
  algorithms: Algorithms,
  body: (t: TestServer) => Promise<void>,
): Promise<void> {
  const t = await startServer({
    sip: { ...DEFAULT_CONFIG.sip, udpPort: 0, tcpPort: 0, wsPort: 0, digestAlgorithms: algorithms },
  });
  try {
    await body(t);
  } finally {
    await t.close();
  }
}

function sipPort(t: TestServer, protocol: string): number {
  const listener = t.server.addresses.sip.find((l) => l.protocol === protocol);
  if (listener === undefined) throw new Error(`no ${protocol} listener`);
  return listener.port;
}

function password(t: TestServer, extension: string): string {
  return t.server.seeded!.users.find((u) => u.extension === extension)!.password;
}

async function sipp(t: TestServer, protocol: 'UDP' | 'TCP', user: string, pass: string) {
  const localPort = await freePort();
  const result = await run(
    'sipp',
    [
      `127.0.0.1:${sipPort(t, protocol)}`,
      '-sf',
      SCENARIO,
      '-s',
      user,
      '-au',
      user,
      '-ap',
      pass,
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
      '20',
      '-timeout_error',
      '-max_recv_loops',
      '100',
    ],
    { cwd: dir, timeoutMs: 40_000 },
  );
  return { result, localPort };
}

/**
 * sip.js over WS: resolves with 200 when registered, or the final failure
 * status; `whileRegistered` runs before sip.js unregisters on stop.
 */
async function sipJs(
  t: TestServer,
  pass: string,
  whileRegistered: () => Promise<void> = () => Promise.resolve(),
): Promise<number> {
  const g = globalThis as { WebSocket?: unknown };
  const previous = g.WebSocket;
  g.WebSocket = WebSocket;
  const ua = new UserAgent({
    uri: UserAgent.makeURI('sip:1002@demo.local'),
    transportOptions: { server: `ws://127.0.0.1:${sipPort(t, 'WS')}` },
    authorizationUsername: '1002',
    authorizationPassword: pass,
    logBuiltinEnabled: false,
  });
  try {
    await ua.start();
    const registerer = new Registerer(ua, { expires: 300 });
    const status = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('sip.js got no final answer')), 20_000);
      void registerer
        .register({
          requestDelegate: {
            onAccept: () => {
              clearTimeout(timer);
              resolve(200);
            },
            onReject: (response) => {
              clearTimeout(timer);
              resolve(response.message.statusCode ?? 0);
            },
          },
        })
        .catch(reject);
    });
    if (status === 200) await whileRegistered();
    return status;
  } finally {
    await ua.stop().catch(() => undefined);
    g.WebSocket = previous;
  }
}

/** baresip registers for 1001 over UDP; resolves with its output. */
async function baresip(t: TestServer, pass: string) {
  const home = await mkdtemp(join(dir, 'baresip-'));
  const port = await freePort();
  await writeFile(
    join(home, 'config'),
    [
      'poll_method epoll',
      `sip_listen 127.0.0.1:${port}`,
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module account.so',
      'module menu.so',
      'module uuid.so',
      'module ausine.so',
      'module aubridge.so',
      'audio_source ausine,440',
      'audio_player aubridge,sink',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(home, 'accounts'),
    `<sip:1001@demo.local>;auth_pass=${pass};outbound="sip:127.0.0.1:${sipPort(t, 'UDP')}";regint=300\n`,
  );
  const result = await run('baresip', ['-f', home, '-t', '6'], { cwd: home, timeoutMs: 30_000 });
  return { result, output: result.stdout + result.stderr };
}

describe('with the default digest algorithms (MD5)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startServer({ sip: { ...DEFAULT_CONFIG.sip, udpPort: 0, tcpPort: 0, wsPort: 0 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each(['UDP', 'TCP'] as const)(
    'SIPp registers 1001 over %s and the registrar finds it',
    async (protocol) => {
      const { result, localPort } = await sipp(t, protocol, '1001', password(t, '1001'));
      expect(result.code, result.stdout + result.stderr).toBe(0);
      const routes = await t.server.registrar.lookup('sip:1001@demo.local');
      expect(routes.map((r) => r.uri)).toContain(
        `sip:1001@127.0.0.1:${localPort};transport=${protocol}`,
      );
    },
  );

  it('refuses a wrong password and an unknown user alike', async () => {
    const before = (await t.server.registrar.lookup('sip:1002@demo.local')).length;
    const wrong = await sipp(t, 'UDP', '1002', 'not-the-password');
    expect(wrong.result.code).not.toBe(0);
    const unknown = await sipp(t, 'UDP', '1999', 'whatever-it-is');
    expect(unknown.result.code).not.toBe(0);
    expect(await t.server.registrar.lookup('sip:1002@demo.local')).toHaveLength(before);
    expect(await t.server.registrar.lookup('sip:1999@demo.local')).toHaveLength(0);
  });

  it('sip.js registers 1002 over WebSocket', async () => {
    let protocols: string[] = [];
    const status = await sipJs(t, password(t, '1002'), async () => {
      const routes = await t.server.registrar.lookup('sip:1002@demo.local');
      protocols = routes.map((r) => r.binding.received.protocol);
    });
    expect(status).toBe(200);
    expect(protocols).toEqual(['WS']);
  });

  it('baresip registers 1001 over UDP', async () => {
    // baresip unregisters when it quits: watch the registrations as they happen.
    const agents: string[] = [];
    const onRegistered = (binding: { aor: string; userAgent?: string | undefined }): void => {
      if (binding.aor === 'sip:1001@demo.local') agents.push(binding.userAgent ?? '');
    };
    t.server.registrar.on('registered', onRegistered);
    try {
      const { output } = await baresip(t, password(t, '1001'));
      expect(output).toMatch(/1001@demo\.local: .* 200 OK/);
      expect(
        agents.some((a) => a.startsWith('baresip')),
        JSON.stringify(agents),
      ).toBe(true);
    } finally {
      t.server.registrar.off('registered', onRegistered);
    }
  });

  it('registers a user added through the admin API', async () => {
    const key = t.server.seeded!.apiKey;
    const added = await api(t.base, 'POST', '/v1/tenants/demo/users', {
      key,
      body: {
        id: 'u1003',
        extension: '1003',
        displayName: 'New',
        sip: { username: '1003', password: 'fresh-password-1003' },
      },
    });
    expect(added.status).toBe(201);
    const { result } = await sipp(t, 'TCP', '1003', 'fresh-password-1003');
    expect(result.code, result.stdout).toBe(0);
    expect(await t.server.registrar.lookup('sip:1003@demo.local')).toHaveLength(1);
  });
});

describe('which algorithm offers each peer can answer', () => {
  it('SHA-256 then MD5: SIPp (first challenge) and baresip fail, sip.js (last) registers', async () => {
    await withServer(['SHA-256', 'MD5'], async (t) => {
      expect((await sipp(t, 'UDP', '1001', password(t, '1001'))).result.code).not.toBe(0);
      expect(await sipJs(t, password(t, '1002'))).toBe(200);
      const { output } = await baresip(t, password(t, '1001'));
      expect(output).toMatch(/Function not implemented/);
      expect(await t.server.registrar.lookup('sip:1001@demo.local')).toHaveLength(0);
    });
  });

  it('MD5 then SHA-256: SIPp registers, sip.js and baresip fail', async () => {
    await withServer(['MD5', 'SHA-256'], async (t) => {
      expect((await sipp(t, 'UDP', '1001', password(t, '1001'))).result.code).toBe(0);
      expect(await sipJs(t, password(t, '1002'))).not.toBe(200);
      const { output } = await baresip(t, password(t, '1001'));
      expect(output).toMatch(/Function not implemented/);
      expect(await t.server.registrar.lookup('sip:1002@demo.local')).toHaveLength(0);
    });
  });
});
