/**
 * `@voxmesh/storage/s3`: a `BlobStore` on Amazon S3 (or an S3-compatible
 * server) through `@aws-sdk/client-s3`, an optional peer dependency that only
 * this entry loads.
 *
 * Bodies are uploaded with one `PutObject` when they fit in one part, else as
 * a multipart upload, holding at most two parts in memory; a failed or
 * aborted multipart upload is aborted, so nothing becomes visible. Reads send
 * absolute ranges only (suffix ranges are resolved by the caller). Signed URLs
 * are S3 presigned URLs.
 *
 * With an SDK newer than early 2025 and a server that does not understand
 * `aws-chunked` uploads (s3rver, some S3 look-alikes), create the client with
 * `requestChecksumCalculation: 'WHEN_REQUIRED'` and
 * `responseChecksumValidation: 'WHEN_REQUIRED'`; otherwise the server stores
 * the chunk framing as object data.
 *
 * @example
 * ```ts
 * import { S3Client } from '@aws-sdk/client-s3';
 * import { S3BlobStore } from '@voxmesh/storage/s3';
 *
 * const store = new S3BlobStore({ client: new S3Client({ region: 'eu-west-1' }), bucket: 'media' });
 * ```
 *
 * @packageDocumentation
 */

import { Readable, addAbortSignal } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { StreamingBlobPayloadInputTypes } from '@smithy/types';
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

/** Options of the {@link S3BlobStore} constructor. */
export interface S3BlobStoreOptions {
  /** The S3 client (region, endpoint, credentials are configured on it). */
  client: S3Client;
  /** The bucket. It must exist. */
  bucket: string;
  /**
   * Prepended to every key in the bucket (e.g. `'media/'`), so several
   * stores can share a bucket.
   * @defaultValue `''`
   */
  prefix?: string | undefined;
  /**
   * The size of multipart upload parts, at least 5 MiB (S3's minimum). Up to
   * two parts are held in memory during an upload.
   * @defaultValue `8388608` (8 MiB)
   */
  partSizeBytes?: number | undefined;
  /**
   * Whether {@link S3BlobStore.close} destroys the client.
   * @defaultValue `false`
   */
  ownsClient?: boolean | undefined;
}

interface S3ErrorShape {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/** A `BlobStore` on S3. */
export class S3BlobStore extends AbstractBlobStore {
  readonly supports: BlobStoreSupports = { signedUrls: true };
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #ownsClient: boolean;

  constructor(options: S3BlobStoreOptions) {
    super();
    if (typeof options.bucket !== 'string' || options.bucket === '')
      throw new TypeError('S3BlobStore needs a bucket');
    this.#client = options.client;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? '';
    this.#partSize = options.partSizeBytes ?? 8 * 1024 * 1024;
    if (!Number.isSafeInteger(this.#partSize) || this.#partSize < 5 * 1024 * 1024) {
      throw new RangeError('partSizeBytes must be an integer of at least 5 MiB');
    }
    this.#ownsClient = options.ownsClient ?? false;
  }

  #error(error: unknown, key: string, signal: AbortSignal | undefined, rangeStart?: number): Error {
    if (signal?.aborted) return new AbortError(undefined, { cause: signal.reason });
    if (VoxmeshError.is(error)) return error;
    const shape = (typeof error === 'object' && error !== null ? error : {}) as S3ErrorShape;
    if (shape.name === 'AbortError') return new AbortError(undefined, { cause: error });
    const status = shape.$metadata?.httpStatusCode;
    const name = shape.name ?? shape.Code;
    if (
      name === 'NoSuchKey' ||
      name === 'NotFound' ||
      (status === 404 && name !== 'NoSuchBucket')
    ) {
      return notFound(key, error);
    }
    if (status === 416 || name === 'InvalidRange')
      return rangeNotSatisfiable(key, rangeStart ?? 0, undefined, error);
    const retryable =
      status === undefined || status >= 500 || status === 429 || shape.$retryable !== undefined;
    const message = error instanceof Error ? error.message : String(error);
    return new VoxmeshError(
      StorageErrorCode.STORAGE_BACKEND_ERROR,
      `S3 failed on ${JSON.stringify(key)}: ${message}`,
      {
        cause: error,
        retryable,
      },
    );
  }

