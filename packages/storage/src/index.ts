/**
 * `@voxmesh/storage`: media storage for Voxmesh — the {@link BlobStore}
 * interface with filesystem ({@link FsBlobStore}), memory
 * ({@link MemoryBlobStore}) and mirrored ({@link MirroredBlobStore}) stores,
 * and the {@link FileHandler} HTTP service that exposes media per tenant with
 * ranges and signed URLs. The S3 and Azure Blob stores live in the subpath
 * exports `@voxmesh/storage/s3` and `@voxmesh/storage/azure`, so this entry
 * never loads a cloud SDK.
 *
 * @packageDocumentation
 */

export { StorageErrorCode } from './errors.js';

export { AbstractBlobStore, toReadable } from './blob-store.js';
export type {
  BlobBody,
  BlobInfo,
  BlobListEntry,
  BlobObject,
  BlobStore,
  BlobStoreSupports,
  ByteRange,
  GetOptions,
  ListOptions,
  NormalizedPut,
  PutOptions,
  SignalOptions,
  SignedUrlOptions,
} from './blob-store.js';

export {
  DEFAULT_CONTENT_TYPE,
  MAX_KEY_BYTES,
  MAX_METADATA_BYTES,
  isValidKey,
  validateContentType,
  validateKey,
  validateMetadata,
} from './keys.js';

export { MemoryBlobStore } from './memory-store.js';
export type { MemoryBlobStoreOptions } from './memory-store.js';

export { FsBlobStore } from './fs-store.js';
export type { FsBlobStoreOptions } from './fs-store.js';

export { MirroredBlobStore } from './mirrored-store.js';
export type { MirroredBlobStoreOptions } from './mirrored-store.js';

export { FileHandler } from './file-handler.js';
export type { FileHandlerOptions, SignUrlOptions, AuthorizeRequest } from './file-handler.js';
export type { SignedMethod } from './url-signer.js';
export { evaluateRange, ifRangeAllows } from './http-range.js';
export type { RangeResult } from './http-range.js';
