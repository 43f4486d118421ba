import { expect, it } from 'vitest';

// Pins the runtime exports of @voxmesh/storage: removing or renaming one is a
// breaking change and must fail here first.
it('exports exactly the public API of @voxmesh/storage', async () => {
  const api = await import('@voxmesh/storage');
  expect(Object.keys(api).sort()).toEqual([
    'AbstractBlobStore',
    'DEFAULT_CONTENT_TYPE',
    'FileHandler',
    'FsBlobStore',
    'MAX_KEY_BYTES',
    'MAX_METADATA_BYTES',
    'MemoryBlobStore',
    'MirroredBlobStore',
    'StorageErrorCode',
    'evaluateRange',
    'ifRangeAllows',
    'isValidKey',
    'toReadable',
    'validateContentType',
    'validateKey',
    'validateMetadata',
  ]);
});

it('exports exactly the public API of @voxmesh/storage/testing', async () => {
  const api = await import('@voxmesh/storage/testing');
  expect(Object.keys(api).sort()).toEqual([
    'FaultyBlobStore',
    'blobStoreSuite',
    'fileHandlerSuite',
  ]);
});

it('exports exactly the S3 and Azure stores from their subpaths', async () => {
  expect(Object.keys(await import('@voxmesh/storage/s3')).sort()).toEqual(['S3BlobStore']);
  expect(Object.keys(await import('@voxmesh/storage/azure')).sort()).toEqual(['AzureBlobStore']);
});
