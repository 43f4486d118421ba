/**
 * A deterministic, seeded network for replication tests: drops, duplicates,
 * delays (and so reorders) messages and cuts links, all on a {@link FakeClock}.
 *
 * @module
 */

import type { Clock, FakeClock, SleepOptions, Timer } from '@voxmesh/core';
import type { ReplicationMessage, ReplicationTransport, TransportHandler } from './types.js';

/** A small seeded pseudo-random generator (mulberry32): same seed, same sequence. */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** `true` with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

/** Options of the {@link SimulatedNetwork} constructor. */
export interface SimulatedNetworkOptions {
  /** The clock that delivers messages. */
  clock: FakeClock;
  /** The random source (seeded). */
  random: SeededRandom;
  /**
   * Probability that a message is lost.
   * @defaultValue `0`
   */
  dropRate?: number | undefined;
  /**
   * Probability that a message is delivered twice.
   * @defaultValue `0`
   */
  duplicateRate?: number | undefined;
  /**
   * Largest delivery delay; delays are uniform in [0, maxDelayMs], which reorders.
   * @defaultValue `20`
   */
  maxDelayMs?: number | undefined;
}

/**
 * Wires replicas together in one process with faults under test control.
 *
 * @example
 * ```ts
 * const net = new SimulatedNetwork({ clock, random: new SeededRandom(42), dropRate: 0.1 });
 * const a = new ConfigReplica({ id: 'a', db: new MemoryLevel(), clock, transport: net.transport('a', ['b']) });
 * ```
 */
export class SimulatedNetwork {
  /** Message loss probability (changeable while running). */
  dropRate: number;
  /** Duplication probability (changeable while running). */
  duplicateRate: number;
  /** Largest delivery delay in ms (changeable while running). */
  maxDelayMs: number;
  /** Messages sent, delivered, dropped (for test diagnostics). */
  readonly stats = { sent: 0, delivered: 0, dropped: 0 };
  readonly #clock: FakeClock;
  readonly #random: SeededRandom;
  readonly #handlers = new Map<string, TransportHandler>();
  readonly #peers = new Map<string, readonly string[]>();
  #group = new Map<string, number>();

  constructor(options: SimulatedNetworkOptions) {
    this.#clock = options.clock;
    this.#random = options.random;
    this.dropRate = options.dropRate ?? 0;
    this.duplicateRate = options.duplicateRate ?? 0;
    this.maxDelayMs = options.maxDelayMs ?? 20;
  }

  /** Whether `a` and `b` can currently talk. */
  connected(a: string, b: string): boolean {
    return (
      this.#handlers.has(a) &&
      this.#handlers.has(b) &&
      (this.#group.get(a) ?? 0) === (this.#group.get(b) ?? 0)
    );
  }

  /** Splits the nodes into groups that cannot reach each other. */
  partition(groups: readonly (readonly string[])[]): void {
    const before = this.#links();
    this.#group = new Map();
    groups.forEach((members, index) => {
      for (const id of members) this.#group.set(id, index + 1);
    });
    this.#announce(before);
  }

  /** Removes every partition. */
  heal(): void {
    const before = this.#links();
    this.#group = new Map();
    this.#announce(before);
  }

  /** The transport of node `id`, whose peers are `peers`. */
  transport(id: string, peers: readonly string[]): ReplicationTransport {
    this.#peers.set(id, [...peers]);
    return {
      peers: [...peers],
      start: (handler) => {
        const before = this.#links();
        this.#handlers.set(id, handler);
        this.#announce(before);
        return Promise.resolve();
      },
      send: (peer, message) => {
        this.#send(id, peer, message);
      },
      close: () => {
        const before = this.#links();
        this.#handlers.delete(id);
        this.#announce(before);
        return Promise.resolve();
      },
    };
  }

  #links(): Set<string> {
    const links = new Set<string>();
    for (const [id, peers] of this.#peers) {
      for (const peer of peers) if (this.connected(id, peer)) links.add(`${id}>${peer}`);
    }
    return links;
  }

  #announce(before: Set<string>): void {
    const after = this.#links();
    for (const link of after) {
      if (before.has(link)) continue;
      const [from, to] = link.split('>') as [string, string];
      this.#handlers.get(from)?.peerUp(to);
    }
    for (const link of before) {
      if (after.has(link)) continue;
      const [from, to] = link.split('>') as [string, string];
      this.#handlers.get(from)?.peerDown(to);
    }
  }

  #send(from: string, to: string, message: ReplicationMessage): void {
    this.stats.sent++;
    if (!this.connected(from, to) || this.#random.chance(this.dropRate)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.#random.chance(this.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const payload = structuredClone(message);
      const delay = this.#random.int(this.maxDelayMs + 1);
      this.#clock.setTimeout(() => {
        if (!this.connected(from, to)) {
          this.stats.dropped++;
          return;
        }
        this.stats.delivered++;
        this.#handlers.get(to)?.message(from, payload);
      }, delay);
    }
  }
}

/** A clock that reads `base` shifted by `skewMs` (a node whose clock is off). */
export class SkewedClock implements Clock {
  constructor(
    private readonly base: Clock,
    /** Milliseconds this clock is ahead (negative: behind). */
    public skewMs: number,
  ) {}

  now(): number {
    return this.base.now() + this.skewMs;
  }

  monotonic(): number {
    return this.base.monotonic();
  }

  setTimeout(callback: () => void, ms: number): Timer {
    return this.base.setTimeout(callback, ms);
  }

  setInterval(callback: () => void, ms: number): Timer {
    return this.base.setInterval(callback, ms);
  }

  sleep(ms: number, options?: SleepOptions): Promise<void> {
    return this.base.sleep(ms, options);
  }
}
