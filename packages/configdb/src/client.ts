/**
 * Clients of {@link ConfigServer}: {@link RemoteConfigClient} speaks to the
 * replicas of one shard (failing over between them), {@link RoutingClient}
 * asks the discovery endpoint where a tenant's shard lives and routes to it.
 *
 * @module
 */

import {
  ErrorCode,
  type Clock,
  VoxmeshError,
  anySignal,
  systemClock,
  throwIfAborted,
  timeoutSignal,
} from '@voxmesh/core';
import { ConfigDbErrorCode } from './errors.js';
import { ShardMap, type ShardDefinition, type ShardMapData } from './shard-map.js';
import type {
  BatchOperation,
  CallOptions,
  ChangeEvent,
  ChangesOptions,
  ConfigBackend,
  ConfigSnapshot,
  ListOptions,
  WriteResult,
} from './types.js';

/** Options of the {@link RemoteConfigClient} constructor. */
export interface RemoteConfigClientOptions {
  /** Base URLs of the shard's replicas, tried in order (the last that worked first). */
  urls: readonly string[];
  /**
   * Bearer token sent with every request.
   * @defaultValue none
   */
  token?: string | undefined;
  /**
   * Time limit of one request (not of a change stream).
   * @defaultValue `5000`
   */
  timeoutMs?: number | undefined;
  /** @defaultValue `systemClock` */
  clock?: Clock | undefined;
}

interface ErrorPayload {
  error?: { code?: unknown; message?: unknown; retryable?: unknown };
}

