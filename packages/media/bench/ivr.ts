// bench:media-ivr — concurrent IVR legs on one core: each plays a looping
// prompt (20 ms frames from the shared media clock) and runs in-band DTMF
// detection on the 50 packets/s this process sends it; every 2 s each leg
// receives one in-band digit. The legs run in a child pinned to core 0; a
// step passes when the media clock delivered no tick late (more than 20 ms
// behind) and the detectors found the digits sent. The result is the highest
// passing leg count. Ends with one JSON line.
//
// Environment: STEPS (leg counts, default 200,400,800,1200,1600), STEP_SECONDS (default 4).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { encodeUlaw } from '../src/index.js';

const STEPS = (process.env.STEPS ?? '200,400,800,1200,1600').split(',').map(Number);
const STEP_SECONDS = Number(process.env.STEP_SECONDS ?? 4);

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
  });
}

const silence = new Uint8Array(160).fill(0xff);
// Digit 5 (770 + 1336 Hz), 100 ms as 5 frames.
const digitFrames = Array.from({ length: 5 }, (_, f) =>
  encodeUlaw(
    Int16Array.from({ length: 160 }, (_, i) => {
      const t = (f * 160 + i) / 8000;
      return Math.round(
        7000 * (Math.sin(2 * Math.PI * 770 * t) + Math.sin(2 * Math.PI * 1336 * t)),
      );
    }),
  ),
);

interface Step {
  legs: number;
  lateTicks: number;
  framesPerLegPerSecond: number;
  digitsExpected: number;
  digitsDetected: number;
  packetsReceived: number;
  cpuPercent: number;
}

async function runStep(child: ChildProcess, peer: Socket, legs: number): Promise<Step> {
  child.send({ type: 'setup', legs, peer: peer.address().port });
  const { ports } = await nextMessage<{ ports: number[] }>(child, 'ready');
  let received = 0;
  let measuring = false;
  const onMessage = () => {
    if (measuring) received++;
  };
  peer.on('message', onMessage);
  const header = (seq: number) => {
    const p = Buffer.alloc(12 + 160);
    p[0] = 0x80;
    p.writeUInt16BE(seq & 0xffff, 2);
    p.writeUInt32BE((seq * 160) >>> 0, 4);
    p.writeUInt32BE(0xabcdef01, 8);
    return p;
  };
  // Slots of 2 ms; each sends to a tenth of the legs. Slots missed while the
  // timer was late are sent at once, so the rate stays at 50 packets/s.
  const slots = 10;
  let nextSlot = 0;
  let digitsExpected = 0;
  const start = performance.now();
  let stopAt = Infinity;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (!measuring && now - start > 1000) {
        measuring = true;
        child.send({ type: 'mark' });
        stopAt = now + STEP_SECONDS * 1000;
      }
      if (now > stopAt) {
        clearInterval(timer);
        resolve();
        return;
      }
      const due = Math.floor((now - start) / 2);
      for (; nextSlot <= due; nextSlot++) {
        const s = nextSlot % slots;
        const frame = Math.floor(nextSlot / slots);
        // Every 100 frames (2 s), frames 0–4 carry the digit, then silence.
        const inCycle = frame % 100;
        const payload = inCycle < 5 ? digitFrames[inCycle]! : silence;
        if (s === 0 && inCycle === 0 && measuring && now + 300 < stopAt) digitsExpected += legs;
        for (let i = s; i < ports.length; i += slots) {
          const p = header(frame);
          p.set(payload, 12);
          peer.send(p, ports[i], '127.0.0.1');
        }
      }
    }, 2);
  });
  // Let the last digit's detection finish before counting.
  await new Promise((r) => setTimeout(r, 200));
  child.send({ type: 'teardown' });
  const done = await nextMessage<{
    lateTicks: number;
    frames: number;
    ticks: number;
    digits: number;
    cpuUs: number;
  }>(child, 'done');
  measuring = false;
  peer.off('message', onMessage);
  return {
    legs,
    lateTicks: done.lateTicks,
    framesPerLegPerSecond: Number(
      (done.frames / legs / Math.max(0.02, done.ticks * 0.02)).toFixed(2),
    ),
    cpuPercent: Number(((done.cpuUs / 1e6 / Math.max(0.02, done.ticks * 0.02)) * 100).toFixed(1)),
    digitsExpected,
    digitsDetected: done.digits,
    packetsReceived: received,
  };
}

const taskset = spawnSync('which', ['taskset']).status === 0;
const worker = fileURLToPath(new URL('./ivr-worker.ts', import.meta.url));
const args = ['--import', 'tsx', '--conditions=@voxmesh/source', worker];
const child = spawn(
  taskset ? 'taskset' : process.execPath,
  taskset ? ['-c', '0', process.execPath, ...args] : args,
  {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  },
);
await nextMessage(child, 'started');
const peer = createSocket({
  type: 'udp4',
  recvBufferSize: 8 * 1024 * 1024,
  sendBufferSize: 8 * 1024 * 1024,
});
await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
const steps: Step[] = [];
try {
  for (const legs of STEPS) {
    const r = await runStep(child, peer, legs);
    steps.push(r);
    console.error(
      `${legs} legs → ${r.lateTicks} late ticks, ${r.framesPerLegPerSecond} frames/leg/s, digits ${r.digitsDetected}/${r.digitsExpected}, CPU ${r.cpuPercent} %`,
    );
    if (r.lateTicks > 0) break;
  }
} finally {
  child.send({ type: 'exit' });
  peer.close();
}
const passing = steps.filter((s) => s.lateTicks === 0 && s.digitsDetected >= s.digitsExpected);
console.log(
  JSON.stringify({
    legsPerCore: passing.at(-1)?.legs ?? 0,
    // What one core could carry at the measured CPU cost per leg.
    cpuBoundLegsPerCore: (() => {
      const s = steps.filter((x) => x.cpuPercent > 0).at(-1);
      return s ? Math.floor((s.legs * 100) / s.cpuPercent) : null;
    })(),
    loadAverage: loadavg()[0],
    steps,
  }),
);
