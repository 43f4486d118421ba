/**
 * Call handling: every new INVITE is authenticated (digest, `407`), routed
 * with core's `routeCall`, bridged through the B2BUA with media anchored by
 * the media controller, and written to call history as a CDR when it ends.
 *
 * - A call to a DID (the Request-URI's user is an inbound number of a
 *   tenant) is routed as arriving from a carrier and not authenticated.
 * - Otherwise the tenant is the Request-URI's domain (or the From's), and
 *   the caller must answer a digest challenge with a user of that tenant.
 * - `user` routes ring every registered contact of the user at once; no
 *   contact → the user's unavailable route; busy → the busy route; no answer
 *   within the ring time → the no-answer route (forwarding, voicemail).
 * - `ring-group` routes ring the members' contacts at once or one after
 *   another, then the group's fallback.
 * - Blind transfer (REFER from either party) routes the Refer-To's number in
 *   the same tenant.
 *
 * @module
 */

import {
  Metrics,
  routeCall,
  silentLogger,
  type Logger,
  type Route,
  type Tenant,
} from '@voxmesh/core';
import type { CallDisposition, HistoryOutbox } from '@voxmesh/history';
import {
  DigestAuthenticator,
  SipUri,
  parseUri,
  trunkFailover,
  type B2bua,
  type B2buaTarget,
  type BridgeOutcome,
  type Call,
  type DigestAlgorithm,
  type Registrar,
  type RequestContext,
} from '@voxmesh/sip';
import type { TenantDirectory } from './directory.js';
import { credentialsOf } from './credentials.js';
import type { TenantTrunks } from './trunks.js';

/** What a route needs that this server cannot do (yet): IVR and voicemail run on a call channel. */
export type LocalRouteHandler = (options: {
  call: Call;
  route: Route & { kind: 'ivr' | 'voicemail' };
  tenant: Tenant;
  record: CallRecord;
}) => boolean;

/** Options of the {@link CallHandler} constructor. */
export interface CallHandlerOptions {
  directory: TenantDirectory;
  registrar: Registrar;
  b2bua: B2bua;
  history: HistoryOutbox;
  /** The digest algorithms offered to callers. */
  digestAlgorithms: readonly DigestAlgorithm[];
  /**
   * Challenge INVITEs from phones (`407`). DID calls are never challenged.
   * @defaultValue `true`
   */
  authenticateCalls?: boolean | undefined;
  /**
   * Whether new calls are taken; `false` answers them 503 with Retry-After (drain).
   * @defaultValue always
   */
  accepting?: (() => boolean) | undefined;
  /**
   * Handles IVR and voicemail routes; returns `false` when it cannot (the
   * call is then refused with 480).
   * @defaultValue none
   */
  local?: LocalRouteHandler | undefined;
  /**
   * Bridge targets of the tenant trunks for outbound routes.
   * @defaultValue none (outbound calls are refused with 503)
   */
  trunks?: TenantTrunks | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
  /** @defaultValue a private `Metrics` */
  metrics?: Metrics | undefined;
}

/** What becomes the call's CDR. */
export class CallRecord {
  readonly startedAt = new Date();
  answeredAt: Date | undefined;
  endedAt: Date | undefined;
  disposition: CallDisposition = 'failed';
  sipStatus: number | undefined;
  users = new Set<string>();
  ivrPath: string[] = [];
  recordings: string[] = [];
  #done = false;

  constructor(
    readonly tenantId: string,
    readonly callId: string,
    readonly direction: 'inbound' | 'internal',
    readonly from: string,
    readonly to: string,
    private readonly write: (record: CallRecord) => void,
  ) {}

  /** Writes the CDR once. */
  finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.endedAt ??= new Date();
    this.write(this);
  }
}

function dispositionOf(status: number, callerCancelled: boolean): CallDisposition {
  if (callerCancelled) return 'cancelled';
  if (status === 486 || status === 600) return 'busy';
  if (status === 408 || status === 480 || status === 487) return 'no-answer';
  return 'failed';
}

