// bench:media-ivr — concurrent IVR legs on one core: each plays a looping
// prompt (20 ms frames from the shared media clock) and runs in-band DTMF
// detection on the 50 packets/s it is sent; every 2 s each leg receives one
// in-band digit. The legs run in a child pinned to core 0; the load generator
// runs on core 1. A step passes when the media clock delivered no tick late
// (more than 20 ms behind), every leg sent its 50 frames/s, and the
// detectors found every digit sent. The result is the highest passing leg
// count. Ends with one JSON line.
//
// The generator (GENERATOR=c, the default when `cc` is found) is
// rtp-load.c in tone mode; GENERATOR=node sends from this process (one send
// and one receive per packet in Node: it costs about what the legs do, so
// it saturates its core first). PRIORITY=fifo (the default as root) runs the
// generator and the legs' event loop SCHED_FIFO so other work on a shared
// machine does not make ticks late; see harness.ts.
//
// Environment: STEPS (leg counts, default 400,800,1200,1600), STEP_SECONDS
// (default 4), GENERATOR, PRIORITY, WORKER_NODE_ARGS (e.g. `--cpu-prof
// --cpu-prof-dir=/tmp/p`), KEEP_GOING=1 to run every step (by default the run ends after two
// failing steps in a row).
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { loadavg } from 'node:os';
import { encodeUlaw } from '../src/index.js';
import {
  bundleWorker,
  cGenerator,
  GENERATOR,
  GENERATOR_CORE,
  HAS_TASKSET,
  nextMessage,
  pinned,
  raise,
  SUT_CORE,
  watchdog,
  type Generator,
} from './harness.js';

const STEPS = (process.env.STEPS ?? '400,800,1200,1600').split(',').map(Number);
const STEP_SECONDS = Number(process.env.STEP_SECONDS ?? 4);
const WARMUP_MS = 1000;
const DRAIN_MS = 300;
const KEEP_GOING = process.env.KEEP_GOING === '1';
const WORKER_NODE_ARGS = (process.env.WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);

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
  loopLagP99Ms: number | null;
  loopLagMaxMs: number | null;
  gcMaxMs: number;
  generatorLagMaxMs: number;
  generatorCpuPercent: number;
  loadAverage: number;
}

/** The generator in this process: one send per packet, 2 ms slots, from one socket. */
async function nodeGenerator(): Promise<Generator> {
  if (HAS_TASKSET) spawnSync('taskset', ['-p', '-c', String(GENERATOR_CORE), String(process.pid)]);
  const peer: Socket = createSocket({
    type: 'udp4',
    recvBufferSize: 8 * 1024 * 1024,
    sendBufferSize: 8 * 1024 * 1024,
  });
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
  return {
    name: 'node dgram (this process)',
    portA: peer.address().port,
    portB: 0,
    async run(ports, timing, onMeasuring) {
      let received = 0;
      let sent = 0;
      let measuring = false;
      const onMessage = () => {
        if (measuring) received++;
      };
      peer.on('message', onMessage);
      const packets = ports.map(() => {
        const p = Buffer.alloc(12 + 160);
        p[0] = 0x80;
        return p;
      });
      const slots = 10;
      let nextSlot = 0;
      let digitsSent = 0;
      let lagMax = 0;
      const start = performance.now();
      let stopAt = Infinity;
      let cpu = process.cpuUsage();
      let cpuUs = 0;
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          const now = performance.now();
          if (!measuring && now - start > timing.warmupMs) {
            measuring = true;
            onMeasuring();
            cpu = process.cpuUsage();
            stopAt = now + timing.measureMs;
          }
          if (now > stopAt) {
            const used = process.cpuUsage(cpu);
            cpuUs = used.user + used.system;
            clearInterval(timer);
            resolve();
            return;
          }
          const due = Math.floor((now - start) / 2);
          for (; nextSlot <= due; nextSlot++) {
            if (measuring) lagMax = Math.max(lagMax, now - (start + nextSlot * 2));
            const s = nextSlot % slots;
            const frame = Math.floor(nextSlot / slots);
            // Every 100 frames (2 s), frames 0–4 carry the digit, then silence.
            const inCycle = frame % 100;
            const payload = inCycle < 5 ? digitFrames[inCycle]! : silence;
            for (let i = s; i < ports.length; i += slots) {
              if (measuring && inCycle === 0 && now + 400 < stopAt) digitsSent++;
              const p = packets[i]!;
              p.writeUInt16BE(frame & 0xffff, 2);
              p.writeUInt32BE((frame * 160) >>> 0, 4);
              p.writeUInt32BE(0xabcdef01 + i, 8);
              p.set(payload, 12);
              peer.send(p, ports[i]![0], '127.0.0.1');
              if (measuring) sent++;
            }
          }
        }, 2);
      });
      await new Promise((r) => setTimeout(r, timing.drainMs));
      measuring = false;
      peer.off('message', onMessage);
      return {
        sent,
        received,
        p50LatencyMs: NaN,
        p99LatencyMs: NaN,
        maxLatencyMs: NaN,
        generatorLagP99Ms: NaN,
        generatorLagMaxMs: lagMax,
        generatorCpuPercent: (cpuUs / 1000 / timing.measureMs) * 100,
        digitsSent,
      };
    },
    close() {
      peer.close();
      return Promise.resolve();
    },
  };
}

