/**
 * The tenant directory: every tenant's configuration and the admin API keys,
 * kept in a configdb {@link ConfigReplica}, with a validated core
 * {@link CoreConfigView} rebuilt on every change for routing and the
 * registrar.
 *
 * Layout in configdb:
 * - `tenants/<tenantId>` → the whole {@link Tenant} document;
 * - `apikeys/<sha256 of the key>` → `{ tenantId, createdAt }` (keys are never stored in clear);
 * - `operator/root-key` → `{ hash }` of the generated operator key.
 *
 * @module
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  ErrorCode,
  NodeTypeRegistry,
  ValidationError,
  VoxmeshError,
  builtinNodeTypes,
  configIssues,
  createConfigView,
  silentLogger,
  type ConfigView as CoreConfigView,
  type Logger,
  type Tenant,
  type ValidationIssue,
} from '@voxmesh/core';
import type { ConfigReplica } from '@voxmesh/configdb';

const TENANTS = 'tenants/';
const API_KEYS = 'apikeys/';
const ROOT_KEY = 'operator/root-key';

/** Who an API key belongs to. */
export type Principal = { kind: 'root' } | { kind: 'tenant'; tenantId: string };

/** Options of the {@link TenantDirectory} constructor. */
export interface TenantDirectoryOptions {
  /** The configuration store. */
  replica: ConfigReplica;
  /**
   * A fixed operator key (from the settings); when absent a generated one is
   * kept hashed in the store.
   * @defaultValue none
   */
  rootApiKey?: string | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A new random secret: a prefix for humans, 32 random bytes in base64url. */
export function generateSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Tenants and API keys in configdb, and the routing view built from them. */
export class TenantDirectory {
  readonly #replica: ConfigReplica;
  readonly #logger: Logger;
  readonly #rootKeyHash: string | undefined;
  readonly #registry = new NodeTypeRegistry(builtinNodeTypes);
  #tenants = new Map<string, Tenant>();
  #keys = new Map<string, string>();
  #storedRootHash: string | undefined;
  #view: CoreConfigView = createConfigView({ tenants: [] });
  #unsubscribe: (() => void) | undefined;
  readonly #listeners = new Set<() => void>();
  /** Writes run one at a time: each validates against the state the previous one left. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: TenantDirectoryOptions) {
    this.#replica = options.replica;
    this.#logger = options.logger ?? silentLogger;
    this.#rootKeyHash = options.rootApiKey === undefined ? undefined : sha256(options.rootApiKey);
  }

  /** The node types IVR flows may use. */
  get registry(): NodeTypeRegistry {
    return this.#registry;
  }

  /** Loads everything and follows later changes (also those replicated from peers). */
  async open(): Promise<void> {
    const snapshot = await this.#replica.snapshot();
    for (const [key, value] of snapshot.state) this.#apply(key, value);
    this.#rebuild();
    this.#unsubscribe = this.#replica.subscribe(
      { cursor: snapshot.cursor, epoch: snapshot.epoch, progressIntervalMs: 0 },
      (event) => {
        if (event.type !== 'change') return;
        this.#apply(event.key, event.deleted ? undefined : event.value);
        if (event.key.startsWith(TENANTS)) {
          this.#rebuild();
          this.#changed();
        }
      },
      (error) => {
        this.#logger.error({ err: error }, 'The configuration feed failed');
      },
    );
  }

