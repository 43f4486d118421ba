/**
 * The server side of SIP digest authentication (RFC 3261 §22.4, RFC 7616,
 * RFC 8760): challenges with self-validating nonces, verification, replay
 * protection and throttling of sources that keep failing.
 *
 * ```text
 * request ──► credentials for our realm? ──no──► 401/407 + fresh challenge
 *                 │ yes
 *                 ▼
 *            source throttled? ──yes──► 403 (no lookup, no digest work)
 *                 │
 *                 ▼
 *            nonce: HMAC valid? ──no──► 401/407, counted as a failure
 *            not expired?       ──no──► 401/407 stale=true (not a failure)
 *            nc higher than seen? ─no─► 401/407 stale=true (replay)
 *                 │
 *                 ▼
 *            lookup(username, realm) → HA1 or password (or a dummy HA1 when
 *            unknown: same work, same answer) → compare in constant time
 * ```
 *
 * @module
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  type Counter,
  type Clock,
  type Logger,
  Metrics,
  systemClock,
  silentLogger,
  throwIfAborted,
} from '@voxmesh/core';

import {
  type DigestAlgorithm,
  type DigestCredentials,
  parseDigestCredentials,
  serializeDigestChallenge,
} from './auth-header.js';
import { computeDigestResponse, computeHA1 } from './digest.js';

/** What a credential lookup returns for a known user: the password or a precomputed HA1. */
export type DigestSecret =
  | { password: string; ha1?: undefined }
  | {
      /** `H(username:realm:password)` with the hash of the algorithm asked for. */
      ha1: string;
      password?: undefined;
    };

/** The argument of a {@link CredentialLookup}. */
export interface CredentialQuery {
  username: string;
  realm: string;
  /** The algorithm of the credentials, so a store can return the matching HA1. */
  algorithm: DigestAlgorithm;
  /** Aborts when the verification is abandoned. */
  signal?: AbortSignal | undefined;
}

/**
 * Looks up a user's secret in a tenant's store; `undefined` when the user
 * does not exist in that realm.
 */
export type CredentialLookup = (
  query: CredentialQuery,
) => DigestSecret | undefined | Promise<DigestSecret | undefined>;

/** Throttling of sources after repeated failures (scanner and brute-force defence). */
export interface DigestThrottleOptions {
  /**
   * Failed verifications from one source within `windowMs` after which the
   * source is refused.
   * @defaultValue `10`
   */
  maxFailures?: number | undefined;
  /**
   * The window in which failures are counted; a throttled source is refused
   * until the window in which it reached the limit has passed.
   * @defaultValue `60_000`
   */
  windowMs?: number | undefined;
  /**
   * The most sources tracked at once; the oldest entries are forgotten first.
   * @defaultValue `100_000`
   */
  maxSources?: number | undefined;
}

/** Options of the {@link DigestAuthenticator} constructor. */
export interface DigestAuthenticatorOptions {
  /** Finds a user's password or HA1. */
  lookup: CredentialLookup;
  /**
   * The algorithms offered, in order of preference; each becomes one
   * challenge header (RFC 8760 §2.4).
   * @defaultValue `['SHA-256', 'MD5']`
   */
  algorithms?: readonly DigestAlgorithm[] | undefined;
  /**
   * The key that signs nonces. Servers that share it accept each other's
   * nonces (a cluster behind a load balancer).
   * @defaultValue 32 random bytes, generated per instance
   */
  secret?: string | Uint8Array | undefined;
  /**
   * How long a nonce is accepted; older nonces are answered with `stale=true`.
   * @defaultValue `300_000` (5 minutes)
   */
  nonceTtlMs?: number | undefined;
  /**
   * Answer with `407 Proxy-Authenticate` / `Proxy-Authorization` instead of
   * `401 WWW-Authenticate` / `Authorization` (RFC 3261 §22.3).
   * @defaultValue `false`
   */
  proxy?: boolean | undefined;
  /**
   * Accept credentials without `qop` (RFC 2069 style); each nonce is then
   * accepted once only.
   * @defaultValue `true`
   */
  allowLegacy?: boolean | undefined;
  /**
   * The most nonces whose nonce counts are remembered; when full, the oldest
   * are forgotten and nonces issued before them are treated as stale.
   * @defaultValue `100_000`
   */
  maxTrackedNonces?: number | undefined;
  /**
   * Throttling of failing sources; `false` disables it.
   * @defaultValue `{ maxFailures: 10, windowMs: 60_000 }`
   */
  throttle?: DigestThrottleOptions | false | undefined;
  /** @defaultValue `systemClock` */
  clock?: Clock | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
  /** @defaultValue a private `Metrics` */
  metrics?: Metrics | undefined;
}

