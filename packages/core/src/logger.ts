/**
 * The logging seam.
 *
 * Voxmesh components log through the {@link Logger} interface, which is the
 * subset of pino's logger they use: any pino logger (or a logger with the same
 * call shapes) can be injected. {@link createLogger} makes the default pino
 * logger; {@link silentLogger} discards everything.
 *
 * Conventions: the first argument is an object of structured fields
 * (`tenantId`, `callId`, `err`, ...), the second the message; child loggers
 * carry the fields of their scope (`logger.child({ tenantId, callId })`).
 *
 * @module
 */

import { pino, type LoggerOptions, type DestinationStream } from 'pino';

/** One logging method: `(fields, message?)` or `(message)`. */
export interface LogFn {
  (fields: object, message?: string, ...args: unknown[]): void;
  (message: string, ...args: unknown[]): void;
}

/** The log levels, from most to least verbose. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** A pino-compatible logger. */
export interface Logger {
  /** The current minimum level. */
  level: string;
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
  /** Whether a line at `level` would be written. */
  isLevelEnabled(level: string): boolean;
}

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /**
   * The minimum level written.
   * @defaultValue `process.env.LOG_LEVEL`, else `'info'`
   */
  level?: LogLevel | undefined;
  /** Fields added to every line (e.g. `{ service: 'sip-gate' }`). */
  base?: Record<string, unknown> | undefined;
  /**
   * Where lines are written (a pino destination or any writable stream).
   * @defaultValue standard output
   */
  destination?: DestinationStream | undefined;
  /** Further pino options, passed through. */
  pino?: LoggerOptions | undefined;
}

/** Creates the default logger: pino, JSON lines, `err` serialised with its `code` and `cause`. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const level = options.level ?? (process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info';
  const config: LoggerOptions = {
    level,
    base: options.base ?? null,
    ...options.pino,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

const noop = (): void => undefined;

/** A logger that writes nothing (the default in tests and where no logger is given). */
export const silentLogger: Logger = {
  level: 'silent',
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child: () => silentLogger,
  isLevelEnabled: () => false,
};
