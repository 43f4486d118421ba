/**
 * Typed events.
 *
 * Discrete events (a call was answered, a registration expired) use a typed
 * `EventEmitter`; streams of changes (config updates, history tails) use async
 * iterators that take a `signal`.
 *
 * @module
 */

import { EventEmitter } from 'node:events';
import { AbortError } from './errors.js';

/**
 * The constraint of an event map `T`: each event name maps to the tuple of
 * arguments its listeners receive. Write event maps as interfaces:
 * `interface CallEvents { answered: [at: Date]; ended: [cause: string] }`.
 */
export type EventMap<T> = { [K in keyof T]: unknown[] };

/** A listener of event `K` of the map `E`. */
export type Listener<E extends EventMap<E>, K extends keyof E> = (...args: E[K]) => void;

/**
 * The subscriber side of a typed emitter: what an interface exposes when its
 * implementations may or may not extend {@link TypedEventEmitter}.
 */
export interface TypedEvents<E extends EventMap<E>> {
  on<K extends keyof E & string>(event: K, listener: Listener<E, K>): this;
  once<K extends keyof E & string>(event: K, listener: Listener<E, K>): this;
  off<K extends keyof E & string>(event: K, listener: Listener<E, K>): this;
}

/**
 * Node's `EventEmitter` with event names and listener arguments checked by
 * the compiler.
 *
 * As with any `EventEmitter`, emitting `'error'` with no listener throws.
 *
 * @example
 * ```ts
 * interface CallEvents { answered: [at: Date]; ended: [cause: string, code: number] }
 * class Call extends TypedEventEmitter<CallEvents> {}
 * new Call().on('ended', (cause, code) => console.log(cause, code));
 * ```
 */
export class TypedEventEmitter<E extends EventMap<E>>
  extends EventEmitter
  implements TypedEvents<E>
{
  override on<K extends keyof E & string>(event: K, listener: Listener<E, K>): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override once<K extends keyof E & string>(event: K, listener: Listener<E, K>): this {
    return super.once(event, listener as (...args: unknown[]) => void);
  }

  override off<K extends keyof E & string>(event: K, listener: Listener<E, K>): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  override addListener<K extends keyof E & string>(event: K, listener: Listener<E, K>): this {
    return super.addListener(event, listener as (...args: unknown[]) => void);
  }

  override removeListener<K extends keyof E & string>(event: K, listener: Listener<E, K>): this {
    return super.removeListener(event, listener as (...args: unknown[]) => void);
  }

  override emit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    return super.emit(event, ...args);
  }
}

/**
 * Resolves with the arguments of the next `event` emitted by `emitter`.
 * Rejects with an {@link AbortError} when `signal` aborts, and with the error
 * if the emitter emits `'error'` first (unless `event` is `'error'`).
 */
export function onceEvent<E extends EventMap<E>, K extends keyof E & string>(
  emitter: TypedEvents<E>,
  event: K,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<E[K]> {
  const { signal } = options;
  return new Promise<E[K]>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError(undefined, { cause: signal.reason }));
      return;
    }
    const untyped = emitter as unknown as EventEmitter;
    const cleanup = (): void => {
      untyped.off(event, onEvent);
      if (event !== 'error') untyped.off('error', onError);
      signal?.removeEventListener('abort', onAbortSignal);
    };
    const onEvent = (...args: unknown[]): void => {
      cleanup();
      resolve(args as E[K]);
    };
    const onError = (error: unknown): void => {
      cleanup();
      reject(error);
    };
    const onAbortSignal = (): void => {
      cleanup();
      reject(new AbortError(undefined, { cause: signal?.reason }));
    };
    untyped.on(event, onEvent);
    if (event !== 'error') untyped.on('error', onError);
    signal?.addEventListener('abort', onAbortSignal, { once: true });
  });
}
