/**
 * The registrar and location service (RFC 3261 §10.3): processes REGISTER
 * requests into bindings kept in a {@link BindingStore}, and looks contacts
 * up for routing, with the received path (RFC 3581, RFC 5626) to reach
 * phones behind NAT.
 *
 * ```text
 * REGISTER ──► To is a sip: AOR?  ──no──► 404
 *                 │
 *              realm(domain)      ──none─► 404
 *                 │
 *              Require ok?        ──no──► 420 + Unsupported           (§10.3 step 2)
 *                 │
 *              digest verify      ──no──► 401 challenge / 403 throttled (§10.3 step 3)
 *                 │
 *              authorize(user, AOR) ─no─► 403                          (§10.3 step 4)
 *                 │
 *              per AOR, in order:
 *              Contact: * rules   ──bad─► 400                          (§10.3 step 6)
 *              expiry < min       ──────► 423 + Min-Expires            (§10.2.8)
 *              Call-ID / CSeq     ──old─► 500                          (§10.3 step 7)
 *              save bindings, 200 listing every binding with expires  (§10.3 step 8)
 * ```
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import {
  type Clock,
  type Counter,
  ErrorCode,
  type Logger,
  Metrics,
  Service,
  type Timer,
  VoxmeshError,
  silentLogger,
  throwIfAborted,
} from '@voxmesh/core';
import {
  type CredentialLookup,
  DigestAuthenticator,
  type DigestVerifyResult,
} from '../auth/digest-server.js';
import { type DigestAlgorithm, parseDigestCredentials } from '../auth/auth-header.js';
import type { NameAddr } from '../codec/name-addr.js';
import { SipUri, parseUri } from '../codec/uri.js';
import { parseTokenList } from '../codec/header-values.js';
import { type SipRequest, type SipResponse, createResponse } from '../message.js';
import type { TransportAddress, TransportProtocol, TransportTarget } from '../transport/types.js';
import {
  type Binding,
  type BindingStore,
  MemoryBindingStore,
  type ReceivedPath,
} from './binding-store.js';

/** The flow a REGISTER arrived on, as far as the registrar needs it (a transport `Flow` fits). */
export interface RegistrarFlow {
  /** The flow's id, kept so the flow can be reused to reach the phone (RFC 5626 §5.2). */
  readonly id?: string | undefined;
  readonly protocol: TransportProtocol;
  /** The source address of the request. */
  readonly remote: TransportAddress;
  /** The local address it arrived on. */
  readonly local?: TransportAddress | undefined;
}

/** The argument of {@link RegistrarOptions.realm}. */
export interface RealmQuery {
  /** The domain of the address of record (the To URI's host, lower case). */
  domain: string;
  request: SipRequest;
  signal?: AbortSignal | undefined;
}

/** The argument of {@link RegistrarOptions.authorize}. */
export interface AuthorizeQuery {
  /** The authenticated user name (`undefined` when authentication is off). */
  username: string | undefined;
  realm: string;
  /** The canonical address of record being registered. */
  aor: string;
  request: SipRequest;
}

