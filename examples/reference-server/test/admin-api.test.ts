/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call -- JSON answers of the API under test */
// The admin API of a server running in-process: authentication, tenant
// scoping (another tenant's resources answer 404 exactly like missing ones),
// validation with schema paths, limits, history and voicemail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tenant } from '@voxmesh/core';
import { FsBlobStore } from '@voxmesh/storage';
import { voicemailKey } from '../src/admin-api.js';
import { renderToneWav } from '../src/prompts.js';
import { ROOT_KEY, api, startServer, type TestServer } from './helpers.js';

let t: TestServer;
let demoKey: string;

const tenant = (id: string, extra: Partial<Tenant> = {}): Tenant => ({
  id,
  name: `Tenant ${id}`,
  domain: `${id}.example`,
  timeZone: 'Europe/Berlin',
  users: [
    {
      id: 'alice',
      extension: '100',
      displayName: 'Alice',
      sip: { username: 'alice', password: 'alice-secret-1' },
    },
  ],
  ...extra,
});

beforeAll(async () => {
  t = await startServer({ http: { host: '127.0.0.1', port: 0, maxBodyBytes: 8192 } });
  demoKey = t.server.seeded!.apiKey;
});

afterAll(async () => {
  await t?.close();
});

describe('service endpoints', () => {
  it('serves /health, /metrics and the OpenAPI document without a key', async () => {
    const health = await api(t.base, 'GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'running' });
    const metrics = await fetch(`${t.base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^# TYPE voxmesh_sip_registrar_requests_total counter$/m);
    const doc = await api(t.base, 'GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    for (const path of [
      '/v1/tenants',
      '/v1/tenants/{tenantId}/users/{itemId}',
      '/v1/tenants/{tenantId}/ring-groups',
      '/v1/tenants/{tenantId}/dids',
      '/v1/tenants/{tenantId}/trunks',
      '/v1/tenants/{tenantId}/flows',
      '/v1/tenants/{tenantId}/calls',
      '/v1/tenants/{tenantId}/statistics',
      '/v1/tenants/{tenantId}/users/{userId}/voicemails/{messageId}',
    ]) {
      expect(doc.body.paths, path).toHaveProperty([path]);
    }
    // Components are core's TypeBox schemas.
    expect(doc.body.components.schemas.User.properties.extension.pattern).toBe('^[0-9]{2,8}$');
    expect(doc.body.components.schemas.Tenant.required).toContain('domain');
  });

  it('answers unknown routes and methods with JSON errors', async () => {
    const unknown = await api(t.base, 'GET', '/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
    const unknownSection = await api(t.base, 'GET', '/v1/tenants/demo/gadgets', { key: demoKey });
    expect(unknownSection.status).toBe(404);
    expect(unknownSection.body.error.code).toBe('NOT_FOUND');
    const method = await api(t.base, 'PATCH', '/v1/tenants/demo', { key: demoKey, body: {} });
    expect(method.status).toBe(405);
  });
});

describe('authentication and tenant scoping', () => {
  let keyA: string;
  let keyB: string;

  beforeAll(async () => {
    expect(
      (await api(t.base, 'POST', '/v1/tenants', { key: ROOT_KEY, body: tenant('a') })).status,
    ).toBe(201);
    expect(
      (await api(t.base, 'POST', '/v1/tenants', { key: ROOT_KEY, body: tenant('b') })).status,
    ).toBe(201);
    keyA = (await api(t.base, 'POST', '/v1/tenants/a/api-keys', { key: ROOT_KEY })).body.key;
    keyB = (await api(t.base, 'POST', '/v1/tenants/b/api-keys', { key: ROOT_KEY })).body.key;
  });

  it('refuses requests without a key or with an unknown one (401)', async () => {
    const none = await api(t.base, 'GET', '/v1/tenants');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await api(t.base, 'GET', '/v1/tenants', { key: 'vxk_forged' })).status).toBe(401);
  });

  it("lists only the key's own tenants; the operator sees all", async () => {
    const asA = await api(t.base, 'GET', '/v1/tenants', { key: keyA });
    expect(asA.body.map((x: Tenant) => x.id)).toEqual(['a']);
    const asRoot = await api(t.base, 'GET', '/v1/tenants', { key: ROOT_KEY });
    expect(asRoot.body.map((x: Tenant) => x.id).sort()).toEqual(['a', 'b', 'demo']);
  });

  it("gives tenant A's key nothing of tenant B: 404 like a tenant that does not exist", async () => {
    const missing = await api(t.base, 'GET', '/v1/tenants/zzz', { key: keyA });
    expect(missing.status).toBe(404);
    for (const [method, path, body] of [
      ['GET', '/v1/tenants/b', undefined],
      ['PUT', '/v1/tenants/b', tenant('b')],
      ['DELETE', '/v1/tenants/b', undefined],
      ['GET', '/v1/tenants/b/users', undefined],
      ['GET', '/v1/tenants/b/users/alice', undefined],
      [
        'POST',
        '/v1/tenants/b/users',
        {
          id: 'eve',
          extension: '666',
          displayName: 'Eve',
          sip: { username: 'eve', password: 'eve-secret-1' },
        },
      ],
      ['DELETE', '/v1/tenants/b/users/alice', undefined],
      ['POST', '/v1/tenants/b/api-keys', undefined],
      ['GET', '/v1/tenants/b/calls', undefined],
      ['GET', '/v1/tenants/b/users/alice/voicemails', undefined],
      ['GET', '/v1/tenants/demo/users', undefined],
    ] as const) {
      const answer = await api(t.base, method, path, { key: keyA, body });
      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(answer.body, `${method} ${path}`).toEqual(missing.body);
    }
    // B is untouched and its own key still works.
    const own = await api(t.base, 'GET', '/v1/tenants/b/users', { key: keyB });
    expect(own.status).toBe(200);
    expect(own.body.map((u: { id: string }) => u.id)).toEqual(['alice']);
  });

  it('lets a tenant manage child tenants, but not the other way round', async () => {
    const denied = await api(t.base, 'POST', '/v1/tenants', { key: keyA, body: tenant('rogue') });
    expect(denied.status).toBe(400);
    expect(denied.body.error.issues[0].path).toBe('/parentId');
    const child = await api(t.base, 'POST', '/v1/tenants', {
      key: keyA,
      body: tenant('a1', { parentId: 'a' }),
    });
    expect(child.status).toBe(201);
    expect((await api(t.base, 'GET', '/v1/tenants/a1/users', { key: keyA })).status).toBe(200);
    const children = await api(t.base, 'GET', '/v1/tenants/a/children', { key: keyA });
    expect(children.body.map((x: Tenant) => x.id)).toEqual(['a1']);
    const childKey = (await api(t.base, 'POST', '/v1/tenants/a1/api-keys', { key: keyA })).body.key;
    expect((await api(t.base, 'GET', '/v1/tenants/a', { key: childKey })).status).toBe(404);
    expect((await api(t.base, 'GET', '/v1/tenants/b', { key: childKey })).status).toBe(404);
    // A parent with children cannot be deleted; the child can, by its parent.
    expect((await api(t.base, 'DELETE', '/v1/tenants/a', { key: ROOT_KEY })).status).toBe(409);
    expect((await api(t.base, 'DELETE', '/v1/tenants/a1', { key: keyA })).status).toBe(204);
    // Its keys died with it.
    expect((await api(t.base, 'GET', '/v1/tenants', { key: childKey })).status).toBe(401);
  });
});

describe('validation', () => {
  it('answers a body that breaks the schema with 400 and the path of each problem', async () => {
    const answer = await api(t.base, 'POST', '/v1/tenants/demo/users', {
      key: demoKey,
      body: {
        id: 'bad',
        extension: 'abc',
        displayName: 'Bad',
        sip: { username: 'bad' },
        colour: 'red',
      },
    });
    expect(answer.status).toBe(400);
    const paths = answer.body.error.issues.map((i: { path: string }) => i.path);
    expect(paths).toContain('/extension');
    expect(paths).toContain('/colour');
  });

  it('checks the whole configuration: duplicates and dangling references', async () => {
    const duplicate = await api(t.base, 'POST', '/v1/tenants/demo/users', {
      key: demoKey,
      body: {
        id: 'dup',
        extension: '1001',
        displayName: 'Dup',
        sip: { username: 'dup', password: 'dup-secret-1' },
      },
    });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.error.issues[0].path).toMatch(/^\/users\/\d+\/extension$/);
    const dangling = await api(t.base, 'POST', '/v1/tenants/demo/dids', {
      key: demoKey,
      body: { number: '+15550199', destination: { type: 'extension', extension: '4711' } },
    });
    expect(dangling.status).toBe(400);
    expect(dangling.body.error.issues[0]).toEqual({
      path: expect.stringMatching(/^\/dids\/\d+\/destination\/extension$/),
      message: 'No user or ring group has extension 4711',
    });
    const conflict = await api(t.base, 'POST', '/v1/tenants/demo/users', {
      key: demoKey,
      body: {
        id: 'u1001',
        extension: '1999',
        displayName: 'X',
        sip: { username: 'x', password: 'x-secret-12' },
      },
    });
    expect(conflict.status).toBe(409);
  });

  it('validates IVR flows with core (node types, outputs)', async () => {
    const bad = await api(t.base, 'POST', '/v1/tenants/demo/flows', {
      key: demoKey,
      body: {
        id: 'broken',
        start: 'menu',
        nodes: {
          menu: {
            type: 'menu',
            config: { prompt: 'x', options: ['1'] },
            outputs: { '1': 'nowhere' },
          },
        },
      },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_FLOW');
    expect(bad.body.error.issues.map((i: { path: string }) => i.path)).toContain(
      '/nodes/menu/outputs/1',
    );
    const good = await api(t.base, 'POST', '/v1/tenants/demo/flows', {
      key: demoKey,
      body: { id: 'bye', start: 'h', nodes: { h: { type: 'hangup' } } },
    });
    expect(good.status).toBe(201);
  });

  it('refuses invalid JSON (400) and bodies over the limit (413)', async () => {
    const invalid = await api(t.base, 'POST', '/v1/tenants/demo/users', {
      key: demoKey,
      raw: '{"id":',
    });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('INVALID_INPUT');
    const big = await api(t.base, 'POST', '/v1/tenants/demo/users', {
      key: demoKey,
      raw: JSON.stringify({ id: 'big', pad: 'x'.repeat(10_000) }),
    });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('users and secrets', () => {
  it('never returns passwords, and keeps the stored one when a PUT leaves it out', async () => {
    const list = await api(t.base, 'GET', '/v1/tenants/demo/users', { key: demoKey });
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toMatch(/password/);
    const user = list.body.find((u: { id: string }) => u.id === 'u1002');
    const before = t.server.directory.tenant('demo')!.users.find((u) => u.id === 'u1002')!.sip
      .password;
    const put = await api(t.base, 'PUT', '/v1/tenants/demo/users/u1002', {
      key: demoKey,
      body: { ...user, displayName: 'Renamed' },
    });
    expect(put.status).toBe(200);
    expect(put.body.displayName).toBe('Renamed');
    const after = t.server.directory.tenant('demo')!.users.find((u) => u.id === 'u1002')!;
    expect(after.displayName).toBe('Renamed');
    expect(after.sip.password).toBe(before);
  });

  it('adds, reads and deletes a ring group', async () => {
    const group = {
      id: 'night',
      extension: '2100',
      strategy: 'sequential',
      members: ['1002', '1001'],
    };
    expect(
      (await api(t.base, 'POST', '/v1/tenants/demo/ring-groups', { key: demoKey, body: group }))
        .status,
    ).toBe(201);
    expect(
      (await api(t.base, 'GET', '/v1/tenants/demo/ring-groups/night', { key: demoKey })).body,
    ).toEqual(group);
    expect(
      (await api(t.base, 'DELETE', '/v1/tenants/demo/ring-groups/night', { key: demoKey })).status,
    ).toBe(204);
    expect(
      (await api(t.base, 'GET', '/v1/tenants/demo/ring-groups/night', { key: demoKey })).status,
    ).toBe(404);
  });
});

describe('call history and voicemail', () => {
  it('lists CDRs and statistics of the tenant only', async () => {
    const startedAt = new Date('2026-01-05T10:00:00Z');
    await t.server.history.recordCdrs([
      {
        tenantId: 'demo',
        callId: 'call-1@test',
        leg: 'a',
        direction: 'internal',
        from: '1001',
        to: '1002',
        users: ['1001', '1002'],
        startedAt,
        answeredAt: new Date(startedAt.getTime() + 2000),
        endedAt: new Date(startedAt.getTime() + 62_000),
        disposition: 'answered',
        sipStatus: 200,
      },
    ]);
    await t.server.history.flush();
    const calls = await api(t.base, 'GET', '/v1/tenants/demo/calls?user=1002', { key: demoKey });
    expect(calls.status).toBe(200);
    expect(calls.body.items).toHaveLength(1);
    expect(calls.body.items[0]).toMatchObject({
      id: 'demo:call-1@test:a',
      talkMs: 60_000,
      durationMs: 62_000,
      startedAt: '2026-01-05T10:00:00.000Z',
    });
    const stats = await api(
      t.base,
      'GET',
      '/v1/tenants/demo/statistics?since=2026-01-01T00:00:00Z&until=2026-02-01T00:00:00Z&granularity=day',
      { key: demoKey },
    );
    expect(stats.status).toBe(200);
    expect(stats.body.total).toMatchObject({ calls: 1, answered: 1, minutes: 1 });
    const bad = await api(t.base, 'GET', '/v1/tenants/demo/calls?limit=0', { key: demoKey });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0].path).toBe('?limit');
    const missingSince = await api(t.base, 'GET', '/v1/tenants/demo/statistics', { key: demoKey });
    expect(missingSince.status).toBe(400);
  });

  it('lists, streams and deletes voicemail WAVs', async () => {
    const wav = renderToneWav([{ hz: 700, ms: 500 }]);
    const store = new FsBlobStore({ root: `${t.dataDir}/media` });
    await store.put(voicemailKey('demo', '1001', 'msg-1'), wav, {
      contentType: 'audio/wav',
      metadata: { from: '+4930123', duration_ms: '500', received_at: '2026-01-05T10:00:00.000Z' },
    });
    const list = await api(t.base, 'GET', '/v1/tenants/demo/users/u1001/voicemails', {
      key: demoKey,
    });
    expect(list.status).toBe(200);
    expect(list.body).toEqual([
      {
        id: 'msg-1',
        extension: '1001',
        from: '+4930123',
        receivedAt: '2026-01-05T10:00:00.000Z',
        durationMs: 500,
        sizeBytes: wav.length,
      },
    ]);
    const response = await fetch(`${t.base}/v1/tenants/demo/users/u1001/voicemails/msg-1`, {
      headers: { authorization: `Bearer ${demoKey}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('audio/wav');
    expect(Buffer.from(await response.arrayBuffer()).equals(wav)).toBe(true);
    const traversal = await api(
      t.base,
      'GET',
      '/v1/tenants/demo/users/u1001/voicemails/..%2F..%2Fprompts%2Fivr-menu',
      { key: demoKey },
    );
    expect(traversal.status).toBe(404);
    expect(
      (
        await api(t.base, 'DELETE', '/v1/tenants/demo/users/u1001/voicemails/msg-1', {
          key: demoKey,
        })
      ).status,
    ).toBe(204);
    expect(
      (await api(t.base, 'GET', '/v1/tenants/demo/users/u1001/voicemails/msg-1', { key: demoKey }))
        .status,
    ).toBe(404);
    await store.close();
  });
});
