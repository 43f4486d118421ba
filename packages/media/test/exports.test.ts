import { expect, it } from 'vitest';

// Pins the runtime exports of @voxmesh/media: removing or renaming one is a
// breaking change and must fail here first.
it('exports exactly the public API of @voxmesh/media', async () => {
  const api = await import('@voxmesh/media');
  expect(Object.keys(api).sort()).toEqual([]);
});

it('exports exactly the public API of @voxmesh/media/testing', async () => {
  const api = await import('@voxmesh/media/testing');
  expect(Object.keys(api).sort()).toEqual([]);
});
