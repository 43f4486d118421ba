/**
 * Routing as pure functions over a {@link ConfigView}: a dialled number for a
 * tenant resolves to a user (with forwarding), a ring group, an IVR flow, a
 * voicemail box, external trunks (with caller-ID presentation), another
 * tenant, or a rejection with its SIP status. No I/O, no clock: the instant
 * used for business hours is part of the request.
 *
 * Order of the rules for a call from a user:
 * 1. emergency numbers — always routed, before every other rule (then the
 *    concurrent-call limits of the tenant and its ancestors);
 * 2. another tenant (by domain or an inter-tenant prefix) — only when the
 *    caller's tenant allows outbound, the called tenant allows inbound, and
 *    the caller's tenant configures a presentation;
 * 3. feature codes (voicemail), extensions and ring groups;
 * 4. outbound routes (longest prefix), subject to the user's outbound class.
 *
 * For a call from a trunk: the DID's tenant, then its blacklist, anonymous
 * rejection and limits, then the DID's destination (by schedule).
 *
 * @module
 */

import type { ConfigView } from './config-view.js';
import type { CallerIdPresentation, Destination, RingGroup, Tenant, User } from './domain.js';
import { evaluateSchedule } from './schedule.js';

/** A call to route. */
export interface RouteRequest {
  /** `'user'`: placed by a user of a tenant; `'trunk'`: arrived from a carrier on a DID. */
  origin: 'user' | 'trunk';
  /** The caller's tenant (origin `user`); or give `domain`. */
  tenantId?: string | undefined;
  /** The caller's SIP domain (origin `user`), when `tenantId` is not known. */
  domain?: string | undefined;
  /** The calling user (origin `user`), for caller ID, outbound class and inter-tenant presentation. */
  callerUserId?: string | undefined;
  /** The calling party as signalled. */
  from: {
    number: string;
    displayName?: string | undefined;
    /** The caller withholds their identity (RFC 3323 `Privacy: id`, or `anonymous@anonymous.invalid`). */
    anonymous?: boolean | undefined;
  };
  /** The dialled number (the Request-URI's user part). */
  to: string;
  /** The Request-URI's domain, when it names another tenant. */
  toDomain?: string | undefined;
  /** The instant of the call, for business hours (ms since the epoch). */
  at: number;
  /**
   * Calls in progress per tenant id, for `limits.maxConcurrentCalls` (a
   * tenant's count should include its children's). Emergency calls are never
   * refused for a limit.
   * @defaultValue no limit checks
   */
  activeCalls?: Readonly<Record<string, number>> | undefined;
}

/** The caller as presented to the called side. */
export interface PresentedCaller {
  number: string;
  displayName?: string | undefined;
  /** Withhold the identity from the called party (RFC 3323 `Privacy: id`). */
  privacy: boolean;
}

/** Why a call was rejected. */
export type RejectReason =
  | 'unknown-tenant'
  | 'not-found'
  | 'no-route'
  | 'blacklisted'
  | 'anonymous-rejected'
  | 'not-permitted'
  | 'inter-tenant-refused'
  | 'forwarding-loop'
  | 'no-emergency-route'
  | 'destination-hangup'
  | 'limit-reached';

/** Fields every route has. */
export interface RouteBase {
  /** The tenant whose configuration serves the call (the called tenant across tenants). */
  tenantId: string;
  /** The caller as presented. */
  callerId: PresentedCaller;
  /** Set when the call crossed from another tenant. */
  fromTenantId?: string | undefined;
  /** Set when a user's forwarding led here. */
  forwardedBy?:
    { userId: string; reason: 'always' | 'busy' | 'no-answer' | 'unavailable' } | undefined;
}

/** Ring a user's devices. */
export interface UserRoute extends RouteBase {
  kind: 'user';
  userId: string;
  extension: string;
  ringSeconds: number;
  /** Where the call goes when the user is busy (forwarding, else voicemail). */
  onBusy?: Route | undefined;
  /** Where the call goes when the user does not answer. */
  onNoAnswer?: { afterSeconds: number; route: Route } | undefined;
  /** Where the call goes when no device is registered. */
  onUnavailable?: Route | undefined;
}

