// bench:pbx — sustained extension-to-extension calls per second through the
// reference server with media anchored, and the server's CPU and memory.
//
// The server runs as its own process (as `npm start` runs it). SIPp registers
// as 1002 and answers as a uas echoing RTP (-rtp_echo); a SIPp uac places
// calls from 1001 to 1002 at a fixed rate, each sending G.711 A-law RTP
// (SIPp's g711a.pcap) for the hold time, then BYE. The rate steps up until a
// step has a failed call (or the time budget ends); the result is the highest
// rate with 0 failed calls, the server's CPU (percent of one core) and RSS
// during that step. INVITEs are not digest-challenged in the bench
// (VOXMESH_SIP_AUTHENTICATE_CALLS=false): SIPp's uac does not answer 407.
//
// Ends with one JSON line: {"callsPerSecond", "cpuPercent", "rssMb", ...}.
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TSX = fileURLToPath(new URL('../../../node_modules/tsx/dist/cli.mjs', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const UAC = fileURLToPath(new URL('./uac-pbx.xml', import.meta.url));
const REGISTER = fileURLToPath(new URL('../test/fixtures/register.xml', import.meta.url));
const RATES = (process.env.PBX_RATES ?? '10,40,80,160,240,320,400').split(',').map(Number);
const STEP_S = Number(process.env.PBX_STEP_S ?? 6);
const HOLD_MS = Number(process.env.PBX_HOLD_MS ?? 2000);
const BUDGET_S = Number(process.env.PBX_BUDGET_S ?? 150);
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => {
          resolve(typeof address === 'object' && address !== null ? address.port : 0);
        });
      });
    });
    const free = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => {
        socket.close();
        resolve(false);
      });
      socket.bind(port, '127.0.0.1', () => {
        socket.close(() => {
          resolve(true);
        });
      });
    });
    if (free) return port;
  }
  throw new Error('no free port');
}

