/**
 * `@voxmesh/storage/testing`: the conformance suite every `BlobStore` runs
 * ({@link blobStoreSuite}), HTTP tests of the FileHandler over any store
 * ({@link fileHandlerSuite}) and a store that fails on command
 * ({@link FaultyBlobStore}).
 *
 * @packageDocumentation
 */

export { blobStoreSuite } from './conformance.js';
export type { BlobStoreSuiteOptions, SuiteTest } from './conformance.js';
export { fileHandlerSuite } from './file-handler-suite.js';
export type { FileHandlerSuiteOptions } from './file-handler-suite.js';
export { FaultyBlobStore } from './faulty-store.js';
export type { FaultyBlobStoreOptions, BlobOperation } from './faulty-store.js';
