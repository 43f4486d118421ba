// Three replica processes on loopback, every link through a proxy that the
// test cuts and heals; one replica is killed with SIGKILL during writes and
// restarted on its data. All must converge and keep every acknowledged write.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compareStamps, type StoredEntry, type VersionVector } from '../src/index.js';
import { tempDir } from './helpers.js';
import { LinkProxy } from './tcp-proxy.js';

const IDS = ['a', 'b', 'c'] as const;
type Id = (typeof IDS)[number];
const fixture = fileURLToPath(new URL('./fixtures/replica-process.ts', import.meta.url));
const secret = 'multi-process-test-secret-0123456789';

interface Replica {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
  pending: Map<number, (message: Record<string, unknown>) => void>;
}

const dirs = Object.fromEntries(IDS.map((id) => [id, tempDir(`configdb-mp-${id}-`)])) as Record<
  Id,
  { path: string; remove(): void }
>;
const replicas = new Map<Id, Replica>();
// proxies[from][to]: the link from `from` to `to`.
const proxies = new Map<string, LinkProxy>();
let req = 0;

afterAll(async () => {
  for (const r of replicas.values()) r.child.kill('SIGKILL');
  await Promise.all([...replicas.values()].map((r) => r.exited));
  for (const p of proxies.values()) await p.close();
  for (const d of Object.values(dirs)) d.remove();
});

async function launch(id: Id): Promise<Replica> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=@voxmesh/source',
      fixture,
      JSON.stringify({ id, dir: dirs[id].path, secret, peers: IDS.filter((p) => p !== id) }),
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const pending = new Map<number, (message: Record<string, unknown>) => void>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`replica ${id} exited (${code}) before listening`)),
    );
    child.on('message', (message: Record<string, unknown>) => {
      if (message.type === 'listening') resolve(message.port as number);
      else pending.get(message.req as number)?.(message);
    });
  });
  const replica = { child, port, exited, pending };
  replicas.set(id, replica);
  for (const from of IDS) {
    if (from !== id) proxies.get(`${from}>${id}`)!.targetPort = port;
  }
  const ports = Object.fromEntries(
    IDS.filter((to) => to !== id).map((to) => [to, proxyPorts.get(`${id}>${to}`)!]),
  );
  child.send({ type: 'peers', ports });
  return replica;
}

const proxyPorts = new Map<string, number>();

function request(id: Id, command: Record<string, unknown>, timeoutMs = 15_000) {
  const replica = replicas.get(id)!;
  const n = ++req;
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      replica.pending.delete(n);
      reject(new Error(`replica ${id} did not answer ${String(command.type)}`));
    }, timeoutMs);
    replica.pending.set(n, (message) => {
      clearTimeout(timer);
      replica.pending.delete(n);
      resolve(message);
    });
    replica.exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`replica ${id} exited`));
    }, reject);
    replica.child.send({ ...command, req: n });
  });
}

interface Acked {
  key: string;
  l: number;
  c: number;
  o: string;
}

describe('three replica processes over TCP', () => {
  it('converge through cut links and a SIGKILL with no acknowledged write lost', async () => {
    for (const from of IDS) {
      for (const to of IDS) {
        if (from === to) continue;
        const proxy = new LinkProxy(0);
        proxies.set(`${from}>${to}`, proxy);
        proxyPorts.set(`${from}>${to}`, await proxy.listen());
      }
    }
    for (const id of IDS) await launch(id);

    const acked: Acked[] = [];
    let alive: Record<Id, boolean> = { a: true, b: true, c: true };
    const write = async (i: number): Promise<void> => {
      const candidates = IDS.filter((id) => alive[id]);
      const id = candidates[i % candidates.length]!;
      const key = `k${i % 17}`;
      try {
        const reply = await request(id, { type: 'put', key, value: `${id}-${i}` });
        if (reply.type === 'ack') {
          const r = reply.result as { l: number; c: number; origin: string };
          acked.push({ key, l: r.l, c: r.c, o: r.origin });
        }
      } catch {
        // The replica died with the write in flight: not acknowledged.
      }
    };

    let i = 0;
    const batch = async (n: number): Promise<void> => {
      const writes: Promise<void>[] = [];
      for (let j = 0; j < n; j++) writes.push(write(i++));
      await Promise.all(writes);
    };
    await batch(60);
    // Partition c from the others.
    for (const key of ['a>c', 'c>a', 'b>c', 'c>b']) proxies.get(key)!.cut();
    await batch(60);
    // Kill b with writes in flight, keep writing, then restart it on its data.
    const inFlight = batch(60);
    await new Promise((resolve) => setTimeout(resolve, 20));
    replicas.get('b')!.child.kill('SIGKILL');
    alive = { ...alive, b: false };
    await replicas.get('b')!.exited;
    await inFlight;
    await batch(40);
    for (const p of proxies.values()) p.heal();
    await launch('b');
    alive = { a: true, b: true, c: true };
    await batch(40);

    // Converge: identical version vectors and entries everywhere.
    type State = { vv: VersionVector; entries: [string, StoredEntry][] };
    let states: State[] = [];
    const deadline = Date.now() + 45_000;
    for (;;) {
      states = (await Promise.all(
        IDS.map((id) => request(id, { type: 'state' })),
      )) as unknown as State[];
      for (const s of states) s.entries.sort(([x], [y]) => (x < y ? -1 : 1));
      const same = states.every(
        (s) =>
          JSON.stringify(sorted(s.vv)) === JSON.stringify(sorted(states[0]!.vv)) &&
          JSON.stringify(s.entries) === JSON.stringify(states[0]!.entries),
      );
      if (same) break;
      if (Date.now() > deadline) {
        throw new Error(`no convergence: ${JSON.stringify(states.map((s) => s.vv))}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(acked.length).toBeGreaterThan(150);
    const final = new Map(states[0]!.entries);
    for (const w of acked) {
      const entry = final.get(w.key);
      expect(entry, `acknowledged write of ${w.key} missing`).toBeDefined();
      expect(
        compareStamps(entry!, w),
        `acknowledged write of ${w.key} lost`,
      ).toBeGreaterThanOrEqual(0);
    }
  }, 120_000);
});

function sorted(vv: VersionVector): [string, number][] {
  return Object.entries(vv).sort(([x], [y]) => (x < y ? -1 : 1));
}
