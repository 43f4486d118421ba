// The parent side of the B2BUA app process (./b2bua-app.ts): forks it with tsx
// on the workspace's TypeScript sources, waits for its listening port, and
// asks it over IPC for its memory, CPU time and call counts.
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const APP = fileURLToPath(new URL('./b2bua-app.ts', import.meta.url));

/** What the app reports about itself. */
export interface AppStats {
  rssBytes: number;
  heapUsedBytes: number;
  /** User + system CPU time since it started, µs. */
  cpuMicros: number;
  /** Calls (A and B legs) the user agent holds. */
  calls: number;
  /** Bridges in progress. */
  bridges: number;
  /** Bridges answered, and failed, since it started. */
  answered: number;
  failed: number;
}

/** A forked B2BUA app. */
export interface AppProcess {
  readonly port: number;
  readonly child: ChildProcess;
  stats(options?: { gc?: boolean }): Promise<AppStats>;
  stop(): Promise<void>;
}

/** Options of {@link forkB2buaApp}. */
export interface ForkOptions {
  /** Where every INVITE is bridged. */
  uas: { host: string; port: number };
  /** Its UDP port. @defaultValue ephemeral */
  port?: number;
  /** Time allowed to start. @defaultValue 30 s */
  timeoutMs?: number;
  /** More Node options (e.g. `--cpu-prof`). @defaultValue none */
  nodeArgs?: readonly string[];
}

/** Forks the app in its own Node process, so its CPU and memory are its own. */
export async function forkB2buaApp(options: ForkOptions): Promise<AppProcess> {
  const require = createRequire(import.meta.url);
  const tsx = require.resolve('tsx');
  const child = fork(APP, [JSON.stringify({ uas: options.uas, port: options.port ?? 0 })], {
    execArgv: [
      '--import',
      tsx,
      '--conditions=@voxmesh/source',
      '--expose-gc',
      ...(options.nodeArgs ?? []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 1;
  const pending = new Map<number, (stats: AppStats) => void>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the B2BUA app did not start in time'));
    }, options.timeoutMs ?? 30_000);
    child.on(
      'message',
      (message: { type: string; id?: number; port?: number; stats?: AppStats }) => {
        if (message.type === 'ready' && message.port !== undefined) {
          clearTimeout(timer);
          resolve(message.port);
        } else if (message.type === 'stats' && message.id !== undefined && message.stats) {
          pending.get(message.id)?.(message.stats);
          pending.delete(message.id);
        }
      },
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the B2BUA app exited with code ${code} before it was ready`));
    });
  });
  const port = await ready;
  return {
    port,
    child,
    stats({ gc = false } = {}) {
      const id = nextId++;
      return new Promise<AppStats>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error('the B2BUA app did not answer a stats request'));
        }, 10_000);
        pending.set(id, (stats) => {
          clearTimeout(timer);
          resolve(stats);
        });
        child.send({ type: 'stats', id, gc });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
