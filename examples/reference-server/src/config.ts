/**
 * The server's settings: one TypeBox schema, filled from defaults, then a
 * JSON config file (`--config path`), then `VOXMESH_*` environment variables
 * (the last wins). Every problem is reported with the setting's name, where
 * it came from and what was wrong.
 *
 * @module
 */

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { schemaIssues } from '@voxmesh/core';

const Port = (description: string) => Type.Integer({ minimum: 0, maximum: 65535, description });
const Host = (description: string) => Type.String({ minLength: 1, maxLength: 253, description });

/** The settings of the reference server. */
export const ServerConfig = Type.Object(
  {
    dataDir: Type.String({
      minLength: 1,
      description:
        'Directory of all local state: configdb, history, history outbox, media files. Relative paths are resolved against the working directory.',
    }),
    sip: Type.Object(
      {
        host: Host('Address the SIP listeners bind to.'),
        udpPort: Port('SIP over UDP; 0 picks a free port.'),
        tcpPort: Port('SIP over TCP; 0 picks a free port.'),
        wsPort: Port('SIP over WebSocket (RFC 7118); 0 picks a free port.'),
        advertisedHost: Type.Optional(
          Host('Address written into Via and Contact instead of the bound one (behind NAT).'),
        ),
        digestAlgorithms: Type.Array(Type.Union([Type.Literal('MD5'), Type.Literal('SHA-256')]), {
          minItems: 1,
          maxItems: 2,
          uniqueItems: true,
          description:
            'Digest algorithms offered to phones, one challenge each, in this order (see "Digest algorithms").',
        }),
        authenticateCalls: Type.Boolean({
          description:
            'Challenge INVITEs from phones with digest (407); calls to a DID are never challenged.',
        }),
        minExpiresS: Type.Integer({
          minimum: 1,
          maximum: 86400,
          description: 'Shortest registration accepted (shorter ones get 423).',
        }),
        maxExpiresS: Type.Integer({
          minimum: 1,
          maximum: 86400,
          description: 'Longest registration granted (longer ones are shortened).',
        }),
      },
      { additionalProperties: false },
    ),
    media: Type.Object(
      {
        host: Host('Address RTP sockets bind to.'),
        advertisedHost: Type.Optional(Host('Address written into SDP instead of the bound one.')),
        minPort: Port('Lowest RTP port; 0 together with maxPort 0 picks ephemeral ports.'),
        maxPort: Port('Highest RTP port.'),
      },
      { additionalProperties: false },
    ),
    http: Type.Object(
      {
        host: Host('Address of the admin API, /metrics and /health.'),
        port: Port('Port of the admin API, /metrics and /health; 0 picks a free port.'),
        maxBodyBytes: Type.Integer({
          minimum: 1024,
          maximum: 64 * 1024 * 1024,
          description: 'Largest request body of the admin API; larger ones get 413.',
        }),
      },
      { additionalProperties: false },
    ),
    rootApiKey: Type.Optional(
      Type.String({
        minLength: 24,
        maxLength: 256,
        description:
          'The operator key (creates tenants, sees every tenant). When unset, one is generated on the first start, printed once and kept (hashed) in configdb.',
      }),
    ),
    seedDemo: Type.Boolean({
      description: 'Create the demo tenant demo.local on the first start (an empty configdb).',
    }),
    drainTimeoutMs: Type.Integer({
      minimum: 0,
      maximum: 3_600_000,
      description:
        'On SIGTERM/SIGINT, how long calls in progress may take to finish before they are cut.',
    }),
    logLevel: Type.Union(
      ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].map((l) => Type.Literal(l)),
      { description: 'Minimum level of the JSON log lines written to standard output.' },
    ),
  },
  { additionalProperties: false },
);
/** The settings of the reference server. */
export type ServerConfig = Static<typeof ServerConfig>;

/** Values used when neither the file nor the environment sets a setting. */
export const DEFAULT_CONFIG: ServerConfig = {
  dataDir: './data',
  sip: {
    host: '127.0.0.1',
    udpPort: 5060,
    tcpPort: 5060,
    wsPort: 5066,
    digestAlgorithms: ['MD5'],
    authenticateCalls: true,
    minExpiresS: 60,
    maxExpiresS: 3600,
  },
  media: { host: '127.0.0.1', minPort: 20000, maxPort: 29999 },
  http: { host: '127.0.0.1', port: 8080, maxBodyBytes: 1024 * 1024 },
  seedDemo: true,
  drainTimeoutMs: 30_000,
  logLevel: 'info',
};

