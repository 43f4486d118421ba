/**
 * The location service's data: bindings of an address of record to contact
 * addresses (RFC 3261 §10), and the pluggable store that keeps them.
 *
 * A {@link Binding} is plain JSON, so a store may serialise it as it likes
 * (one key per AOR in a replicated store, a document per AOR in a database).
 *
 * @module
 */

import { throwIfAborted } from '@voxmesh/core';
import type { TransportAddress, TransportProtocol } from '../transport/types.js';

/**
 * The path a REGISTER arrived on: where a request to the contact can be sent
 * when the contact itself is not reachable (behind NAT, or a connection-only
 * client such as a WebSocket phone). RFC 5626 §5.2 calls this the flow.
 */
export interface ReceivedPath {
  /** The transport protocol of the REGISTER. */
  readonly protocol: TransportProtocol;
  /** The source address and port of the REGISTER, as seen on the wire (RFC 3581 `received`/`rport`). */
  readonly source: TransportAddress;
  /** The local address it arrived on, when known. */
  readonly local?: TransportAddress | undefined;
  /** The id of the transport flow it arrived on (a connection for TCP, TLS, WS, WSS), when known. */
  readonly flowId?: string | undefined;
}

/** One binding of an address of record to a contact address (RFC 3261 §10.3). */
export interface Binding {
  /** The canonical address of record, `sip:user@domain` (RFC 3261 §10.3 step 5). */
  readonly aor: string;
  /** The contact URI, as registered. */
  readonly contact: string;
  /** The contact's `q` value, 0 to 1 (RFC 3261 §20.10); `1` when the phone gave none. */
  readonly q: number;
  /** When the binding expires, in milliseconds since the epoch (the registrar's clock). */
  readonly expiresAt: number;
  /** When the binding was last created or refreshed, in milliseconds since the epoch. */
  readonly updatedAt: number;
  /** The Call-ID of the REGISTER that last refreshed it (RFC 3261 §10.3 step 7). */
  readonly callId: string;
  /** The CSeq number of the REGISTER that last refreshed it (RFC 3261 §10.3 step 7). */
  readonly cseq: number;
  /** The path the REGISTER arrived on. */
  readonly received: ReceivedPath;
  /** The `+sip.instance` contact parameter (RFC 5626 §4.1), when given. */
  readonly instanceId?: string | undefined;
  /** The `reg-id` contact parameter (RFC 5626 §4.2), when given with an instance id. */
  readonly regId?: number | undefined;
  /** The User-Agent header of the REGISTER, when given. */
  readonly userAgent?: string | undefined;
}

/** Options every {@link BindingStore} method takes. */
export interface BindingStoreOptions {
  /** Aborts the operation: it rejects with an `AbortError`. */
  signal?: AbortSignal | undefined;
}

/**
 * Where the registrar keeps bindings. Each AOR's bindings are read and
 * written as a whole, so an implementation only needs per-key atomicity; the
 * registrar serialises the updates of one AOR within a process.
 *
 * Every implementation should pass `bindingStoreSuite` from
 * `@voxmesh/sip/testing`.
 */
export interface BindingStore {
  /** The bindings of `aor` in the order they were last set (`[]` when none). Expired ones may be included. */
  get(aor: string, options?: BindingStoreOptions): Promise<Binding[]>;
  /**
   * Replaces all bindings of `aor`; an empty list removes the AOR. Every
   * binding's `aor` must equal `aor` (a `TypeError` otherwise).
   */
  set(aor: string, bindings: readonly Binding[], options?: BindingStoreOptions): Promise<void>;
  /**
   * Removes every binding with `expiresAt <= now` and resolves with the
   * removed bindings.
   */
  expire(now: number, options?: BindingStoreOptions): Promise<Binding[]>;
}

function checkAbort(options: BindingStoreOptions | undefined): void {
  throwIfAborted(options?.signal);
}

function copy(binding: Binding): Binding {
  return {
    ...binding,
    received: {
      ...binding.received,
      source: { ...binding.received.source },
      ...(binding.received.local === undefined ? {} : { local: { ...binding.received.local } }),
    },
  };
}

/**
 * The default {@link BindingStore}: bindings in a `Map`, lost when the process
 * ends. Fits one registrar process; a cluster shares a replicated store.
 */
export class MemoryBindingStore implements BindingStore {
  readonly #bindings = new Map<string, Binding[]>();

  /** The number of AORs with at least one binding. */
  get size(): number {
    return this.#bindings.size;
  }

  get(aor: string, options?: BindingStoreOptions): Promise<Binding[]> {
    try {
      checkAbort(options);
      if (typeof aor !== 'string') throw new TypeError('aor must be a string');
      return Promise.resolve((this.#bindings.get(aor) ?? []).map(copy));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  set(aor: string, bindings: readonly Binding[], options?: BindingStoreOptions): Promise<void> {
    try {
      checkAbort(options);
      if (typeof aor !== 'string') throw new TypeError('aor must be a string');
      for (const binding of bindings) {
        if (binding.aor !== aor) {
          throw new TypeError(`A binding of ${binding.aor} cannot be stored under ${aor}`);
        }
      }
      if (bindings.length === 0) this.#bindings.delete(aor);
      else this.#bindings.set(aor, bindings.map(copy));
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  expire(now: number, options?: BindingStoreOptions): Promise<Binding[]> {
    try {
      checkAbort(options);
      const removed: Binding[] = [];
      for (const [aor, bindings] of this.#bindings) {
        const kept = bindings.filter((b) => b.expiresAt > now);
        if (kept.length === bindings.length) continue;
        for (const b of bindings) if (b.expiresAt <= now) removed.push(copy(b));
        if (kept.length === 0) this.#bindings.delete(aor);
        else this.#bindings.set(aor, kept);
      }
      return Promise.resolve(removed);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
