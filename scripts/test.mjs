#!/usr/bin/env node
// Runs vitest (all projects, or those named by --project) with the Node binary
// that runs this script, then prints the plain summary line CI reads:
//   N passed, N failed, N skipped
// Extra arguments are passed to vitest; the exit code is vitest's.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const vitest = join(require.resolve('vitest/package.json'), '..', 'vitest.mjs');
const report = `.vitest-report-${process.pid}.json`;

const run = spawnSync(
  process.execPath,
  [
    vitest,
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', env: { ...process.env, NO_COLOR: '1' } },
);

let summary = '0 passed, 0 failed';
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = r.numPendingTests + r.numTodoTests;
  // A test file that failed to load reports no tests at all: count it as one failure.
  const brokenFiles = r.testResults.filter(
    (f) => f.status === 'failed' && f.assertionResults.length === 0,
  ).length;
  summary = `${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed, ${skipped} skipped`;
} catch {
  // vitest did not write a report (it crashed before running): the exit code tells.
} finally {
  rmSync(report, { force: true });
}
console.log(`\nNode ${process.version}`);
console.log(summary);
process.exit(run.status ?? 1);
