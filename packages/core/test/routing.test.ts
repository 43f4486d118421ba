import { describe, expect, it } from 'vitest';
import { createConfigView, routeCall, type Route, type RouteRequest } from '../src/index.js';
import { tenants } from './fixtures.js';

const view = createConfigView({ tenants: tenants() });
// A Wednesday, 10:00 in Berlin.
const OPEN = Date.UTC(2026, 5, 10, 8, 0);
const NIGHT = Date.UTC(2026, 5, 10, 22, 0);
const XMAS = Date.UTC(2026, 11, 25, 10, 0);

function fromUser(to: string, extra: Partial<RouteRequest> = {}): Route {
  return routeCall(view, {
    origin: 'user',
    tenantId: 'acme',
    callerUserId: 'alice',
    from: { number: '101' },
    to,
    at: OPEN,
    ...extra,
  });
}

function messageOf(route: Route): string {
  return route.kind === 'reject' ? route.message : '';
}

function fromTrunk(to: string, from: string, extra: Partial<RouteRequest> = {}): Route {
  return routeCall(view, { origin: 'trunk', from: { number: from }, to, at: OPEN, ...extra });
}

describe('routing inside a tenant', () => {
  it('an extension rings the user, with voicemail on busy and no answer', () => {
    const route = fromUser('101', { callerUserId: 'bob', from: { number: '102' } });
    expect(route).toMatchObject({
      kind: 'user',
      tenantId: 'acme',
      userId: 'alice',
      ringSeconds: 30,
    });
    expect(route.kind === 'user' && route.onBusy).toMatchObject({
      kind: 'voicemail',
      userId: 'alice',
    });
    expect(route.kind === 'user' && route.onNoAnswer).toMatchObject({
      afterSeconds: 30,
      route: { kind: 'voicemail', userId: 'alice' },
    });
    expect(route).toMatchObject({ callerId: { number: '102', displayName: 'Bob' } });
  });

  it('forwarding on busy resolves to the target extension', () => {
    const route = fromUser('102');
    expect(route.kind === 'user' && route.onBusy).toMatchObject({
      kind: 'user',
      userId: 'alice',
      forwardedBy: { userId: 'bob', reason: 'busy' },
    });
  });

  it('forwarding always to an external number leaves through the trunks', () => {
    expect(fromUser('103')).toMatchObject({
      kind: 'trunk',
      number: '+49301234567',
      trunkIds: ['carrier-a', 'carrier-b'],
      forwardedBy: { userId: 'carol', reason: 'always' },
    });
  });

  it('a forwarding loop is detected (482)', () => {
    expect(fromUser('105')).toMatchObject({
      kind: 'reject',
      sipStatus: 482,
      reason: 'forwarding-loop',
    });
  });

  it('do-not-disturb sends the call to voicemail', () => {
    expect(fromUser('104')).toMatchObject({
      kind: 'voicemail',
      userId: 'dave',
      forwardedBy: { reason: 'busy' },
    });
  });

  it('ring groups: simultaneous and sequential (DND members skipped), with fallback', () => {
    expect(fromUser('200')).toMatchObject({
      kind: 'ring-group',
      strategy: 'simultaneous',
      members: [{ extension: '101' }, { extension: '102' }],
    });
    expect(fromUser('201')).toMatchObject({
      kind: 'ring-group',
      strategy: 'sequential',
      memberSeconds: 10,
      members: [{ userId: 'bob' }, { userId: 'alice' }],
      fallback: { kind: 'voicemail', userId: 'alice' },
    });
  });

  it("the voicemail feature code reaches the own box, or another extension's", () => {
    expect(fromUser('*97')).toMatchObject({ kind: 'voicemail', userId: 'alice' });
    expect(fromUser('*97104')).toMatchObject({ kind: 'voicemail', userId: 'dave' });
    expect(fromUser('*97102')).toMatchObject({ kind: 'reject', sipStatus: 404 });
  });

  it('an unknown extension without the external prefix is 404', () => {
    expect(fromUser('999')).toMatchObject({ kind: 'reject', sipStatus: 404, reason: 'not-found' });
  });
});