/** Each environment variable and the setting (a JSON path) it sets. */
export const ENVIRONMENT: readonly { variable: string; path: readonly string[] }[] = [
  { variable: 'VOXMESH_DATA_DIR', path: ['dataDir'] },
  { variable: 'VOXMESH_SIP_HOST', path: ['sip', 'host'] },
  { variable: 'VOXMESH_SIP_UDP_PORT', path: ['sip', 'udpPort'] },
  { variable: 'VOXMESH_SIP_TCP_PORT', path: ['sip', 'tcpPort'] },
  { variable: 'VOXMESH_SIP_WS_PORT', path: ['sip', 'wsPort'] },
  { variable: 'VOXMESH_SIP_ADVERTISED_HOST', path: ['sip', 'advertisedHost'] },
  { variable: 'VOXMESH_SIP_DIGEST_ALGORITHMS', path: ['sip', 'digestAlgorithms'] },
  { variable: 'VOXMESH_SIP_AUTHENTICATE_CALLS', path: ['sip', 'authenticateCalls'] },
  { variable: 'VOXMESH_SIP_MIN_EXPIRES_S', path: ['sip', 'minExpiresS'] },
  { variable: 'VOXMESH_SIP_MAX_EXPIRES_S', path: ['sip', 'maxExpiresS'] },
  { variable: 'VOXMESH_MEDIA_HOST', path: ['media', 'host'] },
  { variable: 'VOXMESH_MEDIA_ADVERTISED_HOST', path: ['media', 'advertisedHost'] },
  { variable: 'VOXMESH_MEDIA_MIN_PORT', path: ['media', 'minPort'] },
  { variable: 'VOXMESH_MEDIA_MAX_PORT', path: ['media', 'maxPort'] },
  { variable: 'VOXMESH_HTTP_HOST', path: ['http', 'host'] },
  { variable: 'VOXMESH_HTTP_PORT', path: ['http', 'port'] },
  { variable: 'VOXMESH_HTTP_MAX_BODY_BYTES', path: ['http', 'maxBodyBytes'] },
  { variable: 'VOXMESH_ROOT_API_KEY', path: ['rootApiKey'] },
  { variable: 'VOXMESH_SEED_DEMO', path: ['seedDemo'] },
  { variable: 'VOXMESH_DRAIN_TIMEOUT_MS', path: ['drainTimeoutMs'] },
  { variable: 'VOXMESH_LOG_LEVEL', path: ['logLevel'] },
];

/** A setting that is wrong, and where it came from. */
export interface ConfigProblem {
  /** The setting, dotted (`sip.udpPort`), or the file or variable itself. */
  setting: string;
  /** `defaults`, the config file's path, or the environment variable. */
  source: string;
  message: string;
}

/** Bad settings: the server exits with code 2 and prints {@link ConfigError.problems}. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  - ${p.setting} (${p.source}): ${p.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /**
   * Command-line arguments (without `node` and the script): `--config <path>`
   * or `--config=<path>`, `--help`.
   * @defaultValue `[]`
   */
  argv?: readonly string[] | undefined;
  /** @defaultValue `{}` */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * Resolves relative paths (the config file, `dataDir`).
   * @defaultValue `process.cwd()`
   */
  cwd?: string | undefined;
}

function schemaAt(path: readonly string[]): TSchema {
  let schema: TSchema = ServerConfig;
  for (const key of path) {
    schema = (schema as unknown as { properties: Record<string, TSchema> }).properties[
      key
    ] as TSchema;
  }
  return schema;
}

function fromEnvironment(raw: string, schema: TSchema): unknown {
  const type = (schema as { type?: string }).type;
  if (type === 'integer') {
    if (!/^-?[0-9]+$/.test(raw.trim()))
      throw new Error(`expected an integer, got ${JSON.stringify(raw)}`);
    return Number(raw.trim());
  }
  if (type === 'boolean') {
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    throw new Error(`expected true or false, got ${JSON.stringify(raw)}`);
  }
  if (type === 'array') {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  return raw;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function merge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

/** The `--config` path in `argv`, if any. */
export function configPathOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--config' || arg === '-c') {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('-')) {
        throw new ConfigError([
          { setting: '--config', source: 'command line', message: 'needs a file path' },
        ]);
      }
      return next;
    }
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
  }
  return undefined;
}

/**
 * Reads, merges and validates the settings. Throws a {@link ConfigError}
 * naming every bad setting, its source and the problem.
 */
