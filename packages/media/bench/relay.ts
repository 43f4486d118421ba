// bench:media-relay — concurrent G.711 calls (50 packets/s each way) relayed
// on one core. The system under test — our InProcessMediaController in its
// own process, then Debian's rtpengine (userspace, no kernel module, one
// worker thread) in the same harness — is pinned to core 0; the load
// generator runs on core 1. A step passes with 0 % loss and p99 added latency
// ≤ 5 ms; the result is the highest passing call count.
//
// The generator (GENERATOR=c, the default when `cc` is found) is
// rtp-load.c, compiled on first use: it sends with sendmmsg and receives
// with recvmmsg, so it costs a fraction of the relay it measures, and takes
// latency from each packet's send stamp to the kernel's receive timestamp of
// the relayed copy. GENERATOR=node runs the generator in this process (each
// packet one send and one receive, like the relay itself: it saturates its
// core before a good relay does, which is why it is not the default).
//
// Per step it prints loss, p50/p99/max latency, the relay's CPU time per
// relayed packet and share of its core, the relay's event-loop lag and GC
// pauses (ours), datagrams the kernel dropped at the relay's and at the
// generator's sockets (/proc/net/udp), and the generator's own lag and CPU —
// so a failing step says which side failed. Ends with one JSON line.
//
// Environment: STEPS (call counts, default 250,500,750,1000,1250,1500),
// STEP_SECONDS (default 4), WARMUP_MS (default 1000), RTPENGINE=0 to skip the
// comparison, GENERATOR=c|node, STATS_INTERVAL_MS (the controller's RTCP
// period; default its own 5 s), RELAY_SOCKET_BUFFER (bytes; default the
// PortAllocator's), WORKER_NODE_ARGS (extra Node flags for the relay process,
// e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`), PRIORITY (`fifo`, the default as
// root: the generator and the relay's packet path run SCHED_FIFO, so other
// work on a shared machine does not show up as relay latency — a normal or
// even niced process waits milliseconds for its core there — or `none`), RELAY_WORKER=minimal to measure
// the floor (a bare `dgram` relay, minimal-relay-worker.ts) in place of the
// InProcessMediaController, KEEP_GOING=1 to run every step (by default the
// run ends after two failing steps in a row).
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
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
  udpDrops,
  watchdog,
  type Generator,
} from './harness.js';