/** Ring a group's members. */
export interface RingGroupRoute extends RouteBase {
  kind: 'ring-group';
  groupId: string;
  strategy: RingGroup['strategy'];
  members: { userId: string; extension: string }[];
  /** For `sequential`: seconds per member. */
  memberSeconds: number;
  /** For `simultaneous`: seconds for all. */
  timeoutSeconds: number;
  fallback?: Route | undefined;
}

/** Run an IVR flow. */
export interface IvrRoute extends RouteBase {
  kind: 'ivr';
  flowId: string;
}

/** Leave a message in a user's mailbox. */
export interface VoicemailRoute extends RouteBase {
  kind: 'voicemail';
  userId: string;
  extension: string;
}

/** Leave through external trunks, in failover order. */
export interface TrunkRoute extends RouteBase {
  kind: 'trunk';
  trunkIds: string[];
  /** The number to send to the carrier (after strip/prepend). */
  number: string;
  /** An emergency call: never blocked, presented with the location's number. */
  emergency: boolean;
  /** The outbound route used (absent for emergency calls). */
  outboundRouteId?: string | undefined;
}

/** Refuse the call. */
export interface RejectRoute {
  kind: 'reject';
  /** The SIP final response to send. */
  sipStatus: number;
  reason: RejectReason;
  /** A human-readable explanation for logs and call history. */
  message: string;
  tenantId?: string | undefined;
}

/** Where a call goes. */
export type Route =
  UserRoute | RingGroupRoute | IvrRoute | VoicemailRoute | TrunkRoute | RejectRoute;

const DEFAULT_EMERGENCY = ['112', '911'];

function reject(
  sipStatus: number,
  reason: RejectReason,
  message: string,
  tenantId?: string,
): RejectRoute {
  return { kind: 'reject', sipStatus, reason, message, tenantId };
}

interface Ctx {
  view: ConfigView;
  request: RouteRequest;
  tenant: Tenant;
  caller: User | undefined;
  callerId: PresentedCaller;
  fromTenantId?: string | undefined;
  /** Users whose forwarding has been followed (loop detection). */
  visited: Set<string>;
  /** The number comes from a forwarding rule (no external prefix to strip). */
  forwarded?: boolean | undefined;
}

/** Routes a call. Pure: the same view and request always give the same route. */
export function routeCall(view: ConfigView, request: RouteRequest): Route {
  return request.origin === 'trunk' ? routeFromTrunk(view, request) : routeFromUser(view, request);
}

function signalledCaller(request: RouteRequest): PresentedCaller {
  return {
    number: request.from.number,
    displayName: request.from.displayName,
    privacy: request.from.anonymous === true,
  };
}

/** Whether `number` matches a blacklist entry (exact, or prefix for entries ending in `*`). */
export function isBlacklisted(tenant: Tenant, number: string): boolean {
  for (const entry of tenant.blacklist ?? []) {
    if (entry.number.endsWith('*')) {
      if (number.startsWith(entry.number.slice(0, -1))) return true;
    } else if (entry.number === number) {
      return true;
    }
  }
  return false;
}

function screen(tenant: Tenant, caller: PresentedCaller): RejectRoute | undefined {
  const anonymous = caller.privacy || caller.number === '' || /^anonymous$/i.test(caller.number);
  if (anonymous && tenant.rejectAnonymous === true) {
    // RFC 5079 §5: 433 Anonymity Disallowed.
    return reject(
      433,
      'anonymous-rejected',
      'The tenant rejects calls from withheld numbers',
      tenant.id,
    );
  }
  if (!anonymous && isBlacklisted(tenant, caller.number)) {
    // RFC 3261 §21.6.4: 603 Decline.
    return reject(
      603,
      'blacklisted',
      `Caller ${caller.number} is on the tenant's blacklist`,
      tenant.id,
    );
  }
  return undefined;
}

