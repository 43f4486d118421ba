/**
 * `@voxmesh/storage`: media storage: blob adapters (filesystem, memory, S3, Azure Blob) and the FileHandler HTTP service.
 *
 * This package is being built; its first API lands with its issue.
 *
 * @packageDocumentation
 */

export {};
