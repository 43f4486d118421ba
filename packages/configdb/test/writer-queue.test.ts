import { ClassicLevel } from 'classic-level';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigReplica, type ConfigLevel } from '../src/index.js';
import { tempDir } from './helpers.js';

const dirs: { remove(): void }[] = [];
afterAll(() => {
  for (const dir of dirs) dir.remove();
});

/**
 * Writes `count` values with up to 64 writes in flight while a listener
 * follows the change feed from cursor 0; returns how many changes the
 * listener missed and whether its cursors were consecutive.
 */
async function run(noWriterQueue: boolean, count: number) {
  const dir = tempDir();
  dirs.push(dir);
  const db = new ClassicLevel<string, string>(dir.path) as unknown as ConfigLevel;
  const replica = new ConfigReplica({ id: 'w', db, faults: { noWriterQueue } });
  await replica.start();
  const controller = new AbortController();
  const seen: number[] = [];
  const listening = (async () => {
    try {
      for await (const event of replica.changes({ cursor: 0, signal: controller.signal })) {
        seen.push(event.cursor);
      }
    } catch {
      // aborted
    }
  })();
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i++) {
    // Values of varying size make commit times differ.
    const write = replica.put(`k${i % 100}`, 'x'.repeat((i * 7919) % 2000));
    inFlight.add(write);
    void write.finally(() => inFlight.delete(write));
    if (inFlight.size >= 64) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  // Let the listener drain what was delivered.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  controller.abort();
  await listening;
  await replica.stop();
  await db.close();
  const consecutive = seen.every((cursor, i) => cursor === i + 1);
  return { missed: count - seen.length, consecutive };
}

describe('single-writer group-commit queue on classic-level', () => {
  it('without the queue, concurrent commits land out of order and a listener misses changes', async () => {
    // The loss depends on thread-pool timing: try a few rounds until it shows.
    let missed = 0;
    for (let round = 0; round < 5 && missed === 0; round++) {
      missed = (await run(true, 20_000)).missed;
    }
    expect(missed).toBeGreaterThan(0);
  }, 120_000);

  it('with the queue, the same workload loses nothing and cursors are consecutive', async () => {
    for (let round = 0; round < 2; round++) {
      const result = await run(false, 20_000);
      expect(result).toEqual({ missed: 0, consecutive: true });
    }
  }, 120_000);
});
