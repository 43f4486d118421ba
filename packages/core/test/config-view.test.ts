import { describe, expect, it } from 'vitest';
import {
  canManageTenant,
  createConfigView,
  ErrorCode,
  ValidationError,
  VoxmeshError,
  type Tenant,
} from '../src/index.js';
import { tenants } from './fixtures.js';

function issuesOf(mutate: (list: Tenant[]) => void): { path: string; message: string }[] {
  const list = tenants();
  mutate(list);
  try {
    createConfigView({ tenants: list });
  } catch (error) {
    expect(VoxmeshError.is(error, ErrorCode.INVALID_CONFIG)).toBe(true);
    expect(error).toBeInstanceOf(ValidationError);
    return [...(error as ValidationError).issues];
  }
  throw new Error('expected the configuration to be rejected');
}

const acme = (list: Tenant[]): Tenant => list[1]!;

describe('createConfigView', () => {
  it('accepts the fixture and indexes it', () => {
    const view = createConfigView({ tenants: tenants() });
    expect(view.tenant('acme')?.name).toBe('Acme');
    expect(view.tenantByDomain('ACME.example')?.id).toBe('acme');
    expect(view.did('+49301111')?.tenant.id).toBe('acme');
    expect(view.children('reseller').map((t) => t.id)).toEqual(['acme', 'globex']);
    expect(Object.isFrozen(view.tenant('acme')?.users)).toBe(true);
  });

  it.each<[string, (list: Tenant[]) => void, string, RegExp]>([
    [
      'a schema violation',
      (l) => (acme(l).users[0]!.extension = '1'),
      '/tenants/1/users/0/extension',
      /match/,
    ],
    [
      'an unknown property',
      (l) => Object.assign(acme(l), { colour: 'red' }),
      '/tenants/1/colour',
      /Unexpected property/,
    ],
    [
      'a destination of the wrong type',
      (l) => (acme(l).dids![1]!.destination = { type: 'fax' } as never),
      '/tenants/1/dids/1/destination/type',
      /Expected one of 'extension', 'ring-group'/,
    ],
    [
      'an unknown time zone',
      (l) => (acme(l).timeZone = 'Europe/Atlantis'),
      '/tenants/1/timeZone',
      /Unknown IANA time zone/,
    ],
    [
      'a duplicate extension',
      (l) => (acme(l).users[1]!.extension = '101'),
      '/tenants/1/users/1/extension',
      /already used by user 'alice'/,
    ],
    [
      'a ring group on a user extension',
      (l) => (acme(l).ringGroups![0]!.extension = '102'),
      '/tenants/1/ringGroups/0/extension',
      /already used by user 'bob'/,
    ],
    [
      'a ring-group member that does not exist',
      (l) => acme(l).ringGroups![0]!.members.push('999'),
      '/tenants/1/ringGroups/0/members/2',
      /No user has extension 999/,
    ],
    [
      'a DID to a missing flow',
      (l) => (acme(l).dids![0]!.destination = { type: 'ivr', flowId: 'nope' }),
      '/tenants/1/dids/0/destination/flowId',
      /IVR flow 'nope' does not exist/,
    ],
    [
      'a DID owned twice',
      (l) => (l[2]!.dids = [{ number: '+49301111', destination: { type: 'hangup' } }]),
      '/tenants/2/dids/0/number',
      /already assigned to tenant 'acme'/,
    ],
    [
      'a missing schedule',
      (l) => (acme(l).dids![0]!.schedule!.scheduleId = 'weekend'),
      '/tenants/1/dids/0/schedule/scheduleId',
      /Schedule 'weekend' does not exist/,
    ],
    [
      'a missing trunk',
      (l) => acme(l).outboundRoutes![0]!.trunkIds.push('carrier-z'),
      '/tenants/1/outboundRoutes/0/trunkIds/2',
      /Trunk 'carrier-z'/,
    ],
    [
      'a device of an unknown user',
      (l) => (acme(l).devices![0]!.userId = 'zoe'),
      '/tenants/1/devices/0/userId',
      /User 'zoe' does not exist/,
    ],
    [
      'credentials without a secret',
      (l) => delete acme(l).users[0]!.sip.password,
      '/tenants/1/users/0/sip',
      /password or an ha1/,
    ],
    [
      'a missing parent',
      (l) => (acme(l).parentId = 'ghost'),
      '/tenants/1/parentId',
      /Parent tenant 'ghost' does not exist/,
    ],
    ['a parent cycle', (l) => (l[0]!.parentId = 'acme'), '/tenants/0/parentId', /own ancestor/],
    [
      'a duplicate domain',
      (l) => (l[3]!.domain = 'acme.example'),
      '/tenants/3/domain',
      /already used by tenant 'acme'/,
    ],
    [
      'more users than maxUsers',
      (l) => (acme(l).limits!.maxUsers = 2),
      '/tenants/1/users',
      /6 users exceed the tenant's limit of 2/,
    ],
    [
      "a child's limit above its parent's",
      (l) => (acme(l).limits!.maxUsers = 500),
      '/tenants/1/limits/maxUsers',
      /exceeds the parent's limit of 100/,
    ],
    [
      'more children than allowed',
      (l) => (l[0]!.limits!.maxChildren = 1),
      '/tenants/0/limits/maxChildren',
      /2 child tenants/,
    ],
    [
      'an inter-tenant route to nowhere',
      (l) => acme(l).interTenant!.routes!.push({ prefix: '99', tenantId: 'ghost' }),
      '/tenants/1/interTenant/routes/1/tenantId',
      /does not exist/,
    ],
    [
      'an invalid IVR flow',
      (l) => (acme(l).flows![0]!.nodes.hello!.outputs = { next: 'gone' }),
      '/tenants/1/flows/0/nodes/hello/outputs/next',
      /missing node 'gone'/,
    ],
    [
      'a fixed presentation without a number',
      (l) => (acme(l).outboundRoutes![0]!.presentation = { mode: 'fixed' }),
      '/tenants/1/outboundRoutes/0/presentation/number',
      /needs a number/,
    ],
  ])('rejects %s with its path', (_name, mutate, path, message) => {
    const issues = issuesOf(mutate);
    const issue = issues.find((i) => i.path === path);
    expect(issue, `no issue at ${path}; got ${JSON.stringify(issues)}`).toBeDefined();
    expect(issue?.message).toMatch(message);
  });

  it('names the path and the problem in the error message', () => {
    const list = tenants();
    acme(list).users[0]!.extension = '102';
    expect(() => createConfigView({ tenants: list })).toThrow(
      /Tenant configuration is invalid: \/tenants\/1\/users\/1\/extension: Extension 102 is already used by user 'alice'/,
    );
  });

  it('rejects non-objects without crashing', () => {
    expect(() => createConfigView({ tenants: [null, 42, 'x'] })).toThrow(ValidationError);
  });
});

describe('tenant hierarchy', () => {
  const view = createConfigView({ tenants: tenants() });
  it.each([
    ['reseller', 'acme', true],
    ['reseller', 'reseller', true],
    ['acme', 'acme', true],
    ['acme', 'reseller', false],
    ['acme', 'globex', false],
    ['initech', 'acme', false],
    ['reseller', 'ghost', false],
  ])('%s manages %s: %s', (manager, tenant, expected) => {
    expect(canManageTenant(view, manager, tenant)).toBe(expected);
  });
});