describe('routing to trunks', () => {
  it('takes the longest matching prefix, strips and prepends, presents the user', () => {
    expect(fromUser('0030123456')).toMatchObject({
      kind: 'trunk',
      number: '+4930123456',
      outboundRouteId: 'national',
      callerId: { number: '+49301111', displayName: 'Alice A.', privacy: false },
    });
    expect(fromUser('00044201234')).toMatchObject({
      kind: 'trunk',
      number: '+44201234',
      outboundRouteId: 'international',
      trunkIds: ['carrier-b'],
      callerId: { number: '+49301110', displayName: 'Acme' },
    });
    expect(fromUser('00900123')).toMatchObject({
      outboundRouteId: 'premium',
      callerId: { privacy: true },
    });
  });

  it("refuses numbers beyond the user's outbound class (403)", () => {
    expect(fromUser('00044201234', { callerUserId: 'bob' })).toMatchObject({
      kind: 'reject',
      sipStatus: 403,
      reason: 'not-permitted',
    });
    expect(fromUser('0030123', { callerUserId: 'bob' })).toMatchObject({ kind: 'trunk' });
  });
});

describe('emergency numbers', () => {
  it.each(['112', '911', '0112'])('%s is always routed, with the location number', (number) => {
    expect(fromUser(number)).toMatchObject({
      kind: 'trunk',
      emergency: true,
      number: number.replace(/^0/, ''),
      callerId: { number: '+49301199', privacy: false },
    });
  });

  it("uses the parent's emergency trunks and ignores outbound class and privacy", () => {
    expect(
      fromUser('112', { callerUserId: 'bob', from: { number: '102', anonymous: true } }),
    ).toMatchObject({
      kind: 'trunk',
      emergency: true,
      trunkIds: ['carrier-r'],
      callerId: { privacy: false },
    });
  });

  it('gives a clear 503 when no trunk exists anywhere', () => {
    expect(
      routeCall(view, {
        origin: 'user',
        tenantId: 'initech',
        from: { number: '401' },
        to: '112',
        at: OPEN,
      }),
    ).toMatchObject({ kind: 'reject', sipStatus: 503, reason: 'no-emergency-route' });
  });
});

describe('inbound calls on DIDs', () => {
  it('routes by business hours in the tenant time zone', () => {
    expect(fromTrunk('+49301110', '+4930999')).toMatchObject({
      kind: 'ivr',
      flowId: 'main',
      tenantId: 'acme',
    });
    expect(fromTrunk('+49301110', '+4930999', { at: NIGHT })).toMatchObject({
      kind: 'voicemail',
      userId: 'alice',
    });
    expect(fromTrunk('+49301110', '+4930999', { at: XMAS })).toMatchObject({
      kind: 'reject',
      sipStatus: 480,
      reason: 'destination-hangup',
    });
  });

  it('rejects blacklisted callers (603), exact and by prefix', () => {
    expect(fromTrunk('+49301111', '+4915112345678')).toMatchObject({
      kind: 'reject',
      sipStatus: 603,
      reason: 'blacklisted',
    });
    expect(fromTrunk('+49301111', '+447001234')).toMatchObject({ kind: 'reject', sipStatus: 603 });
    expect(fromTrunk('+49301111', '+447101234')).toMatchObject({ kind: 'user', userId: 'alice' });
  });

  it('rejects anonymous callers when the tenant says so (433)', () => {
    expect(
      routeCall(view, {
        origin: 'trunk',
        from: { number: 'anonymous', anonymous: true },
        to: '+49301111',
        at: OPEN,
      }),
    ).toMatchObject({ kind: 'reject', sipStatus: 433, reason: 'anonymous-rejected' });
  });

  it('an unknown DID is 404', () => {
    expect(fromTrunk('+1555000', '+4930999')).toMatchObject({
      kind: 'reject',
      sipStatus: 404,
      reason: 'not-found',
    });
  });
});

