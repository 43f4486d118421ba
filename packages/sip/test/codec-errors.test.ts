import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { SipErrorCode } from '@voxmesh/sip';

it('documents every SIP codec and transport error code in docs/errors.md', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## @voxmesh/sip'));
  expect(section.length).toBeGreaterThan(0);
  const documented = new Set([...section.matchAll(/^### `([A-Z_0-9]+)`/gm)].map((m) => m[1]));
  for (const code of Object.values(SipErrorCode)) {
    expect(documented, `docs/errors.md lacks a section for ${code}`).toContain(code);
  }
});
