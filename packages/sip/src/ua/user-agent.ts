/**
 * A SIP user agent (RFC 3261 §8): UAC and UAS cores over the transaction
 * layer, with per-method middleware for incoming requests, outgoing calls
 * and requests with digest authentication, registration and dialogs.
 *
 * ```text
 * transport ──► TransactionLayer ──► new request ──► in dialog? ──► Call._receive
 *                    │                    │ no
 *                    │                    ▼
 *                    │            middleware chain  ua.use({ method, handler })
 *                    │                    ▼
 *                    │            default: OPTIONS 200, INVITE → 'invite' event or 480,
 *                    │                     others 405 / 501
 *                    └─► responses ──► client transactions ──► Call / request()
 * ```
 *
 * @module
 */

import {
  type Counter,
  type Clock,
  type Logger,
  Metrics,
  Service,
  VoxmeshError,
  abortable,
  silentLogger,
} from '@voxmesh/core';

import { DigestClient } from '../auth/digest-client.js';
import { NameAddr, parseNameAddr } from '../codec/name-addr.js';
import { SipUri, parseUri, type Uri } from '../codec/uri.js';
import { Dialog, generateCallId, generateTag } from '../dialog/dialog.js';
import { SipRequest, type SipResponse, createResponse, type SipMessage } from '../message.js';
import { generateBranch, type TransactionTimerOptions } from '../transaction/transaction-base.js';
import type { InviteServerTransaction } from '../transaction/server-transaction.js';
import {
  type ClientTransaction,
  type ServerTransaction,
  TransactionLayer,
} from '../transaction/transaction-layer.js';
import {
  ALLOW,
  Call,
  type CallHost,
  type CallRoute,
  type SessionTimerOptions,
  localIdentity,
} from './call.js';
import { SipResponseError, SipUaErrorCode } from './errors.js';
import type { UaFlow, UaProtocol, UaTarget, UaTransport } from './ua-transport.js';
import type { SipTransportLayer } from '../transport/types.js';
import { isUaTransport, userAgentTransport } from './transport-adapter.js';

/** Options of the {@link UserAgent} constructor. */
export interface UserAgentOptions {
  /**
   * The transport it runs on: the package's transport layer
   * (`SipTransport`), or any {@link UaTransport} (e.g. an in-memory network).
   */
  transport: UaTransport | SipTransportLayer;
  /** Our address of record: the From of out-of-dialog requests, e.g. `sip:alice@voxmesh.test`. */
  uri: string;
  /** The display name in From. @defaultValue none */
  displayName?: string | undefined;
  /** Credentials for answering 401/407 challenges. @defaultValue none (challenges fail) */
  credentials?: { username: string; password: string } | undefined;
  /** Every out-of-dialog request goes here instead of to its Request-URI. @defaultValue none */
  outboundProxy?: UaTarget | undefined;
  /** The transport used when a URI names none. @defaultValue `'UDP'` */
  defaultProtocol?: UaProtocol | undefined;
  /** Session timers (RFC 4028); `false` turns them off. @defaultValue `{ expiresS: 1800, minSeS: 90 }` */
  sessionTimer?: SessionTimerOptions | false | undefined;
  /** The User-Agent header. @defaultValue `'voxmesh'` */
  userAgent?: string | undefined;
  /** T1, T2, T4. @defaultValue RFC 3261 values */
  timers?: TransactionTimerOptions | undefined;
  /** @defaultValue `systemClock` */
  clock?: Clock | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
  /** @defaultValue a private `Metrics` */
  metrics?: Metrics | undefined;
}

/** What a middleware handler gets for an incoming out-of-dialog request. */
export interface RequestContext {
  readonly request: SipRequest;
  /** The flow it arrived on. */
  readonly flow: UaFlow;
  /** The user agent. */
  readonly ua: UserAgent;
  /** For INVITE: the new incoming call, to progress, accept or reject. */
  readonly call: Call | undefined;
  /** The server transaction (answered through {@link RequestContext.respond}). */
  readonly transaction: ServerTransaction;
  /** Whether a final response was sent. */
  readonly responded: boolean;
  /** Sends a response (for INVITE prefer the {@link Call} methods). */
  respond(options: {
    status: number;
    reason?: string | undefined;
    headers?: Iterable<readonly [string, string]> | undefined;
    body?: Buffer | string | undefined;
    contentType?: string | undefined;
  }): void;
}

/**
 * A middleware: answers the request, or calls `next()` to pass it on. A
 * handler that neither answers nor calls `next()` owns the request (it must
 * answer it later).
 */
