import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { ConfigDbErrorCode } from '../src/index.js';

it('documents every @voxmesh/configdb code in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const start = doc.indexOf('## @voxmesh/configdb');
  expect(start, 'docs/errors.md lacks a ## @voxmesh/configdb section').toBeGreaterThanOrEqual(0);
  const next = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, next === -1 ? undefined : next);
  const documented = new Set([...section.matchAll(/^### `([A-Z_]+)`/gm)].map((m) => m[1]));
  for (const code of Object.values(ConfigDbErrorCode)) {
    expect(documented, `docs/errors.md lacks a section for ${code}`).toContain(code);
  }
});