/** Routes, authenticates and bridges new calls; writes their CDRs. */
export class CallHandler {
  readonly #o: CallHandlerOptions;
  readonly #logger: Logger;
  readonly #auth: DigestAuthenticator;
  readonly #active = new Map<string, number>();
  readonly #cache = new Map<string, B2buaTarget[]>();
  readonly #calls;
  readonly #activeGauge;

  constructor(options: CallHandlerOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger;
    const directory = options.directory;
    this.#auth = new DigestAuthenticator({
      algorithms: options.digestAlgorithms,
      proxy: true,
      lookup: ({ username, realm, algorithm }) => {
        const tenant = directory.view.tenantByDomain(realm);
        return tenant === undefined ? undefined : credentialsOf(tenant, username, algorithm);
      },
    });
    const metrics = options.metrics ?? new Metrics();
    this.#calls = metrics.counter<'outcome'>({
      name: 'pbx_calls_total',
      help: 'Calls handled by the reference server, by outcome',
      labelNames: ['outcome'],
    });
    this.#activeGauge = metrics.gauge({ name: 'pbx_active_calls', help: 'Calls in progress' });
    this.#watchRegistrations();
  }

  /** Calls in progress, per tenant. */
  get activeCalls(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.#active);
  }

  /** The INVITE middleware. */
  handle = (ctx: RequestContext): void => {
    const call = ctx.call;
    if (call === undefined) return;
    if (this.#o.accepting?.() === false) {
      // RFC 3261 §21.5.4: draining, try again later (or elsewhere).
      call.reject({ status: 503, reason: 'Service Unavailable', headers: [['Retry-After', '30']] });
      return;
    }
    this.#handle(ctx, call).catch((error: unknown) => {
      this.#logger.error({ err: error, callId: ctx.request.callId }, 'Call handling failed');
      if (call.state === 'proceeding' || call.state === 'ringing' || call.state === 'early') {
        call.reject({ status: 500 });
      }
    });
  };

  async #handle(ctx: RequestContext, call: Call): Promise<void> {
    const { request } = ctx;
    const directory = this.#o.directory;
    const view = directory.view;
    const ruri = request.uri instanceof SipUri ? request.uri : undefined;
    const dialled = ruri?.user ?? '';
    const fromUri = request.from?.uri;
    const fromSip = fromUri instanceof SipUri ? fromUri : undefined;
    const callerNumber = fromSip?.user ?? 'anonymous';
    const log = this.#logger.child({ callId: request.callId });

    let route: Route;
    let tenant: Tenant | undefined;
    let direction: 'inbound' | 'internal';
    const didOwner = view.did(dialled);
    if (didOwner !== undefined) {
      // RFC 3261 §16: an inbound number is served like a call from a carrier.
      tenant = didOwner.tenant;
      direction = 'inbound';
      route = routeCall(view, {
        origin: 'trunk',
        from: {
          number: callerNumber,
          displayName: request.from?.displayName,
          anonymous: callerNumber === 'anonymous',
        },
        to: dialled,
        at: Date.now(),
        activeCalls: this.activeCalls,
      });
    } else {
      tenant = view.tenantByDomain(ruri?.host ?? '') ?? view.tenantByDomain(fromSip?.host ?? '');
      if (tenant === undefined) {
        call.reject({ status: 404, reason: 'Not Found' });
        this.#calls.inc({ outcome: 'unknown-domain' });
        return;
      }
      direction = 'internal';
      let username = callerNumber;
      if (this.#o.authenticateCalls !== false) {
        // RFC 3261 §22.3: a proxy-like element challenges with 407.
        const result = await this.#auth.verify({
          realm: tenant.domain,
          method: 'INVITE',
          authorization: request.headers.getAll('Proxy-Authorization'),
          source: ctx.flow.remote.host,
        });
        if (!result.ok) {
          const headers: [string, string][] = result.challenges.map((c) => [result.headerName, c]);
          if (result.retryAfterS !== undefined)
            headers.push(['Retry-After', String(result.retryAfterS)]);
          call.reject({ status: result.status, headers });
          if (result.reason !== 'missing') this.#calls.inc({ outcome: 'auth-failed' });
          return;
        }
        username = result.username;
      }
      const caller =
        tenant.users.find((u) => u.sip.username === username) ??
        tenant.users.find(
          (u) => u.id === tenant?.devices?.find((d) => d.sip?.username === username)?.userId,
        );
      route = routeCall(view, {
        origin: 'user',
        tenantId: tenant.id,
        callerUserId: caller?.id,
        from: { number: caller?.extension ?? callerNumber, displayName: caller?.displayName },
        to: dialled,
        // Only a domain that names a tenant selects one (a phone may dial the server's address).
        toDomain: view.tenantByDomain(ruri?.host ?? '') === undefined ? undefined : ruri?.host,
        at: Date.now(),
        activeCalls: this.activeCalls,
      });
      if (caller !== undefined) username = caller.extension;
    }

    const tenantId = route.tenantId ?? tenant.id;
    const record = new CallRecord(
      tenantId,
      request.callId ?? call.callId,
      direction,
      callerNumber,
      dialled,
      (r) => {
        this.#write(r);
      },
    );
    if (direction === 'internal') record.users.add(callerNumber);
    const clog = log.child({ tenantId });
    clog.info({ from: callerNumber, to: dialled, route: route.kind }, 'New call');
    this.#track(tenantId, 1);
    call.once('terminated', () => {
      this.#track(tenantId, -1);
    });
    await this.#follow(call, route, record, clog);
  }

  /** Carries out a route; failures of a user's devices follow the user's forwarding. */
  async #follow(call: Call, route: Route, record: CallRecord, log: Logger): Promise<void> {
    const tenant = this.#o.directory.tenant(route.tenantId ?? record.tenantId);
    if (route.kind === 'reject' || tenant === undefined) {
      const status = route.kind === 'reject' ? route.sipStatus : 404;
      call.reject({ status, reason: route.kind === 'reject' ? route.message : 'Not Found' });
      record.sipStatus = status;
      record.disposition = status === 486 ? 'busy' : 'failed';
      record.finish();
      this.#calls.inc({ outcome: route.kind === 'reject' ? route.reason : 'not-found' });
      return;
    }
    if (route.kind === 'ivr' || route.kind === 'voicemail') {
      if (route.kind === 'voicemail') record.users.add(route.extension);
      if (this.#o.local?.({ call, route, tenant, record }) === true) return;
      call.reject({ status: 480, reason: 'Temporarily Unavailable' });
      record.sipStatus = 480;
      record.disposition = 'failed';
      record.finish();
      this.#calls.inc({ outcome: `${route.kind}-unavailable` });
      return;
    }
    if (route.kind === 'trunk') {
      const targets = this.#o.trunks?.targets(tenant, route) ?? [];
      if (targets.length === 0) {
        call.reject({ status: 503, reason: 'No Trunk Available' });
        record.sipStatus = 503;
        record.finish();
        this.#calls.inc({ outcome: 'no-trunk' });
        return;
      }
      // Ordered failover across the route's trunks: only 408, 5xx and ring timeouts move on.
      const outcome = await this.#bridge(
        call,
        targets,
        'sequential',
        60_000,
        record,
        log,
        undefined,
        {
          continueOn: trunkFailover,
        },
      );
      if (outcome === undefined || outcome.answered || call.state === 'terminated') return;
      call.reject({ status: outcome.status, reason: outcome.reason });
      record.sipStatus = outcome.status;
      record.disposition = dispositionOf(outcome.status, false);
      record.finish();
      return;
    }

    let targets: B2buaTarget[];
    let strategy: 'parallel' | 'sequential' = 'parallel';
    let ringMs: number;
    let next: Route | undefined;
    if (route.kind === 'user') {
      record.users.add(route.extension);
      targets = await this.contacts(tenant, route.extension, route.ringSeconds * 1000);
      if (targets.length === 0) {
        log.info({ extension: route.extension }, 'Not registered');
        if (route.onUnavailable !== undefined) {
          await this.#follow(call, route.onUnavailable, record, log);
          return;
        }
        targets = [];
      }
      ringMs = (route.onNoAnswer?.afterSeconds ?? route.ringSeconds) * 1000;
    } else {
      targets = [];
      strategy = route.strategy === 'sequential' ? 'sequential' : 'parallel';
      for (const member of route.members) {
        record.users.add(member.extension);
        targets.push(
          ...(await this.contacts(
            tenant,
            member.extension,
            route.strategy === 'sequential'
              ? route.memberSeconds * 1000
              : route.timeoutSeconds * 1000,
          )),
        );
      }
      ringMs =
        route.strategy === 'sequential' ? route.memberSeconds * 1000 : route.timeoutSeconds * 1000;
      next = route.fallback;
    }
    if (targets.length === 0) {
      if (next !== undefined) {
        await this.#follow(call, next, record, log);
        return;
      }
      call.reject({ status: 480, reason: 'Temporarily Unavailable' });
      record.sipStatus = 480;
      record.disposition = 'no-answer';
      record.finish();
      this.#calls.inc({ outcome: 'unavailable' });
      return;
    }
    const outcome = await this.#bridge(call, targets, strategy, ringMs, record, log, tenant);
    if (outcome === undefined || outcome.answered || call.state === 'terminated') return;
    // Not answered: the user's forwarding (busy, no answer) or the group's fallback.
    const user = route.kind === 'user' ? route : undefined;
    const fallback =
      user === undefined
        ? next
        : outcome.status === 486
          ? user.onBusy
          : outcome.status === 408 || outcome.status === 480 || outcome.status === 487
            ? user.onNoAnswer?.route
            : undefined;
    if (fallback !== undefined) {
      log.info({ status: outcome.status, to: fallback.kind }, 'Not answered: forwarding');
      await this.#follow(call, fallback, record, log);
      return;
    }
    call.reject({ status: outcome.status, reason: outcome.reason });
    record.sipStatus = outcome.status;
    record.disposition = dispositionOf(outcome.status, false);
    record.finish();
  }

  /** Bridges through the B2BUA; resolves with the outcome once answered or failed. */
  async #bridge(
    call: Call,
    targets: B2buaTarget[],
    strategy: 'parallel' | 'sequential',
    ringMs: number,
    record: CallRecord,
    log: Logger,
    tenant: Tenant | undefined,
    extra: { continueOn?: ((status: number) => boolean) | undefined } = {},
  ): Promise<BridgeOutcome | undefined> {
    const bridge = this.#o.b2bua.bridge({
      call,
      targets,
      strategy,
      ...(extra.continueOn === undefined ? {} : { continueOn: extra.continueOn }),
      ringTimeoutMs: ringMs,
      tenantId: record.tenantId,
      rejectCallerOnFailure: false,
      onTransfer:
        tenant === undefined
          ? undefined
          : (transfer) => this.#transferTargets(tenant, transfer.referTo),
    });
    bridge.on('answered', (_bLeg, target) => {
      record.answeredAt = new Date();
      record.disposition = 'answered';
      record.sipStatus = 200;
      log.info({ target: target.label ?? target.uri }, 'Answered');
    });
    bridge.on('transferred', (party, target) => {
      log.info({ party, target: target.label ?? target.uri }, 'Transferred');
    });
    let cancelled = false;
    bridge.on('ended', (end) => {
      if (end.reason === 'canceled') cancelled = true;
      if (record.answeredAt !== undefined) {
        record.endedAt = new Date();
        this.#calls.inc({ outcome: 'answered' });
        record.finish();
      } else if (cancelled) {
        record.disposition = 'cancelled';
        record.sipStatus = 487;
        this.#calls.inc({ outcome: 'cancelled' });
        record.finish();
      }
    });
    const outcome = await bridge.result;
    if (!outcome.answered && !cancelled && call.state !== 'terminated') {
      this.#calls.inc({ outcome: dispositionOf(outcome.status, false) });
    }
    if (!outcome.answered && call.state === 'terminated' && record.answeredAt === undefined) {
      record.disposition = 'cancelled';
      record.sipStatus = 487;
      record.finish();
    }
    return outcome;
  }

  /** Targets for every registered contact of an extension (its user's and devices' AORs). */
  async contacts(tenant: Tenant, extension: string, ringMs: number): Promise<B2buaTarget[]> {
    const user = tenant.users.find((u) => u.extension === extension);
    if (user === undefined) return [];
    const names = [
      user.sip.username,
      ...(tenant.devices ?? []).flatMap((d) =>
        d.userId === user.id && d.sip !== undefined ? [d.sip.username] : [],
      ),
    ];
    const targets: B2buaTarget[] = [];
    for (const name of new Set(names)) {
      for (const route of await this.#o.registrar.lookup(`sip:${name}@${tenant.domain}`)) {
        targets.push({
          uri: route.uri,
          next: { ...route.target, flowId: route.flowId },
          ringTimeoutMs: ringMs,
          label: `${extension} ${route.uri}`,
        });
      }
    }
    return targets;
  }

  /**
   * Blind transfer: the Refer-To's user part, routed as a call of the
   * tenant, to the contacts registered right now (the B2BUA asks
   * synchronously, so they come from a cache the registrar's events keep).
   */
  #transferTargets(tenant: Tenant, referTo: string): B2buaTarget[] | undefined {
    let user: string | undefined;
    try {
      const uri = parseUri(referTo);
      user = uri instanceof SipUri ? uri.user : undefined;
    } catch {
      return undefined;
    }
    if (user === undefined) return undefined;
    const route = routeCall(this.#o.directory.view, {
      origin: 'user',
      tenantId: tenant.id,
      from: { number: 'transfer' },
      to: user,
      at: Date.now(),
    });
    const extensions =
      route.kind === 'user'
        ? [route.extension]
        : route.kind === 'ring-group'
          ? route.members.map((m) => m.extension)
          : [];
    const targets = extensions.flatMap((extension) => {
      const u = tenant.users.find((x) => x.extension === extension);
      return u === undefined
        ? []
        : (this.#cache.get(`sip:${u.sip.username}@${tenant.domain}`) ?? []);
    });
    return targets.length === 0 ? undefined : targets;
  }

  /** Keeps {@link CallHandler.#cache} in step with the registrar. */
  #watchRegistrations(): void {
    const refresh = (binding: { aor: string }): void => {
      const aor = binding.aor;
      this.#o.registrar.lookup(aor).then(
        (routes) => {
          if (routes.length === 0) this.#cache.delete(aor);
          else
            this.#cache.set(
              aor,
              routes.map((r) => ({
                uri: r.uri,
                next: { ...r.target, flowId: r.flowId },
                label: r.uri,
              })),
            );
        },
        () => undefined,
      );
    };
    this.#o.registrar.on('registered', refresh);
    this.#o.registrar.on('unregistered', refresh);
    this.#o.registrar.on('expired', refresh);
  }

  #track(tenantId: string, delta: number): void {
    const n = (this.#active.get(tenantId) ?? 0) + delta;
    if (n <= 0) this.#active.delete(tenantId);
    else this.#active.set(tenantId, n);
    this.#activeGauge.inc(delta);
  }

  #write(record: CallRecord): void {
    const endedAt = record.endedAt ?? new Date();
    this.#o.history
      .recordCdrs([
        {
          tenantId: record.tenantId,
          callId: record.callId,
          leg: 'a',
          direction: record.direction,
          from: record.from,
          to: record.to,
          users: [...record.users],
          startedAt: record.startedAt,
          answeredAt: record.disposition === 'answered' ? record.answeredAt : undefined,
          endedAt,
          disposition: record.disposition,
          sipStatus: record.sipStatus,
          ivrPath: record.ivrPath,
          recordings: record.recordings,
        },
      ])
      .catch((error: unknown) => {
        this.#logger.error(
          { err: error, callId: record.callId, tenantId: record.tenantId },
          'CDR not written',
        );
      });
  }
}
