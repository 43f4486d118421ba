import { FakeClock, Metrics, VoxmeshError } from '@voxmesh/core';
import { describe, expect, it } from 'vitest';
import {
  DigestAuthenticator,
  DigestClient,
  computeDigestResponse,
  computeHA1,
  parseAuthHeader,
  parseDigestChallenge,
  parseDigestCredentials,
  serializeDigestChallenge,
  serializeDigestCredentials,
  type DigestAuthenticatorOptions,
  type DigestRejection,
} from '@voxmesh/sip';

describe('digest header grammar (RFC 3261 §25.1)', () => {
  it('parses quoted strings with escapes, tokens and whitespace', () => {
    const parsed = parseAuthHeader(
      'Digest  realm="a \\"quoted\\" realm" ,nonce = "n,1",algorithm=MD5 ,\tqop="auth,auth-int"',
    );
    expect(parsed.scheme).toBe('Digest');
    expect(Object.fromEntries(parsed.params)).toEqual({
      realm: 'a "quoted" realm',
      nonce: 'n,1',
      algorithm: 'MD5',
      qop: 'auth,auth-int',
    });
  });

  it('rejects malformed values with INVALID_INPUT', () => {
    for (const bad of [
      '',
      'Digest realm="unterminated',
      'Digest realm',
      'Digest realm="a" nonce="b"',
      'Digest realm="a", realm="b"',
      'Digest realm=',
    ]) {
      expect(() => parseAuthHeader(bad), bad).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT' }),
      );
    }
  });

  it('round-trips challenges and credentials', () => {
    const challenge = {
      realm: 'voxmesh.test',
      nonce: 'abc',
      algorithm: 'SHA-256' as const,
      qop: ['auth'],
      opaque: 'o"p',
      stale: true,
      domain: 'sip:voxmesh.test',
    };
    expect(parseDigestChallenge(serializeDigestChallenge(challenge))).toEqual(challenge);
    const credentials = {
      username: 'alice',
      realm: 'voxmesh.test',
      nonce: 'abc',
      uri: 'sip:voxmesh.test',
      response: '0123abcd',
      algorithm: 'MD5' as const,
      cnonce: 'c',
      opaque: undefined,
      qop: 'auth',
      nc: '00000001',
    };
    expect(parseDigestCredentials(serializeDigestCredentials(credentials))).toEqual(credentials);
  });

  it('defaults the algorithm to MD5 and refuses unknown schemes and algorithms', () => {
    expect(parseDigestChallenge('Digest realm="r", nonce="n"')).toMatchObject({
      algorithm: 'MD5',
      qop: [],
      stale: false,
    });
    expect(() => parseDigestChallenge('Basic realm="r"')).toThrow(
      expect.objectContaining({ code: 'NOT_SUPPORTED' }),
    );
    expect(() => parseDigestChallenge('Digest realm="r", nonce="n", algorithm=SHA-512')).toThrow(
      expect.objectContaining({ code: 'NOT_SUPPORTED' }),
    );
    expect(() => parseDigestChallenge('Digest nonce="n"')).toThrow(/realm/);
    expect(() =>
      parseDigestCredentials(
        'Digest username="a", realm="r", nonce="n", uri="u", response="00", qop=auth',
      ),
    ).toThrow(/nc and cnonce/);
  });
});

