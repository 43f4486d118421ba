// bench:configdb — acknowledged writes/s on one replica (classic-level),
// replication lag across three replicas over TCP on loopback, update delivery
// to 1,000 listeners, and Debian etcd-server (single node, loopback) on the
// same write workload. Ends with one JSON line.
//
//   npm run bench:configdb
//   CONFIGDB_BENCH_WRITES=50000 npm run bench:configdb

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigReplica, ConfigServer, RemoteConfigClient, TcpTransport } from '@voxmesh/configdb';

const WRITES = Number(process.env.CONFIGDB_BENCH_WRITES ?? 100_000);
const HTTP_WRITES = Math.min(WRITES, 20_000);
const IN_FLIGHT = 256;
const HTTP_IN_FLIGHT = 32;
const dirs: string[] = [];

function dir(): string {
  const path = mkdtempSync(join(tmpdir(), 'configdb-bench-'));
  dirs.push(path);
  return path;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round((sorted[Math.max(0, index)] as number) * 100) / 100;
}

/** Runs `count` writes with `IN_FLIGHT` outstanding; returns acknowledged writes/s. */
async function writeLoad(
  count: number,
  write: (i: number) => Promise<unknown>,
  inFlight = IN_FLIGHT,
): Promise<number> {
  const start = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await write(i);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return Math.round(count / ((performance.now() - start) / 1000));
}

const value = (i: number) => ({
  name: `user ${i}`,
  extension: String(1000 + (i % 9000)),
  enabled: true,
});

async function benchWrites(): Promise<{ embedded: number; http: number }> {
  const replica = new ConfigReplica({ id: 'bench', location: dir() });
  await replica.start();
  const embedded = await writeLoad(WRITES, (i) =>
    replica.put(`tenants/t${i % 100}/users/${i}`, value(i)),
  );
  const server = new ConfigServer({ backend: replica });
  await server.start();
  const client = new RemoteConfigClient({ urls: [server.url] });
  console.error(`embedded: ${embedded} acknowledged writes/s`);
  const http = await writeLoad(
    HTTP_WRITES,
    (i) => client.put(`tenants/t${i % 100}/users/h${i}`, value(i)),
    HTTP_IN_FLIGHT,
  );
  console.error(`over HTTP: ${http} acknowledged writes/s`);
  await server.stop();
  await replica.stop();
  return { embedded, http };
}