function toError(payload: unknown, status: number): VoxmeshError {
  const error = (payload as ErrorPayload | null)?.error;
  const code = typeof error?.code === 'string' ? error.code : ConfigDbErrorCode.UNAVAILABLE;
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${status}`;
  return new VoxmeshError(code, message, { retryable: error?.retryable === true });
}

/**
 * A {@link ConfigBackend} over HTTP. Requests go to the replica that answered
 * last and fail over to the others when it is unreachable; when none is
 * reachable they fail with `UNAVAILABLE` (retryable). A change stream that
 * fails over lands on another replica's feed and so gets `EPOCH_MISMATCH`:
 * the listener re-snapshots, as the contract says.
 */
export class RemoteConfigClient implements ConfigBackend {
  readonly #urls: string[];
  readonly #options: RemoteConfigClientOptions;
  readonly #clock: Clock;
  #preferred = 0;

  constructor(options: RemoteConfigClientOptions) {
    const urls: readonly unknown[] = options.urls;
    if (!Array.isArray(urls) || urls.length === 0 || urls.some((u) => typeof u !== 'string')) {
      throw new TypeError('RemoteConfigClient needs at least one URL');
    }
    this.#urls = (urls as string[]).map((u) => u.replace(/\/+$/, ''));
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  #headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = {};
    if (json) headers['content-type'] = 'application/json';
    if (this.#options.token !== undefined) headers.authorization = `Bearer ${this.#options.token}`;
    return headers;
  }

  /** Sends a request to the first reachable replica; returns the response. */
  async #fetch(
    path: string,
    init: { method: string; body?: unknown; stream?: boolean },
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    throwIfAborted(signal);
    let lastError: unknown;
    for (let attempt = 0; attempt < this.#urls.length; attempt++) {
      const index = (this.#preferred + attempt) % this.#urls.length;
      const url = `${this.#urls[index] as string}${path}`;
      using timeout = timeoutSignal(this.#options.timeoutMs ?? 5000, { clock: this.#clock });
      // A stream lives on after its headers: only the connection attempt is timed.
      const requestSignal = anySignal(signal, init.stream ? undefined : timeout.signal);
      let response: Response;
      try {
        const request = fetch(url, {
          method: init.method,
          headers: this.#headers(init.body !== undefined),
          body: init.body === undefined ? undefined : JSON.stringify(init.body),
          signal: init.stream ? anySignal(signal) : requestSignal,
        });
        response = init.stream
          ? await Promise.race([
              request,
              new Promise<never>((_resolve, reject) => {
                timeout.signal.addEventListener('abort', () => {
                  reject(timeout.signal.reason as Error);
                });
              }),
            ])
          : await request;
      } catch (error) {
        throwIfAborted(signal);
        lastError = error;
        continue;
      }
      if (response.status === 503) {
        lastError = toError(await response.json().catch(() => null), 503);
        continue;
      }
      this.#preferred = index;
      return response;
    }
    throw new VoxmeshError(ConfigDbErrorCode.UNAVAILABLE, 'No replica of the shard is reachable', {
      retryable: true,
      cause: lastError,
    });
  }

  async #json(
    path: string,
    init: { method: string; body?: unknown },
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const response = await this.#fetch(path, init, signal);
    const payload: unknown = await response.json().catch(() => null);
    if (!response.ok) throw toError(payload, response.status);
    return payload;
  }

  async get(key: string, options: CallOptions = {}): Promise<unknown> {
    const response = await this.#fetch(
      `/v1/kv?key=${encodeURIComponent(key)}`,
      { method: 'GET' },
      options.signal,
    );
    const payload = (await response.json().catch(() => null)) as { value?: unknown } | null;
    if (response.status === 404 && (payload as ErrorPayload | null)?.error?.code === 'NOT_FOUND') {
      return undefined;
    }
    if (!response.ok) throw toError(payload, response.status);
    return payload?.value;
  }

  async put(key: string, value: unknown, options: CallOptions = {}): Promise<WriteResult> {
    if (value === undefined) {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, 'A value must not be undefined (use del)');
    }
    return (await this.#json(
      `/v1/kv?key=${encodeURIComponent(key)}`,
      { method: 'PUT', body: { value } },
      options.signal,
    )) as WriteResult;
  }

  async del(key: string, options: CallOptions = {}): Promise<WriteResult> {
    return (await this.#json(
      `/v1/kv?key=${encodeURIComponent(key)}`,
      { method: 'DELETE' },
      options.signal,
    )) as WriteResult;
  }

  async batch(
    operations: readonly BatchOperation[],
    options: CallOptions = {},
  ): Promise<WriteResult> {
    return (await this.#json(
      '/v1/batch',
      { method: 'POST', body: { operations } },
      options.signal,
    )) as WriteResult;
  }

  async list(options: ListOptions = {}): Promise<[string, unknown][]> {
    const payload = (await this.#json(
      `/v1/list?prefix=${encodeURIComponent(options.prefix ?? '')}`,
      { method: 'GET' },
      options.signal,
    )) as { entries: [string, unknown][] };
    return payload.entries;
  }

  async snapshot(options: ListOptions = {}): Promise<ConfigSnapshot> {
    const payload = (await this.#json(
      `/v1/snapshot?prefix=${encodeURIComponent(options.prefix ?? '')}`,
      { method: 'GET' },
      options.signal,
    )) as { epoch: string; cursor: number; state: [string, unknown][] };
    return { epoch: payload.epoch, cursor: payload.cursor, state: new Map(payload.state) };
  }

  changes(options: ChangesOptions = {}): AsyncIterableIterator<ChangeEvent> {
    return this.#changes(options);
  }

  async *#changes(options: ChangesOptions): AsyncGenerator<ChangeEvent> {
    const params = new URLSearchParams();
    params.set('prefix', options.prefix ?? '');
    if (options.cursor !== undefined) params.set('cursor', String(options.cursor));
    if (options.epoch !== undefined) params.set('epoch', options.epoch);
    if (options.progressIntervalMs !== undefined) {
      params.set('progressIntervalMs', String(options.progressIntervalMs));
    }
    const controller = new AbortController();
    const signal = anySignal(options.signal, controller.signal);
    const response = await this.#fetch(
      `/v1/changes?${params.toString()}`,
      { method: 'GET', stream: true },
      signal,
    );
    if (!response.ok || !response.body) {
      throw toError(await response.json().catch(() => null), response.status);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          throwIfAborted(options.signal);
          throw new VoxmeshError(ConfigDbErrorCode.UNAVAILABLE, 'The change stream broke', {
            retryable: true,
            cause: error,
          });
        }
        if (chunk.done) {
          throwIfAborted(options.signal);
          throw new VoxmeshError(ConfigDbErrorCode.UNAVAILABLE, 'The change stream ended', {
            retryable: true,
          });
        }
        buffer += decoder.decode(chunk.value as Uint8Array, { stream: true });
        let newline = buffer.indexOf('\n');
        while (newline >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf('\n');
          if (line === '') continue;
          const event = JSON.parse(line) as ChangeEvent | ErrorPayload;
          if ('error' in event) throw toError(event, 200);
          yield event as ChangeEvent;
        }
      }
    } finally {
      controller.abort();
      reader.releaseLock();
    }
  }
}