/** Refuses a call when the tenant or one of its ancestors is at its concurrent-call limit. */
function overLimit(
  view: ConfigView,
  tenant: Tenant,
  request: RouteRequest,
): RejectRoute | undefined {
  if (request.activeCalls === undefined) return undefined;
  const seen = new Set<string>();
  for (let t: Tenant | undefined = tenant; t !== undefined && !seen.has(t.id);) {
    seen.add(t.id);
    const limit = t.limits?.maxConcurrentCalls;
    const active = request.activeCalls[t.id] ?? 0;
    if (limit !== undefined && active >= limit) {
      // RFC 3261 §21.5.4: 503 Service Unavailable.
      return reject(
        503,
        'limit-reached',
        `Tenant '${t.id}' is at its limit of ${limit} concurrent calls`,
        tenant.id,
      );
    }
    t = t.parentId === undefined ? undefined : view.tenant(t.parentId);
  }
  return undefined;
}

function routeFromTrunk(view: ConfigView, request: RouteRequest): Route {
  const entry = view.did(request.to);
  if (entry === undefined)
    return reject(404, 'not-found', `No tenant owns the number ${request.to}`);
  const { tenant, did } = entry;
  const callerId = signalledCaller(request);
  const refused = screen(tenant, callerId) ?? overLimit(view, tenant, request);
  if (refused) return refused;
  let destination: Destination = did.destination;
  if (did.schedule) {
    const schedule = (tenant.schedules ?? []).find((s) => s.id === did.schedule?.scheduleId);
    if (schedule) {
      const state = evaluateSchedule(schedule, { at: request.at, timeZone: tenant.timeZone });
      if (state === 'closed') destination = did.schedule.closed;
      if (state === 'holiday') destination = did.schedule.holiday ?? did.schedule.closed;
    }
  }
  const ctx: Ctx = { view, request, tenant, caller: undefined, callerId, visited: new Set() };
  return resolveDestination(ctx, destination, undefined);
}

function routeFromUser(view: ConfigView, request: RouteRequest): Route {
  const tenant =
    request.tenantId !== undefined
      ? view.tenant(request.tenantId)
      : request.domain !== undefined
        ? view.tenantByDomain(request.domain)
        : undefined;
  if (tenant === undefined) {
    return reject(404, 'unknown-tenant', `No tenant '${request.tenantId ?? request.domain ?? ''}'`);
  }
  const caller =
    request.callerUserId === undefined
      ? undefined
      : tenant.users.find((u) => u.id === request.callerUserId);
  const dialled = request.to;
  const ctx: Ctx = {
    view,
    request,
    tenant,
    caller,
    callerId: caller
      ? {
          number: caller.extension,
          displayName: caller.displayName,
          privacy: request.from.anonymous === true,
        }
      : signalledCaller(request),
    visited: new Set(),
  };

  // 1. Emergency numbers first: no blacklist, class, limit or forwarding applies.
  const emergency = emergencyRoute(view, tenant, caller, dialled);
  if (emergency) return emergency;
  const limited = overLimit(view, tenant, request);
  if (limited) return limited;

  // 2. Another tenant, by domain or by an inter-tenant prefix.
  if (
    request.toDomain !== undefined &&
    request.toDomain.toLowerCase() !== tenant.domain.toLowerCase()
  ) {
    const target = view.tenantByDomain(request.toDomain);
    if (target === undefined)
      return reject(404, 'unknown-tenant', `No tenant has the domain ${request.toDomain}`);
    return routeToTenant(ctx, target, dialled);
  }
  for (const route of tenant.interTenant?.routes ?? []) {
    if (dialled.startsWith(route.prefix) && dialled.length > route.prefix.length) {
      const target = view.tenant(route.tenantId);
      if (target === undefined)
        return reject(404, 'unknown-tenant', `No tenant '${route.tenantId}'`);
      return routeToTenant(ctx, target, dialled.slice(route.prefix.length));
    }
  }

  // 3. Feature codes, extensions and ring groups.
  const internal = routeInternal(ctx, dialled);
  if (internal) return internal;

  // 4. External numbers.
  return routeExternal(ctx, dialled, caller);
}

