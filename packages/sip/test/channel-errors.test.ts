import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SipChannelErrorCode, infoDigit } from '@voxmesh/sip';

describe('SipChannelErrorCode', () => {
  it('documents every code in docs/errors.md under @voxmesh/sip', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const start = doc.indexOf('## @voxmesh/sip');
    expect(start).toBeGreaterThanOrEqual(0);
    const next = doc.indexOf('\n## ', start + 1);
    const section = doc.slice(start, next < 0 ? undefined : next);
    const documented = new Set([...section.matchAll(/^### `([A-Z_]+)`/gm)].map((m) => m[1]));
    for (const code of Object.values(SipChannelErrorCode)) {
      expect(documented, `docs/errors.md lacks a section for ${code}`).toContain(code);
    }
  });
});

describe('infoDigit', () => {
  it('reads application/dtmf-relay and application/dtmf bodies, and nothing else', () => {
    expect(infoDigit('application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n')).toBe('5');
    expect(infoDigit('Application/DTMF-Relay; charset=x', 'signal = #\r\n')).toBe('#');
    expect(infoDigit('application/dtmf-relay', 'Signal=10\r\n')).toBe('*');
    expect(infoDigit('application/dtmf-relay', 'Signal=d\r\n')).toBe('D');
    expect(infoDigit('application/dtmf', ' 7 ')).toBe('7');
    expect(infoDigit('application/dtmf-relay', 'Signal=16\r\n')).toBeUndefined();
    expect(infoDigit('application/dtmf-relay', 'Duration=160\r\n')).toBeUndefined();
    expect(infoDigit('application/dtmf', '12')).toBeUndefined();
    expect(infoDigit('text/plain', 'Signal=5')).toBeUndefined();
    expect(infoDigit(undefined, '5')).toBeUndefined();
  });
});