async function benchReplication(): Promise<{ p50: number; p99: number; samples: number }> {
  const ids = ['a', 'b', 'c'];
  const secret = 'bench-secret-0123456789abcdef';
  const transports = ids.map(
    (id) =>
      new TcpTransport({ id, secret, peers: ids.filter((p) => p !== id).map((p) => ({ id: p })) }),
  );
  const replicas = ids.map(
    (id, i) =>
      new ConfigReplica({
        id,
        location: dir(),
        transport: transports[i],
        antiEntropyIntervalMs: 200,
      }),
  );
  for (const r of replicas) await r.start();
  for (const [i, t] of transports.entries()) {
    for (const [j, other] of transports.entries()) {
      if (i !== j) t.setPeerAddress(ids[j] as string, other.address());
    }
  }
  // Wait until the links are up (a write replicates).
  await replicas[0]!.put('warmup', 1);
  for (let i = 0; i < 500 && (await replicas[2]!.get('warmup')) !== 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const sent = new Map<string, number>();
  const lags: number[] = [];
  const controller = new AbortController();
  const follow = async (replica: ConfigReplica): Promise<void> => {
    try {
      for await (const e of replica.changes({ prefix: 'lag/', signal: controller.signal })) {
        if (e.type !== 'change') continue;
        const t0 = sent.get(e.key);
        if (t0 !== undefined) lags.push(performance.now() - t0);
      }
    } catch {
      // aborted
    }
  };
  const followers = [follow(replicas[1]!), follow(replicas[2]!)];
  const total = 5_000;
  // Writes at replica a (about 5,000/s); lag = write issued → change seen at b and at c.
  for (let i = 0; i < total; i++) {
    const key = `lag/${i}`;
    sent.set(key, performance.now());
    void replicas[0]!.put(key, i);
    if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  for (let i = 0; i < 1000 && lags.length < total * 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  controller.abort();
  await Promise.all(followers);
  for (const r of replicas) await r.stop();
  return { p50: percentile(lags, 50), p99: percentile(lags, 99), samples: lags.length };
}

async function benchListeners(): Promise<{ p50: number; p99: number; deliveries: number }> {
  const replica = new ConfigReplica({ id: 'listen', location: dir() });
  await replica.start();
  const controller = new AbortController();
  // One signal shared by the 1,000 listeners.
  setMaxListeners(2000, controller.signal);
  const delays: number[] = [];
  const sent = new Map<string, number>();
  const listeners = Array.from({ length: 1000 }, async () => {
    try {
      for await (const e of replica.changes({ signal: controller.signal })) {
        if (e.type !== 'change') continue;
        const t0 = sent.get(e.key);
        if (t0 !== undefined) delays.push(performance.now() - t0);
      }
    } catch {
      // aborted
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const updates = 200;
  for (let i = 0; i < updates; i++) {
    const key = `tenants/t1/users/${i}`;
    sent.set(key, performance.now());
    await replica.put(key, value(i));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  for (let i = 0; i < 500 && delays.length < updates * 1000; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  controller.abort();
  await Promise.all(listeners);
  await replica.stop();
  return { p50: percentile(delays, 50), p99: percentile(delays, 99), deliveries: delays.length };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

async function benchEtcd(): Promise<{ writesPerSecond: number } | { error: string }> {
  if (spawnSync('etcd', ['--version']).status !== 0) {
    return { error: 'etcd not installed (apt-get install etcd-server)' };
  }
  const clientPort = await freePort();
  const peerPort = await freePort();
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const etcd: ChildProcess = spawn(
    'etcd',
    [
      '--data-dir',
      dir(),
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `default=${peer}`,
      '--log-level',
      'error',
    ],
    { stdio: 'ignore' },
  );
  try {
    let ready = false;
    for (let i = 0; i < 200 && !ready; i++) {
      ready = await fetch(`${client}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!ready) return { error: 'etcd did not become healthy' };
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    // The same acknowledged writes through etcd's JSON gateway (HTTP/1.1, like ConfigServer).
    const writesPerSecond = await writeLoad(
      HTTP_WRITES,
      async (i) => {
        const response = await fetch(`${client}/v3/kv/put`, {
          method: 'POST',
          body: JSON.stringify({
            key: b64(`tenants/t${i % 100}/users/${i}`),
            value: b64(JSON.stringify(value(i))),
          }),
        });
        if (!response.ok) throw new Error(`etcd put failed: ${response.status}`);
        await response.arrayBuffer();
      },
      HTTP_IN_FLIGHT,
    );
    return { writesPerSecond };
  } finally {
    etcd.kill('SIGKILL');
  }
}

try {
  const writes = await benchWrites();
  const replication = await benchReplication();
  const listeners = await benchListeners();
  const etcd = await benchEtcd();
  const etcdWrites = 'writesPerSecond' in etcd ? etcd.writesPerSecond : undefined;
  console.log(
    JSON.stringify({
      writesPerSecond: writes.embedded,
      writesPerSecondHttp: writes.http,
      replicationLagP50Ms: replication.p50,
      replicationLagP99Ms: replication.p99,
      replicationSamples: replication.samples,
      listenerP50Ms: listeners.p50,
      listenerP99Ms: listeners.p99,
      listenerDeliveries: listeners.deliveries,
      etcdWritesPerSecondHttp: etcdWrites ?? null,
      ratioVsEtcd: etcdWrites ? Math.round((writes.embedded / etcdWrites) * 100) / 100 : null,
      ratioVsEtcdHttp: etcdWrites ? Math.round((writes.http / etcdWrites) * 100) / 100 : null,
      ...('error' in etcd ? { etcdError: etcd.error } : {}),
    }),
  );
} finally {
  for (const path of dirs) rmSync(path, { recursive: true, force: true });
}
