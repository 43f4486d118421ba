import { expect, it } from 'vitest';

// Pins the runtime exports of @voxmesh/configdb: removing or renaming one is a
// breaking change and must fail here first.
it('exports exactly the public API of @voxmesh/configdb', async () => {
  const api = await import('@voxmesh/configdb');
  expect(Object.keys(api).sort()).toEqual([
    'Collection',
    'ConfigDbErrorCode',
    'ConfigReplica',
    'ConfigServer',
    'ConfigView',
    'HybridLogicalClock',
    'RemoteConfigClient',
    'RoutingClient',
    'ShardMap',
    'TcpTransport',
    'compareHlc',
    'compareStamps',
    'padSeq',
    'parseReplicationMessage',
  ]);
});

it('exports exactly the public API of @voxmesh/configdb/testing', async () => {
  const api = await import('@voxmesh/configdb/testing');
  expect(Object.keys(api).sort()).toEqual([
    'SeededRandom',
    'SimulatedNetwork',
    'SkewedClock',
    'configBackendSuite',
  ]);
});
