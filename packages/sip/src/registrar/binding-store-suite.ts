/**
 * The conformance suite of {@link BindingStore}: every implementation (the
 * in-memory default, a configdb-backed store, an integrator's) runs it.
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual } from 'node:assert/strict';
import { VoxmeshError } from '@voxmesh/core';
import type { Binding, BindingStore } from './binding-store.js';

/** A test function as vitest, node:test or mocha provide it. */
export type SuiteTestFunction = (name: string, fn: () => Promise<void>) => unknown;

/** An `expect` as vitest or jest provide it (only `toEqual` is used). */
export type SuiteExpect = (actual: unknown) => { toEqual(expected: unknown): unknown };

/** Options of {@link bindingStoreSuite}. */
export interface BindingStoreSuiteOptions {
  /** Registers one test. */
  test: SuiteTestFunction;
  /**
   * Deep-equality assertions.
   * @defaultValue `node:assert/strict`'s `deepStrictEqual`
   */
  expect?: SuiteExpect | undefined;
  /** Creates a fresh, empty store for each test. */
  factory: () => BindingStore | Promise<BindingStore>;
  /**
   * Releases a store after its test.
   * @defaultValue nothing
   */
  close?: ((store: BindingStore) => void | Promise<void>) | undefined;
  /**
   * A prefix for the test names.
   * @defaultValue `'BindingStore'`
   */
  name?: string | undefined;
}

function binding(
  aor: string,
  contact: string,
  expiresAt: number,
  extra?: Partial<Binding>,
): Binding {
  return {
    aor,
    contact,
    q: 1,
    expiresAt,
    updatedAt: expiresAt - 3_600_000,
    callId: `call-${contact}`,
    cseq: 1,
    received: {
      protocol: 'UDP',
      source: { host: '192.0.2.10', port: 5062 },
      local: { host: '198.51.100.1', port: 5060 },
      flowId: 'udp-1',
    },
    ...extra,
  };
}

function sortByContact(list: readonly Binding[]): Binding[] {
  return [...list].sort((a, b) => (a.contact < b.contact ? -1 : a.contact > b.contact ? 1 : 0));
}

/**
 * Registers the conformance tests of a {@link BindingStore} with `test`
 * (abstract-level style: the suite imports no test runner).
 *
 * @example
 * In a vitest file, with `test` and `expect` from vitest and
 * `bindingStoreSuite` from `@voxmesh/sip/testing`:
 * ```ts
 * bindingStoreSuite({ test, expect, factory: () => new MyBindingStore() });
 * ```
 */
export function bindingStoreSuite(options: BindingStoreSuiteOptions): void {
  const { test, factory } = options;
  const prefix = options.name ?? 'BindingStore';
  const equal = (actual: unknown, expected: unknown): void => {
    if (options.expect === undefined) deepStrictEqual(actual, expected);
    else options.expect(actual).toEqual(expected);
  };
  const run = (name: string, body: (store: BindingStore) => Promise<void>): void => {
    test(`${prefix}: ${name}`, async () => {
      const store = await factory();
      try {
        await body(store);
      } finally {
        await options.close?.(store);
      }
    });
  };

  const alice = 'sip:alice@tenant-a.example';
  const bob = 'sip:bob@tenant-a.example';
  const T = Date.UTC(2030, 0, 1);

  run('an unknown AOR has no bindings', async (store) => {
    equal(await store.get(alice), []);
  });

  run('set then get returns the bindings with every field, in order', async (store) => {
    const list = [
      binding(alice, 'sip:alice@192.0.2.10:5062', T + 60_000, {
        q: 0.5,
        instanceId: '<urn:uuid:00000000-0000-0000-0000-000000000001>',
        regId: 1,
        userAgent: 'phone/1.0',
      }),
      binding(alice, 'sip:alice@192.0.2.11:5060;transport=tcp', T + 120_000, {
        received: { protocol: 'TCP', source: { host: '192.0.2.11', port: 40_000 } },
      }),
    ];
    await store.set(alice, list);
    equal(await store.get(alice), list);
  });

  run('set replaces every binding of the AOR', async (store) => {
    await store.set(alice, [binding(alice, 'sip:a1@192.0.2.1', T)]);
    const replacement = [binding(alice, 'sip:a2@192.0.2.2', T)];
    await store.set(alice, replacement);
    equal(await store.get(alice), replacement);
  });

  run('set with an empty list removes the AOR', async (store) => {
    await store.set(alice, [binding(alice, 'sip:a1@192.0.2.1', T)]);
    await store.set(alice, []);
    equal(await store.get(alice), []);
  });

  run('AORs are independent', async (store) => {
    const a = [binding(alice, 'sip:a1@192.0.2.1', T)];
    const b = [binding(bob, 'sip:b1@192.0.2.2', T)];
    await store.set(alice, a);
    await store.set(bob, b);
    await store.set(alice, []);
    equal(await store.get(alice), []);
    equal(await store.get(bob), b);
  });

  run('a binding for another AOR is refused with a TypeError', async (store) => {
    let caught: unknown;
    try {
      await store.set(alice, [binding(bob, 'sip:b1@192.0.2.2', T)]);
    } catch (error) {
      caught = error;
    }
    ok(caught instanceof TypeError, `expected a TypeError, got ${String(caught)}`);
    equal(await store.get(alice), []);
  });

  run('expire removes exactly the bindings due at or before now', async (store) => {
    const due = binding(alice, 'sip:a1@192.0.2.1', T);
    const later = binding(alice, 'sip:a2@192.0.2.2', T + 1);
    const bobDue = binding(bob, 'sip:b1@192.0.2.3', T - 10);
    await store.set(alice, [due, later]);
    await store.set(bob, [bobDue]);
    const removed = await store.expire(T);
    equal(sortByContact(removed), sortByContact([due, bobDue]));
    equal(await store.get(alice), [later]);
    equal(await store.get(bob), []);
    equal(await store.expire(T), []);
    equal(await store.expire(T + 1), [later]);
  });

  run('results are copies: changing them does not change the store', async (store) => {
    const list = [binding(alice, 'sip:a1@192.0.2.1', T)];
    await store.set(alice, list);
    const got = await store.get(alice);
    got.pop();
    list.push(binding(alice, 'sip:a2@192.0.2.2', T));
    equal(await store.get(alice), [binding(alice, 'sip:a1@192.0.2.1', T)]);
  });

  run('an aborted signal rejects every method with ABORTED', async (store) => {
    const signal = AbortSignal.abort(new Error('stop'));
    for (const attempt of [
      () => store.get(alice, { signal }),
      () => store.set(alice, [binding(alice, 'sip:a1@192.0.2.1', T)], { signal }),
      () => store.expire(T, { signal }),
    ]) {
      let caught: unknown;
      try {
        await attempt();
      } catch (error) {
        caught = error;
      }
      ok(VoxmeshError.is(caught, 'ABORTED'), `expected ABORTED, got ${String(caught)}`);
    }
    equal(await store.get(alice), []);
  });

  run('many AORs: expire scans them all', async (store) => {
    for (let i = 0; i < 50; i++) {
      const aor = `sip:user${i}@tenant-b.example`;
      await store.set(aor, [
        binding(aor, `sip:user${i}@192.0.2.${i}`, T + (i % 2 === 0 ? 0 : 1000)),
      ]);
    }
    strictEqual((await store.expire(T)).length, 25);
    strictEqual((await store.get('sip:user1@tenant-b.example')).length, 1);
    strictEqual((await store.get('sip:user0@tenant-b.example')).length, 0);
  });
}