function run(
  args: string[],
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sipp', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`sipp could not run (is sip-tester installed?): ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** CPU seconds (user + system) a process has used, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

interface Step {
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  cpuPercent: number;
  rssMb: number;
  /** SIPp's first error lines of a step with failed calls. */
  errors?: string[];
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'voxmesh-bench-pbx-'));
  const sipPort = await freePort();
  const httpPort = await freePort();
  const children: ChildProcess[] = [];
  try {
    const server = spawn(process.execPath, [TSX, '--conditions=@voxmesh/source', MAIN], {
      env: {
        ...process.env,
        VOXMESH_DATA_DIR: join(dir, 'data'),
        VOXMESH_SIP_UDP_PORT: String(sipPort),
        VOXMESH_SIP_TCP_PORT: String(sipPort),
        VOXMESH_SIP_WS_PORT: '0',
        VOXMESH_HTTP_PORT: String(httpPort),
        VOXMESH_MEDIA_MIN_PORT: '0',
        VOXMESH_MEDIA_MAX_PORT: '0',
        VOXMESH_SIP_AUTHENTICATE_CALLS: 'false',
        VOXMESH_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(server);
    let banner = '';
    server.stdout.on('data', (d: Buffer) => (banner += d.toString()));
    server.stderr.on('data', (d: Buffer) => (banner += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!/extension 1002: user 1002 {2}password (\S+)/.test(banner)) {
      if (Date.now() > deadline || server.exitCode !== null)
        throw new Error(`the server did not start:\n${banner}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const password = /extension 1002: user 1002 {2}password (\S+)/.exec(banner)?.[1] ?? '';
    // tsx runs the server in a child process of its own: measure that one.
    const wrapper = server.pid ?? 0;
    const childPids = (
      await readFile(`/proc/${wrapper}/task/${wrapper}/children`, 'utf8').catch(() => '')
    )
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
    const pid = childPids[0] ?? wrapper;
    log(`server pid ${pid} (tsx ${wrapper})`);

    // The callee: register 1002 from the uas's port, then answer there, echoing RTP.
    const uasPort = await freePort();
    const registered = await run(
      [
        `127.0.0.1:${sipPort}`,
        '-sf',
        REGISTER,
        '-s',
        '1002',
        '-au',
        '1002',
        '-ap',
        password,
        '-i',
        '127.0.0.1',
        '-p',
        String(uasPort),
        '-m',
        '1',
        '-nostdin',
        '-timeout',
        '20',
        '-timeout_error',
      ],
      dir,
      30_000,
    );
    if (registered.code !== 0)
      throw new Error(`SIPp could not register 1002:\n${registered.output.slice(-2000)}`);
    const uas = spawn(
      'sipp',
      [
        '-sn',
        'uas',
        '-i',
        '127.0.0.1',
        '-p',
        String(uasPort),
        '-mp',
        String(await freePort()),
        '-rtp_echo',
        '-nostdin',
      ],
      {
        cwd: dir,
        stdio: 'ignore',
      },
    );
    children.push(uas);
    await new Promise((r) => setTimeout(r, 500));

    // Warm-up (not counted): the server compiles its hot paths.
    await run(
      [
        `127.0.0.1:${sipPort}`,
        '-sf',
        UAC,
        '-i',
        '127.0.0.1',
        '-p',
        String(await freePort()),
        '-mp',
        String(await freePort()),
        '-r',
        '5',
        '-m',
        '10',
        '-d',
        '500',
        '-nostdin',
        '-timeout',
        '30s',
      ],
      dir,
      45_000,
    );

    const steps: Step[] = [];
    const started = Date.now();
    for (const rate of RATES) {
      if ((Date.now() - started) / 1000 + STEP_S + HOLD_MS / 1000 > BUDGET_S) break;
      const calls = Math.round(rate * STEP_S);
      const cpu0 = await cpuSeconds(pid);
      const t0 = performance.now();
      const result = await run(
        [
          `127.0.0.1:${sipPort}`,
          '-sf',
          UAC,
          '-i',
          '127.0.0.1',
          '-p',
          String(await freePort()),
          '-mp',
          String(await freePort()),
          '-r',
          String(rate),
          '-m',
          String(calls),
          '-d',
          String(HOLD_MS),
          '-l',
          String(Math.ceil(rate * (HOLD_MS / 1000 + 2)) + 10),
          '-default_behaviors',
          'all,-abortunexp',
          '-recv_timeout',
          '10000',
          '-nostdin',
          '-timeout',
          `${Math.ceil(STEP_S + HOLD_MS / 1000 + 20)}s`,
        ],
        dir,
        (STEP_S + HOLD_MS / 1000 + 40) * 1000,
      );
      const wall = (performance.now() - t0) / 1000;
      const cpuPercent = Math.round((((await cpuSeconds(pid)) - cpu0) / wall) * 1000) / 10;
      const successful = Number(
        /Successful call\s+\|\s+\d+\s+\|\s+(\d+)/.exec(result.output)?.[1] ?? NaN,
      );
      const failed = Number(/Failed call\s+\|\s+\d+\s+\|\s+(\d+)/.exec(result.output)?.[1] ?? NaN);
      const step: Step = {
        rate,
        calls,
        successful: Number.isNaN(successful) ? 0 : successful,
        failed: Number.isNaN(failed) ? calls : failed,
        cpuPercent,
        rssMb: await rssMb(pid),
      };
      if (step.failed > 0 || step.successful < calls) {
        step.errors = result.output
          .split('\n')
          .filter((l) => /aborting|unexpected|timeout|error|failed to/i.test(l))
          .slice(0, 5)
          .map((l) => l.trim().slice(0, 300));
      }
      steps.push(step);
      log(
        `rate ${rate}/s: ${step.successful}/${calls} ok, ${step.failed} failed, server CPU ${cpuPercent} %, RSS ${step.rssMb} MB`,
      );
      if (step.failed > 0 || step.successful < calls) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const best = [...steps].reverse().find((s) => s.failed === 0 && s.successful === s.calls);
    process.stdout.write(
      `${JSON.stringify({
        callsPerSecond: best?.rate ?? 0,
        cpuPercent: best?.cpuPercent ?? null,
        rssMb: best?.rssMb ?? (await rssMb(pid)),
        failedCalls: best === undefined ? (steps[0]?.failed ?? null) : 0,
        holdMs: HOLD_MS,
        media: 'G.711 A-law RTP both ways (SIPp pcap → server relay → SIPp rtp_echo)',
        limitedBy:
          steps.length > 0 && steps[steps.length - 1] === best
            ? 'time budget or highest rate tried'
            : 'failed calls',
        steps,
      })}\n`,
    );
  } finally {
    for (const child of children.reverse()) {
      if (child.exitCode === null) child.kill('SIGTERM');
    }
    await new Promise((r) => setTimeout(r, 1000));
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
