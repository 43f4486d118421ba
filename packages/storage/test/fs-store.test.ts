import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, it } from 'vitest';
import { FsBlobStore } from '@voxmesh/storage';
import { blobStoreSuite } from '@voxmesh/storage/testing';

const root = mkdtempSync(join(tmpdir(), 'voxmesh-fs-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

blobStoreSuite({ test: it, name: 'FsBlobStore: ', factory: () => new FsBlobStore({ root }) });
