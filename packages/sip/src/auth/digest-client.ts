/**
 * The client side of SIP digest authentication: answering a `401` or `407`
 * challenge (RFC 3261 §22.2–22.3, RFC 7616 §3.4, RFC 8760 §2.4).
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import {
  type DigestAlgorithm,
  type DigestChallenge,
  parseDigestChallenge,
  serializeDigestCredentials,
} from './auth-header.js';
import { computeDigestResponse, computeHA1 } from './digest.js';

/** Options of the {@link DigestClient} constructor. */
export interface DigestClientOptions {
  /** The user name (often the extension or the AOR's user part). */
  username: string;
  /** The password. */
  password: string;
  /**
   * Algorithms this client accepts, most preferred first; when a server
   * offers several challenges for one realm, the first of these wins (RFC 8760 §2.4).
   * @defaultValue `['SHA-256', 'MD5', 'SHA-256-sess', 'MD5-sess']`
   */
  algorithms?: readonly DigestAlgorithm[] | undefined;
  /**
   * Makes client nonces (`cnonce`).
   * @defaultValue 16 random bytes, hex
   */
  cnonce?: (() => string) | undefined;
}

/** Options of {@link DigestClient.authorize}. */
export interface DigestAuthorizeOptions {
  /** The values of every `WWW-Authenticate` or `Proxy-Authenticate` header of the response. */
  challenges: readonly string[];
  /** The method of the request being retried. */
  method: string;
  /** Its Request-URI (becomes `uri=`). */
  uri: string;
  /** Its body, for `qop=auth-int`. */
  body?: string | Uint8Array | undefined;
}

/** One credentials header to add to the retried request. */
export interface DigestAuthorization {
  realm: string;
  /** The header value (`Digest username="…", …`). */
  value: string;
  /** Whether the challenge said `stale=true` (the credentials were right, the nonce old). */
  stale: boolean;
}

/**
 * Answers digest challenges for one user. It remembers each nonce's count,
 * so later requests that reuse a nonce (with {@link DigestClient.reauthorize})
 * send increasing `nc` values (RFC 7616 §3.4).
 */
export class DigestClient {
  readonly username: string;
  readonly #password: string;
  readonly #algorithms: readonly DigestAlgorithm[];
  readonly #cnonce: () => string;
  readonly #nonceCounts = new Map<string, number>();
  readonly #lastChallenge = new Map<string, DigestChallenge>();

  constructor(options: DigestClientOptions) {
    this.username = options.username;
    this.#password = options.password;
    this.#algorithms = options.algorithms ?? ['SHA-256', 'MD5', 'SHA-256-sess', 'MD5-sess'];
    this.#cnonce = options.cnonce ?? (() => randomBytes(16).toString('hex'));
  }

  /**
   * Builds one credentials value per challenged realm (RFC 3261 §22.3: a
   * request may carry credentials for several proxies). Challenges that do
   * not parse or use an unknown scheme or algorithm are skipped; an empty
   * result means nothing could be answered.
   */
  authorize(options: DigestAuthorizeOptions): DigestAuthorization[] {
    const byRealm = new Map<string, DigestChallenge>();
    for (const value of options.challenges) {
      let challenge: DigestChallenge;
      try {
        challenge = parseDigestChallenge(value);
      } catch {
        continue;
      }
      const rank = this.#algorithms.indexOf(challenge.algorithm);
      if (rank < 0) continue;
      const current = byRealm.get(challenge.realm);
      if (current === undefined || rank < this.#algorithms.indexOf(current.algorithm)) {
        byRealm.set(challenge.realm, challenge);
      }
    }
    const out: DigestAuthorization[] = [];
    for (const challenge of byRealm.values()) {
      this.#lastChallenge.set(challenge.realm, challenge);
      out.push(this.#answer(challenge, options));
    }
    return out;
  }

  /**
   * Credentials for a new request to a realm answered before, reusing the
   * last nonce with the next nonce count (saves a round trip); `undefined`
   * when no challenge from that realm is known.
   */
  reauthorize(
    options: Omit<DigestAuthorizeOptions, 'challenges'> & { realm: string },
  ): DigestAuthorization | undefined {
    const challenge = this.#lastChallenge.get(options.realm);
    return challenge === undefined ? undefined : this.#answer(challenge, options);
  }

  #answer(
    challenge: DigestChallenge,
    options: Omit<DigestAuthorizeOptions, 'challenges'>,
  ): DigestAuthorization {
    // RFC 7616 §3.4: prefer qop=auth; auth-int only when it is the sole option.
    const qop = challenge.qop.includes('auth')
      ? 'auth'
      : challenge.qop.includes('auth-int')
        ? 'auth-int'
        : undefined;
    let nc: string | undefined;
    let cnonce: string | undefined;
    if (qop !== undefined || challenge.algorithm.endsWith('-sess')) {
      const count = (this.#nonceCounts.get(challenge.nonce) ?? 0) + 1;
      this.#nonceCounts.set(challenge.nonce, count);
      if (this.#nonceCounts.size > 64) {
        const first = this.#nonceCounts.keys().next();
        if (first.done !== true) this.#nonceCounts.delete(first.value);
      }
      nc = count.toString(16).padStart(8, '0');
      cnonce = this.#cnonce();
    }
    const ha1 = computeHA1({
      algorithm: challenge.algorithm,
      username: this.username,
      realm: challenge.realm,
      password: this.#password,
    });
    const response = computeDigestResponse({
      algorithm: challenge.algorithm,
      ha1,
      method: options.method,
      uri: options.uri,
      nonce: challenge.nonce,
      qop,
      nc,
      cnonce,
      body: options.body,
    });
    return {
      realm: challenge.realm,
      stale: challenge.stale,
      value: serializeDigestCredentials({
        username: this.username,
        realm: challenge.realm,
        nonce: challenge.nonce,
        uri: options.uri,
        response,
        algorithm: challenge.algorithm,
        cnonce,
        opaque: challenge.opaque,
        qop,
        nc: qop === undefined ? undefined : nc,
      }),
    };
  }
}