describe('digest computation: published test vectors', () => {
  it('RFC 2617 §3.5 (MD5, qop=auth)', () => {
    const ha1 = computeHA1({
      algorithm: 'MD5',
      username: 'Mufasa',
      realm: 'testrealm@host.com',
      password: 'Circle Of Life',
    });
    expect(
      computeDigestResponse({
        algorithm: 'MD5',
        ha1,
        method: 'GET',
        uri: '/dir/index.html',
        nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        qop: 'auth',
        nc: '00000001',
        cnonce: '0a4f113b',
      }),
    ).toBe('6629fae49393a05397450978507c4ef1');
  });

  const rfc7616 = {
    username: 'Mufasa',
    realm: 'http-auth@example.org',
    password: 'Circle of Life',
    method: 'GET',
    uri: '/dir/index.html',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    nc: '00000001',
    qop: 'auth',
  };

  it('RFC 7616 §3.9.1 (MD5 and SHA-256)', () => {
    for (const [algorithm, expected] of [
      ['MD5', '8ca523f5e9506fed4657c9700eebdbec'],
      ['SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
    ] as const) {
      const ha1 = computeHA1({ algorithm, ...rfc7616 });
      expect(computeDigestResponse({ algorithm, ha1, ...rfc7616 })).toBe(expected);
    }
  });

  it('the client produces the RFC 7616 §3.9.1 SHA-256 credentials from its challenge', () => {
    const client = new DigestClient({
      username: rfc7616.username,
      password: rfc7616.password,
      cnonce: () => rfc7616.cnonce,
    });
    const [md5, sha] = [
      `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="${rfc7616.nonce}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
      `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="${rfc7616.nonce}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
    ];
    const [auth] = client.authorize({ challenges: [md5, sha], method: 'GET', uri: rfc7616.uri });
    const parsed = parseDigestCredentials(auth!.value);
    expect(parsed).toMatchObject({
      algorithm: 'SHA-256',
      response: '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
      opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
      nc: '00000001',
      qop: 'auth',
    });
    // A second request on the same nonce counts up.
    const again = client.reauthorize({ realm: rfc7616.realm, method: 'GET', uri: rfc7616.uri });
    expect(parseDigestCredentials(again!.value).nc).toBe('00000002');
  });
});

const REALM = 'voxmesh.test';
const USERS = new Map([['alice', 'wonderland']]);

function makeServer(overrides: Partial<DigestAuthenticatorOptions> = {}) {
  const clock = new FakeClock();
  const lookups: string[] = [];
  const server = new DigestAuthenticator({
    lookup: ({ username, realm }) => {
      lookups.push(`${username}@${realm}`);
      const password = realm === REALM ? USERS.get(username) : undefined;
      return password === undefined ? undefined : { password };
    },
    clock,
    ...overrides,
  });
  return { server, clock, lookups };
}

async function roundTrip(
  server: DigestAuthenticator,
  client: DigestClient,
  options: { method?: string; uri?: string; source?: string } = {},
) {
  const method = options.method ?? 'REGISTER';
  const uri = options.uri ?? `sip:${REALM}`;
  const first = (await server.verify({
    realm: REALM,
    method,
    requestUri: uri,
    authorization: [],
    source: options.source,
  })) as DigestRejection;
  expect(first).toMatchObject({ ok: false, reason: 'missing', status: 401 });
  const auth = client.authorize({ challenges: first.challenges, method, uri });
  return {
    challenges: first.challenges,
    auth,
    result: await server.verify({
      realm: REALM,
      method,
      requestUri: uri,
      authorization: auth.map((a) => a.value),
      source: options.source,
    }),
  };
}

describe('DigestAuthenticator', () => {
  it('challenges with SHA-256 first, then MD5, and accepts a correct client', async () => {
    const { server } = makeServer();
    const client = new DigestClient({ username: 'alice', password: 'wonderland' });
    const { challenges, result } = await roundTrip(server, client);
    expect(challenges.map((c) => parseDigestChallenge(c).algorithm)).toEqual(['SHA-256', 'MD5']);
    expect(result).toEqual({ ok: true, username: 'alice', realm: REALM, algorithm: 'SHA-256' });
  });

  it('accepts MD5-only clients and stored HA1 values', async () => {
    const ha1 = computeHA1({ algorithm: 'MD5', username: 'bob', realm: REALM, password: 'pw' });
    const { server } = makeServer({
      lookup: ({ username, algorithm }) =>
        username === 'bob' && algorithm === 'MD5' ? { ha1 } : undefined,
    });
    const client = new DigestClient({ username: 'bob', password: 'pw', algorithms: ['MD5'] });
    expect((await roundTrip(server, client)).result).toMatchObject({ ok: true, algorithm: 'MD5' });
  });

  it('answers unknown users exactly like wrong passwords, after the same lookup', async () => {
    const { server, lookups } = makeServer();
    const wrong = await roundTrip(server, new DigestClient({ username: 'alice', password: 'x' }));
    const unknown = await roundTrip(
      server,
      new DigestClient({ username: 'mallory', password: 'x' }),
    );
    expect(lookups).toEqual([`alice@${REALM}`, `mallory@${REALM}`]);
    for (const r of [wrong.result, unknown.result]) {
      expect(r).toMatchObject({
        ok: false,
        reason: 'failed',
        status: 401,
        headerName: 'WWW-Authenticate',
      });
      expect((r as DigestRejection).challenges).toHaveLength(2);
      expect((r as DigestRejection).challenges.every((c) => !c.includes('stale'))).toBe(true);
    }
  });

  it('answers an expired nonce with stale=true and accepts the retry', async () => {
    const { server, clock } = makeServer({ nonceTtlMs: 30_000 });
    const client = new DigestClient({ username: 'alice', password: 'wonderland' });
    const first = (await server.verify({
      realm: REALM,
      method: 'INVITE',
      authorization: [],
    })) as DigestRejection;
    const auth = client.authorize({
      challenges: first.challenges,
      method: 'INVITE',
      uri: 'sip:bob@x',
    });
    clock.advance(30_001);
    const stale = (await server.verify({
      realm: REALM,
      method: 'INVITE',
      authorization: auth.map((a) => a.value),
    })) as DigestRejection;
    expect(stale).toMatchObject({ ok: false, reason: 'stale', status: 401 });
    expect(parseDigestChallenge(stale.challenges[0]!).stale).toBe(true);
    const retry = client.authorize({
      challenges: stale.challenges,
      method: 'INVITE',
      uri: 'sip:bob@x',
    });
    expect(retry[0]!.stale).toBe(true);
    expect(
      await server.verify({
        realm: REALM,
        method: 'INVITE',
        authorization: retry.map((a) => a.value),
      }),
    ).toMatchObject({ ok: true });
  });

  it('refuses a replayed nonce count and accepts the next one (RFC 7616 §3.4)', async () => {
    const { server } = makeServer();
    const client = new DigestClient({ username: 'alice', password: 'wonderland' });
    const { auth, result } = await roundTrip(server, client);
    expect(result.ok).toBe(true);
    const replay = await server.verify({
      realm: REALM,
      method: 'REGISTER',
      requestUri: `sip:${REALM}`,
      authorization: auth.map((a) => a.value),
    });
    expect(replay).toMatchObject({ ok: false, reason: 'stale' });
    const next = client.reauthorize({ realm: REALM, method: 'REGISTER', uri: `sip:${REALM}` })!;
    expect(
      await server.verify({
        realm: REALM,
        method: 'REGISTER',
        requestUri: `sip:${REALM}`,
        authorization: [next.value],
      }),
    ).toMatchObject({ ok: true });
  });

  it('accepts a legacy (qop-less) nonce once only', async () => {
    const { server } = makeServer();
    const first = (await server.verify({
      realm: REALM,
      method: 'BYE',
      authorization: [],
    })) as DigestRejection;
    const nonce = parseDigestChallenge(first.challenges[1]!).nonce;
    const ha1 = computeHA1({
      algorithm: 'MD5',
      username: 'alice',
      realm: REALM,
      password: 'wonderland',
    });
    const response = computeDigestResponse({
      algorithm: 'MD5',
      ha1,
      method: 'BYE',
      uri: 'sip:b@x',
      nonce,
    });
    const value = serializeDigestCredentials({
      username: 'alice',
      realm: REALM,
      nonce,
      uri: 'sip:b@x',
      response,
      algorithm: 'MD5',
    });
    expect(
      await server.verify({ realm: REALM, method: 'BYE', authorization: [value] }),
    ).toMatchObject({ ok: true });
    expect(
      await server.verify({ realm: REALM, method: 'BYE', authorization: [value] }),
    ).toMatchObject({
      ok: false,
      reason: 'stale',
    });
    const strict = makeServer({ allowLegacy: false }).server;
    expect(
      await strict.verify({ realm: REALM, method: 'BYE', authorization: [value] }),
    ).toMatchObject({
      ok: false,
    });
  });

  it('rejects forged nonces, nonces of another realm, wrong methods and a uri that is not the Request-URI', async () => {
    const { server } = makeServer();
    const other = makeServer().server; // a different secret
    const client = new DigestClient({ username: 'alice', password: 'wonderland' });
    const foreign = (await other.verify({
      realm: REALM,
      method: 'REGISTER',
      authorization: [],
    })) as DigestRejection;
    const forged = client.authorize({
      challenges: foreign.challenges,
      method: 'REGISTER',
      uri: `sip:${REALM}`,
    });
    expect(
      await server.verify({
        realm: REALM,
        method: 'REGISTER',
        authorization: forged.map((a) => a.value),
      }),
    ).toMatchObject({ ok: false, reason: 'failed' });

    const own = (await server.verify({
      realm: 'other.test',
      method: 'REGISTER',
      authorization: [],
    })) as DigestRejection;
    const crossRealm = own.challenges.map((c) => c.replace('other.test', REALM));
    const cross = client.authorize({
      challenges: crossRealm,
      method: 'REGISTER',
      uri: `sip:${REALM}`,
    });
    expect(
      await server.verify({
        realm: REALM,
        method: 'REGISTER',
        authorization: cross.map((a) => a.value),
      }),
    ).toMatchObject({ ok: false, reason: 'failed' });

    const fresh = (await server.verify({
      realm: REALM,
      method: 'REGISTER',
      authorization: [],
    })) as DigestRejection;
    const good = client.authorize({
      challenges: fresh.challenges,
      method: 'REGISTER',
      uri: `sip:${REALM}`,
    });
    expect(
      await server.verify({
        realm: REALM,
        method: 'INVITE',
        authorization: good.map((a) => a.value),
      }),
    ).toMatchObject({ ok: false, reason: 'failed' });
    expect(
      await server.verify({
        realm: REALM,
        method: 'REGISTER',
        requestUri: 'sip:elsewhere.test',
        authorization: good.map((a) => a.value),
      }),
    ).toMatchObject({ ok: false, reason: 'failed' });
  });

  it('answers malformed credentials with 400 and ignores credentials for other realms', async () => {
    const { server } = makeServer();
    expect(
      await server.verify({
        realm: REALM,
        method: 'INVITE',
        authorization: ['Digest username="a'],
      }),
    ).toMatchObject({ ok: false, reason: 'malformed', status: 400, challenges: [] });
    expect(
      await server.verify({
        realm: REALM,
        method: 'INVITE',
        authorization: [
          'Digest username="a", realm="elsewhere", nonce="n", uri="u", response="00"',
        ],
      }),
    ).toMatchObject({ ok: false, reason: 'missing', status: 401 });
  });

  it('throttles a source after repeated failures, without looking users up, until the window passes', async () => {
    const { server, clock, lookups } = makeServer({
      throttle: { maxFailures: 3, windowMs: 10_000 },
    });
    const bad = new DigestClient({ username: 'alice', password: 'guess' });
    for (let i = 0; i < 3; i++) {
      expect((await roundTrip(server, bad, { source: '192.0.2.1' })).result).toMatchObject({
        reason: 'failed',
      });
    }
    expect(lookups).toHaveLength(3);
    const blocked = await server.verify({
      realm: REALM,
      method: 'REGISTER',
      authorization: [],
      source: '192.0.2.1',
    });
    expect(blocked).toMatchObject({ ok: false, reason: 'throttled', status: 403, retryAfterS: 10 });
    // Another source is unaffected.
    const good = new DigestClient({ username: 'alice', password: 'wonderland' });
    expect((await roundTrip(server, good, { source: '192.0.2.2' })).result.ok).toBe(true);
    clock.advance(10_000);
    expect((await roundTrip(server, good, { source: '192.0.2.1' })).result.ok).toBe(true);
    expect(lookups).toHaveLength(5);
  });

  it('answers 407 with Proxy-Authenticate in proxy mode and counts results in metrics', async () => {
    const metrics = new Metrics();
    const { server } = makeServer({ proxy: true, metrics });
    expect(server.credentialsHeader).toBe('Proxy-Authorization');
    const r = await server.verify({ realm: REALM, method: 'INVITE', authorization: [] });
    expect(r).toMatchObject({ ok: false, status: 407, headerName: 'Proxy-Authenticate' });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/voxmesh_sip_digest_verifications_total\{result="missing"\} 1/);
  });

  it('rejects with ABORTED when the signal is aborted', async () => {
    const { server } = makeServer();
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(
      server.verify({
        realm: REALM,
        method: 'INVITE',
        authorization: [],
        signal: controller.signal,
      }),
    ).rejects.toSatisfy((e) => VoxmeshError.is(e, 'ABORTED'));
  });
});
