import { it } from 'vitest';
import { MemoryBlobStore } from '@voxmesh/storage';
import { blobStoreSuite } from '@voxmesh/storage/testing';

const shared = new MemoryBlobStore({ chunkSize: 16_384 });
blobStoreSuite({ test: it, name: 'MemoryBlobStore: ', factory: () => shared });
