/**
 * `@voxmesh/storage/azure`: a `BlobStore` on Azure Blob Storage (or Azurite)
 * through `@azure/storage-blob`, an optional peer dependency that only this
 * entry loads.
 *
 * Bodies are uploaded as one `Put Blob` when they fit in one block, else as
 * staged blocks committed at the end (at most two blocks in memory); blocks of
 * a failed or aborted upload are never committed, so nothing becomes visible,
 * and block ids are unique per upload, so concurrent uploads to one key never
 * mix. Reads send absolute ranges only (Azure has no suffix ranges). Signed
 * URLs are read-only (or create/write for `PUT`) SAS URLs and need a client
 * authorised with a `StorageSharedKeyCredential`.
 *
 * @example
 * ```ts
 * import { BlobServiceClient } from '@azure/storage-blob';
 * import { AzureBlobStore } from '@voxmesh/storage/azure';
 *
 * const service = BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING!);
 * const store = new AzureBlobStore({ container: service.getContainerClient('media') });
 * ```
 *
 * @packageDocumentation
 */

import { randomBytes } from 'node:crypto';
import { Readable, addAbortSignal } from 'node:stream';
import {
  BlobSASPermissions,
  StorageSharedKeyCredential,
  type ContainerClient,
} from '@azure/storage-blob';
import { AbortError, VoxmeshError } from '@voxmesh/core';
import {
  AbstractBlobStore,
  notFound,
  rangeNotSatisfiable,
  type BlobInfo,
  type BlobListEntry,
  type BlobObject,
  type BlobStoreSupports,
  type NormalizedPut,
} from './blob-store.js';
import { DEFAULT_CONTENT_TYPE } from './keys.js';
import { StorageErrorCode } from './errors.js';
import { checkLength, fitRange, objectSize, ownStream, quoteEtag, readParts } from './streams.js';

/** Options of the {@link AzureBlobStore} constructor. */
export interface AzureBlobStoreOptions {
  /** The container. It must exist. */
  container: ContainerClient;
  /**
   * Prepended to every blob name (e.g. `'media/'`), so several stores can
   * share a container.
   * @defaultValue `''`
   */
  prefix?: string | undefined;
  /**
   * The size of staged blocks. Up to two blocks are held in memory.
   * @defaultValue `4194304` (4 MiB)
   */
  blockSizeBytes?: number | undefined;
}

interface RestErrorShape {
  name?: string;
  code?: string;
  statusCode?: number;
}

/** A `BlobStore` on Azure Blob Storage. */
export class AzureBlobStore extends AbstractBlobStore {
  readonly supports: BlobStoreSupports;
  readonly #container: ContainerClient;
  readonly #prefix: string;
  readonly #blockSize: number;

  constructor(options: AzureBlobStoreOptions) {
    super();
    this.#container = options.container;
    this.#prefix = options.prefix ?? '';
    this.#blockSize = options.blockSizeBytes ?? 4 * 1024 * 1024;
    if (
      !Number.isSafeInteger(this.#blockSize) ||
      this.#blockSize < 1 ||
      this.#blockSize > 4000 * 1024 * 1024
    ) {
      throw new RangeError('blockSizeBytes must be an integer from 1 byte to 4000 MiB');
    }
    this.supports = {
      signedUrls: this.#container.credential instanceof StorageSharedKeyCredential,
    };
  }

  #error(error: unknown, key: string, signal: AbortSignal | undefined, rangeStart?: number): Error {
    if (signal?.aborted) return new AbortError(undefined, { cause: signal.reason });
    if (VoxmeshError.is(error)) return error;
    const shape = (typeof error === 'object' && error !== null ? error : {}) as RestErrorShape;
    if (shape.name === 'AbortError') return new AbortError(undefined, { cause: error });
    const status = shape.statusCode;
    if (shape.code === 'BlobNotFound' || (status === 404 && shape.code !== 'ContainerNotFound')) {
      return notFound(key, error);
    }
    if (status === 416 || shape.code === 'InvalidRange') {
      return rangeNotSatisfiable(key, rangeStart ?? 0, undefined, error);
    }
    const retryable = status === undefined || status >= 500 || status === 429;
    const message = error instanceof Error ? error.message : String(error);
    return new VoxmeshError(
      StorageErrorCode.STORAGE_BACKEND_ERROR,
      `Azure Blob failed on ${JSON.stringify(key)}: ${message}`,
      { cause: error, retryable },
    );
  }

