/**
 * The conformance suite of the {@link ConfigBackend} contract, in the
 * abstract-level style: a function that registers tests with the caller's
 * test runner, run by every implementation (embedded replicas, the HTTP
 * client, an etcd adapter).
 *
 * @module
 */

import assert from 'node:assert/strict';
import { VoxmeshError } from '@voxmesh/core';
import { ConfigDbErrorCode } from './errors.js';
import type { ChangeEvent, ConfigBackend } from './types.js';

/** A backend made for one test, and how to dispose of it. */
export interface ConfigBackendFixture {
  readonly backend: ConfigBackend;
  /** Releases everything the factory created. */
  close(): Promise<void>;
}

/** What the factory is asked for. */
export interface ConfigBackendFactoryOptions {
  /**
   * Keep at most this many change-feed entries (for the `COMPACTED` test).
   * @defaultValue the backend's default
   */
  retainChanges?: number | undefined;
}

/** Options of {@link configBackendSuite}. */
export interface ConfigBackendSuiteOptions {
  /** Registers one test, e.g. vitest's or `node:test`'s `test`. */
  test: (name: string, fn: () => Promise<void>) => void;
  /** Makes a fresh, empty, started backend. */
  factory: (options: ConfigBackendFactoryOptions) => Promise<ConfigBackendFixture>;
  /** A name prefix for the tests. @defaultValue `'ConfigBackend'` */
  name?: string | undefined;
  /**
   * Optional features of the backend under test.
   * @defaultValue every feature supported
   */
  supports?: {
    /** Honours `retainChanges` so a stale cursor gets `COMPACTED`. @defaultValue `true` */
    compaction?: boolean | undefined;
  };
}

async function collect(
  iterator: AsyncIterator<ChangeEvent>,
  n: number,
  filter: (e: ChangeEvent) => boolean = () => true,
): Promise<ChangeEvent[]> {
  const out: ChangeEvent[] = [];
  while (out.length < n) {
    const next = await iterator.next();
    if (next.done) break;
    if (filter(next.value)) out.push(next.value);
  }
  return out;
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(VoxmeshError.is(error, code), `expected ${code}, got ${String(error)}`);
    return true;
  });
}

/**
 * Registers the conformance tests of the {@link ConfigBackend} contract.
 *
 * @example
 * ```ts
 * // test: vitest's or node:test's; configBackendSuite: from '@voxmesh/configdb/testing'
 * configBackendSuite({
 *   test,
 *   factory: async ({ retainChanges }) => {
 *     const replica = new ConfigReplica({ id: 't', db: new MemoryLevel(), retainChanges });
 *     await replica.start();
 *     return { backend: replica, close: () => replica.stop() };
 *   },
 * });
 * ```
 */
