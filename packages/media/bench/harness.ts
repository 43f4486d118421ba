// What bench:media-relay and bench:media-ivr share: pinning and priority of
// the processes they spawn, a watchdog, kernel drop counters, and the C load
// generator (rtp-load.c).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const HAS_TASKSET = spawnSync('which', ['taskset']).status === 0;
export const HAS_CC = spawnSync('which', ['cc']).status === 0;
/** GENERATOR: `c` (rtp-load.c, the default when `cc` is found) or `node`. */
export const GENERATOR = process.env.GENERATOR ?? (HAS_CC ? 'c' : 'node');
/**
 * PRIORITY: `fifo` (the default as root) runs the generator and the system
 * under test's packet path SCHED_FIFO, so other work on a shared machine
 * does not show up as media latency (a normal or even niced process waits
 * milliseconds for its core there); `none` leaves priorities alone.
 */
export const PRIORITY =
  process.env.PRIORITY ??
  (process.getuid?.() === 0 && spawnSync('which', ['chrt']).status === 0 ? 'fifo' : 'none');
/** The core of the system under test, and the generator's. */
export const SUT_CORE = 0;
export const GENERATOR_CORE = 1;

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Spawns `command` pinned to `core` (taskset), optionally at real-time priority. */
export function pinned(
  core: number,
  command: string,
  args: string[],
  stdio: 'ipc' | 'pipe' | 'quiet',
  realtime = false,
): ChildProcess {
  const prefix: string[] = [];
  if (realtime) prefix.push('chrt', '-f', '10');
  if (HAS_TASKSET) prefix.push('taskset', '-c', String(core));
  const [file, ...rest] = [...prefix, command, ...args] as [string, ...string[]];
  const child = spawn(file, rest, {
    stdio:
      stdio === 'ipc'
        ? ['ignore', 'inherit', 'inherit', 'ipc']
        : stdio === 'pipe'
          ? ['pipe', 'pipe', 'inherit']
          : ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/**
 * Raises a running system under test to SCHED_FIFO (PRIORITY=fifo): only its
 * main thread (`allThreads` false: Node's helper threads, and the transpiler
 * process tsx starts, stay normal — a real-time thread spinning for one of
 * them on the same core would wait forever), or every thread (rtpengine's
 * worker, poller and timer threads). The kernel keeps 5 % of the core for
 * everything else (kernel.sched_rt_runtime_us).
 */
export function raise(pid: number, allThreads: boolean): void {
  if (PRIORITY !== 'fifo') return;
  const r = spawnSync('chrt', [...(allThreads ? ['-a'] : []), '-f', '-p', '10', String(pid)]);
  if (r.status !== 0) console.error(`chrt failed: ${r.stderr.toString().trim()}`);
}

/**
 * Bundles a worker (TypeScript, workspace sources) into one plain JavaScript
 * file and returns its path, so the system under test runs on bare Node:
 * under `--import tsx` a process also carries tsx's module-hooks thread and
 * an esbuild service process, and with its event loop at real-time priority
 * those showed up as 30–60 ms stalls. esbuild is tsx's own dependency.
 */
export function bundleWorker(entry: URL): string {
  const esbuild = createRequire(createRequire(import.meta.url).resolve('tsx'))('esbuild') as {
    buildSync(options: Record<string, unknown>): unknown;
  };
  const source = fileURLToPath(entry);
  const outfile = join(
    tmpdir(),
    `voxmesh-${createHash('sha256').update(source).digest('hex').slice(0, 8)}-${process.pid}.mjs`,
  );
  esbuild.buildSync({
    entryPoints: [source],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@voxmesh/source'],
    outfile,
    logLevel: 'error',
    // Bundled CommonJS dependencies require() Node's built-in modules.
    banner: {
      js: "import { createRequire as __voxmeshRequire } from 'node:module'; const require = __voxmeshRequire(import.meta.url);",
    },
  });
  bundles.add(outfile);
  return outfile;
}
const bundles = new Set<string>();
process.on('exit', () => {
  for (const file of bundles) rmSync(file, { force: true });
});

/** Kills every child and exits when a step hangs (a starved or stuck process). */
export function watchdog(ms: number): { [Symbol.dispose](): void } {
  const timer = setTimeout(() => {
    console.error(`a benchmark step took over ${ms} ms; killing its processes`);
    for (const child of children) child.kill('SIGKILL');
    process.exit(2);
  }, ms);
  return { [Symbol.dispose]: () => clearTimeout(timer) };
}

/** The next IPC message of `type` from `child`; rejects if it exits first. */
export function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      child.off('message', on);
      child.off('exit', onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null) => {
      child.off('message', on);
      reject(new Error(`the process exited (${code}) before '${type}'`));
    };
    child.on('message', on);
    child.once('exit', onExit);
  });
}

