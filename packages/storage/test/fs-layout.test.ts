import fc from 'fast-check';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore, isValidKey } from '@voxmesh/storage';

const root = mkdtempSync(join(tmpdir(), 'voxmesh-fs-layout-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('FsBlobStore layout', () => {
  const store = new FsBlobStore({ root });
  const tryPath = (key: string): string | undefined => {
    try {
      return store.pathOf(key);
    } catch (error) {
      // The one extra rule of this store: an encoded segment must fit in a file name.
      expect(String(error)).toMatch(/too long for the filesystem store/);
      return undefined;
    }
  };

  it('maps every valid key to a distinct file inside the root (property)', () => {
    const segment = fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' });
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        (a, b) => {
          const keyA = a.join('/');
          const keyB = b.join('/');
          fc.pre(isValidKey(keyA) && isValidKey(keyB));
          const pathA = tryPath(keyA);
          const pathB = tryPath(keyB);
          if (pathA === undefined || pathB === undefined) return;
          expect(pathA.startsWith(store.root + sep)).toBe(true);
          expect(pathA.slice(store.root.length + 1).split(sep)).not.toContain('..');
          if (keyA !== keyB) expect(pathB).not.toBe(pathA);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('writes no name containing a dot except the .blob suffix, and leaves no temp files', async () => {
    await store.put('t/dots.in.name/x', 'a');
    await store.put('t/.hidden/..x', 'b');
    await store.put('t/ünï/日本', 'c');
    const names: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        names.push(entry.name);
        if (entry.isDirectory()) walk(join(dir, entry.name));
      }
    };
    walk(root);
    for (const name of names) expect(name.replace(/\.blob$/, '')).not.toContain('.');
    expect(names.filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });

  it('leaves no temp file behind a failed put', async () => {
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1000);
      await Promise.resolve();
      throw new Error('boom');
    }
    await expect(store.put('t/fail/x', broken())).rejects.toThrow('boom');
    expect(readdirSync(join(root, 't', 'fail'))).toEqual([]);
  });
});