export function configBackendSuite(options: ConfigBackendSuiteOptions): void {
  const name = options.name ?? 'ConfigBackend';
  const run = (title: string, body: (backend: ConfigBackend) => Promise<void>, retain?: number) => {
    options.test(`${name}: ${title}`, async () => {
      const fixture = await options.factory({ retainChanges: retain });
      try {
        await body(fixture.backend);
      } finally {
        await fixture.close();
      }
    });
  };

  run('put, get and del round-trip JSON values', async (db) => {
    const value = { name: 'Ada', tags: ['a', 'b'], n: 1.5, ok: true, none: null };
    await db.put('users/1', value);
    assert.deepEqual(await db.get('users/1'), value);
    assert.equal(await db.get('users/missing'), undefined);
    await db.put('users/1', 'second');
    assert.equal(await db.get('users/1'), 'second');
    await db.del('users/1');
    assert.equal(await db.get('users/1'), undefined);
  });

  run('list returns live keys under a prefix in key order', async (db) => {
    await db.put('t/b/2', 2);
    await db.put('t/a/1', 1);
    await db.put('t/b/1', 3);
    await db.put('u/x', 4);
    await db.del('t/b/2');
    assert.deepEqual(await db.list({ prefix: 't/' }), [
      ['t/a/1', 1],
      ['t/b/1', 3],
    ]);
    assert.equal((await db.list()).length, 3);
  });

  run('rejects bad input with INVALID_INPUT', async (db) => {
    await rejectsWithCode(db.put('', 1), 'INVALID_INPUT');
    await rejectsWithCode(db.put('k', undefined), 'INVALID_INPUT');
    await rejectsWithCode(db.batch([]), 'INVALID_INPUT');
    await db.put('k', 1);
    assert.equal(await db.get('k'), 1);
  });

  run('a snapshot and changes after its cursor give every change once, in order', async (db) => {
    await db.put('a', 1);
    const snap = await db.snapshot();
    assert.deepEqual([...snap.state], [['a', 1]]);
    assert.equal(typeof snap.epoch, 'string');
    await db.put('b', 2);
    await db.del('a');
    await db.batch([
      { type: 'put', key: 'c', value: 3 },
      { type: 'put', key: 'd', value: 4 },
    ]);
    const controller = new AbortController();
    const it = db.changes({ epoch: snap.epoch, cursor: snap.cursor, signal: controller.signal });
    const events = await collect(it, 4, (e) => e.type === 'change');
    assert.deepEqual(
      events.map((e) => (e.type === 'change' ? [e.key, e.value, e.deleted] : [])),
      [
        ['b', 2, false],
        ['a', undefined, true],
        ['c', 3, false],
        ['d', 4, false],
      ],
    );
    const cursors = events.map((e) => e.cursor);
    for (let i = 1; i < cursors.length; i++) {
      assert.ok((cursors[i] as number) > (cursors[i - 1] as number), 'cursors increase');
    }
    assert.ok((cursors[0] as number) > snap.cursor);
    // Resuming after the second change gives the third and fourth again, nothing else.
    const resumed = db.changes({
      epoch: snap.epoch,
      cursor: cursors[1],
      signal: controller.signal,
    });
    const again = await collect(resumed, 2, (e) => e.type === 'change');
    assert.deepEqual(
      again.map((e) => e.cursor),
      cursors.slice(2),
    );
    controller.abort();
  });

  run('a listener started among concurrent writes ends equal to the store', async (db) => {
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) writes.push(db.put(`k${i % 10}`, i));
    const snap = await db.snapshot();
    for (let i = 100; i < 200; i++) writes.push(db.put(`k${i % 10}`, i));
    await Promise.all(writes);
    const final = await db.snapshot();
    const cache = new Map(snap.state);
    const controller = new AbortController();
    const it = db.changes({ epoch: snap.epoch, cursor: snap.cursor, signal: controller.signal });
    let cursor = snap.cursor;
    while (cursor < final.cursor) {
      const next = await it.next();
      if (next.done) break;
      const e = next.value;
      assert.ok(e.cursor > cursor, 'no duplicate');
      cursor = e.cursor;
      if (e.type !== 'change') continue;
      if (e.deleted) cache.delete(e.key);
      else cache.set(e.key, e.value);
    }
    controller.abort();
    assert.deepEqual(
      [...cache].sort(([a], [b]) => (a < b ? -1 : 1)),
      [...final.state].sort(([a], [b]) => (a < b ? -1 : 1)),
    );
  });

  run('a prefix filters changes and progress heartbeats move the cursor on', async (db) => {
    const snap = await db.snapshot({ prefix: 'mine/' });
    const controller = new AbortController();
    const it = db.changes({
      prefix: 'mine/',
      epoch: snap.epoch,
      cursor: snap.cursor,
      progressIntervalMs: 20,
      signal: controller.signal,
    });
    await db.put('mine/1', 1);
    await db.put('theirs/1', 1);
    const last = await db.put('theirs/2', 2);
    const first: IteratorResult<ChangeEvent> = await it.next();
    assert.ok(!first.done);
    assert.equal(first.value.type, 'change');
    assert.equal(first.value.type === 'change' && first.value.key, 'mine/1');
    let progressed = first.value.cursor;
    while (progressed < last.cursor) {
      const next = await it.next();
      assert.ok(!next.done);
      assert.equal(next.value.type, 'progress', 'no change outside the prefix');
      progressed = next.value.cursor;
    }
    controller.abort();
  });

  run('aborting the signal ends changes() with ABORTED', async (db) => {
    const controller = new AbortController();
    const it = db.changes({ signal: controller.signal });
    const pending = it.next();
    setTimeout(() => controller.abort(new Error('done')), 10);
    await rejectsWithCode(pending, 'ABORTED');
  });

  run('a cursor of another epoch fails with EPOCH_MISMATCH', async (db) => {
    await db.put('a', 1);
    const snap = await db.snapshot();
    const it = db.changes({ epoch: `${snap.epoch}-other`, cursor: snap.cursor });
    await rejectsWithCode(it.next(), ConfigDbErrorCode.EPOCH_MISMATCH);
  });

  if (options.supports?.compaction !== false) {
    run(
      'a cursor behind the retained feed fails with COMPACTED, a fresh snapshot resumes',
      async (db) => {
        const snap = await db.snapshot();
        for (let i = 0; i < 40; i++) await db.put(`k${i}`, i);
        await rejectsWithCode(
          db.changes({ epoch: snap.epoch, cursor: snap.cursor }).next(),
          ConfigDbErrorCode.COMPACTED,
        );
        const fresh = await db.snapshot();
        assert.equal(fresh.state.size, 40);
        const controller = new AbortController();
        const it = db.changes({
          epoch: fresh.epoch,
          cursor: fresh.cursor,
          signal: controller.signal,
        });
        const pending = collect(it, 1);
        await db.put('after', 1);
        const [event] = await pending;
        assert.equal(event?.type === 'change' && event.key, 'after');
        controller.abort();
      },
      10,
    );
  }
}
