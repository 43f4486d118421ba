/**
 * Trunks to SIP carriers: outbound registration (RFC 3261 §10.2) with
 * refresh and backoff, and bridge targets that answer the carrier's digest
 * challenge.
 *
 * ```text
 *  start() ──REGISTER──► carrier ──200──► registered ──(refresh before expiry)──► REGISTER …
 *                          │ failure / timeout
 *                          ▼
 *                        'failed' ──(backoff, doubling up to retryMaxMs)──► REGISTER …
 *  stop()  ──REGISTER Expires: 0──► carrier
 * ```
 *
 * @module
 */

import {
  type Clock,
  type Logger,
  Service,
  type ServiceEvents,
  type Timer,
  VoxmeshError,
  silentLogger,
} from '@voxmesh/core';

import { parseHostPort } from '../codec/uri.js';
import { generateCallId } from '../dialog/dialog.js';
import type { SipResponse } from '../message.js';
import { SipResponseError } from '../ua/errors.js';
import type { UaProtocol, UaTarget } from '../ua/ua-transport.js';
import type { UserAgent } from '../ua/user-agent.js';
import type { B2buaTarget } from '../b2bua/bridge.js';
import { SipB2buaErrorCode } from '../b2bua/errors.js';

/** Options of the {@link Trunk} constructor. */
export interface TrunkOptions {
  /** The user agent that registers and places the calls. */
  ua: UserAgent;
  /** A name for logs, events and target labels, e.g. `'carrier-a'`. */
  name: string;
  /** The carrier's SIP domain, `host[:port]` (the registrar and the host of call URIs). */
  domain: string;
  /**
   * Where requests to the carrier are sent, `host[:port]`, when it is not the domain.
   * @defaultValue the domain
   */
  proxy?: string | undefined;
  /** The account's user name (the AOR's user part and the digest user name). */
  username: string;
  /** The account's password. */
  password: string;
  /**
   * The digest user name when it differs from `username`.
   * @defaultValue `username`
   */
  authUsername?: string | undefined;
  /** Whether to register with the carrier. @defaultValue `true` */
  register?: boolean | undefined;
  /** The registration lifetime asked for, in seconds. @defaultValue `3600` */
  expiresS?: number | undefined;
  /** The transport to the carrier. @defaultValue `'UDP'` */
  transport?: UaProtocol | undefined;
  /** The first retry delay after a failed registration. @defaultValue `2000` */
  retryInitialMs?: number | undefined;
  /** The longest retry delay (the delay doubles up to it). @defaultValue `300000` */
  retryMaxMs?: number | undefined;
  /** @defaultValue the user agent's clock */
  clock?: Clock | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
}

/** Options of {@link Trunk.target}. */
export interface TrunkTargetOptions {
  /**
   * The From of the call (caller-ID presentation), a URI or name-addr.
   * @defaultValue the account, `sip:<username>@<domain>`
   */
  from?: string | undefined;
  /**
   * The identity asserted to the carrier (RFC 3325 §9.1
   * `P-Asserted-Identity`), a URI or name-addr, e.g. the company's main
   * number when `from` shows a direct-dial one.
   * @defaultValue none (with `privacy`: `from`, else the account)
   */
  assertedIdentity?: string | undefined;
  /**
   * Withhold the caller ID: From becomes anonymous (RFC 3323 §4.1.1.3),
   * `Privacy: id` asks the carrier to remove the asserted identity before it
   * leaves its network (RFC 3325 §9.3).
   * @defaultValue `false`
   */
  privacy?: boolean | undefined;
  /** Extra INVITE headers. @defaultValue none */
  headers?: Iterable<readonly [string, string]> | undefined;
  /** @defaultValue the bridge's ring timeout */
  ringTimeoutMs?: number | undefined;
}

/** Events of a {@link Trunk}, besides the service `state`. */
export interface TrunkEvents extends ServiceEvents {
  /** The carrier accepted the registration for `expiresS` seconds. */
  registered: [expiresS: number];
  /** A registration attempt failed; the next one follows after `retryInMs`. */
  failed: [error: VoxmeshError, retryInMs: number];
  /** The registration was removed (on stop). */
  unregistered: [];
}

/** Whether a trunk bridge moves on to the next trunk: 408 (and ring timeouts) and 5xx only. */
export function trunkFailover(status: number): boolean {
  return status === 408 || (status >= 500 && status < 600);
}

