/**
 * A {@link BlobStore} that keeps a copy of every object in each of several
 * stores (the source platform kept three synchronous copies of all media).
 *
 * - **Writes** stream the body once, fanned out to every store at the pace of
 *   the slowest (backpressure: one slow store slows the upload rather than
 *   buffering it). A store that fails is dropped from the fan-out; the put
 *   succeeds when at least `minWrites` stores stored the object, and
 *   otherwise rejects with `MIRROR_WRITE_FAILED` (stores that did succeed
 *   keep the new version).
 * - **Reads** go to the first healthy store, in the order given. A store that
 *   fails is marked unhealthy for `retryAfterMs` and skipped meanwhile; a
 *   store that lacks the object (it may have missed a write) is skipped too.
 * - **Deletes** go to every store and fail unless every store deleted.
 *
 * @module
 */

import { PassThrough } from 'node:stream';
import {
  AbortError,
  ErrorCode,
  VoxmeshError,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
} from '@voxmesh/core';
import {
  AbstractBlobStore,
  type BlobInfo,
  type BlobListEntry,
  type BlobObject,
  type BlobStore,
  type BlobStoreSupports,
  type NormalizedPut,
} from './blob-store.js';
import { StorageErrorCode } from './errors.js';

/** Options of the {@link MirroredBlobStore} constructor. */
export interface MirroredBlobStoreOptions {
  /** The stores, in read preference order. At least one. */
  stores: BlobStore[];
  /**
   * How many stores must store an object for a put to succeed.
   * @defaultValue every store (`stores.length`)
   */
  minWrites?: number | undefined;
  /**
   * How long a store that failed is skipped by reads, in milliseconds.
   * @defaultValue `30000`
   */
  retryAfterMs?: number | undefined;
  /**
   * The clock for health tracking.
   * @defaultValue `systemClock`
   */
  clock?: Clock | undefined;
  /**
   * Where failures of single stores are logged.
   * @defaultValue `silentLogger`
   */
  logger?: Logger | undefined;
}

// Errors that say something about the request, not about the store's health.
const REQUEST_ERRORS: string[] = [
  ErrorCode.NOT_FOUND,
  ErrorCode.INVALID_INPUT,
  ErrorCode.ABORTED,
  StorageErrorCode.INVALID_KEY,
  StorageErrorCode.RANGE_NOT_SATISFIABLE,
];

function isRequestError(error: unknown): boolean {
  return VoxmeshError.is(error) && REQUEST_ERRORS.includes(error.code);
}

