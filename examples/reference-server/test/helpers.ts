// Shared by the reference server's tests: a server in-process on ephemeral
// ports with its own data directory, and a small admin API client.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type LogLevel } from '@voxmesh/core';
import { DEFAULT_CONFIG, type ServerConfig } from '../src/config.js';
import { ReferenceServer } from '../src/server.js';

export const ROOT_KEY = 'test-operator-key-0123456789abcdef';

export interface TestServer {
  server: ReferenceServer;
  dataDir: string;
  base: string;
  /** Stops the server and removes its data directory. */
  close(): Promise<void>;
}

/** A config on 127.0.0.1 with every port ephemeral. */
export function testConfig(dataDir: string, overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    ...DEFAULT_CONFIG,
    dataDir,
    sip: { ...DEFAULT_CONFIG.sip, udpPort: 0, tcpPort: 0, wsPort: 0 },
    media: { ...DEFAULT_CONFIG.media, minPort: 0, maxPort: 0 },
    http: { ...DEFAULT_CONFIG.http, port: 0 },
    rootApiKey: ROOT_KEY,
    drainTimeoutMs: 10_000,
    logLevel: 'silent',
    ...overrides,
  };
}

export async function startServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'voxmesh-refserver-'));
  // TEST_LOG_LEVEL=debug shows the server's logs while a test runs.
  const level = process.env.TEST_LOG_LEVEL as LogLevel | undefined;
  const server = new ReferenceServer({
    config: testConfig(dataDir, overrides),
    logger: level === undefined ? undefined : createLogger({ level }),
  });
  try {
    await server.start();
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const { http } = server.addresses;
  return {
    server,
    dataDir,
    base: `http://${http.host}:${http.port}`,
    async close() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ApiAnswer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

/** One admin API request with a JSON body (or raw text) and a key. */
export async function api(
  base: string,
  method: string,
  path: string,
  options: { key?: string | undefined; body?: unknown; raw?: string } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(base + path, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  if ((response.headers.get('content-type') ?? '').includes('json') && text !== '') {
    parsed = JSON.parse(text);
  }
  return { status: response.status, body: parsed, headers: response.headers };
}