  protected async _put(key: string, input: NormalizedPut): Promise<BlobInfo> {
    const { body, signal } = input;
    const blob = this.#container.getBlockBlobClient(this.#prefix + key);
    const headers = {
      blobHTTPHeaders: { blobContentType: input.contentType },
      metadata: input.metadata,
    };
    const onAbort = (): void => {
      body.destroy(new AbortError(undefined, { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const parts = readParts(body, this.#blockSize);
      const first = await parts.next();
      const firstPart = first.done ? Buffer.alloc(0) : first.value;
      const second = first.done ? first : await parts.next();
      if (second.done) {
        checkLength(key, input.contentLength, firstPart.byteLength);
        await blob.upload(firstPart, firstPart.byteLength, { ...headers, abortSignal: signal });
      } else {
        // Block ids: one random upload id plus a counter, all of the same length (Azure requires it).
        const upload = randomBytes(8).toString('hex');
        const ids: string[] = [];
        let total = 0;
        const stage = async (part: Buffer): Promise<void> => {
          const id = Buffer.from(`${upload}-${String(ids.length).padStart(6, '0')}`).toString(
            'base64',
          );
          ids.push(id);
          total += part.byteLength;
          await blob.stageBlock(id, part, part.byteLength, { abortSignal: signal });
        };
        await stage(firstPart);
        await stage(second.value);
        for await (const part of parts) await stage(part);
        checkLength(key, input.contentLength, total);
        await blob.commitBlockList(ids, { ...headers, abortSignal: signal });
      }
    } catch (error) {
      body.destroy();
      throw this.#error(error, key, signal);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return this._head(key, signal);
  }

  protected async _get(
    key: string,
    range: { start: number; end: number | undefined } | undefined,
    signal: AbortSignal | undefined,
  ): Promise<BlobObject> {
    const blob = this.#container.getBlobClient(this.#prefix + key);
    let response;
    try {
      // Absolute ranges only: Azure has no suffix ranges.
      response = await blob.download(
        range?.start ?? 0,
        range?.end === undefined ? undefined : range.end - range.start + 1,
        { abortSignal: signal },
      );
    } catch (error) {
      const mapped = this.#error(error, key, signal, range?.start);
      // Azurite answers some ranges at the end of a blob with 500: check the size.
      if (range && VoxmeshError.is(mapped, StorageErrorCode.STORAGE_BACKEND_ERROR)) {
        const { size } = await this._head(key, signal);
        if (range.start >= size) throw rangeNotSatisfiable(key, range.start, size, error);
      }
      throw mapped;
    }
    const raw = response.readableStreamBody;
    const stream = ownStream(
      raw instanceof Readable ? raw : raw ? Readable.from(raw) : Readable.from([]),
    );
    if (signal) addAbortSignal(signal, stream);
    const size = objectSize(response.contentRange, response.contentLength);
    const info: BlobInfo = {
      key,
      size,
      contentType: response.contentType ?? DEFAULT_CONTENT_TYPE,
      etag: quoteEtag(response.etag),
      lastModified: response.lastModified ?? new Date(0),
      metadata: { ...response.metadata },
    };
    const fitted = fitRange(key, range, size, response.contentRange, stream);
    return { info, range: fitted.range, body: fitted.body };
  }

  protected async _head(key: string, signal: AbortSignal | undefined): Promise<BlobInfo> {
    try {
      const p = await this.#container
        .getBlobClient(this.#prefix + key)
        .getProperties({ abortSignal: signal });
      return {
        key,
        size: p.contentLength ?? 0,
        contentType: p.contentType ?? DEFAULT_CONTENT_TYPE,
        etag: quoteEtag(p.etag),
        lastModified: p.lastModified ?? new Date(0),
        metadata: { ...p.metadata },
      };
    } catch (error) {
      throw this.#error(error, key, signal);
    }
  }

  protected async _delete(key: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.#container
        .getBlobClient(this.#prefix + key)
        .deleteIfExists({ abortSignal: signal });
    } catch (error) {
      throw this.#error(error, key, signal);
    }
  }

  protected async *_list(
    prefix: string,
    signal: AbortSignal | undefined,
  ): AsyncIterable<BlobListEntry> {
    const iterator = this.#container.listBlobsFlat({
      prefix: this.#prefix + prefix,
      abortSignal: signal,
    });
    try {
      for await (const item of iterator) {
        yield {
          key: item.name.slice(this.#prefix.length),
          size: item.properties.contentLength ?? 0,
          etag: quoteEtag(item.properties.etag),
          lastModified: item.properties.lastModified,
        };
      }
    } catch (error) {
      throw this.#error(error, prefix, signal);
    }
  }

  protected override async _signedUrl(
    key: string,
    method: 'GET' | 'PUT',
    expiresInSeconds: number,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    if (!this.supports.signedUrls) return super._signedUrl(key, method, expiresInSeconds, signal);
    try {
      return await this.#container.getBlobClient(this.#prefix + key).generateSasUrl({
        permissions: BlobSASPermissions.parse(method === 'GET' ? 'r' : 'cw'),
        startsOn: new Date(Date.now() - 60_000),
        expiresOn: new Date(Date.now() + expiresInSeconds * 1000),
      });
    } catch (error) {
      throw this.#error(error, key, signal);
    }
  }
}
