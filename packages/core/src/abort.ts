/**
 * `AbortSignal` helpers. Every async Voxmesh operation accepts `{ signal }`;
 * an aborted operation rejects with an {@link AbortError} whose `cause` is the
 * signal's `reason`.
 *
 * @module
 */

import { systemClock, type Clock } from './clock.js';
import { AbortError, TimeoutError } from './errors.js';

/** Throws an {@link AbortError} (cause: the signal's reason) if `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
}

/**
 * Calls `listener` once when `signal` aborts (at once if it already has).
 * Returns a `Disposable` that removes the listener: use it with `using`, or
 * call `[Symbol.dispose]()` when the guarded operation has finished, so
 * long-lived signals do not accumulate listeners.
 */
export function onAbort(
  signal: AbortSignal | undefined,
  listener: (reason: unknown) => void,
): Disposable {
  if (signal === undefined) return { [Symbol.dispose]: () => undefined };
  if (signal.aborted) {
    listener(signal.reason);
    return { [Symbol.dispose]: () => undefined };
  }
  const handler = (): void => {
    listener(signal.reason);
  };
  signal.addEventListener('abort', handler, { once: true });
  return { [Symbol.dispose]: () => signal.removeEventListener('abort', handler) };
}

/**
 * Resolves or rejects like `promise`, but rejects with an {@link AbortError}
 * as soon as `signal` aborts. The underlying work is not cancelled (pass the
 * signal to it as well for that); its later rejection is ignored.
 */
export function abortable<T>(promise: PromiseLike<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return Promise.resolve(promise);
  if (signal.aborted) {
    Promise.resolve(promise).catch(() => undefined);
    return Promise.reject(new AbortError(undefined, { cause: signal.reason }));
  }
  return new Promise<T>((resolve, reject) => {
    const subscription = onAbort(signal, (reason) => {
      reject(new AbortError(undefined, { cause: reason }));
    });
    Promise.resolve(promise).then(
      (value) => {
        subscription[Symbol.dispose]();
        resolve(value);
      },
      (error: unknown) => {
        subscription[Symbol.dispose]();
        reject(error);
      },
    );
  });
}

/**
 * A signal that aborts when any of `signals` aborts, with that signal's
 * reason. `undefined` entries are ignored. (`AbortSignal.any`, accepting
 * optional signals.)
 */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length === 1) return present[0] as AbortSignal;
  return AbortSignal.any(present);
}

/** A controller whose signal aborts by itself after a delay on a {@link Clock}. */
export interface TimeoutController extends Disposable {
  /** Aborts with a {@link TimeoutError} after the delay, or with the parent's reason. */
  readonly signal: AbortSignal;
  /** Stops the timer (the signal then aborts only through the parent). */
  [Symbol.dispose](): void;
}

/**
 * Creates a signal that aborts with a {@link TimeoutError} after `ms` on
 * `clock` (so fake clocks drive it), or earlier when `parent` aborts.
 * Dispose it when the guarded operation finishes to release the timer.
 *
 * @example
 * ```ts
 * using timeout = timeoutSignal(5_000, { signal, clock });
 * await transaction.send({ signal: timeout.signal });
 * ```
 */
export function timeoutSignal(
  ms: number,
  options: { signal?: AbortSignal | undefined; clock?: Clock | undefined; message?: string } = {},
): TimeoutController {
  const controller = new AbortController();
  const clock = options.clock ?? systemClock;
  const timer = clock.setTimeout(() => {
    controller.abort(new TimeoutError(options.message ?? `Timed out after ${ms} ms`));
  }, ms);
  const parent = onAbort(options.signal, (reason) => {
    timer.cancel();
    controller.abort(reason);
  });
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      timer.cancel();
      parent[Symbol.dispose]();
    },
  };
}
