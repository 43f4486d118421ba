import { expect, it } from 'vitest';

// Pins the runtime exports of @voxmesh/sip: removing or renaming one is a
// breaking change and must fail here first.
it('exports exactly the public API of @voxmesh/sip', async () => {
  const api = await import('@voxmesh/sip');
  expect(Object.keys(api).sort()).toEqual([
    'AbsoluteUri',
    'BRANCH_MAGIC_COOKIE',
    'DigestAuthenticator',
    'DigestClient',
    'InviteClientTransaction',
    'InviteServerTransaction',
    'NameAddr',
    'NonInviteClientTransaction',
    'NonInviteServerTransaction',
    'SipErrorCode',
    'SipHeaders',
    'SipMessageBase',
    'SipRequest',
    'SipResponse',
    'SipResponseError',
    'SipTransport',
    'SipUaErrorCode',
    'SipUri',
    'TRANSPORT_PROTOCOLS',
    'TelUri',
    'TransactionBase',
    'TransactionLayer',
    'Via',
    'buildNonSuccessAck',
    'canonicalHeaderName',
    'computeDigestResponse',
    'computeHA1',
    'createResponse',
    'defaultPort',
    'digestHash',
    'formatParams',
    'generateBranch',
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
    'protocolOf',
    'quote',
    'reasonPhrase',
    'replaceTopVia',
    'resolveTimers',
    'responseTarget',
    'serializeDigestChallenge',
    'serializeDigestCredentials',
    'splitTopLevel',
    'stampReceived',
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
