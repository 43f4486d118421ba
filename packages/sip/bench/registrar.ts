// Registrar throughput: in-process REGISTER handling (no auth, and with the
// digest round trip), then SIPp registering with digest over UDP against a
// RegistrarServer on the real transport (each SIPp scenario is four REGISTER
// transactions: challenge, register, challenge, unregister). Ends with one JSON line.
//
//   npx tsx --conditions=@voxmesh/source packages/sip/bench/registrar.ts
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DigestClient, Registrar, RegistrarServer, SipRequest, SipTransport } from '@voxmesh/sip';

const flow = { protocol: 'UDP' as const, remote: { host: '192.0.2.10', port: 5062 } };

function register(user: string, cseq: number, authorization?: string): SipRequest {
  const headers: [string, string][] = [
    ['Via', `SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-${user}-${cseq};rport`],
    ['From', `<sip:${user}@bench.example>;tag=t${user}`],
    ['To', `<sip:${user}@bench.example>`],
    ['Call-ID', `call-${user}`],
    ['CSeq', `${cseq} REGISTER`],
    ['Contact', `<sip:${user}@192.0.2.10:5062>`],
    ['Expires', '600'],
  ];
  if (authorization !== undefined) headers.push(['Authorization', authorization]);
  return new SipRequest({ method: 'REGISTER', uri: 'sip:bench.example', headers });
}

async function inProcessOpen(count: number): Promise<number> {
  const registrar = new Registrar({ authenticator: false });
  await registrar.start();
  const start = performance.now();
  for (let i = 0; i < count; i++) await registrar.handle({ request: register(`u${i}`, 1), flow });
  const perSecond = count / ((performance.now() - start) / 1000);
  await registrar.stop();
  return perSecond;
}

async function inProcessDigest(count: number): Promise<number> {
  const registrar = new Registrar({
    credentials: ({ username }) => ({ password: `pw-${username}` }),
    authenticator: undefined,
  });
  await registrar.start();
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const user = `u${i}`;
    const challenge = await registrar.handle({ request: register(user, 1), flow });
    const [auth] = new DigestClient({ username: user, password: `pw-${user}` }).authorize({
      challenges: challenge.headers.getAll('www-authenticate'),
      method: 'REGISTER',
      uri: 'sip:bench.example',
    });
    const ok = await registrar.handle({ request: register(user, 2, auth?.value), flow });
    if (ok.status !== 200) throw new Error(`unexpected ${ok.status}`);
  }
  const perSecond = count / ((performance.now() - start) / 1000);
  await registrar.stop();
  return perSecond;
}

async function sipp(
  rate: number,
  calls: number,
): Promise<{ ok: number; failed: number; seconds: number }> {
  const transport = new SipTransport({
    listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
  });
  await transport.start();
  const registrar = new Registrar({
    credentials: ({ username }) => (username === 'alice' ? { password: 'pw' } : undefined),
    digestAlgorithms: ['MD5'],
  });
  const server = new RegistrarServer({ transport, registrar });
  await registrar.start();
  await server.start();
  const scenario = fileURLToPath(
    new URL('../test/fixtures/sipp/register-digest.xml', import.meta.url),
  );
  const port = transport.listener('UDP')?.local.port ?? 0;
  const start = performance.now();
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      'sipp',
      [
        `127.0.0.1:${port}`,
        '-sf',
        scenario,
        '-s',
        'alice',
        '-au',
        'alice',
        '-ap',
        'pw',
        '-i',
        '127.0.0.1',
        '-r',
        String(rate),
        '-m',
        String(calls),
        '-nostdin',
        '-timeout',
        '50',
        '-timeout_error',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(text));
  });
  const seconds = (performance.now() - start) / 1000;
  const cumulative = (name: string): number => {
    const line =
      output
        .split('\n')
        .filter((l) => l.includes(name))
        .pop() ?? '';
    return Number(/\|\s*\d+\s*\|\s*(\d+)/.exec(line)?.[1] ?? NaN);
  };
  await server.stop();
  await registrar.stop();
  await transport.stop();
  return { ok: cumulative('Successful call'), failed: cumulative('Failed call'), seconds };
}

const open = await inProcessOpen(20_000);
const digest = await inProcessDigest(3_000);
const rate = 200;
const run = await sipp(rate, 2_000);
console.log(
  JSON.stringify({
    inProcessRegistersPerSecond: Math.round(open),
    inProcessDigestRegistrationsPerSecond: Math.round(digest),
    sippUdpRate: rate,
    sippScenariosOk: run.ok,
    sippScenariosFailed: run.failed,
    sippSeconds: Number(run.seconds.toFixed(1)),
  }),
);