/** Options of {@link DigestAuthenticator.challenge}. */
export interface DigestChallengeOptions {
  realm: string;
  /** Marks the challenge `stale=true`. @defaultValue `false` */
  stale?: boolean | undefined;
}

/** Options of {@link DigestAuthenticator.verify}. */
export interface DigestVerifyOptions {
  /** The realm the request is authenticated against (the tenant's domain). */
  realm: string;
  /** The request method. */
  method: string;
  /** The Request-URI; when given, the credentials' `uri` must equal it (RFC 3261 §22.4). */
  requestUri?: string | undefined;
  /** The values of every `Authorization` (or `Proxy-Authorization`) header of the request. */
  authorization: readonly string[];
  /** The source address (IP) for throttling. @defaultValue no throttling for this request */
  source?: string | undefined;
  /** The body, for `qop=auth-int` credentials. */
  body?: string | Uint8Array | undefined;
  signal?: AbortSignal | undefined;
}

/** Why a verification did not succeed. */
export type DigestFailureReason =
  /** No credentials for this realm: the normal first request. */
  | 'missing'
  /** Credentials that do not parse, or use an unsupported algorithm. */
  | 'malformed'
  /** The nonce expired or its nonce count was replayed: retry with `stale=true`. */
  | 'stale'
  /** Wrong password, unknown user, forged nonce or wrong `uri` (all answered alike). */
  | 'failed'
  /** The source failed too often and is refused for now. */
  | 'throttled';

/** A response the caller sends: the status and the challenge headers. */
export interface DigestRejection {
  ok: false;
  reason: DigestFailureReason;
  /** `401`/`407` with challenges, `400` for malformed, `403` when throttled. */
  status: 400 | 401 | 403 | 407;
  /** `WWW-Authenticate` or `Proxy-Authenticate`. */
  headerName: 'WWW-Authenticate' | 'Proxy-Authenticate';
  /** The challenge header values (empty for `400` and `403`). */
  challenges: string[];
  /** For `403`: seconds until the source may retry. */
  retryAfterS?: number | undefined;
}

/** The outcome of {@link DigestAuthenticator.verify}. */
export type DigestVerifyResult =
  { ok: true; username: string; realm: string; algorithm: DigestAlgorithm } | DigestRejection;

interface NonceState {
  /** Highest nonce count accepted; 0 for a used legacy (qop-less) nonce. */
  nc: number;
  issuedAt: number;
}

interface SourceState {
  windowStart: number;
  failures: number;
}

const NONCE_RANDOM = 8;
const NONCE_MAC = 16;

/**
 * Issues digest challenges and verifies credentials, with no per-challenge
 * state: a nonce carries its issue time and an HMAC over it and the realm, so
 * any server holding the same `secret` validates it. Only nonces that have
 * been used are tracked (for nonce-count replay protection).
 *
 * @example
 * ```ts
 * const auth = new DigestAuthenticator({
 *   lookup: ({ username, realm }) => tenants.get(realm)?.users.get(username),
 * });
 * const result = await auth.verify({
 *   realm: 'example.com', method: req.method, requestUri: req.uri,
 *   authorization: req.headers('Authorization'), source: flow.remote.address,
 * });
 * if (!result.ok) return respond(result.status, { [result.headerName]: result.challenges });
 * ```
 */
export class DigestAuthenticator {
  readonly #lookup: CredentialLookup;
  readonly #algorithms: readonly DigestAlgorithm[];
  readonly #secret: Uint8Array;
  readonly #dummyPassword: string;
  readonly #nonceTtlMs: number;
  readonly #proxy: boolean;
  readonly #allowLegacy: boolean;
  readonly #maxTrackedNonces: number;
  readonly #throttle: Required<DigestThrottleOptions> | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #results: Counter<'result'>;
  readonly #nonces = new Map<string, NonceState>();
  #forgottenBefore = -Infinity;
  readonly #sources = new Map<string, SourceState>();

