import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { MediaErrorCode } from '@voxmesh/media';

it('documents every media error code in docs/errors.md under @voxmesh/media', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('@voxmesh/media'));
  expect(section, 'docs/errors.md lacks a "## @voxmesh/media" section').toBeDefined();
  const documented = new Set([...section!.matchAll(/^### `([A-Z_]+)`/gm)].map((m) => m[1]));
  for (const code of Object.values(MediaErrorCode)) {
    expect(documented, `docs/errors.md lacks a section for ${code}`).toContain(code);
  }
  expect(new Set(Object.values(MediaErrorCode)).size).toBe(Object.keys(MediaErrorCode).length);
});
