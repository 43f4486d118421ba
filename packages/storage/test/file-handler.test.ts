import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { FsBlobStore, MemoryBlobStore, MirroredBlobStore } from '@voxmesh/storage';
import { fileHandlerSuite } from '@voxmesh/storage/testing';

const root = mkdtempSync(join(tmpdir(), 'voxmesh-file-handler-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('over MemoryBlobStore', () => {
  fileHandlerSuite({ test: it, factory: () => new MemoryBlobStore() });
});
describe('over FsBlobStore', () => {
  fileHandlerSuite({ test: it, factory: () => new FsBlobStore({ root: join(root, 'fs') }) });
});
describe('over MirroredBlobStore', () => {
  fileHandlerSuite({
    test: it,
    factory: () =>
      new MirroredBlobStore({
        stores: [new MemoryBlobStore(), new FsBlobStore({ root: join(root, 'mirror') })],
      }),
  });
});