function emergencyRoute(
  view: ConfigView,
  tenant: Tenant,
  caller: User | undefined,
  dialled: string,
): TrunkRoute | RejectRoute | undefined {
  const candidates = [dialled];
  if (tenant.externalPrefix && dialled.startsWith(tenant.externalPrefix)) {
    candidates.push(dialled.slice(tenant.externalPrefix.length));
  }
  // The tenant's own settings, else the nearest ancestor's.
  let settingsOwner: Tenant | undefined = tenant;
  const seen = new Set<string>();
  while (settingsOwner && settingsOwner.emergency === undefined && !seen.has(settingsOwner.id)) {
    seen.add(settingsOwner.id);
    settingsOwner =
      settingsOwner.parentId === undefined ? undefined : view.tenant(settingsOwner.parentId);
  }
  const numbers = settingsOwner?.emergency?.numbers ?? DEFAULT_EMERGENCY;
  const number = candidates.find((c) => numbers.includes(c));
  if (number === undefined) return undefined;
  const trunkIds = settingsOwner?.emergency?.trunkIds ?? [
    ...new Set((tenant.outboundRoutes ?? []).flatMap((r) => r.trunkIds)),
  ];
  const presented =
    caller?.emergencyCallerId ??
    caller?.callerId?.number ??
    tenant.mainNumber ??
    caller?.extension ??
    '';
  if (trunkIds.length === 0) {
    // Still answered with a clear status: the configuration lacks any way out.
    return reject(
      503,
      'no-emergency-route',
      `Tenant '${tenant.id}' has no trunk for emergency number ${number}`,
      tenant.id,
    );
  }
  return {
    kind: 'trunk',
    tenantId: tenant.id,
    trunkIds,
    number,
    emergency: true,
    // Emergency calls always present the caller's number, never anonymously.
    callerId: { number: presented, displayName: caller?.displayName, privacy: false },
  };
}

function allows(policy: boolean | string[] | undefined, tenantId: string): boolean {
  return policy === true || (Array.isArray(policy) && policy.includes(tenantId));
}

function routeToTenant(ctx: Ctx, target: Tenant, dialled: string): Route {
  const from = ctx.tenant;
  if (target.id === from.id)
    return (
      routeInternal(ctx, dialled) ?? reject(404, 'not-found', `No extension ${dialled}`, from.id)
    );
  if (!allows(from.interTenant?.outbound, target.id)) {
    return reject(
      403,
      'inter-tenant-refused',
      `Tenant '${from.id}' does not allow outbound calls to tenant '${target.id}'`,
      from.id,
    );
  }
  if (!allows(target.interTenant?.inbound, from.id)) {
    return reject(
      403,
      'inter-tenant-refused',
      `Tenant '${target.id}' does not allow inbound calls from tenant '${from.id}'`,
      from.id,
    );
  }
  const presentation = from.interTenant?.presentation;
  if (presentation === undefined) {
    return reject(
      403,
      'inter-tenant-refused',
      `Tenant '${from.id}' has no presentation configured for calls to other tenants`,
      from.id,
    );
  }
  const number = `${presentation.prefix}${ctx.caller?.extension ?? ctx.request.from.number}`;
  const callerId: PresentedCaller = {
    number,
    displayName: presentation.displayName ?? ctx.caller?.displayName,
    privacy: ctx.callerId.privacy,
  };
  const refused = screen(target, callerId);
  if (refused) return refused;
  const inner: Ctx = {
    ...ctx,
    tenant: target,
    caller: undefined,
    callerId,
    fromTenantId: from.id,
    visited: new Set(),
  };
  // Only the called tenant's internal numbers: its trunks are not for the caller's use.
  return (
    routeInternal(inner, dialled) ??
    reject(404, 'not-found', `Tenant '${target.id}' has no extension ${dialled}`, target.id)
  );
}

function routeInternal(ctx: Ctx, dialled: string): Route | undefined {
  const { tenant } = ctx;
  const vm = tenant.featureCodes?.voicemail ?? '*97';
  if (dialled.startsWith(vm)) {
    const extension = dialled.slice(vm.length) || ctx.caller?.extension;
    if (extension === undefined)
      return reject(
        404,
        'not-found',
        'Voicemail of whom? Dial the code followed by an extension',
        tenant.id,
      );
    return resolveDestination(ctx, { type: 'voicemail', extension }, undefined);
  }
  if (
    tenant.users.some((u) => u.extension === dialled) ||
    (tenant.ringGroups ?? []).some((g) => g.extension === dialled)
  ) {
    return resolveDestination(ctx, { type: 'extension', extension: dialled }, undefined);
  }
  return undefined;
}

