import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import {
  ErrorCode,
  Trunk,
  type ValidationError,
  VoxmeshError,
  createConfigView,
} from '../src/index.js';
import { tenants } from './fixtures.js';

describe('Trunk registration settings', () => {
  it('accepts register and registerExpiresS within 60–86400 seconds', () => {
    for (const registerExpiresS of [60, 3600, 86_400]) {
      expect(
        Value.Check(Trunk, { id: 'c', host: 'sip.example', register: true, registerExpiresS }),
      ).toBe(true);
    }
    // Both are optional: a trunk without them does not register.
    expect(Value.Check(Trunk, { id: 'c', host: 'sip.example' })).toBe(true);
  });

  it.each([
    ['a lifetime below 60 s', { registerExpiresS: 59 }],
    ['a lifetime above a day', { registerExpiresS: 86_401 }],
    ['a fractional lifetime', { registerExpiresS: 90.5 }],
    ['register as a string', { register: 'yes' }],
  ])('rejects %s', (_name, extra) => {
    expect(Value.Check(Trunk, { id: 'c', host: 'sip.example', ...extra })).toBe(false);
  });

  it('a tenant configuration with an invalid lifetime is refused with the path', () => {
    const list = tenants();
    list[1]!.trunks![0]!.registerExpiresS = 30;
    let caught: unknown;
    try {
      createConfigView({ tenants: list });
    } catch (error) {
      caught = error;
    }
    expect(VoxmeshError.is(caught, ErrorCode.INVALID_CONFIG)).toBe(true);
    const issues = (caught as ValidationError).issues;
    expect(issues.some((i) => i.path === '/tenants/1/trunks/0/registerExpiresS')).toBe(true);
  });
});