/**
 * One carrier account. A core `Service`: `start()` begins registering (it
 * does not wait for the carrier), `stop()` unregisters.
 *
 * @example
 * ```ts
 * const trunk = new Trunk({ ua, name: 'carrier', domain: 'sip.carrier.example', username: 'acme', password: 's3cret' });
 * await trunk.start();
 * b2bua.bridge({ call, targets: [trunk.target('+4930123456')] });
 * ```
 */
export class Trunk extends Service<TrunkEvents> {
  /** The user agent. */
  readonly ua: UserAgent;
  /** The carrier's domain. */
  readonly domain: string;
  /** The address of record registered, `sip:<username>@<domain>`. */
  readonly aor: string;
  readonly #next: UaTarget;
  readonly #credentials: { username: string; password: string };
  readonly #register: boolean;
  readonly #expiresS: number;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #transport: UaProtocol;
  readonly #logger: Logger;
  readonly #callId = generateCallId();
  #cseq = 0;
  #askExpiresS: number;
  #timer: Timer | undefined;
  #retryMs: number;
  #registeredUntil: number | undefined;
  #inflight: AbortController | undefined;

  constructor(options: TrunkOptions) {
    super({ name: `sip-trunk-${options.name}`, clock: options.clock ?? options.ua.callClock });
    for (const key of ['name', 'domain', 'username', 'password'] as const) {
      if (typeof options[key] !== 'string' || options[key].length === 0) {
        throw new TypeError(`A trunk needs a ${key}`);
      }
    }
    this.ua = options.ua;
    this.domain = options.domain;
    this.#transport = options.transport ?? 'UDP';
    const hop = parseHostPort(options.proxy ?? options.domain);
    if (hop === undefined) {
      throw new TypeError(`Not a host[:port]: ${options.proxy ?? options.domain}`);
    }
    const defaultPort = this.#transport === 'TLS' || this.#transport === 'WSS' ? 5061 : 5060;
    this.#next = { protocol: this.#transport, host: hop.host, port: hop.port ?? defaultPort };
    this.aor = `sip:${options.username}@${options.domain}`;
    this.#credentials = {
      username: options.authUsername ?? options.username,
      password: options.password,
    };
    this.#register = options.register ?? true;
    this.#expiresS = options.expiresS ?? 3600;
    this.#askExpiresS = this.#expiresS;
    this.#retryInitialMs = options.retryInitialMs ?? 2000;
    this.#retryMaxMs = options.retryMaxMs ?? 300_000;
    this.#retryMs = this.#retryInitialMs;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Whether a registration is in force now. */
  get registered(): boolean {
    return this.#registeredUntil !== undefined && this.#registeredUntil > this.clock.now();
  }

  /** When the current registration expires (clock milliseconds). */
  get registeredUntil(): number | undefined {
    return this.#registeredUntil;
  }

