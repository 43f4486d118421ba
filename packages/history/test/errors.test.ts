import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { HistoryErrorCode } from '@voxmesh/history';

it('documents every @voxmesh/history code in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const start = doc.indexOf('## @voxmesh/history');
  expect(start, 'docs/errors.md lacks a ## @voxmesh/history section').toBeGreaterThanOrEqual(0);
  const next = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, next === -1 ? undefined : next);
  const documented = new Set([...section.matchAll(/^### `([A-Z_]+)`/gm)].map((m) => m[1]));
  for (const code of Object.values(HistoryErrorCode)) {
    expect(documented, `docs/errors.md lacks a section for ${code}`).toContain(code);
  }
});