export type RequestHandler = (
  ctx: RequestContext,
  next: () => Promise<void>,
) => void | Promise<void>;

/** Options of {@link UserAgent.use}. */
export interface UseOptions {
  /** The methods it sees. @defaultValue every method */
  method?: string | readonly string[] | undefined;
  handler: RequestHandler;
  /**
   * Runs before the handlers added so far (e.g. a guard that refuses calls
   * while a component drains).
   * @defaultValue `false`: runs after them
   */
  prepend?: boolean | undefined;
}

/** Options of {@link UserAgent.request}. */
export interface UaRequestOptions {
  method: string;
  /** The Request-URI. */
  uri: string;
  /** The To header (a URI or name-addr). @defaultValue the Request-URI */
  to?: string | undefined;
  headers?: Iterable<readonly [string, string]> | undefined;
  body?: Buffer | string | undefined;
  contentType?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** Options of {@link UserAgent.invite}. */
export interface UaInviteOptions {
  /** The callee: the Request-URI. */
  uri: string;
  /**
   * The From header as a URI or name-addr, e.g. `"Alice" <sip:+4930123@carrier.example>`
   * (a tag is added).
   * @defaultValue the user agent's URI and display name
   */
  from?: string | undefined;
  /** The To header as a URI or name-addr. @defaultValue the Request-URI */
  to?: string | undefined;
  /**
   * Where the INVITE (and the call's in-dialog requests without a route
   * set) is sent, instead of the Request-URI's host or the outbound proxy:
   * e.g. a carrier's proxy, or the address a registered phone's REGISTER
   * came from.
   * @defaultValue the outbound proxy, else the Request-URI (RFC 3261 §8.1.2)
   */
  next?: UaTarget | undefined;
  /** Credentials answering 401/407 for this call. @defaultValue the user agent's */
  credentials?: { username: string; password: string } | undefined;
  /** Max-Forwards (a B2BUA passes on the caller's value less one). @defaultValue `70` */
  maxForwards?: number | undefined;
  /**
   * Leave the ACK of the 2xx to {@link Call.ack}, so that it can carry the
   * answer to the 2xx's offer (an INVITE without a body).
   * @defaultValue `false`: the ACK goes out at once
   */
  deferAck?: boolean | undefined;
  /** The offer. */
  body?: Buffer | string | undefined;
  /** @defaultValue `'application/sdp'` when `body` is given */
  contentType?: string | undefined;
  headers?: Iterable<readonly [string, string]> | undefined;
  /** Ask for reliable provisional responses (`Require: 100rel`). @defaultValue `false` (only `Supported`) */
  require100rel?: boolean | undefined;
  /** Aborting cancels the call while unanswered. */
  signal?: AbortSignal | undefined;
}

/** Options of {@link UserAgent.register}. */
export interface UaRegisterOptions {
  /** The registrar's URI. @defaultValue the domain of the user agent's URI */
  registrar?: string | undefined;
  /** The address of record registered (From and To). @defaultValue the user agent's URI */
  aor?: string | undefined;
  /** The Contact registered. @defaultValue the user agent's address on the transport used */
  contact?: string | undefined;
  /** Where the REGISTER is sent. @defaultValue the outbound proxy, else the registrar's host */
  next?: UaTarget | undefined;
  /** Credentials answering 401/407. @defaultValue the user agent's */
  credentials?: { username: string; password: string } | undefined;
  /**
   * The Call-ID; a UA uses the same one for every REGISTER to a registrar
   * (RFC 3261 §10.2). @defaultValue a new one
   */
  callId?: string | undefined;
  /** The CSeq number, higher than the last one sent with this Call-ID. @defaultValue `1` */
  cseq?: number | undefined;
  /** Binding lifetime in seconds; `0` removes it. @defaultValue `3600` */
  expiresS?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** Events of a {@link UserAgent}, besides the service `state`. */
export interface UserAgentEvents {
  /** An INVITE that no middleware handled; call `accept`/`reject` on it. */
  invite: [call: Call];
  /** Every message received, after parsing (for tracing and tests). */
  message: [message: SipMessage, direction: 'in' | 'out'];
}

const SUPPORTED = ['100rel', 'timer', 'replaces', 'norefersub'];

function protocolOf(uri: Uri, fallback: UaProtocol): UaProtocol {
  if (!(uri instanceof SipUri)) return fallback;
  const param = uri.params.transport?.toUpperCase();
  if (param === 'UDP' || param === 'TCP' || param === 'TLS' || param === 'WS' || param === 'WSS') {
    return param;
  }
  return uri.scheme === 'sips' ? 'TLS' : fallback;
}

/** Whether the request's Contact names the address it came from. */
function contactIsSource(request: SipRequest, flow: UaFlow): boolean {
  try {
    const uri = request.contact[0]?.uri;
    if (!(uri instanceof SipUri)) return false;
    const protocol = protocolOf(uri, flow.protocol);
    const host = uri.host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    return (
      host === flow.remote.host.toLowerCase() &&
      (uri.port ?? defaultPort(protocol)) === flow.remote.port
    );
  } catch {
    return false;
  }
}

function defaultPort(protocol: UaProtocol): number {
  // RFC 3261 §19.1.2 (5060/5061); RFC 7118 leaves WS ports to the URI.
  return protocol === 'TLS' || protocol === 'WSS' ? 5061 : protocol === 'WS' ? 80 : 5060;
}

/**
 * A SIP user agent. Extends core's `Service`: `start()` subscribes to the
 * transport, `drain()` answers new out-of-dialog requests with 503 while
 * calls in progress finish, `stop()` ends every transaction and call.
 *
 * @example
 * ```ts
 * const ua = new UserAgent({ transport, uri: 'sip:alice@voxmesh.test' });
 * ua.use({ method: 'INVITE', handler: async ({ call }) => { await call!.accept({ body: sdp }); } });
 * await ua.start();
 * const call = ua.invite({ uri: 'sip:bob@127.0.0.1:5070', body: offer });
 * await call.answered();
 * await call.bye();
 * ```
 */
export class UserAgent extends Service<UserAgentEvents> implements CallHost {
  /** The transaction layer. */
  readonly transactions: TransactionLayer;
  /** Our address of record. */
  readonly uri: SipUri;
  readonly logger: Logger;
  readonly sessionTimer: Required<SessionTimerOptions> | undefined;
  readonly supported: readonly string[] = SUPPORTED;
  readonly #transport: UaTransport;
  readonly #displayName: string | undefined;
  readonly #digest: DigestClient | undefined;
  readonly #digests = new WeakMap<object, DigestClient>();
  readonly #outboundProxy: UaTarget | undefined;
  readonly #defaultProtocol: UaProtocol;
  readonly #userAgent: string;
  readonly #middleware: { methods: Set<string> | undefined; handler: RequestHandler }[] = [];
  readonly #dialogs = new Map<string, Call>();
  readonly #calls = new Set<Call>();
  readonly #pendingInvites = new Map<InviteServerTransaction, Call>();
  /** The dialog keys and server transaction of each call, so that ending it costs O(1). */
  readonly #callKeys = new Map<Call, { dialogs: string[]; invite?: InviteServerTransaction }>();
  readonly #requests: Counter<'direction' | 'method'>;
  #unsubscribe: (() => void) | undefined;

