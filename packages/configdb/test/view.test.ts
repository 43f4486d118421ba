import { MemoryLevel } from 'memory-level';
import { afterEach, describe, expect, it } from 'vitest';
import { onceEvent } from '@voxmesh/core';
import { ConfigReplica, ConfigView, type ConfigLevel } from '../src/index.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function replicaOn(level: ConfigLevel, retainChanges?: number): ConfigReplica {
  const replica = new ConfigReplica({ id: 'r', db: level, retainChanges });
  cleanup.push(() => replica.stop());
  return replica;
}

/** A source whose replica can be swapped (stopped, restarted, wiped) under the view. */
function switchable(initial: ConfigReplica) {
  let current = initial;
  return {
    set(replica: ConfigReplica) {
      current = replica;
    },
    source: {
      snapshot: (o?: Parameters<ConfigReplica['snapshot']>[0]) => current.snapshot(o),
      changes: (o?: Parameters<ConfigReplica['changes']>[0]) => current.changes(o),
    },
  };
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('ConfigView (durable client view)', () => {
  it('snapshots, follows changes, survives the source going away and resumes after its cursor', async () => {
    const serverLevel = new MemoryLevel() as ConfigLevel;
    const replica = replicaOn(serverLevel);
    await replica.start();
    await replica.put('tenants/acme/users/1', { name: 'Ada' });
    await replica.put('other/x', 1);
    const sw = switchable(replica);
    const viewLevel = new MemoryLevel() as ConfigLevel;
    const view = new ConfigView({
      source: sw.source,
      db: viewLevel,
      prefix: 'tenants/',
      retryDelayMs: 10,
    });
    let resnapshots = 0;
    view.on('resnapshot', () => resnapshots++);
    await view.start();
    await view.whenOnline();
    await until(() => view.get('tenants/acme/users/1') !== undefined, 'the snapshot');
    expect(view.get('other/x')).toBeUndefined();

    await replica.put('tenants/acme/users/2', { name: 'Bob' });
    await until(() => view.get('tenants/acme/users/2') !== undefined, 'a live change');

    // The replica goes down: the view goes offline and keeps serving.
    const offline = onceEvent(view, 'offline');
    await replica.stop();
    await offline;
    expect(view.online).toBe(false);
    expect(view.get('tenants/acme/users/2')).toEqual({ name: 'Bob' });

    // It comes back (same database, same epoch) with changes made meanwhile: resume, no re-snapshot.
    const back = replicaOn(serverLevel);
    await back.start();
    await back.put('tenants/acme/users/3', { name: 'Cy' });
    await back.del('tenants/acme/users/1');
    sw.set(back);
    await view.whenOnline();
    await until(() => view.get('tenants/acme/users/3') !== undefined, 'resumed changes');
    await until(() => view.get('tenants/acme/users/1') === undefined, 'the delete');
    expect(resnapshots).toBe(1);
    await view.stop();

    // A restarted node serves its persisted copy with no source at all (offline mode).
    const dead = {
      snapshot: () => Promise.reject(new Error('unreachable')),
      changes: () => {
        throw new Error('unreachable');
      },
    };
    const restarted = new ConfigView({
      source: dead,
      db: viewLevel,
      prefix: 'tenants/',
      retryDelayMs: 10,
    });
    cleanup.push(() => restarted.stop());
    await restarted.start();
    expect(restarted.entries('tenants/acme/')).toEqual([
      ['tenants/acme/users/2', { name: 'Bob' }],
      ['tenants/acme/users/3', { name: 'Cy' }],
    ]);
    expect(restarted.epoch).toBe(back.epoch);
    expect(restarted.cursor).toBe(back.cursor);
  });

  it(
    're-snapshots on EPOCH_MISMATCH (wiped replica) and COMPACTED',
    { timeout: 30_000 },
    async () => {
      const replica = replicaOn(new MemoryLevel(), 5);
      await replica.start();
      await replica.put('k/a', 1);
      const sw = switchable(replica);
      const view = new ConfigView({
        source: sw.source,
        db: new MemoryLevel(),
        retryDelayMs: 10,
      });
      cleanup.push(() => view.stop());
      let resnapshots = 0;
      view.on('resnapshot', () => resnapshots++);
      await view.start();
      await until(() => view.get('k/a') === 1, 'the snapshot');

      // Wiped: a new database, a new epoch, different contents.
      await replica.stop();
      const wipedLevel = new MemoryLevel() as ConfigLevel;
      const wiped = replicaOn(wipedLevel, 5);
      await wiped.start();
      await wiped.put('k/b', 2);
      sw.set(wiped);
      await until(() => view.get('k/b') === 2 && view.get('k/a') === undefined, 're-snapshot');
      expect(view.epoch).toBe(wiped.epoch);
      expect(resnapshots).toBe(2);

      // Compacted: the view is offline while the replica moves on past its retained feed.
      await view.whenOnline();
      const offline = onceEvent(view, 'offline');
      await wiped.stop();
      await offline;
      const again = replicaOn(wipedLevel, 5);
      await again.start();
      for (let i = 0; i < 30; i++) await again.put(`k/n${i}`, i);
      sw.set(again);
      await until(() => view.get('k/n29') === 29, 're-snapshot after COMPACTED');
      expect(resnapshots).toBe(3);
    },
  );
});