  protected async _put(key: string, input: NormalizedPut): Promise<BlobInfo> {
    const { body, signal } = input;
    const Key = this.#prefix + key;
    const common = {
      Bucket: this.#bucket,
      Key,
      ContentType: input.contentType,
      Metadata: input.metadata,
    };
    const onAbort = (): void => {
      body.destroy(new AbortError(undefined, { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let uploadId: string | undefined;
    try {
      const parts = readParts(body, this.#partSize);
      const first = await parts.next();
      const firstPart = first.done ? Buffer.alloc(0) : first.value;
      const second = first.done ? first : await parts.next();
      if (second.done) {
        checkLength(key, input.contentLength, firstPart.byteLength);
        const payload: StreamingBlobPayloadInputTypes = firstPart;
        await this.#client.send(
          new PutObjectCommand({ ...common, Body: payload, ContentLength: firstPart.byteLength }),
          { abortSignal: signal },
        );
      } else {
        const created = await this.#client.send(new CreateMultipartUploadCommand(common), {
          abortSignal: signal,
        });
        uploadId = created.UploadId;
        const etags: { ETag: string | undefined; PartNumber: number }[] = [];
        let total = 0;
        const upload = async (part: Buffer): Promise<void> => {
          const PartNumber = etags.length + 1;
          etags.push({ ETag: undefined, PartNumber });
          total += part.byteLength;
          const result = await this.#client.send(
            new UploadPartCommand({
              Bucket: this.#bucket,
              Key,
              UploadId: uploadId,
              PartNumber,
              Body: part,
              ContentLength: part.byteLength,
            }),
            { abortSignal: signal },
          );
          (etags[PartNumber - 1] as { ETag: string | undefined }).ETag = result.ETag;
        };
        await upload(firstPart);
        await upload(second.value);
        for await (const part of parts) await upload(part);
        checkLength(key, input.contentLength, total);
        await this.#client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.#bucket,
            Key,
            UploadId: uploadId,
            MultipartUpload: { Parts: etags },
          }),
          { abortSignal: signal },
        );
        uploadId = undefined;
      }
    } catch (error) {
      body.destroy();
      if (uploadId !== undefined) {
        await this.#client
          .send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key, UploadId: uploadId }))
          .catch(() => undefined);
      }
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
    let response;
    try {
      response = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: this.#prefix + key,
          // Absolute ranges only: S3 look-alikes disagree on suffix ranges.
          Range: range ? `bytes=${range.start}-${range.end ?? ''}` : undefined,
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      const mapped = this.#error(error, key, signal, range?.start);
      // Some S3 look-alikes answer a range of an empty object with a malformed error: check the size.
      if (range && VoxmeshError.is(mapped, StorageErrorCode.STORAGE_BACKEND_ERROR)) {
        const { size } = await this._head(key, signal);
        if (range.start >= size) throw rangeNotSatisfiable(key, range.start, size, error);
      }
      throw mapped;
    }
    const body = response.Body as unknown as Readable | undefined;
    const stream = ownStream(body instanceof Readable ? body : Readable.from([]));
    if (signal) addAbortSignal(signal, stream);
    const size = objectSize(response.ContentRange, response.ContentLength);
    const info: BlobInfo = {
      key,
      size,
      contentType: response.ContentType ?? DEFAULT_CONTENT_TYPE,
      etag: quoteEtag(response.ETag),
      lastModified: response.LastModified ?? new Date(0),
      metadata: { ...response.Metadata },
    };
    const fitted = fitRange(key, range, size, response.ContentRange, stream);
    return { info, range: fitted.range, body: fitted.body };
  }

  protected async _head(key: string, signal: AbortSignal | undefined): Promise<BlobInfo> {
    try {
      const response = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }),
        { abortSignal: signal },
      );
      return {
        key,
        size: response.ContentLength ?? 0,
        contentType: response.ContentType ?? DEFAULT_CONTENT_TYPE,
        etag: quoteEtag(response.ETag),
        lastModified: response.LastModified ?? new Date(0),
        metadata: { ...response.Metadata },
      };
    } catch (error) {
      throw this.#error(error, key, signal);
    }
  }

  protected async _delete(key: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.#client.send(
        new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }),
        {
          abortSignal: signal,
        },
      );
    } catch (error) {
      const mapped = this.#error(error, key, signal);
      if (!VoxmeshError.is(mapped, 'NOT_FOUND')) throw mapped;
    }
  }

  protected async *_list(
    prefix: string,
    signal: AbortSignal | undefined,
  ): AsyncIterable<BlobListEntry> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: this.#prefix + prefix,
            ContinuationToken: token,
          }),
          { abortSignal: signal },
        );
      } catch (error) {
        throw this.#error(error, prefix, signal);
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          key: object.Key.slice(this.#prefix.length),
          size: object.Size ?? 0,
          etag: quoteEtag(object.ETag),
          lastModified: object.LastModified ?? new Date(0),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  protected override async _signedUrl(
    key: string,
    method: 'GET' | 'PUT',
    expiresInSeconds: number,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const target = { Bucket: this.#bucket, Key: this.#prefix + key };
    const command = method === 'GET' ? new GetObjectCommand(target) : new PutObjectCommand(target);
    try {
      return await getSignedUrl(this.#client, command, { expiresIn: expiresInSeconds });
    } catch (error) {
      throw this.#error(error, key, signal);
    }
  }

  override close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
    return Promise.resolve();
  }
}