  constructor(options: UserAgentOptions) {
    super({ name: 'sip-user-agent', clock: options.clock });
    const uri = parseUri(options.uri);
    if (!(uri instanceof SipUri)) throw new TypeError('A user agent needs a sip: or sips: URI');
    this.uri = uri;
    this.#transport = isUaTransport(options.transport)
      ? options.transport
      : userAgentTransport(options.transport);
    this.#displayName = options.displayName;
    this.#digest =
      options.credentials === undefined ? undefined : new DigestClient(options.credentials);
    this.#outboundProxy = options.outboundProxy;
    this.#defaultProtocol = options.defaultProtocol ?? 'UDP';
    this.#userAgent = options.userAgent ?? 'voxmesh';
    this.logger = options.logger ?? silentLogger;
    this.sessionTimer =
      options.sessionTimer === false
        ? undefined
        : {
            expiresS: options.sessionTimer?.expiresS ?? 1800,
            minSeS: options.sessionTimer?.minSeS ?? 90,
          };
    const metrics = options.metrics ?? new Metrics();
    this.transactions = new TransactionLayer({
      clock: this.clock,
      timers: options.timers,
      logger: this.logger,
      metrics,
    });
    this.#requests = metrics.counter({
      name: 'sip_ua_requests_total',
      help: 'SIP requests sent and received by user agents',
      labelNames: ['direction', 'method'],
    });
  }

  /** @internal The clock calls use. */
  get callClock(): Clock {
    return this.clock;
  }

  /** The timer values in use. */
  get timers(): TransactionLayer['context']['timers'] {
    return this.transactions.context.timers;
  }

