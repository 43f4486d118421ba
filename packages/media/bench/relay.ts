// bench:media-relay — concurrent G.711 calls (50 packets/s each way) relayed
// on one core. The system under test — our InProcessMediaController in its
// own process, then Debian's rtpengine (userspace, no kernel module) in the
// same harness — is pinned to core 0; this process, the load generator, runs
// on core 1. It sends 20 ms packets spread evenly over each 20 ms, stamps each
// with its send time, and measures loss and latency through the relay. A step
// passes with 0 % loss and p99 latency ≤ 5 ms; the result is the highest
// passing call count. The relay's CPU time per packet is measured too (it
// holds up better than latency on a busy machine). Ends with one JSON line.
//
// Environment: STEPS (call counts, default 100,250,500,1000,1500,2000),
// STEP_SECONDS (default 4), RTPENGINE=0 to skip the comparison, WORKER_NODE_ARGS
// (extra Node flags for the relay process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`),
// RELAY_WORKER=minimal to measure the floor (a bare `dgram` relay,
// minimal-relay-worker.ts) in place of the InProcessMediaController.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const STEPS = (process.env.STEPS ?? '100,250,500,1000,1500,2000').split(',').map(Number);
const STEP_SECONDS = Number(process.env.STEP_SECONDS ?? 4);
const WITH_RTPENGINE = process.env.RTPENGINE !== '0';
const MINIMAL = process.env.RELAY_WORKER === 'minimal';
const WORKER_NODE_ARGS = (process.env.WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);

interface StepResult {
  calls: number;
  lossPercent: number;
  p99LatencyMs: number;
  cpuUsPerPacket: number;
}

interface Target {
  name: string;
  setup(calls: number, peerA: number, peerB: number): Promise<[toA: number, toB: number][]>;
  mark(): void;
  /** Tears the calls down; returns the CPU time (µs) used since mark(). */
  teardown(): Promise<number>;
  close(): Promise<void>;
}

function bindSocket(port = 0): Promise<Socket> {
  const s = createSocket({
    type: 'udp4',
    recvBufferSize: 8 * 1024 * 1024,
    sendBufferSize: 8 * 1024 * 1024,
  });
  return new Promise((resolve) => s.bind(port, '127.0.0.1', () => resolve(s)));
}

function pinned(core: number, command: string, args: string[], ipc: boolean): ChildProcess {
  const taskset = spawnSync('which', ['taskset']).status === 0;
  return spawn(
    taskset ? 'taskset' : command,
    taskset ? ['-c', String(core), command, ...args] : args,
    {
      stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'ignore', 'inherit'],
    },
  );
}

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

