import { expect, it } from 'vitest';

// Pins the runtime exports of @voxmesh/sip: removing or renaming one is a
// breaking change and must fail here first.
it('exports exactly the public API of @voxmesh/sip', async () => {
  const api = await import('@voxmesh/sip');
  expect(Object.keys(api).sort()).toEqual([
    'AbsoluteUri',
    'DigestAuthenticator',
    'DigestClient',
    'NameAddr',
    'SipErrorCode',
    'SipHeaders',
    'SipMessageBase',
    'SipRequest',
    'SipResponse',
    'SipStreamFramer',
    'SipUri',
    'TelUri',
    'Via',
    'canonicalHeaderName',
    'computeDigestResponse',
    'computeHA1',
    'createResponse',
    'digestHash',
    'formatParams',
    'headerKey',
    'normalizeDigestAlgorithm',
    'parseAuthHeader',
    'parseDigestChallenge',
    'parseDigestCredentials',
    'parseHostPort',
    'parseMessage',
    'parseNameAddr',
    'parseParams',
    'parseSipUri',
    'parseTokenList',
    'parseUri',
    'quote',
    'reasonPhrase',
    'serializeDigestChallenge',
    'serializeDigestCredentials',
    'splitTopLevel',
    'tryParseCSeq',
    'tryParseNameAddr',
    'tryParseUri',
    'tryParseVia',
    'unquote',
  ]);
});

it('exports exactly the public API of @voxmesh/sip/testing', async () => {
  const api = await import('@voxmesh/sip/testing');
  expect(Object.keys(api).sort()).toEqual([]);
});
