import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The dependency rules of docs/architecture.md, checked on the sources.

const root = resolve(import.meta.dirname, '..');
const packagesDir = join(root, 'packages');

/** Which @voxmesh packages each package may import. */
const allowed: Record<string, string[]> = {
  core: [],
  sip: ['core'],
  media: ['core'],
  configdb: ['core'],
  history: ['core'],
  storage: ['core'],
};

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js|mjs)$/.test(entry) ? [path] : [];
  });
}

const importPattern =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;

function imports(file: string): string[] {
  // Code examples in doc comments are not imports.
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  return [...text.matchAll(importPattern)].map((m) => (m[1] ?? m[2] ?? m[3]) as string);
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

const builtins = new Set(builtinModules);
const packages = readdirSync(packagesDir).filter((d) =>
  statSync(join(packagesDir, d, 'package.json'), { throwIfNoEntry: false })?.isFile(),
);

describe('dependency rules', () => {
  it('knows every package', () => {
    expect(packages.sort()).toEqual(Object.keys(allowed).sort());
  });

  for (const pkg of packages) {
    const dir = join(packagesDir, pkg);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
    const declared = new Set([
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}),
    ]);

    it(`@voxmesh/${pkg} imports only what its rules and package.json allow`, () => {
      const problems: string[] = [];
      for (const file of sourceFiles(join(dir, 'src'))) {
        const where = relative(root, file);
        for (const specifier of imports(file)) {
          if (specifier.startsWith('.')) {
            const target = resolve(file, '..', specifier);
            if (!target.startsWith(dir + '/'))
              problems.push(`${where}: relative import '${specifier}' leaves the package`);
            continue;
          }
          if (specifier.startsWith('node:') || builtins.has(specifier)) continue;
          const name = packageName(specifier);
          if (name === manifest.name) {
            // A built entry would bundle a second copy of the package.
            problems.push(
              `${where}: imports its own package '${specifier}'; use a relative import`,
            );
            continue;
          }
          if (name.startsWith('@voxmesh/')) {
            const target = name.slice('@voxmesh/'.length);
            if (!(allowed[pkg] ?? []).includes(target)) {
              problems.push(`${where}: @voxmesh/${pkg} must not import ${name}`);
            }
          }
          if (!declared.has(name)) {
            problems.push(
              `${where}: imports '${name}', which is not in dependencies or peerDependencies`,
            );
          }
        }
      }
      expect(problems).toEqual([]);
    });
  }
});