/** Options of the {@link Registrar} constructor. */
export interface RegistrarOptions {
  /**
   * Where the bindings are kept.
   * @defaultValue a new {@link MemoryBindingStore}
   */
  store?: BindingStore | undefined;
  /**
   * Finds a user's password or HA1 in a tenant (the query's `realm`). Used to
   * build the digest authenticator when `authenticator` is not given.
   * @defaultValue none: then `authenticator` must be given
   */
  credentials?: CredentialLookup | undefined;
  /**
   * The digest authenticator (with its throttling of failing sources), or
   * `false` to accept every REGISTER without authentication (tests only).
   * @defaultValue a {@link DigestAuthenticator} over `credentials` with this registrar's clock, logger and metrics
   */
  authenticator?: DigestAuthenticator | false | undefined;
  /**
   * The digest algorithms offered when the registrar builds its own
   * authenticator, one challenge each, in this order. Phones that answer
   * only the first challenge (SIPp 3.6 does) need theirs first.
   * @defaultValue the authenticator's default, `['SHA-256', 'MD5']`
   */
  digestAlgorithms?: readonly DigestAlgorithm[] | undefined;
  /**
   * The realm (tenant) of a domain, or `undefined` when the domain is not
   * served here (answered 404).
   * @defaultValue the domain itself
   */
  realm?: ((query: RealmQuery) => string | undefined | Promise<string | undefined>) | undefined;
  /**
   * Whether the authenticated user may register the AOR (RFC 3261 §10.3
   * step 4).
   * @defaultValue the user name must equal the AOR's user part
   */
  authorize?: ((query: AuthorizeQuery) => boolean | Promise<boolean>) | undefined;
  /**
   * The shortest binding lifetime accepted; shorter non-zero requests get
   * 423 Interval Too Brief (RFC 3261 §10.2.8).
   * @defaultValue `60`
   */
  minExpiresS?: number | undefined;
  /**
   * The longest binding lifetime granted; longer requests are shortened
   * (RFC 3261 §10.3 step 7).
   * @defaultValue `3600`
   */
  maxExpiresS?: number | undefined;
  /**
   * The lifetime when neither the contact's `expires` nor an Expires header gives one.
   * @defaultValue `3600`
   */
  defaultExpiresS?: number | undefined;
  /**
   * The most bindings one AOR may have; a REGISTER that would exceed it gets 403.
   * @defaultValue `10`
   */
  maxBindingsPerAor?: number | undefined;
  /**
   * How often expired bindings are removed from the store (and `expired`
   * emitted). Lookups never return an expired binding, whatever this is.
   * @defaultValue `10_000`
   */
  sweepIntervalMs?: number | undefined;
  /** Expiry and sweeps run on it. @defaultValue `systemClock` */
  clock?: Clock | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
  /** @defaultValue a private `Metrics` */
  metrics?: Metrics | undefined;
}

/** Options of {@link Registrar.handle} and {@link Registrar.process}. */
export interface RegistrarHandleOptions {
  /** The REGISTER request. */
  request: SipRequest;
  /** The flow it arrived on. */
  flow: RegistrarFlow;
  /** Aborts the processing (it rejects with an `AbortError`). */
  signal?: AbortSignal | undefined;
}

/** What to answer: the status and the headers beyond those copied from the request. */
export interface RegistrarReply {
  status: number;
  reason?: string | undefined;
  headers: [string, string][];
}

/**
 * What {@link Registrar.middleware} needs of a request context; a
 * `UserAgent`'s `RequestContext` fits.
 */
export interface RegistrarRequestContext {
  readonly request: SipRequest;
  readonly flow: RegistrarFlow;
  respond(options: {
    status: number;
    reason?: string | undefined;
    headers?: Iterable<readonly [string, string]> | undefined;
  }): void;
}

/** Options of {@link Registrar.lookup}. */
export interface LookupOptions {
  signal?: AbortSignal | undefined;
}

/** A registered contact and how to reach it, as returned by {@link Registrar.lookup}. */
export interface ContactRoute {
  /** The stored binding. */
  readonly binding: Binding;
  /** The contact URI (the Request-URI for a request to this phone). */
  readonly uri: string;
  /**
   * Where to send the request when the flow is gone: the contact's own
   * address when it is reachable directly, otherwise the source address the
   * REGISTER came from (the NAT binding).
   */
  readonly target: TransportTarget;
  /**
   * The transport flow to reuse when it is still open (RFC 5626 §5.3; a
   * connection is the only way to reach a WebSocket phone or one behind NAT).
   */
  readonly flowId: string | undefined;
  /** Whether the contact's address differs from the address the REGISTER came from. */
  readonly behindNat: boolean;
  /**
   * Whether only the flow reaches the phone, so a closed flow means the
   * phone is unreachable until it registers again (RFC 5626 §5.3 answers
   * 430 Flow Failed then): an RFC 5626 `reg-id` binding, a WebSocket phone
   * (RFC 7118 §5: browsers accept no connections), or a connection from
   * behind NAT.
   */
  readonly flowRequired: boolean;
}

