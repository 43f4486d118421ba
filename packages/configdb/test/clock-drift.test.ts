import { MemoryLevel } from 'memory-level';
import { expect, it } from 'vitest';
import { FakeClock, Metrics } from '@voxmesh/core';
import { ConfigReplica } from '../src/index.js';
import { SeededRandom, SimulatedNetwork, SkewedClock } from '../src/testing.js';

it('raises an alarm for remote writes stamped far in the future, and still converges', async () => {
  const clock = new FakeClock();
  const network = new SimulatedNetwork({ clock, random: new SeededRandom(3) });
  const metrics = new Metrics();
  const ahead = new SkewedClock(clock, 10 * 60_000);
  const make = (id: string, c: typeof clock | SkewedClock) =>
    new ConfigReplica({
      id,
      db: new MemoryLevel(),
      clock: c,
      metrics,
      maxClockDriftMs: 60_000,
      antiEntropyIntervalMs: 100,
      transport: network.transport(id, [id === 'a' ? 'b' : 'a']),
    });
  const a = make('a', clock);
  const b = make('b', ahead);
  await a.start();
  await b.start();
  await b.put('k', 'from the future');
  await a.put('k', 'now');
  for (let i = 0; i < 5; i++) await clock.advanceAsync(100);
  const drift = await metrics.registry.getSingleMetric('voxmesh_configdb_clock_drift_total')?.get();
  const onA = drift?.values.find((v) => v.labels.replica === 'a')?.value ?? 0;
  expect(onA).toBeGreaterThan(0);
  // Last-writer-wins by HLC: b's clock is ahead, so its write wins everywhere.
  expect(await a.get('k')).toBe('from the future');
  expect(await b.get('k')).toBe('from the future');
  await a.stop();
  await b.stop();
});
