import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { StorageErrorCode } from '@voxmesh/storage';

it('documents every storage error code in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('@voxmesh/storage'));
  expect(section, 'docs/errors.md lacks a "## @voxmesh/storage" section').toBeDefined();
  const documented = new Set([...(section ?? '').matchAll(/^### `([A-Z_]+)`/gm)].map((m) => m[1]));
  for (const code of Object.values(StorageErrorCode)) {
    expect(documented, `docs/errors.md lacks a section for ${code}`).toContain(code);
  }
});