const STEPS = (process.env.STEPS ?? '250,500,750,1000,1250,1500').split(',').map(Number);
const STEP_SECONDS = Number(process.env.STEP_SECONDS ?? 4);
const WARMUP_MS = Number(process.env.WARMUP_MS ?? 1000);
const DRAIN_MS = 300;
const WITH_RTPENGINE = process.env.RTPENGINE !== '0';
const MINIMAL = process.env.RELAY_WORKER === 'minimal';
const KEEP_GOING = process.env.KEEP_GOING === '1';
const WORKER_NODE_ARGS = (process.env.WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
const RELAY_CORE = SUT_CORE;
const TIMING = { warmupMs: WARMUP_MS, measureMs: STEP_SECONDS * 1000, drainMs: DRAIN_MS };

/** What the system under test reports about the measuring window. */
interface TargetSample {
  cpuUs: number;
  loopLagP99Ms?: number | null;
  loopLagMaxMs?: number | null;
  gcCount?: number;
  gcMaxMs?: number;
  rssMb?: number;
}

interface Target {
  name: string;
  setup(calls: number, peerA: number, peerB: number): Promise<[toA: number, toB: number][]>;
  mark(): void;
  /** CPU time and event-loop figures since mark(). */
  sample(): Promise<TargetSample>;
  teardown(): Promise<void>;
  close(): Promise<void>;
}

interface StepResult {
  calls: number;
  lossPercent: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  maxLatencyMs: number;
  cpuUsPerPacket: number;
  cpuPercent: number;
  relayDrops: number;
  generatorDrops: number;
  loopLagP99Ms: number | null;
  loopLagMaxMs: number | null;
  gcMaxMs: number | null;
  generatorLagP99Ms: number;
  generatorLagMaxMs: number;
  generatorCpuPercent: number;
  loadAverage: number;
}

function bindSocket(port = 0): Promise<Socket> {
  const s = createSocket({
    type: 'udp4',
    recvBufferSize: 8 * 1024 * 1024,
    sendBufferSize: 8 * 1024 * 1024,
  });
  return new Promise((resolve) => s.bind(port, '127.0.0.1', () => resolve(s)));
}

// --- generators ---

/**
 * The generator in this process: one send per packet on two sockets (peer A
 * and peer B), 2 ms slots, latency taken in the receive callback (so it
 * includes this process's own event-loop lag, reported separately).
 */
async function nodeGenerator(): Promise<Generator> {
  if (HAS_TASKSET) spawnSync('taskset', ['-p', '-c', String(GENERATOR_CORE), String(process.pid)]);
  const a = await bindSocket();
  const b = await bindSocket();
  return {
    name: 'node dgram (this process)',
    portA: a.address().port,
    portB: b.address().port,
    async run(ports, _timing, onMeasuring) {
      const latencies: number[] = [];
      const lags: number[] = [];
      let received = 0;
      let sent = 0;
      let measuring = false;
      let stopped = false;
      const onMessage = (msg: Buffer) => {
        if (msg.length !== 172 || msg[12] !== 1) return;
        received++;
        if (!stopped) latencies.push(performance.now() - msg.readDoubleLE(16));
      };
      a.on('message', onMessage);
      b.on('message', onMessage);
      // One preallocated packet per leg and direction, rewritten before each send.
      const packets = ports.map(() => {
        const pair = [Buffer.alloc(172, 0xff), Buffer.alloc(172, 0xff)] as const;
        for (const p of pair) {
          p[0] = 0x80;
          p[1] = 0;
        }
        return pair;
      });
      const slots = 10;
      const slotMs = 2;
      let nextSlot = 0;
      const start = performance.now();
      let stopAt = Infinity;
      let cpu = process.cpuUsage();
      let cpuUs = 0;
      let measuredMs = 0;
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          const now = performance.now();
          if (!measuring && now - start > WARMUP_MS) {
            measuring = true;
            onMeasuring();
            cpu = process.cpuUsage();
            stopAt = now + STEP_SECONDS * 1000;
          }
          if (now > stopAt) {
            const used = process.cpuUsage(cpu);
            cpuUs = used.user + used.system;
            measuredMs = now - (stopAt - STEP_SECONDS * 1000);
            clearInterval(timer);
            resolve();
            return;
          }
          const due = Math.floor((now - start) / slotMs);
          for (; nextSlot <= due; nextSlot++) {
            if (measuring) lags.push(performance.now() - (start + nextSlot * slotMs));
            const s = nextSlot % slots;
            const seq = Math.floor(nextSlot / slots);
            for (let i = s; i < ports.length; i += slots) {
              const [toA, toB] = ports[i]!;
              const [pa, pb] = packets[i]!;
              for (const [p, socket, to, side] of [
                [pa, a, toA, 0],
                [pb, b, toB, 1],
              ] as const) {
                p.writeUInt16BE(seq & 0xffff, 2);
                p.writeUInt32BE((seq * 160) >>> 0, 4);
                p.writeUInt32BE(0x10000 + i * 2 + side, 8);
                p[12] = measuring ? 1 : 0;
                p.writeDoubleLE(performance.now(), 16);
                socket.send(p, to, '127.0.0.1');
              }
              if (measuring) sent += 2;
            }
          }
        }, 1);
      });
      stopped = true;
      await new Promise((r) => setTimeout(r, DRAIN_MS));
      a.off('message', onMessage);
      b.off('message', onMessage);
      const pct = (xs: number[], p: number) => {
        xs.sort((x, y) => x - y);
        return xs[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? Infinity;
      };
      return {
        sent,
        received,
        p50LatencyMs: pct(latencies, 0.5),
        p99LatencyMs: pct(latencies, 0.99),
        maxLatencyMs: latencies.length ? latencies[latencies.length - 1]! : Infinity,
        generatorLagP99Ms: pct(lags, 0.99),
        generatorLagMaxMs: lags.length ? lags[lags.length - 1]! : 0,
        generatorCpuPercent: (cpuUs / 1000 / Math.max(1, measuredMs)) * 100,
      };
    },
    close() {
      a.close();
      b.close();
      return Promise.resolve();
    },
  };
}

// --- systems under test ---

