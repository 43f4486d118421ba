import { expect, it } from 'vitest';

// Pins the runtime exports of @voxmesh/sip: removing or renaming one is a
// breaking change and must fail here first.
it('exports exactly the public API of @voxmesh/sip', async () => {
  const api = await import('@voxmesh/sip');
  expect(Object.keys(api).sort()).toEqual([
    'DigestAuthenticator',
    'DigestClient',
    'computeDigestResponse',
    'computeHA1',
    'digestHash',
    'normalizeDigestAlgorithm',
    'parseAuthHeader',
    'parseDigestChallenge',
    'parseDigestCredentials',
    'serializeDigestChallenge',
    'serializeDigestCredentials',
  ]);
});

it('exports exactly the public API of @voxmesh/sip/testing', async () => {
  const api = await import('@voxmesh/sip/testing');
  expect(Object.keys(api).sort()).toEqual([]);
});