function classify(tenant: Tenant, number: string): 'national' | 'international' {
  const international = tenant.internationalPrefix ?? '00';
  return number.startsWith('+') || (international !== '' && number.startsWith(international))
    ? 'international'
    : 'national';
}

function routeExternal(ctx: Ctx, dialled: string, forwardingUser: User | undefined): Route {
  const { tenant } = ctx;
  let number = dialled;
  if (ctx.forwarded !== true && tenant.externalPrefix) {
    if (!number.startsWith(tenant.externalPrefix)) {
      return reject(
        404,
        'not-found',
        `No extension ${dialled}; external numbers start with ${tenant.externalPrefix}`,
        tenant.id,
      );
    }
    number = number.slice(tenant.externalPrefix.length);
  }
  const kind = classify(tenant, number);
  const allowed = forwardingUser?.outboundClass ?? 'international';
  if (allowed === 'internal' || (allowed === 'national' && kind === 'international')) {
    return reject(
      403,
      'not-permitted',
      `User '${forwardingUser?.id ?? ''}' may not call ${kind} numbers`,
      tenant.id,
    );
  }
  let best: { route: NonNullable<Tenant['outboundRoutes']>[number]; length: number } | undefined;
  for (const route of tenant.outboundRoutes ?? []) {
    if (number.length < (route.minLength ?? 1) || number.length > (route.maxLength ?? 32)) continue;
    for (const prefix of route.prefixes) {
      if (number.startsWith(prefix) && (best === undefined || prefix.length > best.length)) {
        best = { route, length: prefix.length };
      }
    }
  }
  if (best === undefined)
    return reject(404, 'no-route', `No outbound route matches ${number}`, tenant.id);
  const { route } = best;
  return {
    kind: 'trunk',
    tenantId: tenant.id,
    trunkIds: [...route.trunkIds],
    number: `${route.prepend ?? ''}${number.slice(route.strip ?? 0)}`,
    emergency: false,
    outboundRouteId: route.id,
    callerId: present(route.presentation ?? { mode: 'user' }, ctx, forwardingUser),
    fromTenantId: ctx.fromTenantId,
  };
}

/** Applies a caller-ID presentation rule to an external call. */
function present(rule: CallerIdPresentation, ctx: Ctx, user: User | undefined): PresentedCaller {
  const { tenant } = ctx;
  const main = tenant.mainNumber ?? '';
  switch (rule.mode) {
    case 'anonymous':
      return { number: main, privacy: true };
    case 'fixed':
      return { number: rule.number ?? main, displayName: rule.displayName, privacy: false };
    case 'tenant':
      return { number: main, displayName: rule.displayName ?? tenant.name, privacy: false };
    case 'passthrough':
      return { ...ctx.callerId };
    case 'user':
    default:
      return {
        number: user?.callerId?.number ?? main,
        displayName: user?.callerId?.displayName ?? user?.displayName,
        privacy: ctx.callerId.privacy,
      };
  }
}

function base(ctx: Ctx, forwardedBy: RouteBase['forwardedBy']): RouteBase {
  return {
    tenantId: ctx.tenant.id,
    callerId: ctx.callerId,
    fromTenantId: ctx.fromTenantId,
    forwardedBy,
  };
}