  /** Calls `listener` after every change of a tenant; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #changed(): void {
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.#logger.error({ err: error }, 'A tenant change listener threw');
      }
    }
  }

  /** Stops following changes. */
  close(): void {
    this.#listeners.clear();
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  /** Whether no tenant exists yet (a first start). */
  get empty(): boolean {
    return this.#tenants.size === 0;
  }

  /** The routing view (rebuilt on every change). */
  get view(): CoreConfigView {
    return this.#view;
  }

  /** A tenant by id. */
  tenant(id: string): Tenant | undefined {
    return this.#tenants.get(id);
  }

  /** Every tenant. */
  tenants(): Tenant[] {
    return [...this.#tenants.values()];
  }

  /** Whether `ancestorId` is `tenantId` or one of its ancestors. */
  manages(ancestorId: string, tenantId: string): boolean {
    const seen = new Set<string>();
    for (let t = this.#tenants.get(tenantId); t !== undefined && !seen.has(t.id);) {
      if (t.id === ancestorId) return true;
      seen.add(t.id);
      t = t.parentId === undefined ? undefined : this.#tenants.get(t.parentId);
    }
    return false;
  }

  /** Whether `principal` may see and change tenant `tenantId`. */
  canAccess(principal: Principal, tenantId: string): boolean {
    if (!this.#tenants.has(tenantId)) return false;
    return principal.kind === 'root' || this.manages(principal.tenantId, tenantId);
  }

  /**
   * Creates or replaces a tenant after validating the whole configuration
   * with it (schemas, references, limits against the parent, IVR flows).
   * Throws a `ValidationError` (`INVALID_CONFIG`) with paths under `/`
   * of the tenant document.
   */
  putTenant(tenant: Tenant): Promise<Tenant> {
    return this.update(tenant.id, () => tenant, { create: true });
  }

  /**
   * Read-modify-write of one tenant, serialised with every other write.
   * `change` gets a deep copy; its result is validated before it is stored.
   */
  update(
    tenantId: string,
    change: (tenant: Tenant | undefined) => Tenant,
    options: { create?: boolean } = {},
  ): Promise<Tenant> {
    return this.#serial(async () => {
      const current = this.#tenants.get(tenantId);
      if (current === undefined && options.create !== true) {
        throw new VoxmeshError(ErrorCode.NOT_FOUND, `Tenant '${tenantId}' does not exist`);
      }
      const next = change(current === undefined ? undefined : structuredClone(current));
      if (next.id !== tenantId) {
        throw new ValidationError(ErrorCode.INVALID_CONFIG, 'Tenant', [
          { path: '/id', message: `The id cannot change (is '${tenantId}')` },
        ]);
      }
      this.#validate(next);
      await this.#replica.put(TENANTS + tenantId, next);
      this.#apply(TENANTS + tenantId, next);
      this.#rebuild();
      return structuredClone(next);
    });
  }

  /** Deletes a tenant and its API keys; refuses while it has children. */
  deleteTenant(tenantId: string): Promise<void> {
    return this.#serial(async () => {
      if (!this.#tenants.has(tenantId)) {
        throw new VoxmeshError(ErrorCode.NOT_FOUND, `Tenant '${tenantId}' does not exist`);
      }
      const children = this.tenants().filter((t) => t.parentId === tenantId);
      if (children.length > 0) {
        throw new VoxmeshError(
          ErrorCode.INVALID_STATE,
          `Tenant '${tenantId}' has child tenants (${children.map((c) => c.id).join(', ')}); delete them first`,
        );
      }
      const others = this.tenants().filter((t) => t.id !== tenantId);
      const issues = configIssues(others, this.#registry);
      if (issues.length > 0) {
        throw new ValidationError(
          ErrorCode.INVALID_CONFIG,
          `Deleting tenant '${tenantId}'`,
          issues,
        );
      }
      const keys = [...this.#keys].filter(([, t]) => t === tenantId).map(([hash]) => hash);
      await this.#replica.batch([
        { type: 'del', key: TENANTS + tenantId },
        ...keys.map((hash) => ({ type: 'del' as const, key: API_KEYS + hash })),
      ]);
      this.#apply(TENANTS + tenantId, undefined);
      for (const hash of keys) this.#apply(API_KEYS + hash, undefined);
      this.#rebuild();
    });
  }

  /** Creates an API key for a tenant; the key is returned once and stored hashed. */
  async createApiKey(tenantId: string): Promise<string> {
    if (!this.#tenants.has(tenantId)) {
      throw new VoxmeshError(ErrorCode.NOT_FOUND, `Tenant '${tenantId}' does not exist`);
    }
    const key = generateSecret('vxk');
    const hash = sha256(key);
    await this.#replica.put(API_KEYS + hash, { tenantId, createdAt: new Date().toISOString() });
    this.#apply(API_KEYS + hash, { tenantId });
    return key;
  }

  /**
   * Makes sure an operator key exists: the configured one, or one generated
   * now (returned so it can be printed once) or earlier.
   */
  async ensureRootKey(): Promise<string | undefined> {
    if (this.#rootKeyHash !== undefined || this.#storedRootHash !== undefined) return undefined;
    const key = generateSecret('vxroot');
    await this.#replica.put(ROOT_KEY, { hash: sha256(key) });
    this.#storedRootHash = sha256(key);
    return key;
  }

  /** Who holds `key`, or `undefined` for an unknown key. */
  authenticate(key: string): Principal | undefined {
    const hash = sha256(key);
    for (const root of [this.#rootKeyHash, this.#storedRootHash]) {
      if (root !== undefined && timingSafeEqual(Buffer.from(root), Buffer.from(hash))) {
        return { kind: 'root' };
      }
    }
    const tenantId = this.#keys.get(hash);
    if (tenantId === undefined || !this.#tenants.has(tenantId)) return undefined;
    return { kind: 'tenant', tenantId };
  }

  #validate(next: Tenant): void {
    const all = this.tenants().filter((t) => t.id !== next.id);
    all.push(next);
    const index = all.length - 1;
    const issues = configIssues(all, this.#registry);
    if (issues.length === 0) return;
    // Report the new tenant's problems with paths inside its document.
    const own = `/tenants/${index}`;
    const mapped: ValidationIssue[] = issues.map((issue) =>
      issue.path === own || issue.path.startsWith(`${own}/`)
        ? { path: issue.path.slice(own.length) || '/', message: issue.message }
        : {
            path: issue.path,
            message: `${issue.message} (tenant '${all[Number(issue.path.split('/')[2])]?.id ?? '?'}')`,
          },
    );
    throw new ValidationError(ErrorCode.INVALID_CONFIG, `Tenant '${next.id}'`, mapped);
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #apply(key: string, value: unknown): void {
    if (key.startsWith(TENANTS)) {
      const id = key.slice(TENANTS.length);
      if (value === undefined) this.#tenants.delete(id);
      else this.#tenants.set(id, value as Tenant);
    } else if (key.startsWith(API_KEYS)) {
      const hash = key.slice(API_KEYS.length);
      if (value === undefined) this.#keys.delete(hash);
      else this.#keys.set(hash, (value as { tenantId: string }).tenantId);
    } else if (key === ROOT_KEY) {
      this.#storedRootHash = (value as { hash?: string } | undefined)?.hash;
    }
  }

  #rebuild(): void {
    try {
      this.#view = createConfigView({ tenants: this.tenants(), registry: this.#registry });
    } catch (error) {
      // A replicated change the local rules reject: keep serving the last good view.
      this.#logger.error(
        { err: error },
        'The tenant configuration is invalid; keeping the last view',
      );
    }
  }
}