/** Events of a {@link Registrar}, besides the service `state`. */
export interface RegistrarEvents {
  /** A binding was created (`refreshed` false) or refreshed. */
  registered: [binding: Binding, refreshed: boolean];
  /** A binding was removed by a REGISTER (expires 0, `Contact: *`, or replaced by the same RFC 5626 instance and reg-id). */
  unregistered: [binding: Binding];
  /** A binding's lifetime ran out. */
  expired: [binding: Binding];
}

/** Extensions the registrar understands in `Require` (RFC 3261 §10.3 step 2). */
const SUPPORTED_EXTENSIONS = new Set(['outbound']);

function reply(status: number, reason?: string, headers: [string, string][] = []): RegistrarReply {
  return { status, reason, headers };
}

function unescape(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The canonical form of an address of record (RFC 3261 §10.3 step 5):
 * `sip:user@host`, without port, parameters or headers, escapes resolved,
 * the host in lower case. `sips:` AORs share the `sip:` binding set.
 */
export function canonicalAor(uri: SipUri): string {
  const user = uri.user === undefined ? '' : `${unescape(uri.user)}@`;
  return `sip:${user}${uri.host.toLowerCase()}`;
}

function defaultPortOf(protocol: TransportProtocol): number {
  // RFC 3261 §19.1.2 and RFC 7118: 5061 for TLS; 5060 otherwise (WS URIs name their port).
  return protocol === 'TLS' || protocol === 'WSS' ? 5061 : 5060;
}

function protocolOfContact(uri: SipUri): TransportProtocol {
  const param = uri.params.transport?.toUpperCase();
  if (param === 'UDP' || param === 'TCP' || param === 'TLS' || param === 'WS' || param === 'WSS') {
    return param;
  }
  return uri.scheme === 'sips' ? 'TLS' : 'UDP';
}

/** A key under which two contact URIs are the same binding (RFC 3261 §19.1.4, simplified). */
function contactKey(uri: SipUri): string {
  const transport = uri.params.transport?.toLowerCase() ?? '';
  return `${uri.scheme}:${uri.user ?? ''}@${uri.host.toLowerCase()}:${uri.port ?? ''};${transport}`;
}

function parseContactUri(text: string): SipUri | undefined {
  try {
    const uri = parseUri(text);
    return uri instanceof SipUri ? uri : undefined;
  } catch {
    return undefined;
  }
}

/** A typed header accessor's value, or `undefined` when the header is malformed (it throws then). */
function read<T>(accessor: () => T): T | undefined {
  try {
    return accessor();
  } catch {
    return undefined;
  }
}

function stripQuotes(text: string): string {
  return text.length >= 2 && text.startsWith('"') && text.endsWith('"') ? text.slice(1, -1) : text;
}

/**
 * A registrar: authenticates REGISTER requests, keeps bindings in a
 * {@link BindingStore}, expires them on its clock and answers lookups.
 * Extends core's `Service`: `start()` starts the expiry sweep; while draining
 * or stopped, REGISTER gets 503 with Retry-After.
 *
 * Serve it with a {@link RegistrarServer} over a transport, or add
 * {@link Registrar.middleware} to a `UserAgent`.
 *
 * @example
 * ```ts
 * const registrar = new Registrar({
 *   credentials: ({ username, realm }) => tenants.get(realm)?.sipPassword(username),
 * });
 * registrar.on('registered', (binding) => log.info(binding, 'registered'));
 * await registrar.start();
 * const routes = await registrar.lookup('sip:alice@tenant.example');
 * ```
 */
export class Registrar extends Service<RegistrarEvents> {
  /** The store the bindings are in. */
  readonly store: BindingStore;
  /** The digest authenticator, or `undefined` when authentication is off. */
  readonly authenticator: DigestAuthenticator | undefined;
  readonly #realm: (query: RealmQuery) => string | undefined | Promise<string | undefined>;
  readonly #authorize: (query: AuthorizeQuery) => boolean | Promise<boolean>;
  readonly #minExpiresS: number;
  readonly #maxExpiresS: number;
  readonly #defaultExpiresS: number;
  readonly #maxBindings: number;
  readonly #sweepIntervalMs: number;
  readonly #logger: Logger;
  readonly #requests: Counter<'status'>;
  readonly #locks = new Map<string, Promise<unknown>>();
  #sweepTimer: Timer | undefined;
  #sweeping: Promise<number> | undefined;
  /** Expired bindings already reported, so a sweep racing an update does not report one twice. */
  readonly #reported = new Map<string, number>();

  constructor(options: RegistrarOptions = {}) {
    super({ name: 'sip-registrar', clock: options.clock });
    this.store = options.store ?? new MemoryBindingStore();
    this.#logger = (options.logger ?? silentLogger).child({ component: 'sip-registrar' });
    const metrics = options.metrics ?? new Metrics();
    if (options.authenticator === false) {
      this.authenticator = undefined;
    } else if (options.authenticator !== undefined) {
      this.authenticator = options.authenticator;
    } else if (options.credentials !== undefined) {
      this.authenticator = new DigestAuthenticator({
        lookup: options.credentials,
        algorithms: options.digestAlgorithms,
        clock: this.clock,
        logger: this.#logger,
        metrics,
      });
    } else {
      throw new TypeError(
        'A registrar needs credentials or an authenticator (authenticator: false turns authentication off)',
      );
    }
    this.#realm = options.realm ?? (({ domain }) => domain);
    this.#authorize =
      options.authorize ??
      (({ username, aor }) => username === undefined || aor.startsWith(`sip:${username}@`));
    this.#minExpiresS = options.minExpiresS ?? 60;
    this.#maxExpiresS = options.maxExpiresS ?? 3600;
    this.#defaultExpiresS = options.defaultExpiresS ?? 3600;
    this.#maxBindings = options.maxBindingsPerAor ?? 10;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
    if (!(this.#minExpiresS >= 0 && this.#maxExpiresS >= this.#minExpiresS)) {
      throw new RangeError('Need 0 <= minExpiresS <= maxExpiresS');
    }
    if (!(this.#maxBindings >= 1)) throw new RangeError('maxBindingsPerAor must be at least 1');
    this.#requests = metrics.counter({
      name: 'sip_registrar_requests_total',
      help: 'REGISTER requests by response status',
      labelNames: ['status'],
    });
  }

  protected onStart(): Promise<void> {
    this.#sweepTimer = this.clock.setInterval(() => {
      void this.sweep().catch((error: unknown) => {
        this.#logger.warn({ err: error }, 'registrar: expiry sweep failed');
      });
    }, this.#sweepIntervalMs);
    this.#sweepTimer.unref();
    return Promise.resolve();
  }

  protected onStop(): Promise<void> {
    this.#sweepTimer?.cancel();
    this.#sweepTimer = undefined;
    return Promise.resolve();
  }

  /**
   * Removes expired bindings from the store now, emitting `expired` for
   * each; resolves with their number. The registrar also does this every
   * `sweepIntervalMs`.
   */
  sweep(): Promise<number> {
    this.#sweeping ??= (async () => {
      try {
        const now = this.clock.now();
        const removed = await this.store.expire(now);
        for (const binding of removed) this.#reportExpired(binding);
        for (const [key, expiresAt] of this.#reported) {
          if (expiresAt < now - 2 * this.#sweepIntervalMs) this.#reported.delete(key);
        }
        return removed.length;
      } finally {
        this.#sweeping = undefined;
      }
    })();
    return this.#sweeping;
  }

  /**
   * Answers a REGISTER: the response to send (never rejects for bad peer
   * input; a store failure gives 500). Rejects only when `signal` aborts.
   */
  async handle(options: RegistrarHandleOptions): Promise<SipResponse> {
    const result = await this.process(options);
    return createResponse(options.request, result.status, {
      reason: result.reason,
      toTag: randomBytes(6).toString('hex'),
      headers: result.headers,
    });
  }

  /** Like {@link Registrar.handle}, but returns the status and headers instead of a response. */
  async process(options: RegistrarHandleOptions): Promise<RegistrarReply> {
    const { request, signal } = options;
    throwIfAborted(signal);
    let result: RegistrarReply;
    try {
      result = await this.#process(options);
    } catch (error) {
      if (VoxmeshError.is(error, ErrorCode.ABORTED) && signal?.aborted === true) {
        throw error;
      } else {
        this.#logger.error(
          { err: error, callId: read(() => request.callId) },
          'registrar: REGISTER failed',
        );
        result = reply(500, 'Server Internal Error', [['Retry-After', '5']]);
      }
    }
    this.#requests.inc({ status: String(result.status) });
    return result;
  }

  /**
   * A middleware for a `UserAgent` (`ua.use({ method: 'REGISTER', handler: registrar.middleware() })`):
   * answers REGISTER and passes every other method on.
   */
  middleware(): (ctx: RegistrarRequestContext, next: () => Promise<void>) => Promise<void> {
    return async (ctx, next) => {
      if (ctx.request.method !== 'REGISTER') {
        await next();
        return;
      }
      const result = await this.process({ request: ctx.request, flow: ctx.flow });
      ctx.respond({ status: result.status, reason: result.reason, headers: result.headers });
    };
  }

  /**
   * The contacts registered for `aor` (any SIP URI; it is canonicalised),
   * ordered by `q` (highest first), then most recently refreshed first,
   * with the flow and address to reach each. Expired bindings are left out.
   */
  async lookup(aor: string, options: LookupOptions = {}): Promise<ContactRoute[]> {
    const key = this.#aorOf(aor);
    const now = this.clock.now();
    const bindings = (await this.store.get(key, { signal: options.signal })).filter(
      (b) => b.expiresAt > now,
    );
    bindings.sort((a, b) => b.q - a.q || b.updatedAt - a.updatedAt);
    const routes: ContactRoute[] = [];
    for (const binding of bindings) {
      const route = this.#route(binding);
      if (route !== undefined) routes.push(route);
    }
    return routes;
  }

  /** The current (unexpired) bindings of `aor`, in store order. */
  async bindings(aor: string, options: LookupOptions = {}): Promise<Binding[]> {
    const now = this.clock.now();
    const list = await this.store.get(this.#aorOf(aor), { signal: options.signal });
    return list.filter((b) => b.expiresAt > now);
  }

  #aorOf(aor: string): string {
    if (typeof aor !== 'string') throw new TypeError('aor must be a string');
    const uri = parseContactUri(aor);
    if (uri === undefined) {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, `Not a SIP address of record: ${aor}`);
    }
    return canonicalAor(uri);
  }

  #route(binding: Binding): ContactRoute | undefined {
    const uri = parseContactUri(binding.contact);
    if (uri === undefined) return undefined;
    const { received } = binding;
    const protocol = protocolOfContact(uri);
    const port = uri.port ?? defaultPortOf(protocol);
    const behindNat =
      uri.host.toLowerCase() !== received.source.host.toLowerCase() ||
      port !== received.source.port;
    // RFC 5626 §5.3: a binding registered over a flow (reg-id) is reached over
    // that flow; RFC 3581 / RFC 3261 §18.2.2 reasoning applies to NATed
    // contacts: only the source address of the REGISTER is known to work.
    const viaReceived = behindNat || binding.regId !== undefined || protocol !== received.protocol;
    const target: TransportTarget = viaReceived
      ? { protocol: received.protocol, host: received.source.host, port: received.source.port }
      : { protocol, host: uri.host, port };
    return {
      binding,
      uri: binding.contact,
      target,
      flowId: viaReceived || protocol === received.protocol ? received.flowId : undefined,
      behindNat,
      flowRequired:
        binding.regId !== undefined ||
        received.protocol === 'WS' ||
        received.protocol === 'WSS' ||
        (received.protocol !== 'UDP' && behindNat),
    };
  }

  async #process(options: RegistrarHandleOptions): Promise<RegistrarReply> {
    const { request } = options;
    if (request.method !== 'REGISTER') {
      return reply(405, 'Method Not Allowed', [['Allow', 'REGISTER']]);
    }
    if (!this.acceptingWork) {
      // Draining or stopped: the phone should try another registrar.
      return reply(503, 'Service Unavailable', [['Retry-After', '5']]);
    }
    const work = this.beginWork();
    try {
      return await this.#processWork(options);
    } finally {
      work.release();
    }
  }

  async #processWork(options: RegistrarHandleOptions): Promise<RegistrarReply> {
    const { request, flow, signal } = options;

    // RFC 3261 §10.3 step 1: we serve sip: and sips: Request-URIs only.
    if (!(request.uri instanceof SipUri)) return reply(416, 'Unsupported URI Scheme');

    // RFC 3261 §10.3 step 5 (checked first: the tenant comes from the AOR's domain).
    let toUri: SipUri | undefined;
    try {
      const uri = request.to?.uri;
      toUri = uri instanceof SipUri ? uri : undefined;
    } catch {
      toUri = undefined;
    }
    if (toUri?.user === undefined || toUri.user.length === 0) {
      return reply(404, 'Not Found');
    }
    const aor = canonicalAor(toUri);
    const callId = read(() => request.callId);
    const cseq = read(() => request.cseq);
    if (callId === undefined || cseq === undefined) return reply(400, 'Bad Request');

    const realm = await this.#realm({ domain: toUri.host.toLowerCase(), request, signal });
    throwIfAborted(signal);
    if (realm === undefined) return reply(404, 'Not Found');

    // RFC 3261 §10.3 step 2: extensions in Require that we do not support.
    const unsupported = parseTokenList(request.headers.getAll('require')).filter(
      (ext) => !SUPPORTED_EXTENSIONS.has(ext.toLowerCase()),
    );
    if (unsupported.length > 0) {
      return reply(420, 'Bad Extension', [['Unsupported', unsupported.join(', ')]]);
    }

    // RFC 3261 §10.3 step 3: authenticate (RFC 3261 §22.4 digest). Known and
    // unknown users get the same challenge and the same failure.
    let username: string | undefined;
    if (this.authenticator !== undefined) {
      const result = await this.#verify(request, flow, realm, signal);
      if (!result.ok) {
        const headers: [string, string][] = result.challenges.map((c) => [result.headerName, c]);
        if (result.retryAfterS !== undefined) {
          headers.push(['Retry-After', String(result.retryAfterS)]);
        }
        return reply(result.status, undefined, headers);
      }
      username = result.username;
    }

    // RFC 3261 §10.3 step 4: may this user modify this AOR's bindings?
    if (!(await this.#authorize({ username, realm, aor, request }))) {
      return reply(403, 'Forbidden');
    }

    // RFC 3261 §10.3: REGISTERs for one AOR are processed in the order received.
    return this.#serial(aor, () => this.#update(request, flow, aor, callId, cseq.seq, signal));
  }

  async #verify(
    request: SipRequest,
    flow: RegistrarFlow,
    realm: string,
    signal: AbortSignal | undefined,
  ): Promise<DigestVerifyResult> {
    const authenticator = this.authenticator as DigestAuthenticator;
    const authorization = request.headers.getAll(authenticator.credentialsHeader);
    // RFC 3261 §22.4: the credentials' uri must be the Request-URI; compare
    // them as parsed URIs so that equivalent spellings match.
    const requestUri = request.uri.toString();
    let claimed = requestUri;
    for (const value of authorization) {
      try {
        const credentials = parseDigestCredentials(value);
        if (credentials.realm !== realm) continue;
        if (parseUri(credentials.uri).toString() === requestUri) claimed = credentials.uri;
        break;
      } catch {
        // malformed or unparsable uri: the authenticator reports it
      }
    }
    return authenticator.verify({
      realm,
      method: request.method,
      requestUri: claimed,
      authorization,
      source: flow.remote.host,
      signal,
    });
  }

  async #serial<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    this.#locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    }
  }

  async #update(
    request: SipRequest,
    flow: RegistrarFlow,
    aor: string,
    callId: string,
    cseq: number,
    signal: AbortSignal | undefined,
  ): Promise<RegistrarReply> {
    const now = this.clock.now();
    const stored = await this.store.get(aor, { signal });
    const expired = stored.filter((b) => b.expiresAt <= now);
    let current = stored.filter((b) => b.expiresAt > now);
    const removed: Binding[] = [];
    const added: { binding: Binding; refreshed: boolean }[] = [];
    let wildcard: boolean;
    let contacts: readonly NameAddr[];
    try {
      wildcard = request.contactWildcard;
      contacts = request.contact;
    } catch {
      return reply(400, 'Invalid Contact');
    }
    let headerExpires: number | undefined;
    try {
      headerExpires = request.expires;
    } catch {
      headerExpires = undefined;
    }

    if (wildcard) {
      // RFC 3261 §10.3 step 6: `*` only alone and only with Expires: 0.
      if (request.headers.list('contact').length !== 1 || headerExpires !== 0) {
        return reply(400, 'Invalid Contact: * (needs Expires: 0)');
      }
      for (const binding of current) {
        // RFC 3261 §10.3 step 6: same Call-ID needs a higher CSeq, else the request fails.
        if (binding.callId === callId && cseq <= binding.cseq) return this.#outOfOrder();
      }
      removed.push(...current);
      current = [];
    } else if (contacts.length > 0) {
      const outbound = (read(() => request.supported) ?? []).some(
        (s) => s.toLowerCase() === 'outbound',
      );
      const next = [...current];
      const received: ReceivedPath = {
        protocol: flow.protocol,
        source: { host: flow.remote.host, port: flow.remote.port },
        ...(flow.local === undefined
          ? {}
          : { local: { host: flow.local.host, port: flow.local.port } }),
        ...(flow.id === undefined ? {} : { flowId: flow.id }),
      };
      for (const contact of contacts) {
        const uri = parseContactUri(contact.uriText);
        if (uri === undefined) return reply(400, 'Invalid Contact URI');
        // RFC 3261 §10.3 step 7: the contact's expires parameter, else the
        // Expires header, else the registrar's default.
        let expires = headerExpires ?? this.#defaultExpiresS;
        const param = contact.params.expires;
        if (param !== undefined && param !== null && /^\d{1,10}$/.test(param)) {
          expires = Number(param);
        }
        // RFC 3261 §10.2.8: too brief (but not zero) → 423 with Min-Expires.
        if (expires > 0 && expires < this.#minExpiresS) {
          return reply(423, 'Interval Too Brief', [['Min-Expires', String(this.#minExpiresS)]]);
        }
        // RFC 3261 §10.3 step 7: the registrar MAY shorten the expiration.
        expires = Math.min(expires, this.#maxExpiresS);
        let q = 1;
        const qParam = contact.params.q;
        if (qParam !== undefined) {
          // RFC 3261 §20.10 / §25.1: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
          if (qParam === null || !/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(qParam)) {
            return reply(400, 'Invalid q-value');
          }
          q = Number(qParam);
        }
        const instance = contact.params['+sip.instance'];
        const instanceId =
          instance === undefined || instance === null ? undefined : stripQuotes(instance);
        const regIdText = contact.params['reg-id'];
        // RFC 5626 §6: reg-id counts only with an instance id and `Supported: outbound`.
        const regId =
          outbound && instanceId !== undefined && regIdText !== undefined && regIdText !== null
            ? Number.parseInt(regIdText, 10)
            : undefined;
        const key = contactKey(uri);
        const index = next.findIndex((b) => {
          if (regId !== undefined && !Number.isNaN(regId)) {
            return b.instanceId === instanceId && b.regId === regId;
          }
          const other = parseContactUri(b.contact);
          return other !== undefined && contactKey(other) === key;
        });
        const existing = index >= 0 ? next[index] : undefined;
        // RFC 3261 §10.3 step 7: same Call-ID with a CSeq not higher → the update fails.
        if (existing !== undefined && existing.callId === callId && cseq <= existing.cseq) {
          return this.#outOfOrder();
        }
        if (expires === 0) {
          if (existing !== undefined) {
            next.splice(index, 1);
            removed.push(existing);
          }
          continue;
        }
        const binding: Binding = {
          aor,
          contact: uri.toString(),
          q,
          expiresAt: now + expires * 1000,
          updatedAt: now,
          callId,
          cseq,
          received,
          ...(instanceId === undefined ? {} : { instanceId }),
          ...(regId === undefined || Number.isNaN(regId) ? {} : { regId }),
          ...(request.headers.get('user-agent') === undefined
            ? {}
            : { userAgent: request.headers.get('user-agent') }),
        };
        if (existing !== undefined) {
          next[index] = binding;
          // A different contact replacing the same RFC 5626 instance/reg-id.
          if (existing.contact !== binding.contact) removed.push(existing);
          added.push({ binding, refreshed: existing.contact === binding.contact });
        } else {
          next.push(binding);
          added.push({ binding, refreshed: false });
        }
      }
      if (next.length > this.#maxBindings) return reply(403, 'Too Many Contacts');
      current = next;
    }

    if (removed.length > 0 || added.length > 0 || expired.length > 0) {
      await this.store.set(aor, current, { signal });
    }
    for (const binding of expired) this.#reportExpired(binding);
    for (const binding of removed) this.emit('unregistered', binding);
    for (const { binding, refreshed } of added) this.emit('registered', binding, refreshed);

    // RFC 3261 §10.3 step 8: 200 OK listing every current binding with its
    // remaining lifetime; a Date header helps phones without a clock.
    const headers: [string, string][] = current.map((b) => [
      'Contact',
      `<${b.contact}>;expires=${Math.max(0, Math.round((b.expiresAt - now) / 1000))}${
        b.q === 1 ? '' : `;q=${b.q}`
      }`,
    ]);
    if (current.some((b) => b.regId !== undefined)) headers.push(['Require', 'outbound']);
    headers.push(['Date', new Date(now).toUTCString()]);
    return reply(200, 'OK', headers);
  }

  #reportExpired(binding: Binding): void {
    const key = `${binding.aor}\n${binding.contact}\n${binding.callId}\n${binding.cseq}\n${binding.expiresAt}`;
    if (this.#reported.has(key)) return;
    if (this.#reported.size >= 100_000) {
      const oldest = this.#reported.keys().next();
      if (oldest.done !== true) this.#reported.delete(oldest.value);
    }
    this.#reported.set(key, binding.expiresAt);
    this.emit('expired', binding);
  }

  #outOfOrder(): RegistrarReply {
    // RFC 3261 §10.3 steps 6–7 say only that the request fails; 500 is the
    // answer §12.2.2 gives to a CSeq that is out of order.
    return reply(500, 'Out of Order CSeq', [['Retry-After', '1']]);
  }
}