export function loadConfig(options: LoadConfigOptions = {}): ServerConfig {
  const argv = options.argv ?? [];
  const env = options.env ?? {};
  const cwd = options.cwd ?? process.cwd();
  const problems: ConfigProblem[] = [];
  const unknownArgs = argv.filter(
    (a, i) =>
      !(
        a === '--config' ||
        a === '-c' ||
        a.startsWith('--config=') ||
        ((argv[i - 1] === '--config' || argv[i - 1] === '-c') && !a.startsWith('-'))
      ),
  );
  for (const arg of unknownArgs) {
    problems.push({
      setting: arg,
      source: 'command line',
      message: 'unknown argument (the only option is --config <file>)',
    });
  }
  let merged: unknown = structuredClone(DEFAULT_CONFIG);
  // Where each top-level path's value came from, for messages.
  const sources = new Map<string, string>();
  const file = configPathOf(argv);
  if (file !== undefined) {
    const path = resolve(cwd, file);
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      problems.push({
        setting: '--config',
        source: path,
        message:
          code === 'ENOENT'
            ? 'the file does not exist'
            : `cannot read the file (${code ?? String(error)})`,
      });
    }
    if (text !== undefined) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (!isObject(parsed)) {
          problems.push({
            setting: '--config',
            source: path,
            message: 'the file must hold a JSON object',
          });
        } else {
          merged = merge(merged, parsed);
          for (const p of leafPaths(parsed)) sources.set(p, path);
        }
      } catch (error) {
        problems.push({
          setting: '--config',
          source: path,
          message: `not valid JSON: ${(error as Error).message}`,
        });
      }
    }
  }
  for (const { variable, path } of ENVIRONMENT) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    try {
      const value = fromEnvironment(raw, schemaAt(path));
      let target = merged as Record<string, unknown>;
      for (const key of path.slice(0, -1)) {
        if (!isObject(target[key])) target[key] = {};
        target = target[key] as Record<string, unknown>;
      }
      target[path[path.length - 1] as string] = value;
      sources.set(path.join('.'), variable);
    } catch (error) {
      problems.push({
        setting: path.join('.'),
        source: variable,
        message: (error as Error).message,
      });
    }
  }
  for (const issue of schemaIssues(ServerConfig, merged)) {
    const setting = issue.path.split('/').filter(Boolean).join('.') || '(root)';
    problems.push({
      setting,
      source: sourceOf(setting, sources),
      message: friendly(issue.message, issue.path, merged),
    });
  }
  if (problems.length === 0) {
    const config = merged as ServerConfig;
    if (config.sip.minExpiresS > config.sip.maxExpiresS) {
      problems.push({
        setting: 'sip.minExpiresS',
        source: sourceOf('sip.minExpiresS', sources),
        message: `must not exceed sip.maxExpiresS (${config.sip.maxExpiresS})`,
      });
    }
    if (config.media.minPort > config.media.maxPort) {
      problems.push({
        setting: 'media.minPort',
        source: sourceOf('media.minPort', sources),
        message: `must not exceed media.maxPort (${config.media.maxPort})`,
      });
    } else if ((config.media.minPort === 0) !== (config.media.maxPort === 0)) {
      problems.push({
        setting: 'media.minPort',
        source: sourceOf('media.minPort', sources),
        message: 'set both media.minPort and media.maxPort to 0 (ephemeral ports), or neither',
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = merged as ServerConfig;
  return { ...config, dataDir: resolve(cwd, config.dataDir) };
}

function leafPaths(value: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(value).flatMap(([k, v]) =>
    isObject(v) ? leafPaths(v, `${prefix}${k}.`) : [`${prefix}${k}`],
  );
}

function sourceOf(setting: string, sources: Map<string, string>): string {
  for (let s = setting; s !== ''; s = s.includes('.') ? s.slice(0, s.lastIndexOf('.')) : '') {
    const found = sources.get(s);
    if (found !== undefined) return found;
  }
  // An unknown key inside an object reported at the object's path.
  for (const [path, source] of sources) if (path.startsWith(`${setting}.`)) return source;
  return 'defaults';
}

function friendly(message: string, pointer: string, merged: unknown): string {
  let value: unknown = merged;
  for (const key of pointer.split('/').filter(Boolean)) {
    value = isObject(value) ? value[key] : Array.isArray(value) ? value[Number(key)] : undefined;
  }
  if (message.startsWith('Unexpected property')) return 'unknown setting';
  return value === undefined ? message : `${message} (got ${JSON.stringify(value)})`;
}