function waitWritable(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/** A {@link BlobStore} that mirrors every object to several stores. */
export class MirroredBlobStore extends AbstractBlobStore {
  readonly supports: BlobStoreSupports;
  /** The stores, in read preference order. */
  readonly stores: readonly BlobStore[];
  readonly #minWrites: number;
  readonly #retryAfterMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #unhealthyUntil: number[];

  constructor(options: MirroredBlobStoreOptions) {
    super();
    if (!Array.isArray(options.stores) || options.stores.length === 0) {
      throw new TypeError('MirroredBlobStore needs at least one store');
    }
    this.stores = [...options.stores];
    this.#minWrites = options.minWrites ?? this.stores.length;
    if (
      !Number.isSafeInteger(this.#minWrites) ||
      this.#minWrites < 1 ||
      this.#minWrites > this.stores.length
    ) {
      throw new RangeError(`minWrites must be an integer from 1 to ${this.stores.length}`);
    }
    this.#retryAfterMs = options.retryAfterMs ?? 30_000;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#unhealthyUntil = this.stores.map(() => 0);
    this.supports = { signedUrls: this.stores.some((s) => s.supports.signedUrls) };
  }

  /** Whether store `index` is currently considered healthy. */
  isHealthy(index: number): boolean {
    return (this.#unhealthyUntil[index] ?? 0) <= this.#clock.now();
  }

  #markUnhealthy(index: number, operation: string, error: unknown): void {
    this.#unhealthyUntil[index] = this.#clock.now() + this.#retryAfterMs;
    this.#logger.warn({ store: index, operation, err: error }, 'mirrored store: a store failed');
  }

  /** Store indexes in read order: healthy ones first, then the others. */
  #readOrder(): number[] {
    const all = this.stores.map((_, i) => i);
    return [...all.filter((i) => this.isHealthy(i)), ...all.filter((i) => !this.isHealthy(i))];
  }

  protected async _put(key: string, input: NormalizedPut): Promise<BlobInfo> {
    const { body, signal } = input;
    const controllers = this.stores.map(() => new AbortController());
    const streams = this.stores.map(() => new PassThrough({ highWaterMark: 65_536 }));
    const failed = this.stores.map(() => false);
    const puts = this.stores.map((store, i) => {
      const stream = streams[i] as PassThrough;
      const controller = controllers[i] as AbortController;
      return store
        .put(key, stream, {
          contentType: input.contentType,
          metadata: input.metadata,
          contentLength: input.contentLength,
          signal: controller.signal,
        })
        .catch((error: unknown) => {
          failed[i] = true;
          stream.destroy();
          throw error;
        });
    });
    for (const put of puts) put.catch(() => undefined);
    const abortAll = (reason: unknown): void => {
      for (const controller of controllers) controller.abort(reason);
    };
    const onAbort = (): void => {
      abortAll(signal?.reason);
      body.destroy(new AbortError(undefined, { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      try {
        for await (const chunk of body) {
          const live = streams.filter((_, i) => !failed[i]);
          if (live.length === 0) break;
          const waits: Promise<void>[] = [];
          for (const stream of live) {
            if (!stream.write(chunk)) waits.push(waitWritable(stream));
          }
          if (waits.length > 0) await Promise.all(waits);
        }
      } catch (error) {
        abortAll(error);
        for (const stream of streams) stream.destroy();
        await Promise.allSettled(puts);
        if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
        throw error;
      }
      for (const [i, stream] of streams.entries()) if (!failed[i]) stream.end();
      const results = await Promise.allSettled(puts);
      const stored = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const errors = results.flatMap((r, i) =>
        r.status === 'rejected' ? [[i, r.reason as unknown] as const] : [],
      );
      for (const [i, error] of errors)
        if (!isRequestError(error)) this.#markUnhealthy(i, 'put', error);
      if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
      if (stored.length >= this.#minWrites && stored[0]) return stored[0];
      const first = errors[0]?.[1];
      if (
        stored.length === 0 &&
        first instanceof Error &&
        errors.every(([, e]) => isRequestError(e))
      ) {
        throw first;
      }
      throw new VoxmeshError(
        StorageErrorCode.MIRROR_WRITE_FAILED,
        `Stored ${JSON.stringify(key)} in ${stored.length} of ${this.stores.length} stores; ${this.#minWrites} required`,
        {
          retryable: true,
          cause: new AggregateError(
            errors.map(([, e]) => e),
            'store failures',
          ),
        },
      );
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async #read<T>(operation: string, run: (store: BlobStore) => Promise<T>): Promise<T> {
    const errors: unknown[] = [];
    let notFound: unknown;
    for (const i of this.#readOrder()) {
      try {
        return await run(this.stores[i] as BlobStore);
      } catch (error) {
        if (VoxmeshError.is(error, ErrorCode.NOT_FOUND)) {
          notFound ??= error;
          continue;
        }
        if (isRequestError(error)) throw error;
        this.#markUnhealthy(i, operation, error);
        errors.push(error);
      }
    }
    if (errors.length === 0 && notFound instanceof Error) throw notFound;
    throw new VoxmeshError(
      StorageErrorCode.STORAGE_BACKEND_ERROR,
      `No store could ${operation}: ${errors.length} failed${notFound ? ', the others lack the object' : ''}`,
      { retryable: true, cause: new AggregateError(errors, 'store failures') },
    );
  }

  protected _get(
    key: string,
    range: { start: number; end: number | undefined } | undefined,
    signal: AbortSignal | undefined,
  ): Promise<BlobObject> {
    return this.#read('get', (store) => store.get(key, { range, signal }));
  }

  protected _head(key: string, signal: AbortSignal | undefined): Promise<BlobInfo> {
    return this.#read('head', (store) => store.head(key, { signal }));
  }

  protected async _delete(key: string, signal: AbortSignal | undefined): Promise<void> {
    const results = await Promise.allSettled(
      this.stores.map((store) => store.delete(key, { signal })),
    );
    const errors = results.flatMap((r, i) =>
      r.status === 'rejected' ? [[i, r.reason as unknown] as const] : [],
    );
    if (errors.length === 0) return;
    const first = errors[0]?.[1];
    if (first instanceof Error && errors.every(([, e]) => isRequestError(e))) throw first;
    for (const [i, error] of errors) this.#markUnhealthy(i, 'delete', error);
    throw new VoxmeshError(
      StorageErrorCode.MIRROR_WRITE_FAILED,
      `Deleted ${JSON.stringify(key)} from ${this.stores.length - errors.length} of ${this.stores.length} stores`,
      {
        retryable: true,
        cause: new AggregateError(
          errors.map(([, e]) => e),
          'store failures',
        ),
      },
    );
  }

  protected async *_list(
    prefix: string,
    signal: AbortSignal | undefined,
  ): AsyncIterable<BlobListEntry> {
    const errors: unknown[] = [];
    for (const i of this.#readOrder()) {
      const iterator = (this.stores[i] as BlobStore)
        .list({ prefix, signal })
        [Symbol.asyncIterator]();
      let first: IteratorResult<BlobListEntry>;
      try {
        first = await iterator.next();
      } catch (error) {
        if (isRequestError(error)) throw error;
        this.#markUnhealthy(i, 'list', error);
        errors.push(error);
        continue;
      }
      if (first.done) return;
      yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next())
        yield next.value;
      return;
    }
    throw new VoxmeshError(
      StorageErrorCode.STORAGE_BACKEND_ERROR,
      `No store could list: ${errors.length} failed`,
      {
        retryable: true,
        cause: new AggregateError(errors, 'store failures'),
      },
    );
  }

  protected override _signedUrl(
    key: string,
    method: 'GET' | 'PUT',
    expiresInSeconds: number,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    if (!this.supports.signedUrls) return super._signedUrl(key, method, expiresInSeconds, signal);
    return this.#read('sign a URL', (store) => {
      if (!store.supports.signedUrls) {
        return Promise.reject(
          new VoxmeshError(StorageErrorCode.STORAGE_BACKEND_ERROR, 'no signed URLs'),
        );
      }
      return store.signedUrl(key, { method, expiresInSeconds, signal });
    });
  }

  override async close(): Promise<void> {
    await Promise.all(this.stores.map((store) => store.close()));
  }
}
