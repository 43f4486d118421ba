import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SipB2buaErrorCode } from '@voxmesh/sip';

describe('SipB2buaErrorCode', () => {
  it('documents every code in docs/errors.md under @voxmesh/sip', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const start = doc.indexOf('## @voxmesh/sip');
    expect(start).toBeGreaterThanOrEqual(0);
    const next = doc.indexOf('\n## ', start + 1);
    const section = doc.slice(start, next < 0 ? undefined : next);
    const documented = new Set([...section.matchAll(/^### `([A-Z0-9_]+)`/gm)].map((m) => m[1]));
    expect(Object.values(SipB2buaErrorCode).length).toBeGreaterThan(0);
    for (const code of Object.values(SipB2buaErrorCode)) {
      expect(documented, `docs/errors.md lacks a section for ${code}`).toContain(code);
    }
  });
});
