// Settings: defaults, then the JSON file, then VOXMESH_* variables; every
// problem named with its setting, its source and what was wrong; every
// setting documented in the README.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_CONFIG,
  ENVIRONMENT,
  ServerConfig,
  loadConfig,
  type ConfigProblem,
} from '../src/config.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'voxmesh-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function problems(run: () => unknown): ConfigProblem[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives the defaults, with dataDir resolved against the working directory', () => {
    const config = loadConfig({ cwd: '/srv/pbx' });
    expect(config).toEqual({ ...DEFAULT_CONFIG, dataDir: '/srv/pbx/data' });
    expect(config.sip).toMatchObject({ host: '127.0.0.1', udpPort: 5060, tcpPort: 5060 });
    expect(config.http).toMatchObject({ host: '127.0.0.1', port: 8080 });
  });

  it('takes the file over the defaults and the environment over the file', async () => {
    const file = join(dir, 'ok.json');
    await writeFile(
      file,
      JSON.stringify({
        dataDir: '/var/lib/pbx',
        sip: { udpPort: 5070, wsPort: 8088 },
        http: { port: 9000 },
      }),
    );
    const config = loadConfig({
      argv: ['--config', file],
      env: {
        VOXMESH_SIP_UDP_PORT: '5080',
        VOXMESH_SIP_DIGEST_ALGORITHMS: 'SHA-256, MD5',
        VOXMESH_SEED_DEMO: 'false',
      },
    });
    expect(config.dataDir).toBe('/var/lib/pbx');
    expect(config.sip.udpPort).toBe(5080); // environment wins
    expect(config.sip.wsPort).toBe(8088); // from the file
    expect(config.sip.tcpPort).toBe(5060); // default
    expect(config.sip.digestAlgorithms).toEqual(['SHA-256', 'MD5']);
    expect(config.seedDemo).toBe(false);
    expect(config.http.port).toBe(9000);
    expect(loadConfig({ argv: [`--config=${file}`] }).sip.udpPort).toBe(5070);
  });

  it('names each bad environment variable and what was wrong', () => {
    expect(
      problems(() =>
        loadConfig({
          env: {
            VOXMESH_HTTP_PORT: 'eighty',
            VOXMESH_SEED_DEMO: 'maybe',
            VOXMESH_SIP_TCP_PORT: '70000',
          },
        }),
      ),
    ).toEqual([
      {
        setting: 'http.port',
        source: 'VOXMESH_HTTP_PORT',
        message: 'expected an integer, got "eighty"',
      },
      {
        setting: 'seedDemo',
        source: 'VOXMESH_SEED_DEMO',
        message: 'expected true or false, got "maybe"',
      },
      {
        setting: 'sip.tcpPort',
        source: 'VOXMESH_SIP_TCP_PORT',
        message: 'Expected integer to be less or equal to 65535 (got 70000)',
      },
    ]);
    expect(
      problems(() => loadConfig({ env: { VOXMESH_SIP_DIGEST_ALGORITHMS: 'MD5,SHA-1' } }))[0],
    ).toMatchObject({
      setting: 'sip.digestAlgorithms.1',
      source: 'VOXMESH_SIP_DIGEST_ALGORITHMS',
    });
    expect(problems(() => loadConfig({ env: { VOXMESH_LOG_LEVEL: 'loud' } }))[0]).toMatchObject({
      setting: 'logLevel',
      source: 'VOXMESH_LOG_LEVEL',
    });
  });

  it('names unknown and wrongly typed keys of the file', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(
      file,
      JSON.stringify({ sip: { udpPort: '5060', bogus: 1 }, http: 'x', extra: true }),
    );
    const found = problems(() => loadConfig({ argv: ['--config', file] }));
    expect(found).toEqual(
      expect.arrayContaining([
        { setting: 'sip.bogus', source: file, message: 'unknown setting' },
        { setting: 'extra', source: file, message: 'unknown setting' },
        expect.objectContaining({ setting: 'sip.udpPort', source: file }),
        expect.objectContaining({ setting: 'http', source: file }),
      ]),
    );
    expect(found.find((p) => p.setting === 'sip.udpPort')?.message).toMatch(
      /Expected integer.*"5060"/,
    );
  });

  it('reports a missing file, invalid JSON, a non-object and unknown arguments', async () => {
    expect(problems(() => loadConfig({ argv: ['--config', join(dir, 'none.json')] }))).toEqual([
      { setting: '--config', source: join(dir, 'none.json'), message: 'the file does not exist' },
    ]);
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{ "sip": ');
    expect(problems(() => loadConfig({ argv: ['--config', broken] }))[0]?.message).toMatch(
      /^not valid JSON/,
    );
    const array = join(dir, 'array.json');
    await writeFile(array, '[1]');
    expect(problems(() => loadConfig({ argv: ['--config', array] }))[0]?.message).toBe(
      'the file must hold a JSON object',
    );
    expect(problems(() => loadConfig({ argv: ['--config'] }))[0]).toMatchObject({
      setting: '--config',
      message: 'needs a file path',
    });
    expect(problems(() => loadConfig({ argv: ['--port', '80'] })).map((p) => p.setting)).toEqual([
      '--port',
      '80',
    ]);
  });

  it('checks settings against each other', () => {
    expect(
      problems(() =>
        loadConfig({ env: { VOXMESH_SIP_MIN_EXPIRES_S: '600', VOXMESH_SIP_MAX_EXPIRES_S: '300' } }),
      ),
    ).toEqual([
      {
        setting: 'sip.minExpiresS',
        source: 'VOXMESH_SIP_MIN_EXPIRES_S',
        message: 'must not exceed sip.maxExpiresS (300)',
      },
    ]);
    expect(
      problems(() => loadConfig({ env: { VOXMESH_MEDIA_MIN_PORT: '0' } }))[0]?.message,
    ).toMatch(/both media.minPort and media.maxPort/);
  });

  it('prints every problem on one readable message', () => {
    try {
      loadConfig({ env: { VOXMESH_HTTP_PORT: '-1' } });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toBe(
        'Invalid configuration:\n  - http.port (VOXMESH_HTTP_PORT): Expected integer to be greater or equal to 0 (got -1)',
      );
    }
  });
});

describe('documentation', () => {
  const leaves = (schema: unknown, prefix = ''): string[] =>
    Object.entries(
      (schema as { properties: Record<string, { type?: string; properties?: unknown }> })
        .properties,
    ).flatMap(([key, sub]) =>
      sub.type === 'object' ? leaves(sub, `${prefix}${key}.`) : [`${prefix}${key}`],
    );

  it('has an environment variable for every setting', () => {
    expect(ENVIRONMENT.map((e) => e.path.join('.')).sort()).toEqual(leaves(ServerConfig).sort());
  });

  it('documents every setting and variable in the README', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    for (const { variable, path } of ENVIRONMENT) {
      expect(readme, variable).toContain(`\`${variable}\``);
      expect(readme, path.join('.')).toContain(`\`${path.join('.')}\``);
    }
  });
});
