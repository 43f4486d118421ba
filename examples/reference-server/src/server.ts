/**
 * The reference server: every Voxmesh package composed into one hosted PBX
 * process on embedded defaults.
 *
 * ```text
 *  phones ──SIP UDP/TCP/WS──► SipTransport ─► UserAgent ─┬─ REGISTER ─► Registrar (digest, tenant users from configdb)
 *                                                        └─ INVITE ───► call handling (routing from core)
 *  admin ──HTTP──► AdminApi ─► TenantDirectory (configdb ConfigReplica on classic-level)
 *                          ├─► history (EmbeddedHistoryStore behind a HistoryOutbox)
 *                          └─► storage (FsBlobStore: prompts, voicemail)
 * ```
 *
 * @module
 */

import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Metrics, Service, silentLogger, type Logger } from '@voxmesh/core';
import { ConfigReplica } from '@voxmesh/configdb';
import { EmbeddedHistoryStore, HistoryOutbox } from '@voxmesh/history';
import { InProcessMediaController } from '@voxmesh/media';
import {
  B2bua,
  MemoryBindingStore,
  Registrar,
  SipTransport,
  UserAgent,
  type DigestSecret,
  type ListenerOptions,
} from '@voxmesh/sip';
import { FsBlobStore } from '@voxmesh/storage';
import { AdminApi } from './admin-api.js';
import { CallHandler } from './calls.js';
import { forkSafeMedia } from './fork-safe-media.js';
import { LocalCalls } from './local-calls.js';
import type { ServerConfig } from './config.js';
import { TenantDirectory } from './directory.js';
import { TenantTrunks } from './trunks.js';
import { seedDemo, type DemoSeed } from './seed.js';
import { credentialsOf } from './credentials.js';

/** Options of the {@link ReferenceServer} constructor. */
export interface ReferenceServerOptions {
  /** The validated settings (see `loadConfig`). */
  config: ServerConfig;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
  /** @defaultValue a new `Metrics` (its registry is served at `/metrics`) */
  metrics?: Metrics | undefined;
}

/** A listener that could not be opened, named in terms of the settings that choose it. */
export class BindError extends Error {
  constructor(
    readonly what: string,
    readonly address: string,
    readonly settings: string,
    readonly reason: string,
  ) {
    super(`Cannot listen for ${what} on ${address}: ${reason}. Change ${settings}.`);
    this.name = 'BindError';
  }
}

const BIND_REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (is another server running?)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not available on this machine',
};

function bindCode(error: unknown): { code: string; address?: string; port?: number } | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const errno = e as {
      code?: unknown;
      address?: string;
      port?: number;
      cause?: unknown;
      errors?: unknown[];
    };
    if (typeof errno.code === 'string' && errno.code in BIND_REASONS) {
      return { code: errno.code, address: errno.address, port: errno.port };
    }
    e = errno.cause ?? errno.errors?.[0];
  }
  return undefined;
}

/** The hosted PBX: configdb, history, storage, SIP and the admin API in one process. */
export class ReferenceServer extends Service {
  readonly config: ServerConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** What the first start created (printed by `main`); `undefined` on later starts. */
  seeded: DemoSeed | undefined;
  /** The operator key generated on this start (printed once), if any. */
  generatedRootKey: string | undefined;

  #replica: ConfigReplica | undefined;
  #directory: TenantDirectory | undefined;
  #history: EmbeddedHistoryStore | undefined;
  #outbox: HistoryOutbox | undefined;
  #blobs: FsBlobStore | undefined;
  #transport: SipTransport | undefined;
  #registrar: Registrar | undefined;
  #ua: UserAgent | undefined;
  #media: InProcessMediaController | undefined;
  #b2bua: B2bua | undefined;
  #calls: CallHandler | undefined;
  #trunks: TenantTrunks | undefined;
  #local: LocalCalls | undefined;
  #http: Server | undefined;
  #httpPort = 0;

  constructor(options: ReferenceServerOptions) {
    super({ name: 'reference-server' });
    this.config = options.config;
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics ?? new Metrics();
  }

