/**
 * Tenant trunks: one sip `Trunk` per configured carrier, kept in step with
 * configdb. Outbound-route calls get their bridge targets from it (the
 * carrier's digest challenge is answered with the trunk's `auth`, the
 * route's caller-ID presentation goes to From / P-Asserted-Identity), and
 * trunks with `register: true` run as services that register with the
 * carrier (RFC 3261 §10.2), are re-created when the tenant's trunk changes
 * and unregister when the server drains or stops.
 *
 * @module
 */

import {
  Metrics,
  silentLogger,
  type Logger,
  type Tenant,
  type Trunk as TrunkConfig,
  type TrunkRoute,
} from '@voxmesh/core';
import { Trunk, type B2buaTarget, type UaProtocol, type UserAgent } from '@voxmesh/sip';
import type { TenantDirectory } from './directory.js';

/** Options of the {@link TenantTrunks} constructor. */
export interface TenantTrunksOptions {
  /** The user agent that registers and places the calls. */
  ua: UserAgent;
  directory: TenantDirectory;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
  /** @defaultValue a private `Metrics` */
  metrics?: Metrics | undefined;
}

/** Where a trunk's registration stands. */
export type TrunkRegistrationState =
  /** The trunk does not register (`register` is not set). */
  | 'disabled'
  /** The first REGISTER is on its way. */
  | 'registering'
  /** The carrier accepted the registration; it is refreshed before it expires. */
  | 'registered'
  /** The last attempt failed; another follows after a backoff. */
  | 'failed'
  /** `register` is set but the trunk has no `auth.password` to register with. */
  | 'misconfigured';

/** A trunk's registration status, as the admin API shows it. */
export interface TrunkStatus {
  tenantId: string;
  trunkId: string;
  register: boolean;
  state: TrunkRegistrationState;
  /** When the registration in force expires (ISO 8601). */
  registeredUntil?: string | undefined;
  /** Why the last attempt failed. */
  lastError?: string | undefined;
}

interface Entry {
  tenantId: string;
  config: TrunkConfig;
  fingerprint: string;
  trunk: Trunk;
  /** Whether the carrier challenge can be answered (a password is configured). */
  hasPassword: boolean;
  state: TrunkRegistrationState;
  lastError: string | undefined;
}

const TRANSPORTS: Record<string, UaProtocol> = { udp: 'UDP', tcp: 'TCP', tls: 'TLS' };

