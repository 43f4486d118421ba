import { ClassicLevel } from 'classic-level';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConfigLevel, ReplicaFaults } from '../src/index.js';
import { tempDir } from './helpers.js';
import { simulate } from './simulator.js';

// CONFIGDB_SEEDS=1000 runs more seeds; CONFIGDB_SEED=<n> replays one seed.
const only = process.env.CONFIGDB_SEED ? Number(process.env.CONFIGDB_SEED) : undefined;
const count = Number(process.env.CONFIGDB_SEEDS ?? 100);
const seeds = only === undefined ? Array.from({ length: count }, (_, i) => i + 1) : [only];

const dirs: { remove(): void }[] = [];
afterAll(() => {
  for (const dir of dirs) dir.remove();
});

describe('replication simulator (seeded network faults, restarts, listeners)', () => {
  it(`converges, loses no acknowledged write and keeps listeners gap-free on memory-level (${seeds.length} seeds)`, async () => {
    let resnapshots = 0;
    let acked = 0;
    for (const seed of seeds) {
      const result = await simulate({ seed });
      expect(
        result.problems.join('\n'),
        `seed ${seed} failed (replay: CONFIGDB_SEED=${seed})`,
      ).toBe('');
      resnapshots += result.stats.resnapshots;
      acked += result.stats.acked;
    }
    // The runs exercised what they claim to: acknowledged writes and re-snapshots after COMPACTED.
    expect(acked).toBeGreaterThan(seeds.length * 20);
    expect(resnapshots).toBeGreaterThan(seeds.length * 4);
  }, 120_000);

  it('does the same on classic-level (5 seeds)', async () => {
    for (const seed of seeds.slice(0, 5)) {
      const level = (): ConfigLevel => {
        const dir = tempDir('configdb-sim-');
        dirs.push(dir);
        return new ClassicLevel<string, string>(dir.path);
      };
      const result = await simulate({ seed: seed + 10_000, level, steps: 300 });
      expect(result.problems.join('\n'), `classic-level seed ${seed + 10_000} failed`).toBe('');
    }
  }, 120_000);

  it('is deterministic: the same seed gives the same run', async () => {
    const a = await simulate({ seed: 7 });
    const b = await simulate({ seed: 7 });
    expect(b).toEqual(a);
  });
});

describe('the checker catches injected bugs', () => {
  const cases: [string, ReplicaFaults, RegExp][] = [
    ['no origin tie-break on equal clocks', { noTieBreak: true }, /differs|lost/],
    ['remote ops applied out of origin order', { outOfOrderApply: true }, /differs|lost/],
    ['racy catch-up/subscribe', { racySubscribe: true }, /gap|stuck|cache/],
  ];
  for (const [name, faults, pattern] of cases) {
    it(
      name,
      async () => {
        const found: string[] = [];
        for (let seed = 1; seed <= 60 && found.length === 0; seed++) {
          const result = await simulate({ seed, faults });
          found.push(...result.problems);
        }
        expect(found.length, `no seed in 1..60 exposed: ${name}`).toBeGreaterThan(0);
        expect(found.join('\n')).toMatch(pattern);
      },
      60_000,
    );
  }
});
