// A deterministic replication simulator and its checker.
//
// Three replicas on a seeded simulated network (drop, duplication, delay,
// reordering, partitions, clock skew), random writes and deletes on a few hot
// keys at random replicas, replicas that restart, listeners that disconnect,
// resume and get COMPACTED. At the end the network heals and the checker
// verifies convergence, that no acknowledged write was lost, and that every
// listener saw its cursor advance by exactly one and ends equal to its replica.

import { MemoryLevel } from 'memory-level';
import { FakeClock, VoxmeshError } from '@voxmesh/core';
import {
  ConfigDbErrorCode,
  ConfigReplica,
  compareStamps,
  type ConfigLevel,
  type ReplicaFaults,
  type Stamp,
} from '../src/index.js';
import { SeededRandom, SimulatedNetwork, SkewedClock } from '../src/testing.js';

export interface SimulationOptions {
  seed: number;
  steps?: number;
  faults?: ReplicaFaults;
  /** Database factory; memory-level by default. */
  level?: (replica: string) => ConfigLevel;
  listeners?: number;
}

export interface SimulationResult {
  seed: number;
  problems: string[];
  stats: {
    acked: number;
    resnapshots: number;
    listenerEvents: number;
    delivered: number;
    dropped: number;
    restarts: number;
  };
}

interface AckedWrite {
  key: string;
  stamp: Stamp;
  deleted: boolean;
}

const IDS = ['a', 'b', 'c'];
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'cfg/x', 'cfg/y'];

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

class SimListener {
  epoch: string | undefined;
  cursor = 0;
  cache = new Map<string, unknown>();
  controller: AbortController | undefined;
  running: Promise<void> | undefined;
  events = 0;
  resnapshots = 0;

  constructor(
    readonly name: string,
    readonly replicaIndex: number,
    readonly prefix: string,
    readonly problems: string[],
  ) {}

  connect(replica: ConfigReplica): void {
    if (this.controller) return;
    const controller = new AbortController();
    this.controller = controller;
    this.running = (async () => {
      try {
        if (this.epoch === undefined) await this.#resnapshot(replica);
        for (;;) {
          try {
            for await (const e of replica.changes({
              prefix: this.prefix,
              epoch: this.epoch,
              cursor: this.cursor,
              signal: controller.signal,
              progressIntervalMs: 50,
            })) {
              this.events++;
              if (e.type === 'progress') {
                if (e.cursor < this.cursor) {
                  this.problems.push(
                    `${this.name}: progress went back ${this.cursor} → ${e.cursor}`,
                  );
                }
                this.cursor = e.cursor;
                continue;
              }
              if (this.prefix === '' && e.cursor !== this.cursor + 1) {
                this.problems.push(
                  `${this.name}: cursor ${this.cursor} → ${e.cursor} (${e.cursor > this.cursor + 1 ? 'gap' : 'duplicate'})`,
                );
              } else if (e.cursor <= this.cursor) {
                this.problems.push(`${this.name}: duplicate cursor ${e.cursor}`);
              }
              if (!e.key.startsWith(this.prefix)) {
                this.problems.push(`${this.name}: got ${e.key} outside its prefix`);
              }
              this.cursor = e.cursor;
              if (e.deleted) this.cache.delete(e.key);
              else this.cache.set(e.key, e.value);
            }
            return;
          } catch (error) {
            if (
              VoxmeshError.is(error, ConfigDbErrorCode.COMPACTED) ||
              VoxmeshError.is(error, ConfigDbErrorCode.EPOCH_MISMATCH)
            ) {
              await this.#resnapshot(replica);
              continue;
            }
            throw error;
          }
        }
      } catch (error) {
        if (VoxmeshError.is(error, 'ABORTED') || VoxmeshError.is(error, 'UNAVAILABLE')) return;
        this.problems.push(`${this.name}: listener failed: ${String(error)}`);
      } finally {
        if (this.controller === controller) this.controller = undefined;
      }
    })();
  }

