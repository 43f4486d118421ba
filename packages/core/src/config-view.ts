/**
 * A validated, indexed, read-only view of every tenant's configuration: what
 * routing and the IVR runtime read. `@voxmesh/configdb` keeps one up to date
 * from its change feed; tests build one from plain objects.
 *
 * @module
 */

import { Type } from '@sinclair/typebox';
import { Tenant, type Destination, type Did } from './domain.js';
import { ErrorCode } from './errors.js';
import { flowIssues, NodeTypeRegistry } from './ivr-flow.js';
import { builtinNodeTypes } from './ivr-nodes.js';
import { isValidTimeZone } from './schedule.js';
import { schemaIssues, ValidationError, type ValidationIssue } from './validation.js';

/** The configuration that routing reads. */
export interface ConfigView {
  /** A tenant by id. */
  tenant(id: string): Tenant | undefined;
  /** A tenant by its SIP domain (case-insensitive). */
  tenantByDomain(domain: string): Tenant | undefined;
  /** The tenant and DID entry that own an inbound number. */
  did(number: string): { tenant: Tenant; did: Did } | undefined;
  /** The direct children of a tenant. */
  children(id: string): Tenant[];
  /** Every tenant. */
  tenants(): readonly Tenant[];
}

/** Options of {@link createConfigView}. */
export interface CreateConfigViewOptions {
  /** Every tenant's configuration (validated: see {@link configIssues}). */
  tenants: readonly unknown[];
  /**
   * The node types the tenants' IVR flows may use.
   * @defaultValue a registry of the built-in node types
   */
  registry?: NodeTypeRegistry | undefined;
}

const TenantList = Type.Array(Tenant);

/**
 * Every problem in a set of tenant configurations, with JSON-pointer paths
 * under `/tenants/<index>`: schema violations, duplicate ids, extensions,
 * domains and DIDs, dangling references (destinations, ring-group members,
 * schedules, trunks, parents, devices' users), parent cycles, unknown time
 * zones, limits above the parent's, too many users, and invalid IVR flows.
 */
export function configIssues(
  tenants: readonly unknown[],
  registry: NodeTypeRegistry,
): ValidationIssue[] {
  const shape = schemaIssues(TenantList, tenants, '/tenants');
  if (shape.length > 0) return shape;
  const list = tenants as Tenant[];
  const issues: ValidationIssue[] = [];
  const byId = new Map<string, number>();
  const domains = new Map<string, string>();
  const dids = new Map<string, string>();
  list.forEach((tenant, i) => {
    const at = `/tenants/${i}`;
    if (byId.has(tenant.id))
      issues.push({ path: `${at}/id`, message: `Duplicate tenant id '${tenant.id}'` });
    byId.set(tenant.id, i);
    const domain = tenant.domain.toLowerCase();
    const owner = domains.get(domain);
    if (owner !== undefined) {
      issues.push({
        path: `${at}/domain`,
        message: `Domain '${domain}' is already used by tenant '${owner}'`,
      });
    }
    domains.set(domain, tenant.id);
    (tenant.dids ?? []).forEach((did, j) => {
      const other = dids.get(did.number);
      if (other !== undefined) {
        issues.push({
          path: `${at}/dids/${j}/number`,
          message: `DID '${did.number}' is already assigned to tenant '${other}'`,
        });
      }
      dids.set(did.number, tenant.id);
    });
  });
  list.forEach((tenant, i) => {
    issues.push(...tenantIssues(tenant, `/tenants/${i}`, registry));
    const at = `/tenants/${i}`;
    if (tenant.parentId !== undefined) {
      const parentIndex = byId.get(tenant.parentId);
      if (parentIndex === undefined) {
        issues.push({
          path: `${at}/parentId`,
          message: `Parent tenant '${tenant.parentId}' does not exist`,
        });
      } else {
        const parent = list[parentIndex] as Tenant;
        issues.push(...limitIssues(tenant, parent, at));
        // A parent cycle: follow parents until the root or a repeat.
        const seen = new Set<string>([tenant.id]);
        for (let p: Tenant | undefined = parent; p !== undefined;) {
          if (seen.has(p.id)) {
            issues.push({
              path: `${at}/parentId`,
              message: `Tenant '${tenant.id}' is its own ancestor`,
            });
            break;
          }
          seen.add(p.id);
          const next: number | undefined =
            p.parentId === undefined ? undefined : byId.get(p.parentId);
          p = next === undefined ? undefined : list[next];
        }
      }
    }
    const children = list.filter((t) => t.parentId === tenant.id).length;
    const maxChildren = tenant.limits?.maxChildren;
    if (maxChildren !== undefined && children > maxChildren) {
      issues.push({
        path: `${at}/limits/maxChildren`,
        message: `Tenant has ${children} child tenants, more than maxChildren ${maxChildren}`,
      });
    }
    for (const [j, route] of (tenant.interTenant?.routes ?? []).entries()) {
      if (!byId.has(route.tenantId)) {
        issues.push({
          path: `${at}/interTenant/routes/${j}/tenantId`,
          message: `Tenant '${route.tenantId}' does not exist`,
        });
      }
    }
  });
  return issues;
}

