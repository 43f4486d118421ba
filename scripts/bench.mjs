#!/usr/bin/env node
// `npm run bench`: runs every root `bench:<area>` script, one after the other
// (benchmarks must not compete for the cores), and collects the JSON line each
// one ends with. Ends with one JSON line: {"<area>": {...results}, ...}.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const { scripts = {} } = JSON.parse(readFileSync('package.json', 'utf8'));
const names = Object.keys(scripts).filter((n) => n.startsWith('bench:'));
const results = {};
let failed = 0;
for (const name of names) {
  console.error(`\n== npm run ${name}`);
  const run = spawnSync('npm', ['run', '--silent', name], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.stderr.write(run.stdout);
  const area = name.slice('bench:'.length);
  const last = run.stdout.trim().split('\n').pop() ?? '';
  try {
    results[area] = JSON.parse(last);
  } catch {
    results[area] = { error: `no JSON result line (exit code ${run.status})` };
  }
  if (run.status !== 0) failed++;
}
if (names.length === 0) console.error('no bench:<area> scripts yet');
console.log(JSON.stringify(results));
process.exit(failed ? 1 : 0);