/** Datagrams the kernel dropped at the UDP sockets bound to `ports` (127.0.0.1), from /proc/net/udp. */
export function udpDrops(ports: Set<number>): number {
  let text: string;
  try {
    text = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return NaN;
  }
  let drops = 0;
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (local === undefined || fields.length < 13) continue;
    const port = parseInt(local.slice(local.indexOf(':') + 1), 16);
    if (ports.has(port)) drops += Number(fields[12]);
  }
  return drops;
}

/** What the generator measured in one step. */
export interface GeneratorResult {
  sent: number;
  received: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  maxLatencyMs: number;
  /** How late the generator sent its 1–2 ms slots (its own lag). */
  generatorLagP99Ms: number;
  generatorLagMaxMs: number;
  generatorCpuPercent: number;
  /** Tone mode: in-band digits sent (each with time to be detected). */
  digitsSent?: number;
}

export interface Generator {
  readonly name: string;
  readonly portA: number;
  readonly portB: number;
  /**
   * Sends to `ports` (0: nothing that way) for `warmupMs` + `measureMs`,
   * calling `onMeasuring` when measuring starts; counts what comes back for
   * `drainMs` more.
   */
  run(
    ports: [toA: number, toB: number][],
    timing: { warmupMs: number; measureMs: number; drainMs: number; tone?: boolean },
    onMeasuring: () => void,
  ): Promise<GeneratorResult>;
  close(): Promise<void>;
}

/** Compiles (once per source version) and starts rtp-load.c pinned to the generator core. */
export async function cGenerator(): Promise<Generator> {
  const source = fileURLToPath(new URL('./rtp-load.c', import.meta.url));
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
  const binary = join(tmpdir(), `voxmesh-rtp-load-${hash}`);
  if (!existsSync(binary)) {
    const cc = spawnSync('cc', ['-O2', '-o', binary, source, '-lm'], { stdio: 'inherit' });
    if (cc.status !== 0) throw new Error('could not compile rtp-load.c (set GENERATOR=node)');
  }
  const child = pinned(GENERATOR_CORE, binary, [], 'pipe', PRIORITY === 'fifo');
  const lines = createInterface({ input: child.stdout! });
  const queue: string[] = [];
  const waiters: { resolve(line: string): void; reject(error: Error): void }[] = [];
  lines.on('line', (line) => {
    const w = waiters.shift();
    if (w) w.resolve(line);
    else queue.push(line);
  });
  child.once('exit', (code) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`rtp-load exited (${code})`));
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const queued = queue.shift();
      if (queued !== undefined) resolve(queued);
      else if (child.exitCode !== null) reject(new Error(`rtp-load exited (${child.exitCode})`));
      else waiters.push({ resolve, reject });
    });
  const [, a, b] = (await nextLine()).split(' ');
  return {
    name: 'rtp-load (C, sendmmsg/recvmmsg)',
    portA: Number(a),
    portB: Number(b),
    async run(ports, timing, onMeasuring) {
      child.stdin!.write(
        `run ${ports.length} ${timing.warmupMs} ${timing.measureMs} ${timing.drainMs}${timing.tone ? ' tone' : ''}\n` +
          ports.map(([x, y]) => `${x} ${y}\n`).join(''),
      );
      const timer = setTimeout(onMeasuring, timing.warmupMs);
      try {
        return JSON.parse(await nextLine()) as GeneratorResult;
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      child.stdin!.end('exit\n');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  };
}