  constructor(options: DigestAuthenticatorOptions) {
    if (typeof options.lookup !== 'function') {
      throw new TypeError('DigestAuthenticator needs a lookup function');
    }
    this.#lookup = options.lookup;
    this.#algorithms = options.algorithms ?? ['SHA-256', 'MD5'];
    if (this.#algorithms.length === 0) throw new RangeError('algorithms must not be empty');
    const secret = options.secret ?? randomBytes(32);
    this.#secret = typeof secret === 'string' ? Buffer.from(secret) : secret;
    this.#dummyPassword = randomBytes(16).toString('hex');
    this.#nonceTtlMs = options.nonceTtlMs ?? 300_000;
    this.#proxy = options.proxy ?? false;
    this.#allowLegacy = options.allowLegacy ?? true;
    this.#maxTrackedNonces = options.maxTrackedNonces ?? 100_000;
    this.#throttle =
      options.throttle === false
        ? undefined
        : {
            maxFailures: options.throttle?.maxFailures ?? 10,
            windowMs: options.throttle?.windowMs ?? 60_000,
            maxSources: options.throttle?.maxSources ?? 100_000,
          };
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#results = (options.metrics ?? new Metrics()).counter({
      name: 'sip_digest_verifications_total',
      help: 'Digest verifications by result',
      labelNames: ['result'],
    });
  }

  /** The header carrying challenges: `WWW-Authenticate`, or `Proxy-Authenticate` in proxy mode. */
  get challengeHeader(): 'WWW-Authenticate' | 'Proxy-Authenticate' {
    return this.#proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate';
  }

  /** The header carrying credentials: `Authorization`, or `Proxy-Authorization` in proxy mode. */
  get credentialsHeader(): 'Authorization' | 'Proxy-Authorization' {
    return this.#proxy ? 'Proxy-Authorization' : 'Authorization';
  }

  /**
   * Fresh challenge header values, one per offered algorithm, most preferred
   * first (RFC 8760 §2.4). All share one nonce.
   */
  challenge(options: DigestChallengeOptions): string[] {
    const nonce = this.#issueNonce(options.realm);
    return this.#algorithms.map((algorithm) =>
      serializeDigestChallenge({
        realm: options.realm,
        nonce,
        algorithm,
        // RFC 3261 §22.4 / RFC 7616 §3.3: offer qop="auth" for replay protection.
        qop: ['auth'],
        stale: options.stale ?? false,
      }),
    );
  }

  /** Verifies a request's credentials; never throws for bad peer input. */
  async verify(options: DigestVerifyOptions): Promise<DigestVerifyResult> {
    throwIfAborted(options.signal);
    const { realm } = options;
    const now = this.#clock.monotonic();
    if (options.source !== undefined && this.#isThrottled(options.source, now)) {
      return this.#reject('throttled', realm);
    }
    // RFC 3261 §22.4: pick the credentials whose realm is ours; ignore the others.
    let credentials: DigestCredentials | undefined;
    let malformed = false;
    for (const value of options.authorization) {
      try {
        const parsed = parseDigestCredentials(value);
        if (parsed.realm === realm) {
          credentials = parsed;
          break;
        }
      } catch {
        malformed = true;
      }
    }
    if (credentials === undefined) {
      return this.#reject(malformed ? 'malformed' : 'missing', realm);
    }
    if (!this.#algorithms.includes(credentials.algorithm)) {
      return this.#reject('malformed', realm);
    }
    if (
      credentials.qop !== undefined &&
      credentials.qop !== 'auth' &&
      credentials.qop !== 'auth-int'
    ) {
      return this.#reject('malformed', realm);
    }
    if (credentials.qop === undefined && !this.#allowLegacy) {
      return this.#reject('malformed', realm);
    }

    const nonceCheck = this.#checkNonce(credentials.nonce, realm);
    if (nonceCheck === 'forged') return this.#fail(options.source, realm, now);
    if (nonceCheck === 'expired') return this.#reject('stale', realm);
    const issuedAt = nonceCheck;

    const secret = await this.#lookup({
      username: credentials.username,
      realm,
      algorithm: credentials.algorithm,
      signal: options.signal,
    });
    throwIfAborted(options.signal);
    // Unknown users cost the same work and get the same answer as wrong
    // passwords, so a scanner cannot tell which user names exist.
    const ha1 =
      secret?.ha1 ??
      computeHA1({
        algorithm: credentials.algorithm,
        username: credentials.username,
        realm,
        password: secret?.password ?? this.#dummyPassword,
      });
    const expected = computeDigestResponse({
      algorithm: credentials.algorithm,
      ha1: ha1.toLowerCase(),
      method: options.method,
      uri: credentials.uri,
      nonce: credentials.nonce,
      qop: credentials.qop,
      nc: credentials.nc,
      cnonce: credentials.cnonce,
      body: options.body,
    });
    const match =
      expected.length === credentials.response.length &&
      timingSafeEqual(Buffer.from(expected), Buffer.from(credentials.response));
    // RFC 3261 §22.4: the uri parameter must match the Request-URI.
    const uriOk = options.requestUri === undefined || options.requestUri === credentials.uri;
    if (secret === undefined || !match || !uriOk) return this.#fail(options.source, realm, now);

    // RFC 7616 §3.4: the nonce count must increase for each request with the same nonce.
    const nc = credentials.nc === undefined ? 0 : Number.parseInt(credentials.nc, 16);
    if (!this.#acceptNonceCount(credentials.nonce, issuedAt, nc)) {
      this.#logger.debug({ realm, username: credentials.username }, 'digest nonce count replayed');
      return this.#reject('stale', realm);
    }
    this.#results.inc({ result: 'ok' });
    return { ok: true, username: credentials.username, realm, algorithm: credentials.algorithm };
  }

  #issueNonce(realm: string): string {
    // nonce = base64url( issued-at (8 bytes) | random (8) | HMAC(secret, issued-at | random | realm) (16) )
    const head = Buffer.alloc(8 + NONCE_RANDOM);
    head.writeDoubleBE(this.#clock.now(), 0);
    randomBytes(NONCE_RANDOM).copy(head, 8);
    return Buffer.concat([head, this.#mac(head, realm)]).toString('base64url');
  }

  #mac(head: Uint8Array, realm: string): Buffer {
    return createHmac('sha256', this.#secret)
      .update(head)
      .update(realm)
      .digest()
      .subarray(0, NONCE_MAC);
  }

  /** The issue time of a valid nonce, or why it is not accepted. */
  #checkNonce(nonce: string, realm: string): number | 'forged' | 'expired' {
    if (nonce.length > 64) return 'forged';
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== 8 + NONCE_RANDOM + NONCE_MAC) return 'forged';
    const head = raw.subarray(0, 8 + NONCE_RANDOM);
    if (!timingSafeEqual(raw.subarray(8 + NONCE_RANDOM), this.#mac(head, realm))) return 'forged';
    const issuedAt = head.readDoubleBE(0);
    const age = this.#clock.now() - issuedAt;
    // A nonce from the future (clock stepped back) is also treated as expired.
    if (age > this.#nonceTtlMs || age < -this.#nonceTtlMs) return 'expired';
    if (issuedAt <= this.#forgottenBefore && !this.#nonces.has(nonce)) return 'expired';
    return issuedAt;
  }

  #acceptNonceCount(nonce: string, issuedAt: number, nc: number): boolean {
    const state = this.#nonces.get(nonce);
    if (state !== undefined) {
      // Legacy (nc 0) nonces are single-use; counted nonces must strictly increase.
      if (nc <= state.nc) return false;
      state.nc = nc;
      return true;
    }
    this.#nonces.set(nonce, { nc, issuedAt });
    this.#pruneNonces();
    return true;
  }

  #pruneNonces(): void {
    const oldest = this.#clock.now() - this.#nonceTtlMs;
    for (const [key, state] of this.#nonces) {
      if (state.issuedAt >= oldest && this.#nonces.size <= this.#maxTrackedNonces) break;
      this.#nonces.delete(key);
      if (state.issuedAt > this.#forgottenBefore) this.#forgottenBefore = state.issuedAt;
    }
  }

  #isThrottled(source: string, now: number): boolean {
    const throttle = this.#throttle;
    if (throttle === undefined) return false;
    const state = this.#sources.get(source);
    if (state === undefined) return false;
    if (now - state.windowStart >= throttle.windowMs) {
      this.#sources.delete(source);
      return false;
    }
    return state.failures >= throttle.maxFailures;
  }

  #fail(source: string | undefined, realm: string, now: number): DigestRejection {
    const throttle = this.#throttle;
    if (throttle !== undefined && source !== undefined) {
      const state = this.#sources.get(source);
      if (state === undefined || now - state.windowStart >= throttle.windowMs) {
        this.#sources.delete(source);
        this.#sources.set(source, { windowStart: now, failures: 1 });
        if (this.#sources.size > throttle.maxSources) {
          const first = this.#sources.keys().next();
          if (first.done !== true) this.#sources.delete(first.value);
        }
      } else {
        state.failures++;
        if (state.failures === throttle.maxFailures) {
          this.#logger.warn({ source, realm }, 'digest auth: source throttled after failures');
        }
      }
    }
    return this.#reject('failed', realm);
  }

  #reject(reason: DigestFailureReason, realm: string): DigestRejection {
    this.#results.inc({ result: reason });
    const headerName = this.challengeHeader;
    if (reason === 'malformed')
      return { ok: false, reason, status: 400, headerName, challenges: [] };
    if (reason === 'throttled') {
      const windowS = Math.ceil((this.#throttle?.windowMs ?? 60_000) / 1000);
      return { ok: false, reason, status: 403, headerName, challenges: [], retryAfterS: windowS };
    }
    return {
      ok: false,
      reason,
      // RFC 3261 §22.3: a proxy answers 407, a UAS or registrar 401.
      status: this.#proxy ? 407 : 401,
      headerName,
      challenges: this.challenge({ realm, stale: reason === 'stale' }),
    };
  }
}