function limitIssues(tenant: Tenant, parent: Tenant, at: string): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const key of ['maxUsers', 'maxConcurrentCalls', 'maxChildren'] as const) {
    const own = tenant.limits?.[key];
    const cap = parent.limits?.[key];
    if (cap === undefined) continue;
    if (own === undefined) {
      issues.push({
        path: `${at}/limits/${key}`,
        message: `Parent '${parent.id}' limits ${key} to ${cap}; the child must set ${key} too`,
      });
    } else if (own > cap) {
      issues.push({
        path: `${at}/limits/${key}`,
        message: `${key} ${own} exceeds the parent's limit of ${cap}`,
      });
    }
  }
  return issues;
}

function tenantIssues(tenant: Tenant, at: string, registry: NodeTypeRegistry): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (!isValidTimeZone(tenant.timeZone)) {
    issues.push({ path: `${at}/timeZone`, message: `Unknown IANA time zone '${tenant.timeZone}'` });
  }
  const extensions = new Map<string, string>();
  const claim = (extension: string, owner: string, path: string): void => {
    const other = extensions.get(extension);
    if (other !== undefined) {
      issues.push({ path, message: `Extension ${extension} is already used by ${other}` });
    } else {
      extensions.set(extension, owner);
    }
  };
  const userIds = new Set<string>();
  tenant.users.forEach((user, j) => {
    if (userIds.has(user.id))
      issues.push({ path: `${at}/users/${j}/id`, message: `Duplicate user id '${user.id}'` });
    userIds.add(user.id);
    claim(user.extension, `user '${user.id}'`, `${at}/users/${j}/extension`);
    if (user.sip.password === undefined && user.sip.ha1 === undefined) {
      issues.push({ path: `${at}/users/${j}/sip`, message: 'Set a password or an ha1' });
    }
  });
  const maxUsers = tenant.limits?.maxUsers;
  if (maxUsers !== undefined && tenant.users.length > maxUsers) {
    issues.push({
      path: `${at}/users`,
      message: `${tenant.users.length} users exceed the tenant's limit of ${maxUsers}`,
    });
  }
  const groupIds = new Set<string>();
  (tenant.ringGroups ?? []).forEach((group, j) => {
    if (groupIds.has(group.id)) {
      issues.push({
        path: `${at}/ringGroups/${j}/id`,
        message: `Duplicate ring group id '${group.id}'`,
      });
    }
    groupIds.add(group.id);
    if (group.extension !== undefined) {
      claim(group.extension, `ring group '${group.id}'`, `${at}/ringGroups/${j}/extension`);
    }
  });
  const userExtensions = new Set(tenant.users.map((u) => u.extension));
  const flowIds = new Set((tenant.flows ?? []).map((f) => f.id));
  const scheduleIds = new Set((tenant.schedules ?? []).map((s) => s.id));
  const trunkIds = new Set((tenant.trunks ?? []).map((t) => t.id));
  const checkDestination = (destination: Destination, path: string): void => {
    switch (destination.type) {
      case 'extension':
        if (!extensions.has(destination.extension)) {
          issues.push({
            path: `${path}/extension`,
            message: `No user or ring group has extension ${destination.extension}`,
          });
        }
        break;
      case 'voicemail':
        if (!userExtensions.has(destination.extension)) {
          issues.push({
            path: `${path}/extension`,
            message: `No user has extension ${destination.extension}`,
          });
        }
        break;
      case 'ring-group':
        if (!groupIds.has(destination.groupId)) {
          issues.push({
            path: `${path}/groupId`,
            message: `Ring group '${destination.groupId}' does not exist`,
          });
        }
        break;
      case 'ivr':
        if (!flowIds.has(destination.flowId)) {
          issues.push({
            path: `${path}/flowId`,
            message: `IVR flow '${destination.flowId}' does not exist`,
          });
        }
        break;
      default:
        break;
    }
  };
  tenant.users.forEach((user, j) => {
    const f = user.forwarding;
    const path = `${at}/users/${j}/forwarding`;
    if (f?.always) checkDestination(f.always, `${path}/always`);
    if (f?.busy) checkDestination(f.busy, `${path}/busy`);
    if (f?.noAnswer) checkDestination(f.noAnswer.destination, `${path}/noAnswer/destination`);
    if (f?.unavailable) checkDestination(f.unavailable, `${path}/unavailable`);
  });
  (tenant.devices ?? []).forEach((device, j) => {
    if (!userIds.has(device.userId)) {
      issues.push({
        path: `${at}/devices/${j}/userId`,
        message: `User '${device.userId}' does not exist`,
      });
    }
  });
  (tenant.ringGroups ?? []).forEach((group, j) => {
    group.members.forEach((member, k) => {
      if (!userExtensions.has(member)) {
        issues.push({
          path: `${at}/ringGroups/${j}/members/${k}`,
          message: `No user has extension ${member}`,
        });
      }
    });
    if (group.fallback) checkDestination(group.fallback, `${at}/ringGroups/${j}/fallback`);
  });
  (tenant.dids ?? []).forEach((did, j) => {
    checkDestination(did.destination, `${at}/dids/${j}/destination`);
    if (did.schedule) {
      if (!scheduleIds.has(did.schedule.scheduleId)) {
        issues.push({
          path: `${at}/dids/${j}/schedule/scheduleId`,
          message: `Schedule '${did.schedule.scheduleId}' does not exist`,
        });
      }
      checkDestination(did.schedule.closed, `${at}/dids/${j}/schedule/closed`);
      if (did.schedule.holiday)
        checkDestination(did.schedule.holiday, `${at}/dids/${j}/schedule/holiday`);
    }
  });
  (tenant.schedules ?? []).forEach((schedule, j) => {
    if (schedule.timeZone !== undefined && !isValidTimeZone(schedule.timeZone)) {
      issues.push({
        path: `${at}/schedules/${j}/timeZone`,
        message: `Unknown IANA time zone '${schedule.timeZone}'`,
      });
    }
  });
  const checkTrunks = (ids: readonly string[], path: string): void => {
    ids.forEach((id, k) => {
      if (!trunkIds.has(id))
        issues.push({ path: `${path}/${k}`, message: `Trunk '${id}' does not exist` });
    });
  };
  (tenant.outboundRoutes ?? []).forEach((route, j) => {
    checkTrunks(route.trunkIds, `${at}/outboundRoutes/${j}/trunkIds`);
    const p = route.presentation;
    if (p?.mode === 'fixed' && p.number === undefined) {
      issues.push({
        path: `${at}/outboundRoutes/${j}/presentation/number`,
        message: "Mode 'fixed' needs a number",
      });
    }
  });
  if (tenant.emergency) checkTrunks(tenant.emergency.trunkIds, `${at}/emergency/trunkIds`);
  (tenant.flows ?? []).forEach((flow, j) => {
    for (const issue of flowIssues(flow, { registry, flowIds })) {
      issues.push({ path: `${at}/flows/${j}${issue.path}`, message: issue.message });
    }
  });
  const seenFlows = new Set<string>();
  (tenant.flows ?? []).forEach((flow, j) => {
    if (seenFlows.has(flow.id))
      issues.push({ path: `${at}/flows/${j}/id`, message: `Duplicate flow id '${flow.id}'` });
    seenFlows.add(flow.id);
  });
  return issues;
}