  /** The tenant directory (after `start()`). */
  get directory(): TenantDirectory {
    if (this.#directory === undefined) throw new Error('The server is not started');
    return this.#directory;
  }

  /** The registrar (after `start()`). */
  get registrar(): Registrar {
    if (this.#registrar === undefined) throw new Error('The server is not started');
    return this.#registrar;
  }

  /** The tenant trunks and their registrations (after `start()`). */
  get trunks(): TenantTrunks {
    if (this.#trunks === undefined) throw new Error('The server is not started');
    return this.#trunks;
  }

  /** The history outbox CDRs are written to (after `start()`). */
  get history(): HistoryOutbox {
    if (this.#outbox === undefined) throw new Error('The server is not started');
    return this.#outbox;
  }

  /** The history backend, for reading (after `start()`). */
  get historyStore(): EmbeddedHistoryStore {
    if (this.#history === undefined) throw new Error('The server is not started');
    return this.#history;
  }

  /** The bound addresses (after `start()`; ports are the real ones when 0 was configured). */
  get addresses(): {
    http: { host: string; port: number };
    sip: { protocol: string; host: string; port: number }[];
  } {
    return {
      http: { host: this.config.http.host, port: this.#httpPort },
      sip: (this.#transport?.listening ?? []).map((l) => ({
        protocol: l.protocol,
        host: l.local.host,
        port: l.local.port,
      })),
    };
  }

  protected async onStart(signal: AbortSignal): Promise<void> {
    const { config, logger, metrics } = this;
    await mkdir(config.dataDir, { recursive: true });

    this.#replica = new ConfigReplica({
      id: 'node-1',
      location: join(config.dataDir, 'configdb'),
      logger: logger.child({ component: 'configdb' }),
      metrics,
    });
    await this.#replica.start({ signal });
    this.#directory = new TenantDirectory({
      replica: this.#replica,
      rootApiKey: config.rootApiKey,
      logger: logger.child({ component: 'directory' }),
    });
    await this.#directory.open();

    this.#history = new EmbeddedHistoryStore({
      location: join(config.dataDir, 'history'),
      logger: logger.child({ component: 'history' }),
      metrics,
    });
    await this.#history.open({ signal });
    this.#outbox = new HistoryOutbox({
      store: this.#history,
      location: join(config.dataDir, 'history-outbox'),
      logger: logger.child({ component: 'history-outbox' }),
      metrics,
    });
    await this.#outbox.start({ signal });
    this.#blobs = new FsBlobStore({ root: join(config.dataDir, 'media') });

    if (this.#directory.empty && config.seedDemo) {
      this.seeded = await seedDemo(this.#directory, this.#blobs);
      logger.info({ tenantId: this.seeded.tenant.id }, 'Seeded the demo tenant');
    }
    this.generatedRootKey = await this.#directory.ensureRootKey();

    await this.#startSip(signal);
    await this.#startHttp();
    logger.info({ addresses: this.addresses }, 'Reference server running');
  }

  async #startSip(signal: AbortSignal): Promise<void> {
    const { config, logger, metrics } = this;
    const directory = this.directory;
    const sip = config.sip;
    const advertised = sip.advertisedHost === undefined ? undefined : { host: sip.advertisedHost };
    const listeners: ListenerOptions[] = [
      { protocol: 'UDP', host: sip.host, port: sip.udpPort, advertised },
      { protocol: 'TCP', host: sip.host, port: sip.tcpPort, advertised },
      { protocol: 'WS', host: sip.host, port: sip.wsPort, advertised },
    ];
    this.#transport = new SipTransport({
      listeners,
      logger: logger.child({ component: 'sip-transport' }),
      metrics,
    });
    try {
      await this.#transport.start({ signal });
    } catch (error) {
      const bind = bindCode(error);
      if (bind === undefined) throw error;
      const which =
        bind.port === sip.wsPort && bind.port !== sip.udpPort
          ? { what: 'SIP over WebSocket', settings: 'sip.wsPort (VOXMESH_SIP_WS_PORT)' }
          : {
              what: 'SIP (UDP/TCP)',
              settings:
                'sip.udpPort / sip.tcpPort (VOXMESH_SIP_UDP_PORT, VOXMESH_SIP_TCP_PORT) or sip.host',
            };
      throw new BindError(
        which.what,
        `${bind.address ?? sip.host}:${bind.port ?? '?'}`,
        which.settings,
        BIND_REASONS[bind.code] ?? bind.code,
      );
    }

    this.#registrar = new Registrar({
      store: new MemoryBindingStore(),
      digestAlgorithms: sip.digestAlgorithms,
      minExpiresS: sip.minExpiresS,
      maxExpiresS: sip.maxExpiresS,
      // The tenant is the domain of the address of record; other domains get 404.
      realm: ({ domain }) => directory.view.tenantByDomain(domain)?.domain,
      credentials: ({ username, realm, algorithm }): DigestSecret | undefined => {
        const tenant = directory.view.tenantByDomain(realm);
        return tenant === undefined ? undefined : credentialsOf(tenant, username, algorithm);
      },
      logger: logger.child({ component: 'registrar' }),
      metrics,
    });
    this.#registrar.on('registered', (binding, refreshed) => {
      if (!refreshed) logger.info({ aor: binding.aor, contact: binding.contact }, 'Registered');
    });
    await this.#registrar.start({ signal });

    this.#ua = new UserAgent({
      transport: this.#transport,
      uri: `sip:pbx@${sip.advertisedHost ?? sip.host}`,
      userAgent: 'voxmesh-reference-server',
      logger: logger.child({ component: 'sip-ua' }),
      metrics,
    });
    this.#ua.use({ method: 'REGISTER', handler: this.#registrar.middleware() });
    this.#media = new InProcessMediaController({
      ports: {
        address: config.media.host,
        minPort: config.media.minPort,
        maxPort: config.media.maxPort,
      },
      advertisedAddress: config.media.advertisedHost,
      logger: logger.child({ component: 'media' }),
      metrics,
    });
    await this.#media.start({ signal });
    this.#b2bua = new B2bua({
      ua: this.#ua,
      // Any parallel fork may answer (the controller keeps one pending offer per session).
      media: forkSafeMedia(this.#media),
      logger: logger.child({ component: 'b2bua' }),
      metrics,
    });
    const local = (this.#local = new LocalCalls({
      ua: this.#ua,
      media: this.#media,
      directory,
      blobs: this.#blobs as FsBlobStore,
      history: this.history,
      promptCacheDir: join(config.dataDir, 'prompt-cache'),
      contacts: (tenant, extension, ringMs) =>
        (this.#calls as CallHandler).contacts(tenant, extension, ringMs),
      logger: logger.child({ component: 'ivr' }),
      metrics,
    }));
    this.#trunks = new TenantTrunks({
      ua: this.#ua,
      directory,
      logger: logger.child({ component: 'trunks' }),
      metrics,
    });
    this.#calls = new CallHandler({
      local: local.handle,
      trunks: this.#trunks,
      accepting: () => this.state === 'running',
      directory,
      registrar: this.#registrar,
      b2bua: this.#b2bua,
      history: this.history,
      digestAlgorithms: sip.digestAlgorithms,
      authenticateCalls: sip.authenticateCalls,
      logger: logger.child({ component: 'calls' }),
      metrics,
    });
    this.#ua.use({ method: 'INVITE', handler: this.#calls.handle });
    await this.#b2bua.start({ signal });
    await this.#ua.start({ signal });
    // Registering trunks start registering now (RFC 3261 §10.2); calls do not wait for it.
    await this.#trunks.start();
  }

  async #startHttp(): Promise<void> {
    const { config } = this;
    const api = new AdminApi({
      directory: this.directory,
      history: this.#history as EmbeddedHistoryStore,
      blobs: this.#blobs as FsBlobStore,
      registry: this.metrics.registry,
      healthy: () => this.state === 'running',
      trunkStatus: (tenantId, trunkId) => this.#trunks?.status(tenantId, trunkId),
      maxBodyBytes: config.http.maxBodyBytes,
      logger: this.logger.child({ component: 'admin-api' }),
    });
    const server = createServer({ requestTimeout: 60_000 }, api.handle);
    this.#http = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        server.off('listening', onListening);
        const bind = bindCode(error);
        reject(
          bind === undefined
            ? error
            : new BindError(
                'the admin API',
                `${config.http.host}:${config.http.port}`,
                'http.port (VOXMESH_HTTP_PORT) or http.host',
                BIND_REASONS[bind.code] ?? bind.code,
              ),
        );
      };
      const onListening = (): void => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(config.http.port, config.http.host);
    });
    const address = server.address();
    this.#httpPort = typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Calls in progress, per tenant. */
  get activeCalls(): Readonly<Record<string, number>> {
    return this.#calls?.activeCalls ?? {};
  }

  protected override async onDrain(): Promise<void> {
    const calls = Object.values(this.activeCalls).reduce((a, b) => a + b, 0);
    this.logger.info({ calls }, 'Draining: new calls get 503, calls in progress finish');
    // New INVITEs get 503 + Retry-After; bridges in progress finish (RFC 3261 §21.5.4).
    // IVR and voicemail calls (answered here, not bridges) finish too, within the same deadline.
    const deadline = new Promise<'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), this.config.drainTimeoutMs);
      timer.unref();
    });
    const finished = Promise.all([
      this.#b2bua?.drain({ timeoutMs: this.config.drainTimeoutMs }),
      this.#local?.idle(),
    ]).then(() => 'done' as const);
    const outcome = await Promise.race([finished, deadline]).catch(() => 'timeout' as const);
    if (outcome === 'timeout') {
      this.logger.warn(
        { calls: this.activeCalls },
        'Calls still in progress at the drain deadline are cut',
      );
    }
    // Registrations with carriers are removed while the user agent still sends (RFC 3261 §10.2.2).
    await this.#trunks?.stop();
    await this.#ua?.drain({ timeoutMs: 5000 }).catch(() => undefined);
  }

  protected async onStop(): Promise<void> {
    const http = this.#http;
    if (http !== undefined) {
      await new Promise<void>((resolve) => {
        http.close(() => {
          resolve();
        });
        http.closeAllConnections();
      });
    }
    await this.#trunks?.stop();
    await this.#b2bua?.stop();
    await this.#ua?.stop();
    await this.#media?.stop();
    await this.#registrar?.stop();
    await this.#transport?.stop();
    await this.#outbox?.drain().catch(() => undefined);
    await this.#outbox?.stop();
    await this.#history?.close();
    await this.#blobs?.close();
    this.#directory?.close();
    await this.#replica?.stop();
  }
}
