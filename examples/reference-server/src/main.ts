/**
 * `npm start`: runs the reference server until SIGTERM or SIGINT, then
 * drains (new calls get 503, calls in progress finish) and exits 0.
 *
 * Exit codes: 0 after a drain, 1 when the server cannot start (a port in
 * use, an unreadable data directory), 2 for invalid settings.
 *
 * @module
 */

import { VoxmeshError, createLogger, type LogLevel } from '@voxmesh/core';
import { ConfigError, ENVIRONMENT, loadConfig, type ServerConfig } from './config.js';
import { DEMO_PROMPTS } from './prompts.js';
import { BindError, ReferenceServer } from './server.js';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(
    [
      'Usage: npm start -- [--config <file.json>]',
      '',
      'Settings come from defaults, then the JSON file, then these environment variables:',
      ...ENVIRONMENT.map((e) => `  ${e.variable.padEnd(32)} ${e.path.join('.')}`),
      '',
      'See examples/reference-server/README.md for every setting.',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

let config: ServerConfig;
try {
  // `npm start` runs in the workspace directory; paths are the caller's (npm sets INIT_CWD).
  config = loadConfig({ argv, env: process.env, cwd: process.env.INIT_CWD ?? process.cwd() });
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}

const logger = createLogger({
  level: config.logLevel as LogLevel,
  base: { service: 'voxmesh-reference-server', pid: process.pid },
});
const server = new ReferenceServer({ config, logger });

function banner(): string {
  const { http, sip } = server.addresses;
  const lines: string[] = [];
  const sipLine = sip.map((l) => `${l.protocol} ${l.host}:${l.port}`).join(', ');
  lines.push('', 'Voxmesh reference server is running.');
  lines.push(`  SIP:       ${sipLine}`);
  lines.push(`  Admin API: http://${http.host}:${http.port}/v1  (OpenAPI: /openapi.json)`);
  lines.push(`  Health:    http://${http.host}:${http.port}/health   Metrics: /metrics`);
  lines.push(`  Data:      ${config.dataDir}`);
  if (server.generatedRootKey !== undefined) {
    lines.push('', `  Operator API key (shown once): ${server.generatedRootKey}`);
  }
  const seed = server.seeded;
  if (seed !== undefined) {
    const udp = sip.find((l) => l.protocol === 'UDP');
    lines.push(
      '',
      `Demo tenant '${seed.tenant.id}' (SIP domain ${seed.tenant.domain}) — shown once:`,
    );
    for (const u of seed.users) {
      lines.push(
        `  extension ${u.extension}: user ${u.username}  password ${u.password}  (voicemail on)`,
      );
    }
    lines.push(`  ring group ${seed.tenant.ringGroups?.[0]?.extension ?? ''}: rings 1001 and 1002`);
    lines.push(
      `  DID ${seed.tenant.dids?.[0]?.number ?? ''} → IVR: press 1 for 1001, 2 for 1002, 9 for voicemail`,
    );
    lines.push('  prompts (tones, no speech): ' + Object.keys(DEMO_PROMPTS).join(', '));
    lines.push(`  tenant API key: ${seed.apiKey}`);
    if (udp !== undefined) {
      lines.push(
        '',
        `  Point a softphone at ${udp.host}:${udp.port} (UDP), domain ${seed.tenant.domain},`,
        `  user 1001 with the password above. Then: curl -H 'Authorization: Bearer ${seed.apiKey}' http://${http.host}:${http.port}/v1/tenants/${seed.tenant.id}/users`,
      );
    }
  }
  return `${lines.join('\n')}\n\n`;
}

let stopping = false;
function onSignal(signal: NodeJS.Signals): void {
  if (stopping) {
    logger.warn({ signal }, 'Second signal: stopping now');
    void server.stop().finally(() => process.exit(1));
    return;
  }
  stopping = true;
  logger.info({ signal }, 'Draining');
  server.drain().then(
    () => {
      logger.info('Stopped');
      process.exit(0);
    },
    (error: unknown) => {
      logger.error({ err: error }, 'Drain failed');
      process.exit(1);
    },
  );
}
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

try {
  await server.start();
  process.stdout.write(banner());
} catch (error) {
  const cause = VoxmeshError.is(error) ? (error.cause ?? error) : error;
  const message =
    cause instanceof BindError
      ? cause.message
      : `The server could not start: ${cause instanceof Error ? cause.message : String(cause)}`;
  // A bind failure is the operator's to fix: say what and how, without a stack trace.
  if (cause instanceof BindError) logger.fatal({ address: cause.address }, message);
  else logger.fatal({ err: cause }, message);
  process.stderr.write(`${message}\n`);
  await server.stop().catch(() => undefined);
  process.exit(1);
}
