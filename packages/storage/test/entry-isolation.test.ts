import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

// `@voxmesh/storage` and `@voxmesh/storage/testing` must never load a cloud
// SDK: only `@voxmesh/storage/s3` and `@voxmesh/storage/azure` may. Follows
// every static and dynamic import from each entry through the package source.
const src = join(dirname(fileURLToPath(import.meta.url)), '../src');

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]!);
}

function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  visit(join(src, entry));
  return { files, packages };
}

it.each(['index.ts', 'testing.ts'])('%s reaches no cloud SDK', (entry) => {
  const { files, packages } = reachable(entry);
  expect(files.size).toBeGreaterThan(3);
  const cloud = [...packages].filter(
    (p) => p.startsWith('@aws-sdk/') || p.startsWith('@azure/') || p.startsWith('@smithy/'),
  );
  expect(cloud).toEqual([]);
});

it('the cloud entries do load their SDKs (the check above can fail)', () => {
  expect([...reachable('s3.ts').packages]).toContain('@aws-sdk/client-s3');
  expect([...reachable('azure.ts').packages]).toContain('@azure/storage-blob');
});
