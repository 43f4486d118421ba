import { MemoryLevel } from 'memory-level';
import { test } from 'vitest';
import { ConfigReplica } from '../src/index.js';

import { configBackendSuite } from '../src/testing.js';
import { tempDir } from './helpers.js';

configBackendSuite({
  test,
  name: 'ConfigReplica on memory-level',
  factory: async ({ retainChanges }) => {
    const replica = new ConfigReplica({
      id: 'm',
      db: new MemoryLevel(),
      retainChanges,
    });
    await replica.start();
    return { backend: replica, close: () => replica.stop() };
  },
});

configBackendSuite({
  test,
  name: 'ConfigReplica on classic-level',
  factory: async ({ retainChanges }) => {
    const dir = tempDir();
    const replica = new ConfigReplica({ id: 'c', location: dir.path, retainChanges });
    await replica.start();
    return {
      backend: replica,
      close: async () => {
        await replica.stop();
        dir.remove();
      },
    };
  },
});
