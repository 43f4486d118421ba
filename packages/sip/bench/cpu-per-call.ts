// CPU time of the B2BUA per bridged call, and heap held after the calls end.
// SIPp uac → B2BUA app (its own process) → SIPp uas over UDP at a fixed,
// moderate rate: the B2BUA's process.cpuUsage() delta divided by the calls
// holds up on a loaded machine better than a calls-per-second search.
// Ends with one JSON line.
//
// Environment: CPC_CALLS (default 1500), CPC_RATE (default 150).
//
//   npm run bench:cpu-per-call -w @voxmesh/sip
//
// CPC_PROF_DIR=/some/dir also writes a CPU profile of the B2BUA process and a
// heap snapshot of what the finished calls left behind (held.heapsnapshot).
import { mkdirSync } from 'node:fs';
import { forkB2buaApp } from '../test/helpers/b2bua-process.js';
import { freePort, runPeer, startPeer, waitForBound } from '../test/helpers/peers.js';
import { SIPP } from './cps-step.js';

const calls = Number(process.env['CPC_CALLS'] ?? 1500);
const rate = Number(process.env['CPC_RATE'] ?? 150);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function uac(port: number, count: number, callRate: number) {
  const result = await runPeer(
    SIPP,
    [
      '-sn',
      'uac',
      `127.0.0.1:${port}`,
      '-i',
      '127.0.0.1',
      '-p',
      String(await freePort()),
      '-r',
      String(callRate),
      '-m',
      String(count),
      '-d',
      '0',
      '-buff_size',
      '4194304',
      '-nostdin',
      '-timeout',
      `${Math.ceil(count / callRate) + 30}s`,
      '-timeout_error',
    ],
    { timeoutMs: (Math.ceil(count / callRate) + 40) * 1000 },
  );
  if (result.code !== 0) throw new Error(`SIPp uac failed:\n${result.output.slice(-3_000)}`);
}

const uasPort = await freePort();
const uas = startPeer(SIPP, [
  '-sn',
  'uas',
  '-i',
  '127.0.0.1',
  '-p',
  String(uasPort),
  '-buff_size',
  '4194304',
  '-nostdin',
]);
await waitForBound('UDP', uasPort, { exited: uas.exited });
const profileDir = process.env['CPC_PROF_DIR'];
if (profileDir) mkdirSync(profileDir, { recursive: true });
const app = await forkB2buaApp({
  uas: { host: '127.0.0.1', port: uasPort },
  ...(profileDir
    ? {
        nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
      }
    : {}),
});
try {
  await uac(app.port, 300, 100);
  await new Promise((r) => setTimeout(r, 500));
  const before = await app.stats({ gc: true });
  const t0 = performance.now();
  await uac(app.port, calls, rate);
  const wallMs = performance.now() - t0;
  const after = await app.stats();
  const held = await app.stats({ gc: true });
  if (profileDir) {
    // A heap snapshot of what the finished calls left behind.
    await new Promise<void>((resolve) => {
      app.child.on('message', (m: { type: string }) => {
        if (m.type === 'heapSnapshot') resolve();
      });
      app.child.send({ type: 'heapSnapshot', path: `${profileDir}/held.heapsnapshot` });
    });
  }
  const cpuMicrosPerCall = (after.cpuMicros - before.cpuMicros) / calls;
  log(
    `${calls} calls at ${rate}/s: ${cpuMicrosPerCall.toFixed(0)} µs CPU per call; heap held ${((held.heapUsedBytes - before.heapUsedBytes) / 1e6).toFixed(1)} MB, calls left ${held.calls}`,
  );
  process.stdout.write(
    `${JSON.stringify({
      calls,
      rate,
      cpuMicrosPerCall: Math.round(cpuMicrosPerCall),
      cpuPercent: Math.round(((after.cpuMicros - before.cpuMicros) / (wallMs * 1000)) * 100),
      heapHeldMb: Math.round((held.heapUsedBytes - before.heapUsedBytes) / 1e5) / 10,
      heapHeldBytesPerCall: Math.round((held.heapUsedBytes - before.heapUsedBytes) / calls),
      callsLeft: held.calls,
      answered: after.answered - before.answered,
    })}\n`,
  );
} finally {
  await app.stop();
  await uas.stop();
}
