import { readFileSync } from 'node:fs';
import { defineConfig, type Options } from 'tsup';

interface ExportEntry {
  '@voxmesh/source'?: string;
}

/**
 * The tsup configuration every `@voxmesh/*` package builds with: one ESM entry
 * (plus declarations) per subpath export whose `@voxmesh/source` condition
 * points at a source file, so `package.json` stays the single list of entries.
 */
export function packageConfig(overrides: Options = {}): Options {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
    exports: Record<string, string | ExportEntry>;
  };
  const entry: Record<string, string> = {};
  for (const target of Object.values(pkg.exports)) {
    const source = typeof target === 'object' ? target['@voxmesh/source'] : undefined;
    if (source === undefined) continue;
    const name = source.replace(/^\.\/src\//, '').replace(/\.ts$/, '');
    entry[name] = source;
  }
  return defineConfig({
    entry,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    tsconfig: '../../tsconfig.json',
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: true,
    ...overrides,
  }) as Options;
}