async function voxmeshTarget(): Promise<Target> {
  const worker = bundleWorker(
    new URL(MINIMAL ? './minimal-relay-worker.ts' : './relay-worker.ts', import.meta.url),
  );
  const child = pinned(RELAY_CORE, process.execPath, [...WORKER_NODE_ARGS, worker], 'ipc');
  await nextMessage(child, 'started');
  raise(child.pid!, false);
  return {
    name: MINIMAL ? 'minimal dgram relay' : 'voxmesh',
    async setup(calls, peerA, peerB) {
      child.send({ type: 'setup', calls, peerA, peerB });
      return (await nextMessage<{ ports: [number, number][] }>(child, 'ready')).ports;
    },
    mark() {
      child.send({ type: 'mark' });
    },
    async sample() {
      child.send({ type: 'sample' });
      return nextMessage<TargetSample & { type: string }>(child, 'sample');
    },
    async teardown() {
      child.send({ type: 'teardown' });
      await nextMessage(child, 'done');
    },
    async close() {
      child.send({ type: 'exit' });
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  };
}

// --- rtpengine over its ng control protocol (bencoded dictionaries over UDP) ---

function bencode(value: unknown): Buffer {
  if (typeof value === 'string')
    return Buffer.concat([Buffer.from(`${Buffer.byteLength(value)}:`), Buffer.from(value)]);
  if (typeof value === 'number') return Buffer.from(`i${Math.trunc(value)}e`);
  if (Array.isArray(value))
    return Buffer.concat([Buffer.from('l'), ...value.map(bencode), Buffer.from('e')]);
  const entries = Object.entries(value as Record<string, unknown>).sort(([x], [y]) =>
    x < y ? -1 : 1,
  );
  return Buffer.concat([
    Buffer.from('d'),
    ...entries.flatMap(([k, v]) => [bencode(k), bencode(v)]),
    Buffer.from('e'),
  ]);
}

function bdecode(buf: Buffer, at = 0): [unknown, number] {
  const c = String.fromCharCode(buf[at]!);
  if (c === 'i') {
    const end = buf.indexOf(0x65, at);
    return [Number(buf.subarray(at + 1, end).toString()), end + 1];
  }
  if (c === 'l' || c === 'd') {
    const items: unknown[] = [];
    let p = at + 1;
    while (buf[p] !== 0x65) {
      const [v, n] = bdecode(buf, p);
      items.push(v);
      p = n;
    }
    if (c === 'l') return [items, p + 1];
    const obj: Record<string, unknown> = {};
    for (let i = 0; i < items.length; i += 2) obj[items[i] as string] = items[i + 1];
    return [obj, p + 1];
  }
  const colon = buf.indexOf(0x3a, at);
  const len = Number(buf.subarray(at, colon).toString());
  return [buf.subarray(colon + 1, colon + 1 + len).toString(), colon + 1 + len];
}

function procCpuUs(pid: number): number {
  // /proc/<pid>/stat fields 14 and 15: utime and stime in clock ticks.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks / 100) * 1e6;
}

async function rtpengineTarget(): Promise<Target | undefined> {
  if (spawnSync('which', ['rtpengine']).status !== 0) return undefined;
  const control = await bindSocket();
  const ngPort = 22000 + Math.floor(Math.random() * 1000);
  const child = pinned(
    RELAY_CORE,
    'rtpengine',
    [
      '--foreground',
      '--log-stderr',
      '--log-level=2',
      '--table=-1',
      '--num-threads=1',
      '--interface=127.0.0.1',
      `--listen-ng=127.0.0.1:${ngPort}`,
      '--port-min=40000',
      '--port-max=59999',
      '--delete-delay=0',
    ],
    'quiet',
  );
  const pending = new Map<string, (reply: Record<string, unknown>) => void>();
  control.on('message', (msg) => {
    const space = msg.indexOf(0x20);
    const cookie = msg.subarray(0, space).toString();
    const [reply] = bdecode(msg, space + 1);
    pending.get(cookie)?.(reply as Record<string, unknown>);
    pending.delete(cookie);
  });
  let cookieN = 0;
  const ng = (command: Record<string, unknown>): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const cookie = `c${cookieN++}`;
      const timer = setTimeout(
        () => reject(new Error(`rtpengine: no reply to ${String(command.command)}`)),
        2000,
      );
      pending.set(cookie, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      control.send(
        Buffer.concat([Buffer.from(`${cookie} `), bencode(command)]),
        ngPort,
        '127.0.0.1',
      );
    });
  // Wait until it answers pings.
  for (let i = 0; ; i++) {
    try {
      await ng({ command: 'ping' });
      break;
    } catch (error) {
      if (i > 10 || child.exitCode !== null) {
        control.close();
        child.kill();
        console.error('rtpengine did not start:', String(error));
        return undefined;
      }
    }
  }
  raise(child.pid!, true);
  const sdp = (port: number) =>
    [
      'v=0',
      'o=bench 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${port} RTP/AVP 0`,
      'a=rtpmap:0 PCMU/8000',
      'a=sendrecv',
      '',
    ].join('\r\n');
  const portOf = (text: unknown): number => Number(/m=audio (\d+)/.exec(String(text))?.[1]);
  let calls: string[] = [];
  let mark = 0;
  return {
    name: 'rtpengine',
    async setup(n, peerA, peerB) {
      const ports: [number, number][] = [];
      for (let i = 0; i < n; i++) {
        const id = `call-${Math.random()}`;
        calls.push(id);
        const offer = await ng({
          command: 'offer',
          'call-id': id,
          'from-tag': 'a',
          sdp: sdp(peerA),
          replace: ['origin'],
        });
        const answer = await ng({
          command: 'answer',
          'call-id': id,
          'from-tag': 'a',
          'to-tag': 'b',
          sdp: sdp(peerB),
        });
        ports.push([portOf(answer.sdp), portOf(offer.sdp)]);
      }
      return ports;
    },
    mark() {
      mark = procCpuUs(child.pid!);
    },
    sample() {
      return Promise.resolve({ cpuUs: procCpuUs(child.pid!) - mark });
    },
    async teardown() {
      for (const id of calls) await ng({ command: 'delete', 'call-id': id });
      calls = [];
    },
    async close() {
      control.close();
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  };
}

async function runStep(target: Target, generator: Generator, calls: number): Promise<StepResult> {
  using _watchdog = watchdog(WARMUP_MS + STEP_SECONDS * 1000 + 60_000);
  const ports = await target.setup(calls, generator.portA, generator.portB);
  const relayPorts = new Set(ports.flat());
  const generatorPorts = new Set([generator.portA, generator.portB]);
  const relayDrops0 = udpDrops(relayPorts);
  const generatorDrops0 = udpDrops(generatorPorts);
  const g = await generator.run(ports, TIMING, () => {
    target.mark();
  });
  const sample = await target.sample();
  const relayDrops = udpDrops(relayPorts) - relayDrops0;
  const generatorDrops = udpDrops(generatorPorts) - generatorDrops0;
  await target.teardown();
  const round = (n: number, digits = 3) => Number(n.toFixed(digits));
  const windowMs = STEP_SECONDS * 1000 + DRAIN_MS;
  return {
    calls,
    lossPercent: round(g.sent === 0 ? 100 : Math.max(0, ((g.sent - g.received) / g.sent) * 100)),
    p50LatencyMs: round(g.p50LatencyMs),
    p99LatencyMs: round(g.p99LatencyMs),
    maxLatencyMs: round(g.maxLatencyMs),
    cpuUsPerPacket: round(sample.cpuUs / Math.max(1, g.received), 2),
    cpuPercent: round((sample.cpuUs / 1000 / windowMs) * 100, 1),
    relayDrops,
    generatorDrops,
    loopLagP99Ms: sample.loopLagP99Ms ?? null,
    loopLagMaxMs: sample.loopLagMaxMs ?? null,
    gcMaxMs: sample.gcMaxMs ?? null,
    generatorLagP99Ms: round(g.generatorLagP99Ms),
    generatorLagMaxMs: round(g.generatorLagMaxMs),
    generatorCpuPercent: round(g.generatorCpuPercent, 1),
    loadAverage: round(loadavg()[0] ?? 0, 2),
  };
}

const passes = (r: StepResult) => r.lossPercent === 0 && r.p99LatencyMs <= 5;

async function measure(
  target: Target,
  generator: Generator,
): Promise<{ best: StepResult | undefined; steps: StepResult[] }> {
  const steps: StepResult[] = [];
  try {
    // An unreported first step: a freshly started relay (either) shows
    // start-up stalls in its first second of traffic.
    await runStep(target, generator, STEPS[0] ?? 100);
    for (const calls of STEPS) {
      const r = await runStep(target, generator, calls);
      steps.push(r);
      const lag =
        r.loopLagP99Ms === null
          ? ''
          : `, loop lag p99 ${r.loopLagP99Ms} max ${r.loopLagMaxMs} ms, GC max ${r.gcMaxMs} ms`;
      console.error(
        `${target.name}: ${calls} calls → loss ${r.lossPercent} % (drops: relay ${r.relayDrops}, generator ${r.generatorDrops}), ` +
          `latency p50 ${r.p50LatencyMs} p99 ${r.p99LatencyMs} max ${r.maxLatencyMs} ms; ` +
          `relay ${r.cpuUsPerPacket} µs CPU/packet, ${r.cpuPercent} % of its core${lag}; ` +
          `generator lag p99 ${r.generatorLagP99Ms} max ${r.generatorLagMaxMs} ms, CPU ${r.generatorCpuPercent} %; load ${r.loadAverage}` +
          (passes(r) ? '' : '  FAIL'),
      );
      // One failing step can be a stall of the machine; two in a row end the run.
      if (!passes(r) && !KEEP_GOING && steps.length > 1 && !passes(steps.at(-2)!)) break;
    }
  } finally {
    await target.close();
  }
  return { best: steps.filter(passes).at(-1), steps };
}

const generator = GENERATOR === 'c' ? await cGenerator() : await nodeGenerator();
console.error(
  `generator: ${generator.name}; relay on core ${RELAY_CORE}, generator on core ${GENERATOR_CORE}`,
);
let ours: Awaited<ReturnType<typeof measure>>;
let theirs: Awaited<ReturnType<typeof measure>> | undefined;
try {
  ours = await measure(await voxmeshTarget(), generator);
  const engine = WITH_RTPENGINE ? await rtpengineTarget() : undefined;
  theirs = engine ? await measure(engine, generator) : undefined;
} finally {
  await generator.close();
}
// CPU per packet from the steps with enough load to amortise wake-ups (the
// two highest passing steps, else all).
const cpuPerPacket = (steps: StepResult[]) => {
  const valid = steps.filter((s) => Number.isFinite(s.cpuUsPerPacket) && s.cpuUsPerPacket > 0);
  const passing = valid.filter(passes).slice(-2);
  const use = passing.length ? passing : valid;
  return use.length ? use.reduce((n, s) => n + s.cpuUsPerPacket, 0) / use.length : null;
};
const oursCpu = cpuPerPacket(ours.steps);
const theirsCpu = theirs ? cpuPerPacket(theirs.steps) : null;
console.log(
  JSON.stringify({
    callsPerCore: ours.best?.calls ?? 0,
    p99LatencyMs: ours.best?.p99LatencyMs ?? null,
    lossPercent: ours.best?.lossPercent ?? null,
    ratioVsRtpengine:
      theirs === undefined
        ? null
        : theirs.best
          ? Number(((ours.best?.calls ?? 0) / theirs.best.calls).toFixed(2))
          : null,
    rtpengineCallsPerCore: theirs === undefined ? null : (theirs.best?.calls ?? 0),
    cpuUsPerPacket: oursCpu === null ? null : Number(oursCpu.toFixed(2)),
    rtpengineCpuUsPerPacket: theirsCpu === null ? null : Number(theirsCpu.toFixed(2)),
    cpuRatioVsRtpengine: oursCpu && theirsCpu ? Number((theirsCpu / oursCpu).toFixed(2)) : null,
    // What one core could carry at the measured CPU cost (100 packets/s per call).
    cpuBoundCallsPerCore: oursCpu ? Math.floor(1e6 / (oursCpu * 100)) : null,
    rtpengineCpuBoundCallsPerCore: theirsCpu ? Math.floor(1e6 / (theirsCpu * 100)) : null,
    generator: GENERATOR,
    stepSeconds: STEP_SECONDS,
    loadAverage: loadavg()[0],
    steps: { voxmesh: ours.steps, rtpengine: theirs?.steps ?? null },
  }),
);