  async #resnapshot(replica: ConfigReplica): Promise<void> {
    this.resnapshots++;
    const snap = await replica.snapshot({ prefix: this.prefix });
    this.epoch = snap.epoch;
    this.cursor = snap.cursor;
    this.cache = new Map(snap.state);
  }

  async disconnect(): Promise<void> {
    this.controller?.abort();
    await this.running;
  }
}

/** Runs one seeded simulation and returns the checker's findings. */
export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const { seed } = options;
  const steps = options.steps ?? 400;
  const random = new SeededRandom(seed);
  const clock = new FakeClock({ now: Date.UTC(2026, 0, 1) });
  const network = new SimulatedNetwork({
    clock,
    random,
    dropRate: 0.1,
    duplicateRate: 0.05,
    maxDelayMs: 30,
  });
  const problems: string[] = [];
  const levels = IDS.map((id) => options.level?.(id) ?? (new MemoryLevel() as ConfigLevel));
  // Small skews keep equal HLCs likely on hot keys (tie-breaks matter).
  const clocks = IDS.map(() => new SkewedClock(clock, random.pick([0, 0, 0, 3, -2, 40])));
  let epochCounter = 0;
  const make = (i: number): ConfigReplica =>
    new ConfigReplica({
      id: IDS[i] as string,
      db: levels[i],
      clock: clocks[i],
      transport: network.transport(
        IDS[i] as string,
        IDS.filter((_, j) => j !== i),
      ),
      retainChanges: 25,
      antiEntropyIntervalMs: 200,
      maxOpsPerMessage: 16,
      faults: options.faults,
      randomEpoch: () => `e${seed}x${epochCounter++}`,
    });
  const replicas = IDS.map((_, i) => make(i));
  const up = IDS.map(() => true);
  await Promise.all(replicas.map((r) => r.start()));

  const acked: AckedWrite[] = [];
  const writes: Promise<void>[] = [];
  const listenerCount = options.listeners ?? 4;
  const listeners = Array.from(
    { length: listenerCount },
    (_, i) => new SimListener(`L${i}`, i % IDS.length, i === 3 ? 'cfg/' : '', problems),
  );
  for (const l of listeners) l.connect(replicas[l.replicaIndex] as ConfigReplica);
  let restarts = 0;

  for (let step = 0; step < steps; step++) {
    const roll = random.next();
    if (roll < 0.45) {
      const i = random.int(IDS.length);
      const replica = replicas[i] as ConfigReplica;
      if (!up[i]) continue;
      const key = random.pick(KEYS);
      const deleted = random.chance(0.2);
      const value = `${IDS[i]}-${step}`;
      const write = deleted ? replica.del(key) : replica.put(key, value);
      writes.push(
        write.then(
          (r) => {
            acked.push({ key, deleted, stamp: { l: r.l, c: r.c, o: r.origin } });
          },
          () => undefined,
        ),
      );
    } else if (roll < 0.7) {
      await clock.advanceAsync(random.int(25));
    } else if (roll < 0.75) {
      if (random.chance(0.5)) network.heal();
      else {
        const cut = random.pick(IDS);
        network.partition([[cut], IDS.filter((id) => id !== cut)]);
      }
    } else if (roll < 0.82) {
      const l = random.pick(listeners);
      if (l.controller) await l.disconnect();
      else if (up[l.replicaIndex]) l.connect(replicas[l.replicaIndex] as ConfigReplica);
    } else if (roll < 0.84) {
      network.dropRate = random.pick([0, 0.05, 0.2, 0.5]);
      network.duplicateRate = random.pick([0, 0.05, 0.2]);
    } else if (roll < 0.86) {
      // Restart a replica on the same database (its listeners lose their link).
      const i = random.int(IDS.length);
      if (up[i]) {
        up[i] = false;
        restarts++;
        await (replicas[i] as ConfigReplica).stop();
      } else {
        replicas[i] = make(i);
        await replicas[i].start();
        up[i] = true;
      }
    } else {
      await settle();
    }
  }

  // Heal everything and let anti-entropy converge.
  network.heal();
  network.dropRate = 0;
  network.duplicateRate = 0;
  for (let i = 0; i < IDS.length; i++) {
    if (!up[i]) {
      replicas[i] = make(i);
      await (replicas[i] as ConfigReplica).start();
      up[i] = true;
    }
  }
  await Promise.all(writes);
  const same = (): boolean => {
    const vvs = replicas.map((r) => JSON.stringify(sortObject(r.versionVector)));
    return vvs.every((v) => v === vvs[0]);
  };
  for (let round = 0; round < 200 && !same(); round++) {
    await clock.advanceAsync(100);
    if (round > 20) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // A few more rounds so acknowledgements reach everyone and GC runs.
  for (let round = 0; round < 10; round++) await clock.advanceAsync(100);
  if (!same()) problems.push('version vectors did not converge');

  // Convergence: identical live state and vectors.
  const states = replicas.map((r) => liveState(r));
  for (let i = 1; i < replicas.length; i++) {
    if (JSON.stringify(states[i]) !== JSON.stringify(states[0])) {
      problems.push(
        `replica ${IDS[i]} differs from ${IDS[0]}: ${JSON.stringify(states[i])} vs ${JSON.stringify(states[0])}`,
      );
    }
  }

  // No acknowledged write lost: the final winner of its key is at least as new.
  const entries = (replicas[0] as ConfigReplica).storedEntries();
  for (const write of acked) {
    const entry = entries.get(write.key);
    if (entry === undefined) {
      // The tombstone was collected: a delete at least as new must have been acknowledged.
      const covered = acked.some(
        (w) => w.key === write.key && w.deleted && compareStamps(w.stamp, write.stamp) >= 0,
      );
      if (!covered) problems.push(`acknowledged write of ${write.key} at ${fmt(write.stamp)} lost`);
    } else if (compareStamps(entry, write.stamp) < 0) {
      problems.push(
        `acknowledged write of ${write.key} at ${fmt(write.stamp)} lost to older ${fmt(entry)}`,
      );
    }
  }

  // Listeners: reconnect, catch up to their replica's head, compare caches.
  for (const l of listeners) {
    if (!l.controller) l.connect(replicas[l.replicaIndex] as ConfigReplica);
  }
  for (let round = 0; round < 100; round++) {
    const caughtUp = listeners.every(
      (l) => l.cursor === (replicas[l.replicaIndex] as ConfigReplica).cursor,
    );
    if (caughtUp) break;
    await clock.advanceAsync(60);
    // On-disk databases complete reads on a thread pool: give them real time too.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  for (const l of listeners) {
    const replica = replicas[l.replicaIndex] as ConfigReplica;
    if (l.cursor !== replica.cursor) {
      problems.push(`${l.name} stuck at ${l.cursor}, replica at ${replica.cursor}`);
    }
    const expected = Object.fromEntries(
      Object.entries(liveState(replica)).filter(([k]) => k.startsWith(l.prefix)),
    );
    const actual = Object.fromEntries([...l.cache].sort(([a], [b]) => (a < b ? -1 : 1)));
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      problems.push(
        `${l.name} cache ${JSON.stringify(actual)} ≠ replica ${JSON.stringify(expected)}`,
      );
    }
  }
  for (const l of listeners) await l.disconnect();
  await Promise.all(replicas.map((r) => r.stop()));
  await Promise.all(levels.map((level) => level.close()));
  return {
    seed,
    problems,
    stats: {
      acked: acked.length,
      resnapshots: listeners.reduce((n, l) => n + l.resnapshots, 0),
      listenerEvents: listeners.reduce((n, l) => n + l.events, 0),
      delivered: network.stats.delivered,
      dropped: network.stats.dropped,
      restarts,
    },
  };
}

function liveState(replica: ConfigReplica): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const sorted = [...replica.storedEntries()].sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [k, e] of sorted) if (!e.d) out[k] = e.v;
  return out;
}

function sortObject(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function fmt(s: Stamp): string {
  return `(${s.l},${s.c},${s.o})`;
}
