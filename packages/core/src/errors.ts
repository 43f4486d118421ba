/**
 * Errors shared by every Voxmesh package.
 *
 * Every error Voxmesh throws on purpose is a {@link VoxmeshError} with a stable
 * string {@link VoxmeshError.code | code} (listed in `docs/errors.md` with how to
 * fix it), an optional `cause`, and a `retryable` label. Programmer mistakes
 * (wrong argument types, calling a method that the current state forbids in a
 * way a caller can always avoid) are plain `TypeError`s or `RangeError`s.
 *
 * `instanceof` fails when two copies of a package are loaded (two versions in
 * one `node_modules` tree, or source next to dist); {@link VoxmeshError.is}
 * does not: it checks a brand registered with `Symbol.for`, so it works across
 * copies, realms and versions.
 *
 * @module
 */

const kVoxmeshError = Symbol.for('@voxmesh/core.VoxmeshError');

/**
 * Every error code a Voxmesh package defines. Codes are stable: once
 * published, a code keeps its meaning. Packages add their codes here so that
 * `docs/errors.md` can list them all in one place (a test checks it does).
 */
export const ErrorCode = {
  /** An operation was aborted through its `AbortSignal`. */
  ABORTED: 'ABORTED',
  /** An operation did not finish within its time limit. */
  TIMEOUT: 'TIMEOUT',
  /** A method was called in a state that does not allow it. */
  INVALID_STATE: 'INVALID_STATE',
  /** A service refused new work because it is draining or stopped. */
  NOT_ACCEPTING_WORK: 'NOT_ACCEPTING_WORK',
  /** `drain()` gave up waiting for in-flight work before it finished. */
  DRAIN_TIMEOUT: 'DRAIN_TIMEOUT',
  /** A service failed to start. */
  START_FAILED: 'START_FAILED',
  /** Input from a caller or a peer failed validation. */
  INVALID_INPUT: 'INVALID_INPUT',
  /** The requested feature is not supported by this implementation. */
  NOT_SUPPORTED: 'NOT_SUPPORTED',
  /** The object (tenant, call, key, ...) does not exist. */
  NOT_FOUND: 'NOT_FOUND',
  /** Tenant configuration failed its schema or a consistency rule. */
  INVALID_CONFIG: 'INVALID_CONFIG',
  /** An IVR flow failed validation (unknown node type, dangling output, unreachable node, loop without input). */
  INVALID_FLOW: 'INVALID_FLOW',
  /** An IVR flow could not continue (a node failed with no `error` output, or the step limit was reached). */
  FLOW_FAILED: 'FLOW_FAILED',
} as const;

/** The union of all {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options of the {@link VoxmeshError} constructor. */
export interface VoxmeshErrorOptions {
  /** The error that caused this one (standard `Error.cause`). */
  cause?: unknown;
  /**
   * Whether retrying the same operation later may succeed (a timeout, a
   * backend that is briefly unreachable), as opposed to a failure that will
   * repeat (bad input).
   * @defaultValue `false`
   */
  retryable?: boolean;
}

/**
 * The base of every error Voxmesh throws on purpose.
 *
 * @example
 * ```ts
 * try {
 *   await service.drain({ timeoutMs: 5_000 });
 * } catch (err) {
 *   if (VoxmeshError.is(err, ErrorCode.DRAIN_TIMEOUT)) await service.stop();
 *   else throw err;
 * }
 * ```
 */
export class VoxmeshError extends Error {
  /** A stable string code from {@link ErrorCode} (or a package's own code). */
  readonly code: string;
  /** Whether retrying the same operation later may succeed. */
  readonly retryable: boolean;
  declare readonly [kVoxmeshError]: true;

  constructor(code: string, message: string, options: VoxmeshErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    Object.defineProperty(this, kVoxmeshError, { value: true });
  }

  static {
    this.prototype.name = 'VoxmeshError';
  }

  /**
   * Whether `value` is a Voxmesh error (from any copy of this package), and,
   * when `code` is given, whether it has that code.
   */
  static is(value: unknown, code?: string): value is VoxmeshError {
    if (typeof value !== 'object' || value === null) return false;
    if ((value as Record<symbol, unknown>)[kVoxmeshError] !== true) return false;
    return code === undefined || (value as VoxmeshError).code === code;
  }

  /**
   * `instanceof` that also recognises instances from another copy of the
   * package: for `VoxmeshError` itself any branded error matches; for a
   * subclass, a branded error whose `name` is the subclass's `name` matches.
   * Subclasses therefore set `name` on their prototype (a static block
   * `static { this.prototype.name = 'MyError'; }`), which also survives
   * minifiers that rename classes.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!VoxmeshError.is(value)) return false;
    return this === VoxmeshError || value.name === (this.prototype as Error).name;
  }
}

/**
 * Thrown (or used to reject) when an operation is aborted through its
 * `AbortSignal`. Its `cause` is the signal's `reason`.
 */
export class AbortError extends VoxmeshError {
  constructor(message = 'The operation was aborted', options: VoxmeshErrorOptions = {}) {
    super(ErrorCode.ABORTED, message, options);
  }

  static {
    this.prototype.name = 'AbortError';
  }
}

/** Thrown when an operation did not finish within its time limit. */
export class TimeoutError extends VoxmeshError {
  constructor(message = 'The operation timed out', options: VoxmeshErrorOptions = {}) {
    super(ErrorCode.TIMEOUT, message, { retryable: true, ...options });
  }

  static {
    this.prototype.name = 'TimeoutError';
  }
}