  /** The calls not yet terminated. */
  get calls(): readonly Call[] {
    return [...this.#calls];
  }

  /** Adds a middleware for incoming out-of-dialog requests; handlers run in the order added. */
  use(options: UseOptions): this {
    if (typeof options.handler !== 'function') throw new TypeError('use() needs a handler');
    const m = options.method;
    const methods =
      m === undefined
        ? undefined
        : new Set((typeof m === 'string' ? [m] : m).map((x) => x.toUpperCase()));
    const entry = { methods, handler: options.handler };
    if (options.prepend === true) this.#middleware.unshift(entry);
    else this.#middleware.push(entry);
    return this;
  }

  protected onStart(): Promise<void> {
    this.#unsubscribe = this.#transport.onMessage((message, flow) => {
      this.#receive(message, flow);
    });
    return Promise.resolve();
  }

  protected override onDrain(): Promise<void> {
    return Promise.resolve();
  }

  protected onStop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    for (const call of [...this.#calls]) call._terminate({ cause: 'failed', by: 'local' });
    this.transactions.terminateAll();
    return Promise.resolve();
  }

  // ---------------------------------------------------------------- sending

  /** Sends an out-of-dialog request (not INVITE); resolves with the final response, any status. */
  async request(options: UaRequestOptions): Promise<SipResponse> {
    if (options.method === 'INVITE' || options.method === 'ACK' || options.method === 'CANCEL') {
      throw new TypeError(`Use invite() or a Call for ${options.method}`);
    }
    const request = this.#newRequest(options);
    return this.sendRequest(request, { signal: options.signal });
  }

  /** Registers our URI with a registrar (RFC 3261 §10.2); rejects with {@link SipResponseError} on failure. */
  async register(options: UaRegisterOptions = {}): Promise<SipResponse> {
    const registrar = options.registrar ?? `sip:${this.uri.hostport}`;
    const expires = options.expiresS ?? 3600;
    const aor = options.aor ?? this.uri.toString();
    const route: CallRoute = { next: options.next, credentials: options.credentials };
    const request = this.#newRequest({
      method: 'REGISTER',
      uri: registrar,
      to: aor,
      from: aor,
      callId: options.callId,
      cseq: options.cseq,
      headers: [['Expires', String(expires)]],
    });
    request.headers.append(
      'Contact',
      options.contact ?? this.contactFor(request, false, route).toString(),
    );
    const response = await this.sendRequest(request, { signal: options.signal }, route);
    if (response.status >= 300) {
      throw new SipResponseError(`REGISTER answered ${response.status} ${response.reason}`, {
        status: response.status,
        reason: response.reason,
        response,
      });
    }
    return response;
  }

  /**
   * Starts an outgoing call; await {@link Call.answered} for the outcome.
   * Throws `NOT_ACCEPTING_WORK` when the user agent is not running
   * (not started, draining or stopped).
   */
  invite(options: UaInviteOptions): Call {
    const token = this.beginWork();
    const contentType =
      options.body === undefined ? undefined : (options.contentType ?? 'application/sdp');
    const route: CallRoute = { next: options.next, credentials: options.credentials };
    const headers: (readonly [string, string])[] = [...(options.headers ?? [])];
    headers.push(['Supported', SUPPORTED.join(', ')]);
    if (options.require100rel === true) headers.push(['Require', '100rel']);
    headers.push(['Allow', ALLOW]);
    if (this.sessionTimer !== undefined) {
      // RFC 4028 §7.1: the UAC may ask for a session interval.
      headers.push(['Session-Expires', String(this.sessionTimer.expiresS)]);
      headers.push(['Min-SE', String(this.sessionTimer.minSeS)]);
    }
    const request = this.#newRequest({
      method: 'INVITE',
      uri: options.uri,
      from: options.from,
      to: options.to,
      maxForwards: options.maxForwards,
      headers,
      body: options.body,
      contentType,
    });
    request.headers.append('Contact', this.contactFor(request, false, route).toString());
    const call = new Call({ host: this, direction: 'outgoing', invite: request });
    call.route = route;
    call.deferAck = options.deferAck ?? false;
    this.#calls.add(call);
    call.once('terminated', () => token.release());
    const onAbort = (): void => {
      call.cancel();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    void call
      ._start(options.signal)
      .catch(() => undefined)
      .finally(() => options.signal?.removeEventListener('abort', onAbort));
    return call;
  }

  #newRequest(
    options: Omit<UaRequestOptions, 'signal'> & {
      from?: string | undefined;
      callId?: string | undefined;
      cseq?: number | undefined;
      maxForwards?: number | undefined;
    },
  ): SipRequest {
    const uri = parseUri(options.uri);
    let from: NameAddr;
    if (options.from === undefined) {
      from = localIdentity(this.uri, this.#displayName, generateTag());
    } else {
      const given = parseNameAddr(options.from);
      from = new NameAddr({
        displayName: given.displayName,
        uri: given.uri,
        params: { ...given.params, tag: generateTag() },
      });
    }
    const to = parseNameAddr(options.to ?? `<${options.uri}>`);
    const request = new SipRequest({
      method: options.method,
      uri,
      headers: [
        ['Max-Forwards', String(options.maxForwards ?? 70)],
        ['From', from.toString()],
        ['To', to.toString()],
        ['Call-ID', options.callId ?? generateCallId()],
        ['CSeq', `${options.cseq ?? 1} ${options.method}`],
        ['User-Agent', this.#userAgent],
      ],
      body: options.body,
    });
    for (const [name, value] of options.headers ?? []) request.headers.append(name, value);
    if (options.body !== undefined) {
      request.headers.append('Content-Type', options.contentType ?? 'application/sdp');
    }
    return request;
  }

  /** Where a request goes next (RFC 3261 §8.1.2): outbound proxy, first Route, or Request-URI. */
  #targetFor(request: SipRequest, next?: UaTarget): UaTarget {
    const inDialog = request.to?.tag !== undefined;
    const proxy = next ?? this.#outboundProxy;
    if (proxy !== undefined && (!inDialog || request.route.length === 0)) {
      return proxy;
    }
    const route = request.route[0];
    const uri = route?.uri ?? request.uri;
    if (!(uri instanceof SipUri)) {
      throw new VoxmeshError(
        SipUaErrorCode.SIP_TRANSPORT_FAILED,
        `Cannot route to ${uri.toString()}: not a SIP URI`,
      );
    }
    const protocol = protocolOf(uri, this.#defaultProtocol);
    const host = uri.params.maddr ?? uri.host;
    return { protocol, host: host ?? uri.host, port: uri.port ?? defaultPort(protocol) };
  }

  async #flowFor(
    request: SipRequest,
    signal: AbortSignal | undefined,
    next?: UaTarget,
  ): Promise<UaFlow> {
    const target = this.#targetFor(request, next);
    try {
      return await this.#transport.connect(target, { signal });
    } catch (error) {
      throw new VoxmeshError(
        SipUaErrorCode.SIP_TRANSPORT_FAILED,
        `No flow to ${target.protocol} ${target.host}:${target.port}`,
        { cause: error, retryable: true },
      );
    }
  }

  /** RFC 3261 §8.1.1.7: a new top Via with a fresh branch and `rport` (RFC 3581). */
  #addVia(request: SipRequest, flow: UaFlow, branch = generateBranch()): void {
    const local = this.#transport.localAddress(flow.protocol);
    const host = local?.host ?? '127.0.0.1';
    const sentBy = host.includes(':') ? `[${host}]` : host;
    request.headers.remove('via');
    request.headers.prepend(
      'Via',
      `SIP/2.0/${flow.protocol} ${sentBy}:${local?.port ?? 5060};branch=${branch};rport`,
    );
  }

  /**
   * Our Contact for a request: the advertised address of the transport it
   * goes out on, or, for a request we received (`incoming`), of the transport
   * it came in on (its top Via names it).
   */
  contactFor(request: SipRequest, incoming = false, route?: CallRoute): NameAddr {
    let protocol = this.#defaultProtocol;
    const via = incoming ? request.topVia?.transport : undefined;
    if (via === 'UDP' || via === 'TCP' || via === 'TLS' || via === 'WS' || via === 'WSS') {
      protocol = via;
    } else {
      try {
        protocol = this.#targetFor(request, route?.next).protocol;
      } catch {
        // not routable: keep the default
      }
    }
    const local = this.#transport.localAddress(protocol) ?? { host: '127.0.0.1', port: 5060 };
    const params: Record<string, string | null> = {};
    if (protocol !== 'UDP') params.transport = protocol.toLowerCase();
    return new NameAddr({
      uri: new SipUri({
        scheme: protocol === 'TLS' || protocol === 'WSS' ? 'sips' : 'sip',
        user: this.uri.user,
        host: local.host,
        port: local.port,
        params,
      }),
    });
  }

  /** @internal Sends a non-INVITE request in a client transaction, answering one challenge. */
  async sendRequest(
    request: SipRequest,
    options: { signal?: AbortSignal | undefined },
    route?: CallRoute,
  ): Promise<SipResponse> {
    let current = request;
    for (let attempt = 0; ; attempt++) {
      const response = await this.#sendOnce(current, options.signal, route?.next);
      if ((response.status === 401 || response.status === 407) && attempt === 0) {
        const retry = this.authorize(current, response, route);
        if (retry !== undefined) {
          current = retry;
          continue;
        }
      }
      return response;
    }
  }

  async #sendOnce(
    request: SipRequest,
    signal: AbortSignal | undefined,
    next: UaTarget | undefined,
  ): Promise<SipResponse> {
    const flow = await this.#flowFor(request, signal, next);
    this.#addVia(request, flow);
    this.#count('out', request.method);
    this.emit('message', request, 'out');
    const tx = this.transactions.sendRequest({ request, flow });
    return abortable(
      new Promise<SipResponse>((resolve, reject) => {
        tx.on('response', (response) => {
          if (response.status >= 200) resolve(response);
        });
        tx.on('failure', reject);
      }),
      signal,
    );
  }

  /** @internal */
  async sendInvite(
    request: SipRequest,
    signal: AbortSignal | undefined,
    route?: CallRoute,
  ): Promise<ClientTransaction> {
    const flow = await this.#flowFor(request, signal, route?.next);
    this.#addVia(request, flow);
    this.#count('out', 'INVITE');
    this.emit('message', request, 'out');
    return this.transactions.sendRequest({ request, flow });
  }

  /** @internal RFC 3261 §9.1: CANCEL with the INVITE's Request-URI, Call-ID, From, To, CSeq number, top Via and Route. */
  sendCancel(invite: SipRequest, reason: string | undefined, route?: CallRoute): void {
    const headers: (readonly [string, string])[] = [];
    const via = invite.headers.list('via')[0];
    if (via !== undefined) headers.push(['Via', via]);
    headers.push(['Max-Forwards', '70']);
    for (const route of invite.headers.getAll('route')) headers.push(['Route', route]);
    for (const name of ['From', 'To', 'Call-ID']) {
      const v = invite.headers.get(name);
      if (v !== undefined) headers.push([name, v]);
    }
    headers.push(['CSeq', `${invite.cseq?.seq ?? 1} CANCEL`]);
    if (reason !== undefined) headers.push(['Reason', reason]);
    const cancel = new SipRequest({ method: 'CANCEL', uri: invite.uri, headers });
    void this.#flowFor(cancel, undefined, route?.next)
      .then((flow) => {
        this.#count('out', 'CANCEL');
        this.emit('message', cancel, 'out');
        const tx = this.transactions.sendRequest({ request: cancel, flow });
        tx.on('failure', (error) => this.logger.debug({ err: error }, 'CANCEL failed'));
      })
      .catch((error: unknown) => this.logger.debug({ err: error }, 'CANCEL not sent'));
  }

  /** @internal Sends an ACK for a 2xx outside any transaction (RFC 3261 §13.2.2.4). */
  sendAck(ack: SipRequest, route?: CallRoute): void {
    void this.#flowFor(ack, undefined, route?.next)
      .then((flow) => {
        if (ack.headers.get('via') === undefined) this.#addVia(ack, flow);
        this.#count('out', 'ACK');
        this.emit('message', ack, 'out');
        return flow.send(ack);
      })
      .catch((error: unknown) => this.logger.debug({ err: error }, 'ACK not sent'));
  }

  /**
   * @internal Builds the retry of a request answered with 401/407
   * (RFC 3261 §22.2): same Call-ID and tags, CSeq + 1, credentials added.
   */
  authorize(request: SipRequest, response: SipResponse, route?: CallRoute): SipRequest | undefined {
    const digest =
      route?.credentials === undefined ? this.#digest : this.#digestFor(route.credentials);
    if (digest === undefined) return undefined;
    const proxy = response.status === 407;
    const challenges = response.headers.getAll(proxy ? 'proxy-authenticate' : 'www-authenticate');
    const credentials = digest.authorize({
      challenges,
      method: request.method,
      uri: request.uri.toString(),
      body: request.body,
    });
    if (credentials.length === 0) return undefined;
    const retry = new SipRequest({
      method: request.method,
      uri: request.uri,
      headers: request.headers.clone(),
      body: request.body,
    });
    retry.headers.remove('via');
    retry.headers.remove(proxy ? 'proxy-authorization' : 'authorization');
    for (const c of credentials)
      retry.headers.append(proxy ? 'Proxy-Authorization' : 'Authorization', c.value);
    // RFC 3261 §22.2: the retry is a new transaction with the next CSeq.
    retry.headers.set('CSeq', `${(request.cseq?.seq ?? 1) + 1} ${request.method}`);
    return retry;
  }

  #digestFor(credentials: { username: string; password: string }): DigestClient {
    let client = this.#digests.get(credentials);
    if (client === undefined) {
      client = new DigestClient(credentials);
      this.#digests.set(credentials, client);
    }
    return client;
  }

  /** @internal */
  registerDialog(call: Call): void {
    const d = call.dialog;
    // A call that has ended is not routed to any more (and must not leak an entry).
    if (d === undefined || call.state === 'terminated') return;
    this.#dialogs.set(d.id, call);
    const keys = this.#callKeys.get(call);
    if (keys === undefined) this.#callKeys.set(call, { dialogs: [d.id] });
    else if (!keys.dialogs.includes(d.id)) keys.dialogs.push(d.id);
  }

  /** @internal */
  unregisterCall(call: Call): void {
    this.#calls.delete(call);
    const keys = this.#callKeys.get(call);
    if (keys === undefined) return;
    this.#callKeys.delete(call);
    for (const key of keys.dialogs) if (this.#dialogs.get(key) === call) this.#dialogs.delete(key);
    if (keys.invite !== undefined) this.#pendingInvites.delete(keys.invite);
  }

  /** @internal */
  findCallByDialog(callId: string, localTag: string, remoteTag: string): Call | undefined {
    return this.#dialogs.get(Dialog.key(callId, localTag, remoteTag));
  }

  #count(direction: 'in' | 'out', method: string): void {
    this.#requests.inc({ direction, method });
  }

  // ---------------------------------------------------------------- receiving

  #receive(message: SipMessage, flow: UaFlow): void {
    this.emit('message', message, 'in');
    try {
      if (message.isResponse()) {
        if (this.transactions.receiveResponse(message)) return;
        // RFC 3261 §13.2.2.4: a 2xx retransmitted after the INVITE transaction
        // ended is answered with the ACK by the dialog.
        if (message.cseq?.method === 'INVITE' && message.status >= 200 && message.status < 300) {
          const call = this.findCallByDialog(
            message.callId ?? '',
            message.from?.tag ?? '',
            message.to?.tag ?? '',
          );
          if (call?.dialog !== undefined) {
            this.sendAck(call.dialog.createRequest('ACK', { cseq: message.cseq.seq }), call.route);
          }
        }
        return;
      }
      this.#receiveRequest(message, flow);
    } catch (error) {
      this.logger.warn({ err: error }, 'dropping a message that could not be processed');
    }
  }

  #receiveRequest(request: SipRequest, flow: UaFlow): void {
    this.#count('in', request.method);
    const result = this.transactions.receiveRequest(request, flow);
    if (result.kind === 'absorbed') return;
    if (result.kind === 'ack') {
      const call = this.findCallByDialog(
        request.callId ?? '',
        request.to?.tag ?? '',
        request.from?.tag ?? '',
      );
      call?._ack(request);
      return;
    }
    const tx = result.transaction;
    const respond = (status: number, headers: (readonly [string, string])[] = []): void => {
      tx.respond(
        createResponse(request, status, {
          toTag: request.to?.tag === undefined ? generateTag() : undefined,
          headers,
        }),
      );
    };
    // RFC 3261 §8.2.2.3: refuse extensions we do not support with 420.
    const unsupported =
      request.method === 'CANCEL' || request.method === 'ACK'
        ? []
        : request.require.filter((tag) => !SUPPORTED.includes(tag));
    if (unsupported.length > 0) {
      respond(420, [['Unsupported', unsupported.join(', ')]]);
      return;
    }
    if (request.method === 'CANCEL') {
      // RFC 3261 §9.2: answer the CANCEL; the INVITE gets 487 from the call.
      const target = this.transactions.findCancelTarget(request);
      const call = target === undefined ? undefined : this.#pendingInvites.get(target);
      if (target === undefined || call === undefined) {
        respond(481);
        return;
      }
      respond(200);
      call._cancelled(request);
      return;
    }
    const toTag = request.to?.tag;
    if (toTag !== undefined) {
      // RFC 3261 §12.2.2: a request within a dialog.
      const call = this.findCallByDialog(request.callId ?? '', toTag, request.from?.tag ?? '');
      if (call === undefined) {
        respond(481);
        return;
      }
      if (!call.dialog?.acceptRemoteSeq(request)) {
        respond(500, [['Retry-After', '1']]);
        return;
      }
      void call._receive(request, tx);
      return;
    }
    if (!this.acceptingWork) {
      // Draining or stopped: new work is refused with 503 and Retry-After.
      respond(503, [['Retry-After', '30']]);
      return;
    }
    this.#dispatch(request, flow, tx);
  }

  #dispatch(request: SipRequest, flow: UaFlow, tx: ServerTransaction): void {
    let call: Call | undefined;
    if (request.method === 'INVITE') {
      const itx = tx as InviteServerTransaction;
      // RFC 4028 §8.1: a Session-Expires below our Min-SE is answered 422.
      const se = Number.parseInt(request.headers.get('session-expires') ?? '', 10);
      if (
        this.sessionTimer !== undefined &&
        Number.isInteger(se) &&
        se < this.sessionTimer.minSeS
      ) {
        tx.respond(
          createResponse(request, 422, {
            toTag: generateTag(),
            headers: [['Min-SE', String(this.sessionTimer.minSeS)]],
          }),
        );
        return;
      }
      call = new Call({
        host: this,
        direction: 'incoming',
        invite: request,
        serverTransaction: itx,
      });
      // Requests within the dialog go back where the INVITE came from (over
      // its connection) when the Contact cannot be used as it is: a private
      // address behind NAT (it differs from the source, RFC 3581 reasoning
      // applied to the dialog) or a connection-oriented flow, which a
      // WebSocket client's made-up host cannot be reached without (RFC 5626
      // §5.3, RFC 7118 §5). A route set, when there is one, still wins.
      if (flow.reliable || !contactIsSource(request, flow)) {
        call.route = {
          next: {
            protocol: flow.protocol,
            host: flow.remote.host,
            port: flow.remote.port,
            flowId: flow.id,
          },
        };
      }
      this.#calls.add(call);
      this.#pendingInvites.set(itx, call);
      const keys = this.#callKeys.get(call);
      if (keys === undefined) this.#callKeys.set(call, { dialogs: [], invite: itx });
      else keys.invite = itx;
      const token = this.beginWork();
      call.once('terminated', () => token.release());
      // RFC 3891 §3: an INVITE with Replaces names the dialog it replaces.
      const replaces = request.headers.get('replaces');
      if (replaces !== undefined) {
        const [callId = '', ...params] = replaces.split(';').map((p) => p.trim());
        const get = (name: string): string =>
          params.find((p) => p.toLowerCase().startsWith(`${name}=`))?.slice(name.length + 1) ?? '';
        const replaced = this.findCallByDialog(callId, get('to-tag'), get('from-tag'));
        if (replaced === undefined || replaced.state === 'terminated') {
          call.reject({ status: 481 });
          return;
        }
        call.replaces = replaced;
      }
    }
    let responded = false;
    const ctx: RequestContext = {
      request,
      flow,
      ua: this,
      call,
      transaction: tx,
      get responded() {
        return responded || (tx.lastResponse?.status ?? 0) >= 200;
      },
      respond: (options) => {
        const headers: (readonly [string, string])[] = [...(options.headers ?? [])];
        if (options.body !== undefined)
          headers.push(['Content-Type', options.contentType ?? 'application/sdp']);
        tx.respond(
          createResponse(request, options.status, {
            toTag: call?.localTag ?? generateTag(),
            reason: options.reason,
            headers,
            body: options.body,
          }),
        );
        if (options.status >= 200) responded = true;
      },
    };
    const chain = this.#middleware.filter(
      (m) => m.methods === undefined || m.methods.has(request.method),
    );
    const run = async (index: number): Promise<void> => {
      const entry = chain[index];
      if (entry === undefined) {
        this.#defaultHandler(ctx);
        return;
      }
      await entry.handler(ctx, () => run(index + 1));
    };
    run(0).catch((error: unknown) => {
      this.logger.warn({ err: error, method: request.method }, 'request handler failed');
      if (!ctx.responded) {
        try {
          if (call !== undefined && call.state !== 'terminated') call.reject({ status: 500 });
          else ctx.respond({ status: 500 });
        } catch {
          // already answered
        }
      }
    });
  }

  #defaultHandler(ctx: RequestContext): void {
    const { request } = ctx;
    switch (request.method) {
      case 'OPTIONS':
        // RFC 3261 §11.2: answer OPTIONS with our capabilities.
        ctx.respond({
          status: 200,
          headers: [
            ['Allow', ALLOW],
            ['Accept', 'application/sdp'],
            ['Supported', SUPPORTED.join(', ')],
          ],
        });
        return;
      case 'INVITE':
        if (ctx.call !== undefined && this.listenerCount('invite') > 0) {
          this.emit('invite', ctx.call);
          return;
        }
        ctx.call?.reject({ status: 480 });
        return;
      default:
        // RFC 3261 §8.2.1: a method we know but do not serve here gets 405 with
        // Allow; an unknown one 501.
        if (ALLOW.split(', ').includes(request.method) || request.method === 'REGISTER') {
          ctx.respond({ status: 405, headers: [['Allow', ALLOW]] });
        } else {
          ctx.respond({ status: 501 });
        }
    }
  }
}