/** Options of the {@link RoutingClient} constructor. */
export interface RoutingClientOptions {
  /** Base URL of the discovery endpoint (a {@link ConfigServer} with a shard map). */
  discoveryUrl: string;
  /**
   * Bearer token for discovery and the replicas.
   * @defaultValue none
   */
  token?: string | undefined;
  /**
   * How long a fetched shard map is used before it is fetched again.
   * @defaultValue `30_000`
   */
  refreshIntervalMs?: number | undefined;
  /** @defaultValue `systemClock` */
  clock?: Clock | undefined;
}

/**
 * Finds the shard of a tenant through the discovery endpoint and returns a
 * client for it.
 *
 * @example
 * ```ts
 * const routing = new RoutingClient({ discoveryUrl: 'http://config.internal:7400' });
 * const acme = await routing.forTenant('acme');
 * await acme.get('tenants/acme/users/100');
 * ```
 */
export class RoutingClient {
  readonly #options: RoutingClientOptions;
  readonly #clock: Clock;
  readonly #clients = new Map<string, { key: string; client: RemoteConfigClient }>();
  #map: ShardMap | undefined;
  #fetchedAt = -Infinity;

  constructor(options: RoutingClientOptions) {
    if (typeof options.discoveryUrl !== 'string' || !URL.canParse(options.discoveryUrl)) {
      throw new TypeError('RoutingClient needs a valid discoveryUrl');
    }
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Fetches the shard map now. */
  async refresh(options: CallOptions = {}): Promise<ShardMap> {
    const url = `${this.#options.discoveryUrl.replace(/\/+$/, '')}/v1/shards`;
    using timeout = timeoutSignal(5000, { clock: this.#clock, signal: options.signal });
    let response: Response;
    try {
      response = await fetch(url, {
        headers:
          this.#options.token === undefined
            ? {}
            : { authorization: `Bearer ${this.#options.token}` },
        signal: timeout.signal,
      });
    } catch (error) {
      throwIfAborted(options.signal);
      throw new VoxmeshError(ConfigDbErrorCode.UNAVAILABLE, 'Discovery is unreachable', {
        retryable: true,
        cause: error,
      });
    }
    const payload: unknown = await response.json().catch(() => null);
    if (!response.ok) throw toError(payload, response.status);
    this.#map = new ShardMap(payload as ShardMapData);
    this.#fetchedAt = this.#clock.monotonic();
    return this.#map;
  }

  /** The shard of `tenant` (fetching the shard map if needed). */
  async shardFor(tenant: string, options: CallOptions = {}): Promise<ShardDefinition> {
    const stale =
      this.#clock.monotonic() - this.#fetchedAt > (this.#options.refreshIntervalMs ?? 30_000);
    let map = this.#map;
    if (!map || stale) {
      try {
        map = await this.refresh(options);
      } catch (error) {
        // Keep routing with the map we have while discovery is unreachable.
        if (!map) throw error;
      }
    }
    return map.shardFor(tenant);
  }

  /** A client for the shard holding `tenant`. */
  async forTenant(tenant: string, options: CallOptions = {}): Promise<RemoteConfigClient> {
    const shard = await this.shardFor(tenant, options);
    const key = shard.replicas.join(' ');
    const cached = this.#clients.get(shard.id);
    if (cached?.key === key) return cached.client;
    const client = new RemoteConfigClient({
      urls: shard.replicas,
      token: this.#options.token,
      clock: this.#clock,
    });
    this.#clients.set(shard.id, { key, client });
    return client;
  }
}