async function voxmeshTarget(): Promise<Target> {
  const worker = fileURLToPath(
    new URL(MINIMAL ? './minimal-relay-worker.ts' : './relay-worker.ts', import.meta.url),
  );
  const child = pinned(
    0,
    process.execPath,
    [...WORKER_NODE_ARGS, '--import', 'tsx', '--conditions=@voxmesh/source', worker],
    true,
  );
  await nextMessage(child, 'started');
  return {
    name: MINIMAL ? 'minimal dgram relay' : 'voxmesh',
    async setup(calls, peerA, peerB) {
      child.send({ type: 'setup', calls, peerA, peerB });
      return (await nextMessage<{ ports: [number, number][] }>(child, 'ready')).ports;
    },
    mark() {
      child.send({ type: 'mark' });
    },
    async teardown() {
      child.send({ type: 'teardown' });
      const done = await nextMessage<{ cpuUserUs: number; cpuSystemUs: number }>(child, 'done');
      return done.cpuUserUs + done.cpuSystemUs;
    },
    async close() {
      child.send({ type: 'exit' });
      await new Promise((r) => child.once('exit', r));
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
    0,
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
    false,
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
    async teardown() {
      const used = procCpuUs(child.pid!) - mark;
      for (const id of calls) await ng({ command: 'delete', 'call-id': id });
      calls = [];
      return used;
    },
    async close() {
      control.close();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function runStep(target: Target, a: Socket, b: Socket, calls: number): Promise<StepResult> {
  const ports = await target.setup(calls, a.address().port, b.address().port);
  const latencies: number[] = [];
  let received = 0;
  let sent = 0;
  let measuring = false;
  const onMessage = (msg: Buffer) => {
    if (!measuring || msg.length < 20 || msg[1]! >= 200) return;
    received++;
    latencies.push(performance.now() - msg.readDoubleBE(12));
  };
  a.on('message', onMessage);
  b.on('message', onMessage);
  const packet = (seq: number) => {
    const p = Buffer.alloc(12 + 160, 0xff);
    p[0] = 0x80;
    p[1] = 0;
    p.writeUInt16BE(seq & 0xffff, 2);
    p.writeUInt32BE((seq * 160) >>> 0, 4);
    p.writeUInt32BE(0x12345678, 8);
    return p;
  };
  // Slots of 2 ms; each sends for a tenth of the calls. Slots missed while the
  // timer was late are sent at once, so the rate stays at 50 packets/s.
  const slots = 10;
  let nextSlot = 0;
  const start = performance.now();
  let stopAt = Infinity;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (!measuring && now - start > 1000) {
        measuring = true;
        target.mark();
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
        const seq = Math.floor(nextSlot / slots);
        for (let i = s; i < ports.length; i += slots) {
          const [toA, toB] = ports[i]!;
          const pa = packet(seq);
          pa.writeDoubleBE(performance.now(), 12);
          a.send(pa, toA, '127.0.0.1');
          const pb = packet(seq);
          pb.writeDoubleBE(performance.now(), 12);
          b.send(pb, toB, '127.0.0.1');
          if (measuring) sent += 2;
        }
      }
    }, 2);
  });
  const cpuUs = await target.teardown().catch(() => NaN);
  await new Promise((r) => setTimeout(r, 300));
  measuring = false;
  a.off('message', onMessage);
  b.off('message', onMessage);
  latencies.sort((x, y) => x - y);
  const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? Infinity;
  const lossPercent = sent === 0 ? 100 : Math.max(0, ((sent - received) / sent) * 100);
  return {
    calls,
    lossPercent: Number(lossPercent.toFixed(3)),
    p99LatencyMs: Number(p99.toFixed(3)),
    cpuUsPerPacket: Number((cpuUs / Math.max(1, received)).toFixed(2)),
  };
}

async function measure(
  target: Target,
): Promise<{ best: StepResult | undefined; steps: StepResult[] }> {
  const a = await bindSocket();
  const b = await bindSocket();
  const steps: StepResult[] = [];
  try {
    for (const calls of STEPS) {
      const r = await runStep(target, a, b, calls);
      steps.push(r);
      console.error(
        `${target.name}: ${calls} calls → loss ${r.lossPercent} %, p99 ${r.p99LatencyMs} ms, ${r.cpuUsPerPacket} µs CPU/packet`,
      );
      if (r.lossPercent > 0 || r.p99LatencyMs > 5) break;
    }
  } finally {
    a.close();
    b.close();
    await target.close();
  }
  return { best: steps.filter((r) => r.lossPercent === 0 && r.p99LatencyMs <= 5).at(-1), steps };
}

const ours = await measure(await voxmeshTarget());
const engine = WITH_RTPENGINE ? await rtpengineTarget() : undefined;
const theirs = engine ? await measure(engine) : undefined;
const cpuPerPacket = (steps: StepResult[]) => {
  const valid = steps.filter((s) => Number.isFinite(s.cpuUsPerPacket) && s.cpuUsPerPacket > 0);
  return valid.length ? valid.reduce((n, s) => n + s.cpuUsPerPacket, 0) / valid.length : null;
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
    rtpengineCallsPerCore: theirs?.best?.calls ?? null,
    cpuUsPerPacket: oursCpu === null ? null : Number(oursCpu.toFixed(2)),
    rtpengineCpuUsPerPacket: theirsCpu === null ? null : Number(theirsCpu.toFixed(2)),
    cpuRatioVsRtpengine: oursCpu && theirsCpu ? Number((theirsCpu / oursCpu).toFixed(2)) : null,
    // What one core could carry at the measured CPU cost (100 packets/s per call).
    cpuBoundCallsPerCore: oursCpu ? Math.floor(1e6 / (oursCpu * 100)) : null,
    loadAverage: (await import('node:os')).loadavg()[0],
    steps: { voxmesh: ours.steps, rtpengine: theirs?.steps ?? null },
  }),
);