function resolveDestination(
  ctx: Ctx,
  destination: Destination,
  forwardedBy: RouteBase['forwardedBy'],
): Route {
  const { tenant } = ctx;
  switch (destination.type) {
    case 'extension': {
      const user = tenant.users.find((u) => u.extension === destination.extension);
      if (user) return userRoute(ctx, user, forwardedBy);
      const group = (tenant.ringGroups ?? []).find((g) => g.extension === destination.extension);
      if (group) return groupRoute(ctx, group, forwardedBy);
      return reject(404, 'not-found', `No extension ${destination.extension}`, tenant.id);
    }
    case 'ring-group': {
      const group = (tenant.ringGroups ?? []).find((g) => g.id === destination.groupId);
      if (group) return groupRoute(ctx, group, forwardedBy);
      return reject(404, 'not-found', `No ring group '${destination.groupId}'`, tenant.id);
    }
    case 'ivr':
      return { ...base(ctx, forwardedBy), kind: 'ivr', flowId: destination.flowId };
    case 'voicemail': {
      const user = tenant.users.find((u) => u.extension === destination.extension);
      if (user?.voicemail?.enabled !== true) {
        return reject(
          404,
          'not-found',
          `Extension ${destination.extension} has no voicemail box`,
          tenant.id,
        );
      }
      return {
        ...base(ctx, forwardedBy),
        kind: 'voicemail',
        userId: user.id,
        extension: user.extension,
      };
    }
    case 'number': {
      if (ctx.fromTenantId !== undefined) {
        return reject(
          403,
          'not-permitted',
          "Calls from another tenant may not leave through this tenant's trunks",
          tenant.id,
        );
      }
      const forwarder = forwardedBy
        ? tenant.users.find((u) => u.id === forwardedBy.userId)
        : ctx.caller;
      const route = routeExternal({ ...ctx, forwarded: true }, destination.number, forwarder);
      return route.kind === 'reject' ? route : { ...route, forwardedBy };
    }
    case 'hangup':
      return reject(
        480,
        'destination-hangup',
        'The destination is configured to hang up',
        tenant.id,
      );
  }
}

function voicemailOf(ctx: Ctx, user: User, reason: 'busy' | 'no-answer'): Route | undefined {
  if (user.voicemail?.enabled !== true) return undefined;
  return {
    ...base(ctx, { userId: user.id, reason }),
    kind: 'voicemail',
    userId: user.id,
    extension: user.extension,
  };
}

function userRoute(ctx: Ctx, user: User, forwardedBy: RouteBase['forwardedBy']): Route {
  if (ctx.visited.has(user.id)) {
    // RFC 3261 §21.4.20: 482 Loop Detected.
    return reject(
      482,
      'forwarding-loop',
      `Forwarding loops back to user '${user.id}'`,
      ctx.tenant.id,
    );
  }
  const visited = new Set(ctx.visited).add(user.id);
  const next: Ctx = { ...ctx, visited };
  const f = user.forwarding;
  if (f?.always) return resolveDestination(next, f.always, { userId: user.id, reason: 'always' });
  const onBusy = f?.busy
    ? resolveDestination(next, f.busy, { userId: user.id, reason: 'busy' })
    : voicemailOf(ctx, user, 'busy');
  if (user.dnd === true) {
    // RFC 3261 §21.4.24: 486 Busy Here.
    return onBusy ?? reject(486, 'not-found', `User '${user.id}' does not disturb`, ctx.tenant.id);
  }
  const noAnswer = f?.noAnswer
    ? resolveDestination(next, f.noAnswer.destination, { userId: user.id, reason: 'no-answer' })
    : voicemailOf(ctx, user, 'no-answer');
  return {
    ...base(ctx, forwardedBy),
    kind: 'user',
    userId: user.id,
    extension: user.extension,
    ringSeconds: f?.noAnswer?.afterSeconds ?? user.ringSeconds ?? 30,
    onBusy,
    onNoAnswer: noAnswer
      ? { afterSeconds: f?.noAnswer?.afterSeconds ?? user.ringSeconds ?? 30, route: noAnswer }
      : undefined,
    onUnavailable: f?.unavailable
      ? resolveDestination(next, f.unavailable, { userId: user.id, reason: 'unavailable' })
      : (noAnswer ?? undefined),
  };
}

function groupRoute(ctx: Ctx, group: RingGroup, forwardedBy: RouteBase['forwardedBy']): Route {
  const members = group.members.flatMap((extension) => {
    const user = ctx.tenant.users.find((u) => u.extension === extension);
    return user && user.dnd !== true ? [{ userId: user.id, extension }] : [];
  });
  return {
    ...base(ctx, forwardedBy),
    kind: 'ring-group',
    groupId: group.id,
    strategy: group.strategy,
    members,
    memberSeconds: group.memberSeconds ?? 15,
    timeoutSeconds: group.timeoutSeconds ?? 30,
    fallback: group.fallback ? resolveDestination(ctx, group.fallback, forwardedBy) : undefined,
  };
}
