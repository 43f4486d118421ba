import { MemoryBindingStore } from '@voxmesh/sip';
import { bindingStoreSuite } from '@voxmesh/sip/testing';
import { expect, test } from 'vitest';

bindingStoreSuite({ test, expect, factory: () => new MemoryBindingStore() });

// The suite also runs with node:assert when no expect is given.
bindingStoreSuite({
  test,
  name: 'BindingStore (node:assert)',
  factory: () => new MemoryBindingStore(),
});

test('the suite catches a store that forgets to copy', async () => {
  // A broken store: set keeps the caller's array, so later changes leak in.
  const tests: [string, () => Promise<void>][] = [];
  class Leaky extends MemoryBindingStore {
    #data = new Map<string, unknown[]>();
    override get(aor: string) {
      return Promise.resolve((this.#data.get(aor) ?? []) as never);
    }
    override set(aor: string, bindings: readonly unknown[]) {
      this.#data.set(aor, bindings as unknown[]);
      return Promise.resolve();
    }
  }
  bindingStoreSuite({ test: (name, fn) => tests.push([name, fn]), factory: () => new Leaky() });
  const copies = tests.find(([name]) => name.includes('copies'));
  expect(copies).toBeDefined();
  await expect(copies![1]()).rejects.toThrow();
});
