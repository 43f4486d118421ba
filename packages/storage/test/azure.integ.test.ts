import {
  BlobServiceClient,
  StorageSharedKeyCredential,
  type ContainerClient,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, VoxmeshError } from '@voxmesh/core';
import { StorageErrorCode } from '@voxmesh/storage';
import { AzureBlobStore } from '@voxmesh/storage/azure';
import { blobStoreSuite, fileHandlerSuite } from '@voxmesh/storage/testing';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type RunningServer } from './servers.js';

let server: RunningServer | undefined;
let container: ContainerClient | undefined;

function service(endpoint: string): BlobServiceClient {
  return new BlobServiceClient(
    `${endpoint}/${AZURITE_ACCOUNT}`,
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    { retryOptions: { maxTries: 1 } },
  );
}

beforeAll(async () => {
  server = await startAzurite();
  container = service(server.endpoint).getContainerClient('media');
  await container.create();
});
afterAll(async () => {
  await server?.stop();
});

// 1 MiB blocks: the 3 MiB large object is staged as four blocks and committed.
const store = (): AzureBlobStore =>
  new AzureBlobStore({ container: container!, blockSizeBytes: 1024 * 1024 });

describe('AzureBlobStore on Azurite', () => {
  blobStoreSuite({ test: it, name: 'AzureBlobStore: ', factory: store });

  it('has no signed URLs without a shared key credential', async () => {
    const anonymous = new AzureBlobStore({
      container: new BlobServiceClient(`${server!.endpoint}/${AZURITE_ACCOUNT}`).getContainerClient(
        'media',
      ),
    });
    expect(anonymous.supports.signedUrls).toBe(false);
    await expect(anonymous.signedUrl('x')).rejects.toSatisfy((e) =>
      VoxmeshError.is(e, ErrorCode.NOT_SUPPORTED),
    );
  });

  it('signs PUT URLs that accept an upload', async () => {
    const s = store();
    const url = await s.signedUrl('sas/upload.wav', { method: 'PUT', expiresInSeconds: 60 });
    const response = await fetch(url, {
      method: 'PUT',
      body: 'via SAS',
      headers: { 'x-ms-blob-type': 'BlockBlob', 'Content-Type': 'audio/wav' },
    });
    expect(response.status).toBe(201);
    expect((await s.head('sas/upload.wav')).size).toBe(7);
  });

  it('reports a missing container as a STORAGE_BACKEND_ERROR, not NOT_FOUND', async () => {
    const missing = new AzureBlobStore({
      container: service(server!.endpoint).getContainerClient('absent'),
    });
    await expect(missing.put('x', 'y')).rejects.toSatisfy((e) =>
      VoxmeshError.is(e, StorageErrorCode.STORAGE_BACKEND_ERROR),
    );
  });
});

describe('FileHandler over AzureBlobStore on Azurite', () => {
  fileHandlerSuite({ test: it, factory: store });
});