async function runStep(child: ChildProcess, generator: Generator, legs: number): Promise<Step> {
  using _watchdog = watchdog(WARMUP_MS + STEP_SECONDS * 1000 + 60_000);
  child.send({ type: 'setup', legs, peer: generator.portA });
  const { ports } = await nextMessage<{ ports: number[] }>(child, 'ready');
  const g = await generator.run(
    ports.map((p) => [p, 0]),
    { warmupMs: WARMUP_MS, measureMs: STEP_SECONDS * 1000, drainMs: DRAIN_MS, tone: true },
    () => child.send({ type: 'mark' }),
  );
  child.send({ type: 'teardown' });
  const done = await nextMessage<{
    lateTicks: number;
    frames: number;
    ticks: number;
    digits: number;
    cpuUs: number;
    loopLagP99Ms: number | null;
    loopLagMaxMs: number | null;
    gcMaxMs: number;
  }>(child, 'done');
  const seconds = Math.max(0.02, done.ticks * 0.02);
  return {
    legs,
    lateTicks: done.lateTicks,
    framesPerLegPerSecond: Number((done.frames / legs / seconds).toFixed(2)),
    cpuPercent: Number(((done.cpuUs / 1e6 / seconds) * 100).toFixed(1)),
    digitsExpected: g.digitsSent ?? 0,
    digitsDetected: done.digits,
    packetsReceived: g.received,
    loopLagP99Ms: done.loopLagP99Ms,
    loopLagMaxMs: done.loopLagMaxMs,
    gcMaxMs: done.gcMaxMs,
    generatorLagMaxMs: Number(g.generatorLagMaxMs.toFixed(3)),
    generatorCpuPercent: Number(g.generatorCpuPercent.toFixed(1)),
    loadAverage: Number((loadavg()[0] ?? 0).toFixed(2)),
  };
}

// Frames are counted over the ticks seen while measuring, so a full rate is ≥ 49.5/s.
const passes = (s: Step) =>
  s.lateTicks === 0 && s.framesPerLegPerSecond >= 49.5 && s.digitsDetected >= s.digitsExpected;

const worker = bundleWorker(new URL('./ivr-worker.ts', import.meta.url));
const child = pinned(SUT_CORE, process.execPath, [...WORKER_NODE_ARGS, worker], 'ipc');
await nextMessage(child, 'started');
raise(child.pid!, false);
const generator = GENERATOR === 'c' ? await cGenerator() : await nodeGenerator();
console.error(`generator: ${generator.name}; legs on core ${SUT_CORE}`);
const steps: Step[] = [];
try {
  // An unreported first step: a freshly started process stalls in its first
  // second of load (compilation, heap growth).
  await runStep(child, generator, STEPS[0] ?? 100);
  for (const legs of STEPS) {
    const r = await runStep(child, generator, legs);
    steps.push(r);
    console.error(
      `${legs} legs → ${r.lateTicks} late ticks, ${r.framesPerLegPerSecond} frames/leg/s, digits ${r.digitsDetected}/${r.digitsExpected}, ` +
        `CPU ${r.cpuPercent} %, loop lag p99 ${r.loopLagP99Ms} max ${r.loopLagMaxMs} ms, GC max ${r.gcMaxMs} ms; ` +
        `generator lag max ${r.generatorLagMaxMs} ms, CPU ${r.generatorCpuPercent} %; load ${r.loadAverage}` +
        (passes(r) ? '' : '  FAIL'),
    );
    // One failing step can be a stall of the machine; two in a row end the run.
    if (!passes(r) && !KEEP_GOING && steps.length > 1 && !passes(steps.at(-2)!)) break;
  }
} finally {
  child.send({ type: 'exit' });
  await generator.close();
}
const passing = steps.filter(passes);
console.log(
  JSON.stringify({
    legsPerCore: passing.at(-1)?.legs ?? 0,
    // What one core could carry at the measured CPU cost per leg.
    cpuBoundLegsPerCore: (() => {
      const s = steps.filter((x) => x.cpuPercent > 0).at(-1);
      return s ? Math.floor((s.legs * 100) / s.cpuPercent) : null;
    })(),
    generator: GENERATOR,
    stepSeconds: STEP_SECONDS,
    loadAverage: loadavg()[0],
    steps,
  }),
);
