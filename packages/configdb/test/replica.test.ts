import { MemoryLevel } from 'memory-level';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, VoxmeshError } from '@voxmesh/core';
import { Collection, ConfigDbErrorCode, ConfigReplica, type ChangeEvent } from '../src/index.js';
import { take } from './helpers.js';

const replicas: ConfigReplica[] = [];
async function open(options: Partial<ConstructorParameters<typeof ConfigReplica>[0]> = {}) {
  const replica = new ConfigReplica({ id: 'a', db: new MemoryLevel(), ...options });
  replicas.push(replica);
  await replica.start();
  return replica;
}
afterEach(async () => {
  await Promise.all(replicas.splice(0).map((r) => r.stop()));
});

describe('ConfigReplica store', () => {
  it('gets, puts, deletes and lists by prefix', async () => {
    const db = await open();
    await db.put('t/acme/users/1', { name: 'Ada' });
    await db.put('t/acme/users/2', { name: 'Bob' });
    await db.put('t/other/users/1', { name: 'Cy' });
    expect(await db.get('t/acme/users/1')).toEqual({ name: 'Ada' });
    expect(await db.get('missing')).toBeUndefined();
    await db.del('t/acme/users/2');
    expect(await db.get('t/acme/users/2')).toBeUndefined();
    expect(await db.list({ prefix: 't/acme/' })).toEqual([['t/acme/users/1', { name: 'Ada' }]]);
    expect((await db.list()).map(([k]) => k)).toEqual(['t/acme/users/1', 't/other/users/1']);
  });

  it('applies a batch atomically with consecutive cursors', async () => {
    const db = await open();
    const before = db.cursor;
    const result = await db.batch([
      { type: 'put', key: 'a', value: 1 },
      { type: 'put', key: 'b', value: 2 },
      { type: 'del', key: 'a' },
    ]);
    expect(result.cursor).toBe(before + 3);
    expect(await db.list()).toEqual([['b', 2]]);
  });

  it('rejects bad input with INVALID_INPUT and stays usable', async () => {
    const db = await open();
    await expect(db.put('', 1)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(db.put('k', undefined)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(db.put('k', 10n)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(db.put('x'.repeat(2000), 1)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(db.batch([])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(() => db.changes({ cursor: -1 })).toThrow(VoxmeshError);
    await db.put('k', 1);
    expect(await db.get('k')).toBe(1);
  });

  it('refuses writes once stopped', async () => {
    const db = await open();
    await db.stop();
    await expect(db.put('k', 1)).rejects.toMatchObject({ code: 'NOT_ACCEPTING_WORK' });
    await expect(db.get('k')).rejects.toMatchObject({ code: ConfigDbErrorCode.UNAVAILABLE });
  });

  it('keeps data, epoch and cursor across restarts of the same database', async () => {
    const level = new MemoryLevel();
    const first = new ConfigReplica({ id: 'a', db: level });
    await first.start();
    await first.put('k', 'v1');
    const epoch = first.epoch;
    const cursor = first.cursor;
    await first.stop();
    const second = await open({ db: level });
    expect(second.epoch).toBe(epoch);
    expect(second.cursor).toBe(cursor);
    expect(await second.get('k')).toBe('v1');
    const { state } = await second.snapshot();
    expect(state.get('k')).toBe('v1');
  });
});

describe('listeners', () => {
  it('snapshot + changes resume exactly after the cursor', async () => {
    const db = await open();
    await db.put('a', 1);
    const snap = await db.snapshot();
    expect(snap.state).toEqual(new Map([['a', 1]]));
    await db.put('b', 2);
    await db.del('a');
    const it1 = db.changes({ epoch: snap.epoch, cursor: snap.cursor });
    const events = await take(it1, 2);
    expect(events).toEqual([
      { type: 'change', cursor: snap.cursor + 1, key: 'b', value: 2, deleted: false },
      { type: 'change', cursor: snap.cursor + 2, key: 'a', value: undefined, deleted: true },
    ]);
    const live = take(it1, 1);
    await db.put('c', 3);
    expect(await live).toEqual([
      { type: 'change', cursor: snap.cursor + 3, key: 'c', value: 3, deleted: false },
    ]);
    await it1.return?.();
  });

  it('delivers concurrent writes to a listener registered among them without gap or duplicate', async () => {
    const db = await open();
    const seen: number[] = [];
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) writes.push(db.put(`k${i % 7}`, i));
    const snap = await db.snapshot();
    for (let i = 200; i < 400; i++) writes.push(db.put(`k${i % 7}`, i));
    const controller = new AbortController();
    const done = (async () => {
      try {
        for await (const e of db.changes({ cursor: snap.cursor, signal: controller.signal })) {
          seen.push(e.cursor);
          if (e.cursor === 400) controller.abort();
        }
      } catch (error) {
        if (!VoxmeshError.is(error, 'ABORTED')) throw error;
      }
    })();
    await Promise.all(writes);
    await done;
    expect(seen).toEqual(Array.from({ length: 400 - snap.cursor }, (_, i) => snap.cursor + 1 + i));
  });

  it('fails with COMPACTED behind the retained feed and EPOCH_MISMATCH on another epoch', async () => {
    const db = await open({ retainChanges: 10 });
    for (let i = 0; i < 50; i++) await db.put(`k${i}`, i);
    expect(db.feedStart).toBeGreaterThan(1);
    await expect(take(db.changes({ cursor: 0 }), 1)).rejects.toMatchObject({
      code: ConfigDbErrorCode.COMPACTED,
    });
    await expect(take(db.changes({ cursor: 50, epoch: 'other' }), 1)).rejects.toMatchObject({
      code: ConfigDbErrorCode.EPOCH_MISMATCH,
    });
    await expect(take(db.changes({ cursor: 99 }), 1)).rejects.toMatchObject({
      code: ConfigDbErrorCode.EPOCH_MISMATCH,
    });
    // Within the retained window it still resumes.
    const events = await take(db.changes({ cursor: 45 }), 5);
    expect(events.map((e) => e.cursor)).toEqual([46, 47, 48, 49, 50]);
  });

  it('sends progress heartbeats to filtered listeners', async () => {
    const clock = new FakeClock();
    const db = await open({ clock });
    const iterator = db.changes({ prefix: 'mine/', cursor: 0, progressIntervalMs: 500 });
    await db.put('other/1', 1);
    await db.put('mine/1', 1);
    await db.put('other/2', 2);
    const first = await iterator.next();
    expect(first.value).toMatchObject({ type: 'change', key: 'mine/1', cursor: 2 });
    const pending = iterator.next();
    await clock.advanceAsync(500);
    expect((await pending).value).toEqual({ type: 'progress', cursor: 3 });
    await iterator.return?.();
  });

  it('subscribe() delivers events and unsubscribes', async () => {
    const db = await open();
    const events: ChangeEvent[] = [];
    let notify: () => void = () => undefined;
    const got = new Promise<void>((resolve) => (notify = resolve));
    const unsubscribe = db.subscribe({ cursor: db.cursor }, (e) => {
      events.push(e);
      notify();
    });
    await db.put('a', 1);
    await got;
    unsubscribe();
    await db.put('b', 2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(events.map((e) => e.type === 'change' && e.key)).toEqual(['a']);
  });

  it('ends listeners with UNAVAILABLE when the replica stops', async () => {
    const db = await open();
    const pending = take(db.changes({}), 1);
    await new Promise((resolve) => setImmediate(resolve));
    await db.stop();
    await expect(pending).rejects.toMatchObject({ code: ConfigDbErrorCode.UNAVAILABLE });
  });

  it('aborting the signal ends the iteration with ABORTED', async () => {
    const db = await open();
    const controller = new AbortController();
    const pending = take(db.changes({ signal: controller.signal }), 1);
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('bye'));
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('Collection', () => {
  it('validates records on write and read and lists by id', async () => {
    const db = await open();
    const users = new Collection<{ name: string }>({
      backend: db,
      prefix: 'tenants/acme/',
      name: 'users',
      parse: (v) => {
        if (
          typeof v !== 'object' ||
          v === null ||
          typeof (v as { name?: unknown }).name !== 'string'
        ) {
          throw new Error('name must be a string');
        }
        return v as { name: string };
      },
    });
    await users.put('100', { name: 'Ada' });
    await expect(users.put('101', { name: 7 } as never)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(users.get('a/b')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(await users.get('100')).toEqual({ name: 'Ada' });
    expect(await users.list()).toEqual([['100', { name: 'Ada' }]]);
    await db.put('tenants/acme/users/bad', { nope: true });
    await expect(users.list()).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});
