// Real peers on loopback for the integration tests and the sip-cps benchmark:
// free ports, long-running peer processes that are always killed, one-shot
// peer runs with a bound on their time, and SIPp's result files.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';

export type PeerProtocol = 'UDP' | 'TCP';

/** A port free for both UDP and TCP on 127.0.0.1 (bound, read and released). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
    });
    if (udpFree && port !== 0) return port;
  }
  throw new Error('no free port on 127.0.0.1');
}

/** Whether something holds `port` on 127.0.0.1 for `protocol` (binding it fails). */
async function inUse(protocol: PeerProtocol, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    if (protocol === 'UDP') {
      const socket = createSocket('udp4');
      socket.once('error', () => {
        socket.close();
        resolve(true);
      });
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(false)));
    } else {
      const server = createServer();
      server.once('error', () => resolve(true));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(false)));
    }
  });
}

/** Resolves once a peer has bound `port`; fails after `timeoutMs` (or when `exited` settles first). */
export async function waitForBound(
  protocol: PeerProtocol,
  port: number,
  options: { timeoutMs?: number; exited?: Promise<unknown> } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let gone = false;
  void options.exited?.then(() => (gone = true));
  while (Date.now() < deadline) {
    if (gone) throw new Error(`the peer exited before binding ${protocol} port ${port}`);
    if (await inUse(protocol, port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing bound ${protocol} port ${port} within the time allowed`);
}

/** Fails with a readable message when a peer binary is not installed (CI installs it). */
export function requireBinary(command: string, versionArgs: string[] = ['-v']): string {
  const result = spawnSync(command, versionArgs, { encoding: 'utf8', timeout: 10_000 });
  if (result.error !== undefined) {
    throw new Error(
      `${command} is not installed here (.ci/run installs it): ${result.error.message}`,
    );
  }
  return `${result.stdout}${result.stderr}`;
}

/** A peer process owned by a test or the benchmark. */
export interface Peer {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Settles when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Ends it (SIGTERM, then SIGKILL after `graceMs`) and waits for the exit. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Peer>();

/** Starts a peer; it is killed by {@link stopAllPeers} if not stopped before. */
export function startPeer(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; keepOutput?: number } = {},
): Peer {
  const child = spawn(command, args, {
    // Peers that write files (SIPp's traces) write them out of the way.
    cwd: options.cwd ?? tmpdir(),
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = options.keepOutput ?? 200_000;
  let output = '';
  const append = (d: Buffer): void => {
    output += d.toString();
    if (output.length > keep * 2) output = output.slice(-keep);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (error) => {
      spawnError = error;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const peer: Peer = {
    child,
    output: () => (spawnError ? `${command} could not run: ${spawnError.message}\n` : '') + output,
    exited,
    async stop(graceMs = 3_000) {
      if (child.exitCode === null && child.signalCode === null && spawnError === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      running.delete(peer);
    },
  };
  running.add(peer);
  void exited.then(() => running.delete(peer));
  return peer;
}

/** Kills every peer still running (for afterAll and the benchmark's exit). */
export async function stopAllPeers(): Promise<void> {
  await Promise.all([...running].map((peer) => peer.stop(1_000)));
}

/** Runs a peer to completion, killed after `timeoutMs`; the exit code and output. */
export async function runPeer(
  command: string,
  args: readonly string[],
  options: {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    timeoutMs: number;
    /** Ends the peer (SIGTERM) once this resolves. */
    stopWhen?: Promise<void>;
  },
): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  const peer = startPeer(command, args, options);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void peer.stop(500);
  }, options.timeoutMs);
  void options.stopWhen?.then(() => peer.stop(1_000));
  const { code } = await peer.exited;
  clearTimeout(timer);
  running.delete(peer);
  return { code, output: peer.output(), timedOut };
}

/** The common SIPp arguments of a test: loopback, no keyboard, bounded in time. */
export function sippArgs(options: {
  protocol?: PeerProtocol;
  port: number;
  /** Whole run bound, in seconds. @defaultValue 30 */
  timeoutS?: number;
}): string[] {
  return [
    '-i',
    '127.0.0.1',
    '-p',
    String(options.port),
    '-t',
    options.protocol === 'TCP' ? 't1' : 'u1',
    '-nostdin',
    '-timeout',
    `${options.timeoutS ?? 30}s`,
    '-timeout_error',
    '-recv_timeout',
    '15000',
  ];
}

/** SIPp's statistics file (`-trace_stat -stf <file>`): the last row, by column name. */
export async function readSippStats(file: string): Promise<Record<string, string>> {
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  const header = (lines[0] ?? '').split(';');
  const last = (lines[lines.length - 1] ?? '').split(';');
  const row: Record<string, string> = {};
  header.forEach((name, i) => {
    if (name !== '') row[name] = last[i] ?? '';
  });
  return row;
}

/** A counter of SIPp's statistics row as a number (0 when absent). */
export function sippCounter(stats: Record<string, string>, name: string): number {
  const value = Number(stats[name]);
  return Number.isFinite(value) ? value : 0;
}

/** SIPp's response times (`-trace_rtt`), in milliseconds, of response-time counter 1. */
export async function readSippRtt(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8');
  const times: number[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [, ms, rtd] = line.split(';');
    if (rtd?.trim() === '1' && ms !== undefined && ms !== '') times.push(Number(ms));
  }
  return times;
}

/** The `q`-quantile (0–1) of `values` (nearest rank); `NaN` when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/**
 * The total of SIPp's `Lost` column in its last scenario screen: how many
 * messages its `-lost` option dropped.
 */
export function sippLost(output: string): number {
  const lines = output.split('\n');
  let header = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/Messages\s+Retrans.*Lost/.test(lines[i] ?? '')) {
      header = i;
      break;
    }
  }
  if (header < 0) return 0;
  const column = (lines[header] ?? '').indexOf('Lost');
  let total = 0;
  for (const line of lines.slice(header + 1)) {
    if (!/-->|<--/.test(line)) {
      if (/Screen|Test Terminated/.test(line)) break;
      continue;
    }
    const cell = line.slice(column - 4, column + 6).trim();
    if (/^\d+$/.test(cell)) total += Number(cell);
  }
  return total;
}

/** SIPp's "Successful call" and "Failed call" totals from its final screen. */
export function sippTotals(output: string): { successful: number; failed: number } {
  const pick = (label: string): number => {
    const matches = [
      ...output.matchAll(new RegExp(`${label}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`, 'g')),
    ];
    const last = matches[matches.length - 1];
    return last ? Number(last[1]) : 0;
  };
  return { successful: pick('Successful call'), failed: pick('Failed call') };
}
