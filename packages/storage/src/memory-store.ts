/**
 * An in-memory `BlobStore`: for tests, examples and single-process
 * deployments that keep prompts in memory. Objects are read in chunks of
 * `chunkSize`, with backpressure, like the other stores.
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { AbortError, type Clock, systemClock } from '@voxmesh/core';
import {
  AbstractBlobStore,
  type BlobInfo,
  type BlobListEntry,
  type BlobObject,
  type BlobStoreSupports,
  type NormalizedPut,
  compareKeys,
  notFound,
  resolveRange,
} from './blob-store.js';
import { checkLength } from './streams.js';

/** Options of the {@link MemoryBlobStore} constructor. */
export interface MemoryBlobStoreOptions {
  /**
   * The size of the chunks a body is read in.
   * @defaultValue `65536`
   */
  chunkSize?: number | undefined;
  /**
   * The clock that stamps `lastModified`.
   * @defaultValue `systemClock`
   */
  clock?: Clock | undefined;
}

interface Entry {
  info: BlobInfo;
  data: Buffer;
}

function copyInfo(info: BlobInfo): BlobInfo {
  return { ...info, lastModified: new Date(info.lastModified), metadata: { ...info.metadata } };
}

/** A `BlobStore` that keeps objects in memory. */
export class MemoryBlobStore extends AbstractBlobStore {
  readonly supports: BlobStoreSupports = { signedUrls: false };
  readonly #entries = new Map<string, Entry>();
  readonly #chunkSize: number;
  readonly #clock: Clock;

  constructor(options: MemoryBlobStoreOptions = {}) {
    super();
    this.#chunkSize = options.chunkSize ?? 65_536;
    if (!Number.isSafeInteger(this.#chunkSize) || this.#chunkSize < 1) {
      throw new RangeError('chunkSize must be a positive integer');
    }
    this.#clock = options.clock ?? systemClock;
  }

  /** The number of stored objects. */
  get size(): number {
    return this.#entries.size;
  }

  protected async _put(key: string, input: NormalizedPut): Promise<BlobInfo> {
    const hash = createHash('md5');
    const chunks: Buffer[] = [];
    let size = 0;
    const { body, signal } = input;
    const onAbort = (): void => {
      body.destroy(new AbortError(undefined, { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const chunk of body) {
        const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        hash.update(bytes);
        chunks.push(bytes);
        size += bytes.byteLength;
      }
    } catch (error) {
      if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    checkLength(key, input.contentLength, size);
    const info: BlobInfo = {
      key,
      size,
      contentType: input.contentType,
      etag: `"${hash.digest('hex')}"`,
      lastModified: new Date(Math.floor(this.#clock.now() / 1000) * 1000),
      metadata: input.metadata,
    };
    this.#entries.set(key, { info, data: Buffer.concat(chunks, size) });
    return copyInfo(info);
  }

  protected _get(
    key: string,
    range: { start: number; end: number | undefined } | undefined,
    signal: AbortSignal | undefined,
  ): Promise<BlobObject> {
    const entry = this.#entries.get(key);
    if (entry === undefined) return Promise.reject(notFound(key));
    const resolved = resolveRange(key, range, entry.info.size);
    const start = resolved?.start ?? 0;
    const end = resolved ? resolved.end + 1 : entry.data.byteLength;
    const { data } = entry;
    const chunkSize = this.#chunkSize;
    let offset = start;
    const body = new Readable({
      highWaterMark: chunkSize,
      read() {
        if (offset >= end) {
          this.push(null);
          return;
        }
        const next = Math.min(offset + chunkSize, end);
        const chunk = data.subarray(offset, next);
        offset = next;
        this.push(chunk);
      },
    });
    if (signal) {
      const abort = (): void => {
        body.destroy(new AbortError(undefined, { cause: signal.reason }));
      };
      signal.addEventListener('abort', abort, { once: true });
      body.once('close', () => signal.removeEventListener('abort', abort));
    }
    return Promise.resolve({ info: copyInfo(entry.info), range: resolved, body });
  }

  protected _head(key: string): Promise<BlobInfo> {
    const entry = this.#entries.get(key);
    return entry ? Promise.resolve(copyInfo(entry.info)) : Promise.reject(notFound(key));
  }

  protected _delete(key: string): Promise<void> {
    this.#entries.delete(key);
    return Promise.resolve();
  }

  protected async *_list(prefix: string): AsyncIterable<BlobListEntry> {
    const keys = [...this.#entries.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys);
    for (const key of keys) {
      const entry = this.#entries.get(key);
      if (entry === undefined) continue;
      const { size, etag, lastModified } = entry.info;
      yield { key, size, etag, lastModified: new Date(lastModified) };
      await Promise.resolve();
    }
  }

  override close(): Promise<void> {
    return Promise.resolve();
  }
}