  /** A bridge target that calls `number` through this trunk. */
  target(number: string, options: TrunkTargetOptions = {}): B2buaTarget {
    if (typeof number !== 'string' || !/^[\w+*#.\-()]+$/.test(number)) {
      throw new VoxmeshError(
        SipB2buaErrorCode.SIP_B2BUA_INVALID_TARGET,
        `Not a number a trunk can dial: ${JSON.stringify(number)}`,
      );
    }
    const transport =
      this.#transport === 'UDP' ? '' : `;transport=${this.#transport.toLowerCase()}`;
    const privacy = options.privacy ?? false;
    const identity = options.assertedIdentity ?? (privacy ? (options.from ?? this.aor) : undefined);
    const headers: (readonly [string, string])[] = [];
    if (identity !== undefined) {
      headers.push(['P-Asserted-Identity', identity.includes('<') ? identity : `<${identity}>`]);
    }
    if (privacy) headers.push(['Privacy', 'id']);
    headers.push(...(options.headers ?? []));
    return {
      uri: `sip:${number}@${this.domain}${transport}`,
      next: this.#next,
      from: privacy ? '"Anonymous" <sip:anonymous@anonymous.invalid>' : (options.from ?? this.aor),
      credentials: this.#credentials,
      headers,
      ringTimeoutMs: options.ringTimeoutMs,
      label: this.name.replace(/^sip-trunk-/, ''),
    };
  }

  protected onStart(): Promise<void> {
    if (this.#register) this.#schedule(0);
    return Promise.resolve();
  }

  protected async onStop(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#inflight?.abort();
    if (this.#registeredUntil === undefined || !this.ua.acceptingWork) return;
    this.#registeredUntil = undefined;
    // RFC 3261 §10.2.2: Expires 0 removes the binding.
    const controller = new AbortController();
    const guard = this.clock.setTimeout(() => controller.abort(), 5000);
    try {
      await this.#send(0, controller.signal);
      this.#safeEmit('unregistered');
    } catch (error) {
      this.#logger.info({ err: error, trunk: this.name }, 'unregister failed');
    } finally {
      guard.cancel();
    }
  }

  /** Emits an event; a listener that throws is logged and changes nothing. */
  #safeEmit<K extends 'registered' | 'failed' | 'unregistered'>(
    event: K,
    ...args: TrunkEvents[K]
  ): void {
    try {
      (this.emit as (e: K, ...a: TrunkEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.#logger.warn({ err: error, event }, 'a trunk event listener threw');
    }
  }

  #schedule(ms: number): void {
    this.#timer?.cancel();
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#refresh();
    }, ms);
  }

  async #refresh(): Promise<void> {
    if (this.state !== 'running') return;
    const controller = new AbortController();
    this.#inflight = controller;
    try {
      const response = await this.#send(this.#askExpiresS, controller.signal);
      if (this.state !== 'running') return;
      const granted = this.#grantedExpires(response);
      this.#registeredUntil = this.clock.now() + granted * 1000;
      this.#retryMs = this.#retryInitialMs;
      // Refresh ahead of expiry: at half the lifetime, at most a minute before it ends.
      const refreshS = Math.max(granted / 2, granted - 60);
      this.#schedule(Math.max(1, refreshS) * 1000);
      this.#safeEmit('registered', granted);
    } catch (error) {
      if (this.state !== 'running') return;
      const minExpires = Number.parseInt(
        (error instanceof SipResponseError && error.status === 423
          ? error.response?.headers.get('min-expires')
          : undefined) ?? '',
        10,
      );
      if (minExpires > this.#askExpiresS) {
        // RFC 3261 §10.2.8: 423 Interval Too Brief: retry at once with the Min-Expires asked for.
        this.#askExpiresS = minExpires;
        this.#schedule(0);
        return;
      }
      const retryIn = this.#retryMs;
      this.#retryMs = Math.min(this.#retryMs * 2, this.#retryMaxMs);
      const status = error instanceof SipResponseError ? error.status : undefined;
      const failure = new VoxmeshError(
        SipB2buaErrorCode.SIP_TRUNK_REGISTRATION_FAILED,
        `Trunk '${this.name}' could not register with ${this.domain}: ${(error as Error).message}`,
        { cause: error, retryable: true },
      );
      this.#logger.warn({ err: failure, status, retryIn }, 'trunk registration failed');
      if (this.#registeredUntil !== undefined && this.#registeredUntil <= this.clock.now()) {
        this.#registeredUntil = undefined;
      }
      this.#schedule(retryIn);
      this.#safeEmit('failed', failure, retryIn);
    } finally {
      if (this.#inflight === controller) this.#inflight = undefined;
    }
  }

  async #send(expiresS: number, signal: AbortSignal): Promise<SipResponse> {
    // RFC 3261 §10.2: one Call-ID for every REGISTER to this registrar, CSeq increasing.
    this.#cseq++;
    let response: SipResponse;
    try {
      response = await this.ua.register({
        registrar: `sip:${this.domain}`,
        aor: this.aor,
        next: this.#next,
        credentials: this.#credentials,
        expiresS,
        callId: this.#callId,
        cseq: this.#cseq,
        signal,
      });
    } catch (error) {
      // A challenge was answered with the next CSeq.
      if (error instanceof SipResponseError) this.#cseq++;
      throw error;
    }
    const seq = response.cseq?.seq;
    if (seq !== undefined && seq > this.#cseq) this.#cseq = seq;
    return response;
  }

  /** RFC 3261 §10.2.4: the expiry the registrar granted, from our Contact's `expires` or Expires. */
  #grantedExpires(response: SipResponse): number {
    for (const contact of response.contact) {
      const value = contact.params.expires;
      if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
    }
    const header = response.headers.get('expires');
    if (header !== undefined && /^\d+$/.test(header.trim())) return Number(header.trim());
    return this.#expiresS;
  }
}

/** Options of {@link trunkTargets}. */
export type TrunkTargetsOptions = TrunkTargetOptions;

/**
 * One target per trunk for `number`, in the order given, for failover
 * across trunks: bridge them sequentially with `continueOn: trunkFailover`.
 */
export function trunkTargets(
  trunks: readonly Trunk[],
  number: string,
  options: TrunkTargetsOptions = {},
): B2buaTarget[] {
  return trunks.map((trunk) => trunk.target(number, options));
}
