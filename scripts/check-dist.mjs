#!/usr/bin/env node
// After `npm run build`: imports every subpath export of every package the way
// a published consumer does (plain Node, no `@voxmesh/source` condition, so
// from dist/) and checks that its declaration file exists.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

let failures = 0;
for (const dir of readdirSync('packages')) {
  const pkgDir = join('packages', dir);
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target !== 'object') continue;
    const specifier = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
    try {
      if (!existsSync(join(pkgDir, target.types))) throw new Error(`missing ${target.types}`);
      const api = await import(specifier);
      console.log(`ok  ${specifier} (${Object.keys(api).length} exports from ${target.import})`);
    } catch (error) {
      failures++;
      console.error(`FAIL ${specifier}: ${error instanceof Error ? error.message : error}`);
    }
  }
}
process.exit(failures ? 1 : 0);
