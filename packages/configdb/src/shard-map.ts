/**
 * The shard map: which shard holds a tenant's configuration, and where that
 * shard's replicas listen. Tenants are placed explicitly (e.g. by region:
 * geo-sharding) or fall back to a default shard.
 *
 * @module
 */

import { ErrorCode, VoxmeshError } from '@voxmesh/core';
import { ConfigDbErrorCode } from './errors.js';

/** One shard: its id and the client URLs of its replicas. */
export interface ShardDefinition {
  /** The shard id. */
  readonly id: string;
  /** Base URLs of the replicas' {@link ConfigServer}s, e.g. `http://10.0.0.2:7400`. */
  readonly replicas: readonly string[];
  /** Where the shard lives (for geo-sharding), informational. */
  readonly region?: string | undefined;
}

/** The serialised shard map, as the discovery endpoint returns it. */
export interface ShardMapData {
  /** Increases with every change of the map. */
  readonly version: number;
  readonly shards: readonly ShardDefinition[];
  /** Tenant id → shard id. */
  readonly tenants: Readonly<Record<string, string>>;
  /** The shard of tenants not listed in `tenants`. @defaultValue none */
  readonly defaultShard?: string | undefined;
}

function invalid(message: string): never {
  throw new VoxmeshError(ErrorCode.INVALID_INPUT, `Invalid shard map: ${message}`);
}

/** A validated shard map. */
export class ShardMap {
  readonly #data: ShardMapData;
  readonly #shards: Map<string, ShardDefinition>;

  constructor(data: ShardMapData) {
    if (typeof data !== 'object' || data === null) invalid('not an object');
    if (!Number.isSafeInteger(data.version) || data.version < 0) invalid('version');
    if (!Array.isArray(data.shards)) invalid('shards');
    this.#shards = new Map();
    for (const shard of data.shards as unknown[]) {
      const s = shard as Partial<ShardDefinition> | null;
      if (typeof s?.id !== 'string' || s.id === '') invalid('shard id');
      if (this.#shards.has(s.id)) invalid(`duplicate shard ${s.id}`);
      if (!Array.isArray(s.replicas) || s.replicas.length === 0)
        invalid(`shard ${s.id} has no replicas`);
      for (const url of s.replicas as unknown[]) {
        if (typeof url !== 'string' || !URL.canParse(url)) invalid(`shard ${s.id}: bad URL`);
      }
      this.#shards.set(s.id, {
        id: s.id,
        replicas: [...(s.replicas as string[])],
        ...(typeof s.region === 'string' ? { region: s.region } : {}),
      });
    }
    if (typeof data.tenants !== 'object' || data.tenants === null) invalid('tenants');
    for (const [tenant, shard] of Object.entries(data.tenants)) {
      if (!this.#shards.has(shard)) invalid(`tenant ${tenant} maps to unknown shard ${shard}`);
    }
    if (data.defaultShard !== undefined && !this.#shards.has(data.defaultShard)) {
      invalid(`unknown default shard ${data.defaultShard}`);
    }
    this.#data = {
      version: data.version,
      shards: [...this.#shards.values()],
      tenants: { ...data.tenants },
      ...(data.defaultShard !== undefined ? { defaultShard: data.defaultShard } : {}),
    };
  }

  /** The map's version. */
  get version(): number {
    return this.#data.version;
  }

  /** Every shard. */
  get shards(): readonly ShardDefinition[] {
    return this.#data.shards;
  }

  /** The shard holding `tenant`; throws `SHARD_NOT_FOUND` if none. */
  shardFor(tenant: string): ShardDefinition {
    const id = this.#data.tenants[tenant] ?? this.#data.defaultShard;
    const shard = id === undefined ? undefined : this.#shards.get(id);
    if (!shard) {
      throw new VoxmeshError(
        ConfigDbErrorCode.SHARD_NOT_FOUND,
        `No shard for tenant ${JSON.stringify(tenant)} in shard map version ${this.version}`,
      );
    }
    return shard;
  }

  /** The serialisable form. */
  toJSON(): ShardMapData {
    return this.#data;
  }
}
