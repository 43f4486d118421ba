// Real S3 and Azure Blob servers for the integration tests: s3rver and
// Azurite, started as child processes on 127.0.0.1 with an ephemeral port, in
// a temporary directory. A missing server makes the tests fail, never skip.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface RunningServer {
  /** The server's base URL, e.g. `http://127.0.0.1:41234`. */
  endpoint: string;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

function binPath(pkg: string, relative: string): string {
  // Throws (failing the test) when the package is not installed.
  return join(dirname(require.resolve(`${pkg}/package.json`)), relative);
}

function start(
  name: string,
  args: (dir: string) => string[],
  script: string,
  pattern: RegExp,
): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), `voxmesh-${name}-`));
  const child: ChildProcess = spawn(process.execPath, [script, ...args(dir)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: dir,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  return new Promise<RunningServer>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = pattern.exec(output);
      if (match) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve({ endpoint: `http://127.0.0.1:${match[1]}`, stop });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      reject(new Error(`${name} exited with code ${String(code)} before listening:\n${output}`));
    });
  });
}

/** s3rver with one bucket, `media`. */
export function startS3rver(): Promise<RunningServer> {
  return start(
    's3rver',
    (dir) => ['-d', dir, '-a', '127.0.0.1', '-p', '0', '--silent', '--configure-bucket', 'media'],
    binPath('s3rver', 'bin/s3rver.js'),
    /listening on 127\.0\.0\.1:(\d+)/,
  );
}

/** Azurite's blob service (telemetry always disabled). */
export function startAzurite(): Promise<RunningServer> {
  return start(
    'azurite',
    (dir) => [
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--location',
      dir,
      '--silent',
      '--skipApiVersionCheck',
      '--disableTelemetry',
    ],
    binPath('azurite', 'dist/src/blob/main.js'),
    /listens on http:\/\/127\.0\.0\.1:(\d+)/,
  );
}

/** Azurite's well-known development account. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
