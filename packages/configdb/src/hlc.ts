/**
 * A Hybrid Logical Clock (Kulkarni, Demirbas et al., "Logical Physical Clocks
 * and Consistent Snapshots in Globally Distributed Databases", 2014).
 *
 * Timestamps are `(l, c)`: `l` is the largest physical time (ms) seen, `c` a
 * counter that orders events within the same `l`. Together with the origin
 * id they totally order every write: the last-writer-wins order.
 *
 * @module
 */

/** A hybrid logical timestamp. */
export interface HlcTimestamp {
  /** Logical physical time: the largest wall-clock millisecond seen. */
  readonly l: number;
  /** Counter within `l`. */
  readonly c: number;
}

/** A timestamp with the origin that made it: the total last-writer-wins order. */
export interface Stamp extends HlcTimestamp {
  /** The origin (replica incarnation) that made the write. */
  readonly o: string;
}

/** Compares two HLC timestamps: negative, zero or positive. */
export function compareHlc(a: HlcTimestamp, b: HlcTimestamp): number {
  return a.l !== b.l ? a.l - b.l : a.c - b.c;
}

/**
 * Compares two stamps in last-writer-wins order: by HLC, then by origin id
 * (the tie-break that makes concurrent writes with equal clocks resolve the
 * same way everywhere).
 */
export function compareStamps(a: Stamp, b: Stamp): number {
  const byClock = compareHlc(a, b);
  if (byClock !== 0) return byClock;
  return a.o < b.o ? -1 : a.o > b.o ? 1 : 0;
}

/** The mutable state of one node's HLC. */
export class HybridLogicalClock {
  #l: number;
  #c: number;
  readonly #physical: () => number;

  constructor(physical: () => number, initial: HlcTimestamp = { l: 0, c: 0 }) {
    this.#physical = physical;
    this.#l = initial.l;
    this.#c = initial.c;
  }

  /** The last timestamp issued or merged. */
  get current(): HlcTimestamp {
    return { l: this.#l, c: this.#c };
  }

  /** A timestamp for a local event (a write): "send or local event" in the paper. */
  tick(): HlcTimestamp {
    const pt = this.#physical();
    const l = Math.max(this.#l, pt);
    this.#c = l === this.#l ? this.#c + 1 : 0;
    this.#l = l;
    return this.current;
  }

  /** Merges a received timestamp: "receive event of message m" in the paper. */
  receive(m: HlcTimestamp): HlcTimestamp {
    const pt = this.#physical();
    const l = Math.max(this.#l, m.l, pt);
    if (l === this.#l && l === m.l) this.#c = Math.max(this.#c, m.c) + 1;
    else if (l === this.#l) this.#c += 1;
    else if (l === m.l) this.#c = m.c + 1;
    else this.#c = 0;
    this.#l = l;
    return this.current;
  }
}
