import { expect, it } from 'vitest';

// Pins the runtime exports of @voxmesh/history: removing or renaming one is a
// breaking change and must fail here first.
it('exports exactly the public API of @voxmesh/history', async () => {
  const api = await import('@voxmesh/history');
  expect(Object.keys(api).sort()).toEqual([
    'CALL_DIRECTIONS',
    'CALL_DISPOSITIONS',
    'DEFAULT_LIMIT',
    'EmbeddedHistoryStore',
    'HistoryErrorCode',
    'HistoryOutbox',
    'MAX_LIMIT',
    'SCHEMA_VERSION',
    'cdrId',
    'normalizeActivity',
    'normalizeCdr',
  ]);
});

it('exports exactly the public API of @voxmesh/history/testing', async () => {
  const api = await import('@voxmesh/history/testing');
  expect(Object.keys(api).sort()).toEqual([
    'FlakyHistoryStore',
    'createTestCdr',
    'historyStoreSuite',
  ]);
});

it('exports exactly the public API of @voxmesh/history/mongodb', async () => {
  const api = await import('@voxmesh/history/mongodb');
  expect(Object.keys(api).sort()).toEqual(['MONGO_INDEXES', 'MongoHistoryStore']);
});