describe('routing between tenants', () => {
  it('allowed: acme allows outbound to globex, globex allows inbound from acme, acme presents', () => {
    expect(fromUser('301', { toDomain: 'globex.example' })).toMatchObject({
      kind: 'user',
      tenantId: 'globex',
      userId: 'gina',
      fromTenantId: 'acme',
      callerId: { number: '7101', displayName: 'Acme' },
    });
  });

  it('allowed through an inter-tenant dial prefix', () => {
    expect(fromUser('88301')).toMatchObject({ kind: 'user', tenantId: 'globex', userId: 'gina' });
  });

  it('refused when the calling tenant does not allow outbound to the target', () => {
    const route = fromUser('401', { toDomain: 'initech.example' });
    expect(route).toMatchObject({ kind: 'reject', sipStatus: 403, reason: 'inter-tenant-refused' });
    expect(messageOf(route)).toMatch(/'acme' does not allow outbound calls to tenant 'initech'/);
  });

  it('refused when the called tenant does not allow inbound from the caller', () => {
    const route = routeCall(view, {
      origin: 'user',
      tenantId: 'initech',
      callerUserId: 'ivan',
      from: { number: '401' },
      to: '301',
      toDomain: 'globex.example',
      at: OPEN,
    });
    expect(route).toMatchObject({ kind: 'reject', reason: 'inter-tenant-refused' });
    expect(messageOf(route)).toMatch(/'globex' does not allow inbound calls from tenant 'initech'/);
  });

  it('refused when the calling tenant has no presentation configured', () => {
    const route = routeCall(view, {
      origin: 'user',
      tenantId: 'globex',
      callerUserId: 'gina',
      from: { number: '301' },
      to: '101',
      toDomain: 'acme.example',
      at: OPEN,
    });
    expect(route).toMatchObject({ kind: 'reject', reason: 'inter-tenant-refused' });
    expect(messageOf(route)).toMatch(/'globex' has no presentation configured/);
  });

  it("applies the called tenant's blacklist to the presented number", () => {
    const list = tenants();
    list[1]!.blacklist = [{ number: '9401' }];
    const guarded = createConfigView({ tenants: list });
    const route = routeCall(guarded, {
      origin: 'user',
      tenantId: 'initech',
      callerUserId: 'ivan',
      from: { number: '401' },
      to: '101',
      toDomain: 'acme.example',
      at: OPEN,
    });
    expect(route).toMatchObject({ kind: 'reject', sipStatus: 603 });
  });

  it("never lets a call from another tenant out through the called tenant's trunks", () => {
    const route = routeCall(view, {
      origin: 'user',
      tenantId: 'initech',
      callerUserId: 'ivan',
      from: { number: '401' },
      to: '103',
      toDomain: 'acme.example',
      at: OPEN,
    });
    expect(route).toMatchObject({ kind: 'reject', sipStatus: 403, reason: 'not-permitted' });
    expect(
      routeCall(view, {
        origin: 'user',
        tenantId: 'initech',
        from: { number: '401' },
        to: '0301234',
        toDomain: 'acme.example',
        at: OPEN,
      }),
    ).toMatchObject({ kind: 'reject', sipStatus: 404 });
  });

  it('an unknown tenant is 404', () => {
    expect(fromUser('301', { toDomain: 'nowhere.example' })).toMatchObject({
      kind: 'reject',
      reason: 'unknown-tenant',
    });
    expect(
      routeCall(view, {
        origin: 'user',
        domain: 'nowhere.example',
        from: { number: '1' },
        to: '1',
        at: 0,
      }),
    ).toMatchObject({
      kind: 'reject',
      reason: 'unknown-tenant',
    });
  });
});

describe('concurrent-call limits', () => {
  it("refuses with 503 at the tenant's limit or an ancestor's, never an emergency call", () => {
    const list = tenants();
    list[0]!.limits!.maxConcurrentCalls = 50;
    list[1]!.limits!.maxConcurrentCalls = 2;
    list[2]!.limits!.maxConcurrentCalls = 10;
    const limited = createConfigView({ tenants: list });
    const call = (activeCalls: Record<string, number>, to = '102'): Route =>
      routeCall(limited, {
        origin: 'user',
        tenantId: 'acme',
        callerUserId: 'alice',
        from: { number: '101' },
        to,
        at: OPEN,
        activeCalls,
      });
    expect(call({ acme: 1 })).toMatchObject({ kind: 'user' });
    expect(call({ acme: 2 })).toMatchObject({
      kind: 'reject',
      sipStatus: 503,
      reason: 'limit-reached',
    });
    expect(call({ acme: 0, reseller: 50 })).toMatchObject({
      kind: 'reject',
      reason: 'limit-reached',
    });
    expect(call({ acme: 2 }, '112')).toMatchObject({ kind: 'trunk', emergency: true });
    expect(
      routeCall(limited, {
        origin: 'trunk',
        from: { number: '+4930999' },
        to: '+49301111',
        at: OPEN,
        activeCalls: { acme: 5 },
      }),
    ).toMatchObject({ kind: 'reject', sipStatus: 503 });
  });
});

it('is pure: the same request gives the same route', () => {
  expect(fromUser('201')).toEqual(fromUser('201'));
});
