/**
 * A test double: a {@link BlobStore} that forwards to another one and fails on
 * command, for testing failover (the mirrored store, outboxes, retries).
 *
 * @module
 */

import { VoxmeshError } from '@voxmesh/core';
import type {
  BlobBody,
  BlobInfo,
  BlobListEntry,
  BlobObject,
  BlobStore,
  BlobStoreSupports,
  GetOptions,
  ListOptions,
  PutOptions,
  SignalOptions,
  SignedUrlOptions,
} from './blob-store.js';
import { StorageErrorCode } from './errors.js';

/** The operations of a {@link BlobStore}. */
export type BlobOperation = 'put' | 'get' | 'head' | 'delete' | 'list' | 'signedUrl';

/** Options of the {@link FaultyBlobStore} constructor. */
export interface FaultyBlobStoreOptions {
  /** The store that does the work while no failure is set. */
  inner: BlobStore;
}

/** A {@link BlobStore} wrapper whose operations fail on command. */
export class FaultyBlobStore implements BlobStore {
  readonly #inner: BlobStore;
  readonly #failures = new Map<BlobOperation, () => Error>();
  /** How many times each operation was called (failed or not). */
  readonly calls: Record<BlobOperation, number> = {
    put: 0,
    get: 0,
    head: 0,
    delete: 0,
    list: 0,
    signedUrl: 0,
  };

  constructor(options: FaultyBlobStoreOptions) {
    this.#inner = options.inner;
  }

  get supports(): BlobStoreSupports {
    return this.#inner.supports;
  }

  /**
   * Makes `operations` (default: all) reject with `error` (default: a
   * retryable `STORAGE_BACKEND_ERROR`) until {@link FaultyBlobStore.heal}.
   */
  fail(
    options: { operations?: BlobOperation[] | undefined; error?: (() => Error) | undefined } = {},
  ): void {
    const make =
      options.error ??
      (() =>
        new VoxmeshError(StorageErrorCode.STORAGE_BACKEND_ERROR, 'Injected backend failure', {
          retryable: true,
        }));
    for (const op of options.operations ??
      (['put', 'get', 'head', 'delete', 'list', 'signedUrl'] as const)) {
      this.#failures.set(op, make);
    }
  }

  /** Stops failing. */
  heal(): void {
    this.#failures.clear();
  }

  #check(op: BlobOperation): void {
    this.calls[op]++;
    const failure = this.#failures.get(op);
    if (failure) throw failure();
  }

  async put(key: string, body: BlobBody, options?: PutOptions): Promise<BlobInfo> {
    this.#check('put');
    return this.#inner.put(key, body, options);
  }

  async get(key: string, options?: GetOptions): Promise<BlobObject> {
    this.#check('get');
    return this.#inner.get(key, options);
  }

  async head(key: string, options?: SignalOptions): Promise<BlobInfo> {
    this.#check('head');
    return this.#inner.head(key, options);
  }

  async delete(key: string, options?: SignalOptions): Promise<void> {
    this.#check('delete');
    return this.#inner.delete(key, options);
  }

  async *list(options?: ListOptions): AsyncIterable<BlobListEntry> {
    this.#check('list');
    yield* this.#inner.list(options);
  }

  async signedUrl(key: string, options?: SignedUrlOptions): Promise<string> {
    this.#check('signedUrl');
    return this.#inner.signedUrl(key, options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
