/**
 * RTP port allocation from a configured range: an even RTP port and the odd
 * port above it for RTCP (RFC 3550 §11), or a single port with rtcp-mux
 * (RFC 5761). Ports in use by other processes are skipped; released ports
 * go back to the pool.
 *
 * @module
 */

import { createSocket, type Socket } from 'node:dgram';
import { VoxmeshError } from '@voxmesh/core';
import { MediaErrorCode } from './errors.js';

/** Options of {@link PortAllocator}. */
export interface PortAllocatorOptions {
  /**
   * The local address sockets bind to.
   * @defaultValue `'127.0.0.1'`
   */
  address?: string | undefined;
  /**
   * The lowest port (inclusive). With `minPort` and `maxPort` both `0`, the
   * operating system picks ephemeral ports (tests).
   * @defaultValue `0`
   */
  minPort?: number | undefined;
  /**
   * The highest port (inclusive).
   * @defaultValue `0`
   */
  maxPort?: number | undefined;
  /**
   * The receive and send buffer size of each socket, in bytes, so a short
   * stall of the event loop does not drop packets (capped by the kernel's
   * `net.core.rmem_max` / `wmem_max`).
   * @defaultValue `1048576`
   */
  socketBufferBytes?: number | undefined;
}

/** Options of {@link PortAllocator.allocate}. */
export interface AllocateOptions {
  /**
   * Also bind an RTCP socket (the next odd port); `false` for rtcp-mux.
   * @defaultValue `true`
   */
  rtcp?: boolean | undefined;
  /** Aborts the allocation. */
  signal?: AbortSignal | undefined;
}

/** Bound sockets for one media leg. Call {@link PortPair.release} when done. */
export interface PortPair {
  /** The RTP port. */
  readonly port: number;
  /** The RTCP port, when an RTCP socket was bound. */
  readonly rtcpPort: number | undefined;
  /** The RTP socket (also RTCP with rtcp-mux). */
  readonly rtp: Socket;
  /** The RTCP socket, when bound. */
  readonly rtcp: Socket | undefined;
  /**
   * Whether the ports were bound explicitly (from a range). Only such a
   * socket keeps its port when a `connect()` is undone: Linux unbinds an
   * ephemeral port on disconnect.
   */
  readonly fixed: boolean;
  /** Closes the sockets and returns the ports to the pool. Idempotent. */
  release(): void;
}

function bind(socket: Socket, port: number, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(error);
    };
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      resolve(socket.address().port);
    });
  });
}

function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // Already closed.
  }
}

/** Hands out RTP (and RTCP) ports from a range. */
export class PortAllocator {
  /** The local address sockets bind to. */
  readonly address: string;
  readonly #min: number;
  readonly #max: number;
  readonly #used = new Set<number>();
  readonly #bufferBytes: number;
  #cursor: number;

  constructor(options: PortAllocatorOptions = {}) {
    this.address = options.address ?? '127.0.0.1';
    this.#bufferBytes = options.socketBufferBytes ?? 1024 * 1024;
    const min = options.minPort ?? 0;
    const max = options.maxPort ?? 0;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max > 65535 || min > max) {
      throw new RangeError(`Invalid port range ${min}-${max}`);
    }
    if (min !== 0 && max - min < 1)
      throw new RangeError('The port range must hold at least two ports');
    // RTP takes the even port of each pair (RFC 3550 §11).
    this.#min = min + (min & 1);
    this.#max = max;
    this.#cursor = this.#min;
  }

  /** Pairs currently handed out. */
  get inUse(): number {
    return this.#used.size;
  }

  /** The number of RTP ports (pairs) the range holds; `Infinity` for ephemeral ports. */
  get capacity(): number {
    return this.#min === 0 && this.#max === 0
      ? Infinity
      : Math.floor((this.#max - this.#min + 1) / 2);
  }

  /**
   * Binds sockets for one leg. Rejects with `MEDIA_PORTS_EXHAUSTED`
   * (retryable) when every pair in the range is in use or cannot be bound.
   */
  async allocate(options: AllocateOptions = {}): Promise<PortPair> {
    const wantRtcp = options.rtcp ?? true;
    options.signal?.throwIfAborted();
    if (this.#min === 0 && this.#max === 0) {
      const rtp = this.#socket();
      const port = await bind(rtp, 0, this.address);
      let rtcp: Socket | undefined;
      let rtcpPort: number | undefined;
      if (wantRtcp) {
        rtcp = this.#socket();
        rtcpPort = await bind(rtcp, 0, this.address);
      }
      return this.#pair(port, rtcpPort, rtp, rtcp, false);
    }
    const pairs = this.capacity;
    for (let i = 0; i < pairs; i++) {
      options.signal?.throwIfAborted();
      const port = this.#cursor;
      this.#cursor += 2;
      if (this.#cursor + 1 > this.#max + 1) this.#cursor = this.#min;
      if (this.#used.has(port)) continue;
      this.#used.add(port);
      const rtp = this.#socket();
      try {
        await bind(rtp, port, this.address);
      } catch {
        closeQuietly(rtp);
        this.#used.delete(port);
        continue;
      }
      let rtcp: Socket | undefined;
      if (wantRtcp) {
        rtcp = this.#socket();
        try {
          await bind(rtcp, port + 1, this.address);
        } catch {
          closeQuietly(rtcp);
          closeQuietly(rtp);
          this.#used.delete(port);
          continue;
        }
      }
      return this.#pair(port, wantRtcp ? port + 1 : undefined, rtp, rtcp, true);
    }
    throw new VoxmeshError(
      MediaErrorCode.PORTS_EXHAUSTED,
      `No free RTP port in ${this.#min}-${this.#max} (${this.#used.size} pairs in use)`,
      { retryable: true },
    );
  }

  #socket(): Socket {
    return createSocket({
      type: 'udp4',
      recvBufferSize: this.#bufferBytes,
      sendBufferSize: this.#bufferBytes,
    });
  }

  #pair(
    port: number,
    rtcpPort: number | undefined,
    rtp: Socket,
    rtcp: Socket | undefined,
    pooled: boolean,
  ): PortPair {
    let released = false;
    return {
      port,
      rtcpPort,
      rtp,
      rtcp,
      fixed: pooled,
      release: () => {
        if (released) return;
        released = true;
        closeQuietly(rtp);
        if (rtcp) closeQuietly(rtcp);
        if (pooled) this.#used.delete(port);
      },
    };
  }
}
