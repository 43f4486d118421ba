import { readFileSync } from 'node:fs';
import { VoxmeshError } from '@voxmesh/core';
import { describe, expect, it } from 'vitest';
import { SipResponseError, SipUaErrorCode } from '@voxmesh/sip';

describe('SipUaErrorCode', () => {
  it('documents every code in docs/errors.md under @voxmesh/sip', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const start = doc.indexOf('## @voxmesh/sip');
    expect(start).toBeGreaterThanOrEqual(0);
    const next = doc.indexOf('\n## ', start + 1);
    const section = doc.slice(start, next < 0 ? undefined : next);
    const documented = new Set([...section.matchAll(/^### `([A-Z_]+)`/gm)].map((m) => m[1]));
    for (const code of Object.values(SipUaErrorCode)) {
      expect(documented, `docs/errors.md lacks a section for ${code}`).toContain(code);
    }
  });

  it('SipResponseError carries the status and is retryable for 5xx, 408 and 480 only', () => {
    const busy = new SipResponseError('busy', { status: 486, reason: 'Busy Here' });
    expect(VoxmeshError.is(busy, 'SIP_REQUEST_FAILED')).toBe(true);
    expect(busy).toMatchObject({ status: 486, reason: 'Busy Here', retryable: false });
    expect(busy.name).toBe('SipResponseError');
    expect(new SipResponseError('x', { status: 503 }).retryable).toBe(true);
    expect(new SipResponseError('x', { status: 408 }).retryable).toBe(true);
    expect(new SipResponseError('x', { status: 404 }).retryable).toBe(false);
  });
});
