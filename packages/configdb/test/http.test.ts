import { MemoryLevel } from 'memory-level';
import { afterEach, describe, expect, it, test } from 'vitest';
import { onceEvent } from '@voxmesh/core';
import {
  ConfigDbErrorCode,
  ConfigReplica,
  ConfigServer,
  ConfigView,
  RemoteConfigClient,
  RoutingClient,
  ShardMap,
} from '../src/index.js';
import { configBackendSuite } from '../src/testing.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function serve(
  options: { token?: string; retainChanges?: number; level?: MemoryLevel } = {},
) {
  const replica = new ConfigReplica({
    id: 'h',
    db: options.level ?? new MemoryLevel(),
    retainChanges: options.retainChanges,
  });
  await replica.start();
  const server = new ConfigServer({ backend: replica, token: options.token });
  await server.start();
  cleanup.push(
    () => replica.stop(),
    () => server.stop(),
  );
  return { replica, server };
}

configBackendSuite({
  test,
  name: 'RemoteConfigClient over HTTP',
  factory: async ({ retainChanges }) => {
    const { replica, server } = await serve({ retainChanges, token: 'secret-token' });
    return {
      backend: new RemoteConfigClient({ urls: [server.url], token: 'secret-token' }),
      close: async () => {
        await server.stop();
        await replica.stop();
      },
    };
  },
});

describe('ConfigServer and RemoteConfigClient', () => {
  it('rejects a wrong token with UNAUTHORIZED', async () => {
    const { server } = await serve({ token: 'right' });
    const client = new RemoteConfigClient({ urls: [server.url], token: 'wrong' });
    await expect(client.get('k')).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('answers malformed requests with 400 and unknown routes with 404', async () => {
    const { server } = await serve();
    const bad = await fetch(`${server.url}/v1/kv?key=k`, { method: 'PUT', body: '{nope' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'INVALID_INPUT' } });
    const notArray = await fetch(`${server.url}/v1/batch`, {
      method: 'POST',
      body: JSON.stringify({ operations: 'x' }),
    });
    expect(notArray.status).toBe(400);
    const badCursor = await fetch(`${server.url}/v1/changes?cursor=-4`);
    expect(badCursor.status).toBe(400);
    // An oversized body is refused (a 400, or the connection closed mid-upload).
    const huge = await fetch(`${server.url}/v1/kv?key=k`, {
      method: 'PUT',
      body: JSON.stringify({ value: 'x'.repeat(2 * 1024 * 1024) }),
    }).then(
      (r) => r.status,
      () => 'closed',
    );
    expect([400, 'closed']).toContain(huge);
    expect((await fetch(`${server.url}/v1/kv?key=k`)).status).toBe(404);
    expect((await fetch(`${server.url}/v2/nothing`)).status).toBe(404);
    expect((await fetch(`${server.url}/v1/shards`)).status).toBe(404);
    const compacted = await serve({ retainChanges: 2 });
    for (let i = 0; i < 10; i++) await compacted.replica.put(`k${i}`, i);
    const gone = await fetch(`${compacted.server.url}/v1/changes?cursor=0`);
    expect(gone.status).toBe(410);
  });

  it('fails over to a reachable replica and reports UNAVAILABLE when none is', async () => {
    const { server } = await serve();
    const dead = new ConfigServer({});
    await dead.start();
    const deadUrl = dead.url;
    await dead.stop();
    const client = new RemoteConfigClient({ urls: [deadUrl, server.url], timeoutMs: 2000 });
    await client.put('k', 1);
    expect(await client.get('k')).toBe(1);
    const none = new RemoteConfigClient({ urls: [deadUrl], timeoutMs: 2000 });
    await expect(none.get('k')).rejects.toMatchObject({
      code: ConfigDbErrorCode.UNAVAILABLE,
      retryable: true,
    });
  });

  it('keeps a ConfigView serving while the server is down, then resumes', async () => {
    const level = new MemoryLevel();
    const first = await serve({ level });
    await first.replica.put('tenants/a/x', 1);
    const port = new URL(first.server.url).port;
    const client = new RemoteConfigClient({ urls: [first.server.url], timeoutMs: 1000 });
    const view = new ConfigView({ source: client, db: new MemoryLevel(), retryDelayMs: 20 });
    cleanup.push(() => view.stop());
    await view.start();
    await view.whenOnline();
    const updated = onceEvent(view, 'change');
    await first.replica.put('tenants/a/y', 2);
    await updated;
    expect(view.get('tenants/a/x')).toBe(1);

    const offline = onceEvent(view, 'offline');
    await first.server.stop();
    await first.replica.stop();
    await offline;
    expect(view.get('tenants/a/y')).toBe(2);

    // The replica returns on the same data and port: the view resumes after its cursor.
    const replica = new ConfigReplica({ id: 'h', db: level });
    await replica.start();
    await replica.put('tenants/a/z', 3);
    const server = new ConfigServer({ backend: replica, port: Number(port) });
    await server.start();
    cleanup.push(
      () => replica.stop(),
      () => server.stop(),
    );
    let resnapshots = 0;
    view.on('resnapshot', () => resnapshots++);
    const resumed = onceEvent(view, 'change');
    expect((await resumed)[0]).toMatchObject({ key: 'tenants/a/z', value: 3 });
    expect(resnapshots).toBe(0);
  });
});

describe('ShardMap, discovery and RoutingClient', () => {
  it('validates the shard map', () => {
    expect(() => new ShardMap({ version: 1, shards: [], tenants: { a: 's1' } })).toThrow(
      /unknown shard/,
    );
    expect(
      () =>
        new ShardMap({
          version: 1,
          shards: [
            { id: 's1', replicas: ['http://x'] },
            { id: 's1', replicas: ['http://y'] },
          ],
          tenants: {},
        }),
    ).toThrow(/duplicate/);
    expect(
      () => new ShardMap({ version: 1, shards: [{ id: 's', replicas: ['::'] }], tenants: {} }),
    ).toThrow(/bad URL/);
  });

  it('routes each tenant to its shard through the discovery endpoint', async () => {
    const eu = await serve();
    const us = await serve();
    const map = new ShardMap({
      version: 3,
      shards: [
        { id: 'eu-1', replicas: [eu.server.url], region: 'eu' },
        { id: 'us-1', replicas: [us.server.url], region: 'us' },
      ],
      tenants: { acme: 'eu-1', globex: 'us-1' },
    });
    const discovery = new ConfigServer({ shardMap: map, token: 't' });
    await discovery.start();
    cleanup.push(() => discovery.stop());
    const routing = new RoutingClient({ discoveryUrl: discovery.url, token: 't' });
    const acme = await routing.forTenant('acme');
    expect(await routing.forTenant('acme')).toBe(acme);
    expect((await routing.shardFor('globex')).id).toBe('us-1');
    // Writes through the routing client land on the tenant's shard only.
    await acme.put('tenants/acme/name', 'Acme');
    expect(await eu.replica.get('tenants/acme/name')).toBe('Acme');
    expect(await us.replica.get('tenants/acme/name')).toBeUndefined();
    await expect(routing.shardFor('initech')).rejects.toMatchObject({
      code: ConfigDbErrorCode.SHARD_NOT_FOUND,
    });
  });
});