/** A SIP display name, quoted (RFC 3261 §25.1 quoted-string). */
function quoted(name: string): string {
  return `"${name.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** The sip `Trunk` of every tenant trunk; the registering ones running. */
export class TenantTrunks {
  readonly #o: TenantTrunksOptions;
  readonly #logger: Logger;
  readonly #entries = new Map<string, Entry>();
  readonly #registeredGauge;
  #unsubscribe: (() => void) | undefined;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: TenantTrunksOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger;
    const metrics = options.metrics ?? new Metrics();
    this.#registeredGauge = metrics.gauge<'tenant' | 'trunk'>({
      name: 'pbx_trunk_registered',
      help: 'Whether a registering trunk is registered with its carrier (1) or not (0)',
      labelNames: ['tenant', 'trunk'],
    });
  }

  /** Creates the trunks of every tenant and follows configuration changes. */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#unsubscribe = this.#o.directory.onChange(() => {
      void this.#sync();
    });
    await this.#sync();
  }

  /** Unregisters every registering trunk and stops following changes. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    await this.#serial(async () => {
      const entries = [...this.#entries.values()];
      this.#entries.clear();
      await Promise.all(entries.map((e) => this.#retire(e)));
    });
  }

  /**
   * Bridge targets for an outbound-route call, one per trunk of the route in
   * its failover order (bridge them sequentially with `trunkFailover`).
   */
  targets(tenant: Tenant, route: TrunkRoute): B2buaTarget[] {
    const { callerId } = route;
    return route.trunkIds.flatMap((id) => {
      const config = tenant.trunks?.find((t) => t.id === id);
      if (config === undefined) return [];
      const entry = this.#entry(tenant.id, config);
      const domain = entry.trunk.domain;
      // The route's presentation: From shows it, P-Asserted-Identity asserts it (RFC 3325 §9.1).
      const identity =
        callerId.number === ''
          ? undefined
          : `${callerId.displayName === undefined ? '' : `${quoted(callerId.displayName)} `}<sip:${callerId.number}@${domain}>`;
      const target = entry.trunk.target(route.number, {
        from: identity,
        assertedIdentity: identity,
        privacy: callerId.privacy,
      });
      const label = `trunk ${config.id}`;
      return [
        entry.hasPassword ? { ...target, label } : { ...target, credentials: undefined, label },
      ];
    });
  }

  /** The registration status of a tenant's trunk, or `undefined` when there is no such trunk. */
  status(tenantId: string, trunkId: string): TrunkStatus | undefined {
    const config = this.#o.directory.tenant(tenantId)?.trunks?.find((t) => t.id === trunkId);
    if (config === undefined) return undefined;
    const entry = this.#entries.get(`${tenantId}/${trunkId}`);
    const register = config.register === true;
    if (entry === undefined || entry.fingerprint !== JSON.stringify(config)) {
      const state: TrunkRegistrationState = !register
        ? 'disabled'
        : config.auth?.password === undefined
          ? 'misconfigured'
          : 'registering';
      return { tenantId, trunkId, register, state };
    }
    const until = entry.trunk.registeredUntil;
    return {
      tenantId,
      trunkId,
      register,
      state: entry.state === 'registered' && !entry.trunk.registered ? 'failed' : entry.state,
      registeredUntil:
        entry.trunk.registered && until !== undefined ? new Date(until).toISOString() : undefined,
      lastError: entry.lastError,
    };
  }

  /** The entry of a trunk configuration, created (not started) when missing or changed. */
  #entry(tenantId: string, config: TrunkConfig): Entry {
    const key = `${tenantId}/${config.id}`;
    const fingerprint = JSON.stringify(config);
    const existing = this.#entries.get(key);
    if (existing !== undefined && existing.fingerprint === fingerprint) return existing;
    const hasPassword = config.auth?.password !== undefined;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const trunk = new Trunk({
      ua: this.#o.ua,
      name: config.id,
      domain: config.port === undefined ? host : `${host}:${config.port}`,
      // A trunk without credentials places calls without answering challenges (see targets()).
      username: config.auth?.username ?? config.id,
      password: config.auth?.password ?? '-',
      register: config.register === true && hasPassword,
      expiresS: config.registerExpiresS ?? 3600,
      transport: TRANSPORTS[config.transport ?? 'udp'] ?? 'UDP',
      logger: this.#logger.child({ tenantId, trunk: config.id }),
    });
    const entry: Entry = {
      tenantId,
      config,
      fingerprint,
      trunk,
      hasPassword,
      state: config.register !== true ? 'disabled' : hasPassword ? 'registering' : 'misconfigured',
      lastError: undefined,
    };
    if (entry.state === 'misconfigured') {
      this.#logger.warn(
        { tenantId, trunk: config.id },
        'The trunk is set to register but has no auth.password',
      );
    }
    const labels = { tenant: tenantId, trunk: config.id };
    trunk.on('registered', () => {
      entry.state = 'registered';
      entry.lastError = undefined;
      if (this.#entries.get(key) === entry) this.#registeredGauge.set(labels, 1);
    });
    trunk.on('failed', (error) => {
      entry.state = 'failed';
      entry.lastError = error.message;
      if (this.#entries.get(key) === entry) this.#registeredGauge.set(labels, 0);
    });
    if (existing === undefined || existing.fingerprint !== fingerprint) {
      // A call may ask for targets before the change reached #sync: the old one retires there.
      if (existing !== undefined) void this.#serial(() => this.#retire(existing));
      this.#entries.set(key, entry);
    }
    return entry;
  }

  /** Brings the running trunks in line with the configuration. */
  #sync(): Promise<void> {
    return this.#serial(async () => {
      if (this.#stopped) return;
      const wanted = new Set<string>();
      for (const tenant of this.#o.directory.tenants()) {
        for (const config of tenant.trunks ?? []) {
          const key = `${tenant.id}/${config.id}`;
          wanted.add(key);
          const entry = this.#entry(tenant.id, config);
          if (config.register === true && entry.hasPassword && entry.trunk.state === 'idle') {
            this.#registeredGauge.set({ tenant: tenant.id, trunk: config.id }, 0);
            await entry.trunk.start();
          }
        }
      }
      for (const [key, entry] of this.#entries) {
        if (wanted.has(key)) continue;
        this.#entries.delete(key);
        await this.#retire(entry);
      }
    });
  }

  /** Stops a trunk that is no longer configured so (unregistering it) and drops its metric. */
  async #retire(entry: Entry): Promise<void> {
    const labels = { tenant: entry.tenantId, trunk: entry.config.id };
    const current = this.#entries.get(`${entry.tenantId}/${entry.config.id}`);
    if (current === undefined || current.config.register !== true) {
      this.#registeredGauge.remove(labels);
    }
    if (entry.trunk.state === 'running') {
      await entry.trunk.stop().catch((error: unknown) => {
        this.#logger.warn({ err: error, trunk: entry.config.id }, 'Trunk stop failed');
      });
    }
  }

  #serial(work: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch((error: unknown) => {
      this.#logger.error({ err: error }, 'Trunk update failed');
    });
    return run;
  }
}
