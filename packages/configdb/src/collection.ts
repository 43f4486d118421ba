/**
 * Typed collections: records of one kind under a key prefix, validated on
 * write and on read.
 *
 * @module
 */

import { ErrorCode, VoxmeshError } from '@voxmesh/core';
import type { CallOptions, ChangesOptions, ConfigBackend, WriteResult } from './types.js';

/** Options of the {@link Collection} constructor. */
export interface CollectionOptions<T> {
  /** The store the records live in. */
  backend: ConfigBackend;
  /** The collection's name; records are stored at `<prefix><name>/<id>`. */
  name: string;
  /**
   * A prefix before the name, e.g. `'tenants/acme/'` for per-tenant collections.
   * @defaultValue `''`
   */
  prefix?: string | undefined;
  /**
   * Checks and converts a value: returns the typed record or throws. Called
   * on every write and every read.
   */
  parse: (value: unknown) => T;
}

/** A change of one record. */
export interface CollectionChange<T> {
  readonly cursor: number;
  readonly id: string;
  /** The new record; `undefined` when deleted. */
  readonly value: T | undefined;
}

/**
 * Records of type `T` under `<prefix><name>/`.
 *
 * @example
 * ```ts
 * const users = new Collection({ backend: replica, prefix: 'tenants/acme/', name: 'users',
 *   parse: (v) => UserSchema.parse(v) });
 * await users.put('100', { name: 'Ada', extension: '100' });
 * ```
 */
export class Collection<T> {
  /** The full key prefix of this collection's records. */
  readonly keyPrefix: string;
  readonly #backend: ConfigBackend;
  readonly #parse: (value: unknown) => T;

  constructor(options: CollectionOptions<T>) {
    if (typeof options.name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(options.name)) {
      throw new TypeError(
        `Collection name must match [A-Za-z0-9._-]+, got ${JSON.stringify(options.name)}`,
      );
    }
    this.#backend = options.backend;
    this.#parse = options.parse;
    this.keyPrefix = `${options.prefix ?? ''}${options.name}/`;
  }

  #key(id: string): string {
    if (typeof id !== 'string' || id.length === 0 || id.includes('/')) {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, `Record id must be non-empty without '/'`);
    }
    return this.keyPrefix + id;
  }

  #check(value: unknown): T {
    try {
      return this.#parse(value);
    } catch (error) {
      throw new VoxmeshError(
        ErrorCode.INVALID_INPUT,
        `Invalid ${this.keyPrefix} record: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }

  /** The record `id`, or `undefined`. */
  async get(id: string, options: CallOptions = {}): Promise<T | undefined> {
    const value = await this.#backend.get(this.#key(id), options);
    return value === undefined ? undefined : this.#check(value);
  }

  /** Validates and stores a record. */
  async put(id: string, value: T, options: CallOptions = {}): Promise<WriteResult> {
    const key = this.#key(id);
    return await this.#backend.put(key, this.#check(value), options);
  }

  /** Deletes a record. */
  async del(id: string, options: CallOptions = {}): Promise<WriteResult> {
    return await this.#backend.del(this.#key(id), options);
  }

  /** Every record, in id order. */
  async list(options: CallOptions = {}): Promise<[id: string, value: T][]> {
    const rows = await this.#backend.list({ ...options, prefix: this.keyPrefix });
    return rows.map(([key, value]) => [key.slice(this.keyPrefix.length), this.#check(value)]);
  }

  /** Changes of this collection's records (see {@link ConfigBackend.changes}). */
  async *changes(
    options: Omit<ChangesOptions, 'prefix'> = {},
  ): AsyncGenerator<CollectionChange<T>> {
    for await (const event of this.#backend.changes({ ...options, prefix: this.keyPrefix })) {
      if (event.type !== 'change') continue;
      yield {
        cursor: event.cursor,
        id: event.key.slice(this.keyPrefix.length),
        value: event.deleted ? undefined : this.#check(event.value),
      };
    }
  }
}
