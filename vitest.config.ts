import { defineConfig } from 'vitest/config';

// Workspace imports resolve to TypeScript source through the private
// `@voxmesh/source` export condition: no build is needed to run tests.
const conditions = ['@voxmesh/source', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@voxmesh/source'] } },
  test: {
    // Real peers (SIPp, baresip, Azurite, ...) run in *.integ.test.ts files;
    // everything else is a unit test that needs nothing but Node.
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: [
            'tests/**/*.test.ts',
            'packages/*/test/**/*.test.ts',
            'examples/*/test/**/*.test.ts',
          ],
          exclude: ['**/*.integ.test.ts', '**/node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integ',
          // Real peers (SIPp, baresip, Azurite, ...) compete for two cores:
          // integration files run after the unit tests, one file at a time.
          sequence: { groupOrder: 1 },
          fileParallelism: false,
          include: [
            'tests/**/*.integ.test.ts',
            'packages/*/test/**/*.integ.test.ts',
            'examples/*/test/**/*.integ.test.ts',
          ],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
    testTimeout: 10_000,
    pool: 'forks',
  },
});
