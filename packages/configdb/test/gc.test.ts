import { MemoryLevel } from 'memory-level';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '@voxmesh/core';
import { ConfigReplica } from '../src/index.js';
import { SeededRandom, SimulatedNetwork } from '../src/testing.js';

async function cluster(clock: FakeClock, network: SimulatedNetwork) {
  const ids = ['a', 'b', 'c'];
  const replicas = ids.map(
    (id) =>
      new ConfigReplica({
        id,
        db: new MemoryLevel(),
        clock,
        antiEntropyIntervalMs: 100,
        transport: network.transport(
          id,
          ids.filter((p) => p !== id),
        ),
      }),
  );
  for (const r of replicas) await r.start();
  return replicas;
}

describe('garbage collection on acknowledgement', () => {
  it('collects a tombstone only after every peer acknowledged it', async () => {
    const clock = new FakeClock();
    const network = new SimulatedNetwork({ clock, random: new SeededRandom(1) });
    const [a, b, c] = await cluster(clock, network);
    await a!.put('k', 1);
    await clock.advanceAsync(50);
    // c is cut off: it cannot acknowledge the delete.
    network.partition([['a', 'b'], ['c']]);
    await b!.del('k');
    for (let i = 0; i < 10; i++) await clock.advanceAsync(100);
    expect(a!.storedEntries().get('k')).toMatchObject({ d: true });
    expect(b!.storedEntries().get('k')).toMatchObject({ d: true });
    expect(await c!.get('k')).toBe(1);
    network.heal();
    for (let i = 0; i < 10; i++) await clock.advanceAsync(100);
    for (const r of [a!, b!, c!]) {
      expect(r.storedEntries().has('k'), `tombstone left on ${r.id}`).toBe(false);
      expect(await r.get('k')).toBeUndefined();
    }
    // A late duplicate of the old put cannot resurrect the key.
    await a!.put('other', 2);
    for (let i = 0; i < 5; i++) await clock.advanceAsync(100);
    expect(await c!.get('k')).toBeUndefined();
    for (const r of [a!, b!, c!]) await r.stop();
  });

  it('a replica whose missing ops were collected catches up by state transfer', async () => {
    const clock = new FakeClock();
    const network = new SimulatedNetwork({ clock, random: new SeededRandom(2) });
    const ids = ['a', 'b'];
    const make = (id: string, db: MemoryLevel) =>
      new ConfigReplica({
        id,
        db,
        clock,
        antiEntropyIntervalMs: 100,
        transport: network.transport(
          id,
          ids.filter((p) => p !== id),
        ),
      });
    const a = make('a', new MemoryLevel());
    const b = make('b', new MemoryLevel());
    await a.start();
    await b.start();
    for (let i = 0; i < 20; i++) await a.put(`k${i}`, i);
    for (let i = 0; i < 10; i++) await clock.advanceAsync(100);
    // b holds everything and acknowledged it, so a collected its op log; b is then wiped.
    await b.stop();
    const wiped = make('b', new MemoryLevel());
    await wiped.start();
    for (let i = 0; i < 10; i++) await clock.advanceAsync(100);
    expect(await wiped.list()).toHaveLength(20);
    expect(wiped.origin).not.toBe(b.origin);
    await a.stop();
    await wiped.stop();
  });
});