class IndexedConfigView implements ConfigView {
  readonly #tenants: readonly Tenant[];
  readonly #byId = new Map<string, Tenant>();
  readonly #byDomain = new Map<string, Tenant>();
  readonly #dids = new Map<string, { tenant: Tenant; did: Did }>();
  readonly #children = new Map<string, Tenant[]>();

  constructor(tenants: readonly Tenant[]) {
    this.#tenants = tenants;
    for (const tenant of tenants) {
      this.#byId.set(tenant.id, tenant);
      this.#byDomain.set(tenant.domain.toLowerCase(), tenant);
      for (const did of tenant.dids ?? []) this.#dids.set(did.number, { tenant, did });
      if (tenant.parentId !== undefined) {
        const siblings = this.#children.get(tenant.parentId) ?? [];
        siblings.push(tenant);
        this.#children.set(tenant.parentId, siblings);
      }
    }
  }

  tenant(id: string): Tenant | undefined {
    return this.#byId.get(id);
  }

  tenantByDomain(domain: string): Tenant | undefined {
    return this.#byDomain.get(domain.toLowerCase());
  }

  did(number: string): { tenant: Tenant; did: Did } | undefined {
    return this.#dids.get(number);
  }

  children(id: string): Tenant[] {
    return [...(this.#children.get(id) ?? [])];
  }

  tenants(): readonly Tenant[] {
    return this.#tenants;
  }
}

/**
 * Validates tenant configurations and returns an indexed view of them.
 * Throws a `ValidationError` (`INVALID_CONFIG`) listing every problem (see
 * {@link configIssues}); nothing of an invalid configuration is used.
 */
export function createConfigView(options: CreateConfigViewOptions): ConfigView {
  const registry = options.registry ?? defaultRegistry();
  const issues = configIssues(options.tenants, registry);
  if (issues.length > 0)
    throw new ValidationError(ErrorCode.INVALID_CONFIG, 'Tenant configuration', issues);
  const frozen = structuredClone(options.tenants as Tenant[]).map((t) => deepFreeze(t));
  return new IndexedConfigView(frozen);
}

/**
 * Whether `managerId` may manage `tenantId`'s users and limits: a tenant
 * manages itself and every descendant, never an ancestor or a sibling.
 */
export function canManageTenant(view: ConfigView, managerId: string, tenantId: string): boolean {
  const seen = new Set<string>();
  for (let t = view.tenant(tenantId); t !== undefined && !seen.has(t.id);) {
    if (t.id === managerId) return true;
    seen.add(t.id);
    t = t.parentId === undefined ? undefined : view.tenant(t.parentId);
  }
  return false;
}

function defaultRegistry(): NodeTypeRegistry {
  return new NodeTypeRegistry(builtinNodeTypes);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
