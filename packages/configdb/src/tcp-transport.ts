/**
 * Replication between processes over TCP (optionally TLS), authenticated by a
 * shared secret.
 *
 * Each replica listens; to send to a peer it dials that peer and keeps the
 * connection (so every link is two one-way connections). Frames are a 4-byte
 * big-endian length and a UTF-8 JSON body.
 *
 * Handshake (mutual proof of the shared secret, HMAC-SHA-256, nonces against
 * replay):
 *
 * ```text
 * dialer                                          listener
 *   ── { id, nonce: Nd } ─────────────────────────────►
 *   ◄── { id, nonce: Nl, proof: H("L|"+Nd+"|"+dialer+"|"+listener) }
 *   ── { proof: H("D|"+Nl+"|"+dialer+"|"+listener) } ──►
 *   ◄── { ok: true } ───────────────────────────────────
 *   ── replication messages ──────────────────────────►
 * ```
 *
 * @module
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { type Clock, type Logger, type Timer, silentLogger, systemClock } from '@voxmesh/core';
import { parseReplicationMessage } from './messages.js';
import type {
  CallOptions,
  ReplicationMessage,
  ReplicationTransport,
  TransportHandler,
} from './types.js';

/** A host and port. */
export interface TcpAddress {
  readonly host: string;
  readonly port: number;
}

/** A peer replica: its id and, once known, its address. */
export interface TcpPeer {
  readonly id: string;
  readonly host?: string | undefined;
  readonly port?: number | undefined;
}

/** TLS settings of a {@link TcpTransport}. */
export interface TcpTransportTls {
  /** Options of the listening TLS server (`key`, `cert`, `ca`, ...). */
  server: tls.TlsOptions;
  /** Options of outgoing TLS connections (`ca`, `servername`, ...). */
  client: tls.ConnectionOptions;
}

/** Options of the {@link TcpTransport} constructor. */
export interface TcpTransportOptions {
  /** This replica's id. */
  id: string;
  /** The secret every replica of the shard shares (at least 16 bytes). */
  secret: string | Uint8Array;
  /** The peers (other replicas of the shard). Addresses can be set later. */
  peers: readonly TcpPeer[];
  /**
   * Address to listen on.
   * @defaultValue `'127.0.0.1'`
   */
  host?: string | undefined;
  /**
   * Port to listen on; `0` picks a free one (see {@link TcpTransport.address}).
   * @defaultValue `0`
   */
  port?: number | undefined;
  /**
   * TLS for every link.
   * @defaultValue plain TCP
   */
  tls?: TcpTransportTls | undefined;
  /**
   * First delay before redialling a peer; doubles up to 5 s.
   * @defaultValue `100`
   */
  reconnectDelayMs?: number | undefined;
  /**
   * A handshake not finished within this time closes the connection.
   * @defaultValue `5000`
   */
  handshakeTimeoutMs?: number | undefined;
  /**
   * Largest accepted frame.
   * @defaultValue `16 MiB`
   */
  maxFrameBytes?: number | undefined;
  /**
   * Bytes buffered towards a slow peer before further messages are dropped
   * (anti-entropy repairs the loss).
   * @defaultValue `8 MiB`
   */
  maxBufferedBytes?: number | undefined;
  /** @defaultValue `systemClock` */
  clock?: Clock | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
}

type Socket = net.Socket | tls.TLSSocket;

interface Outbound {
  socket: Socket | undefined;
  up: boolean;
  timer: Timer | undefined;
  delay: number;
  address: TcpAddress | undefined;
}

/** Reads length-prefixed frames from a socket. */
class FrameReader {
  #buffer: Buffer = Buffer.alloc(0);

  constructor(
    private readonly max: number,
    private readonly onFrame: (value: unknown) => void,
    private readonly onError: (error: Error) => void,
  ) {}

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 4) {
      const length = this.#buffer.readUInt32BE(0);
      if (length > this.max) {
        this.onError(new Error(`frame of ${length} bytes exceeds ${this.max}`));
        return;
      }
      if (this.#buffer.length < 4 + length) return;
      const body = this.#buffer.subarray(4, 4 + length);
      this.#buffer = this.#buffer.subarray(4 + length);
      let value: unknown;
      try {
        value = JSON.parse(body.toString('utf8'));
      } catch {
        this.onError(new Error('frame is not JSON'));
        return;
      }
      this.onFrame(value);
    }
  }
}

function frame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A {@link ReplicationTransport} over TCP or TLS with shared-secret
 * authentication. Bad frames, failed handshakes and invalid messages close
 * the connection; the dialer retries with backoff.
 *
 * @example
 * ```ts
 * const transport = new TcpTransport({ id: 'a', secret, port: 7401,
 *   peers: [{ id: 'b', host: '10.0.0.2', port: 7401 }, { id: 'c', host: '10.0.0.3', port: 7401 }] });
 * const replica = new ConfigReplica({ id: 'a', location: '/var/lib/configdb', transport });
 * ```
 */
export class TcpTransport implements ReplicationTransport {
  readonly peers: readonly string[];
  readonly #options: TcpTransportOptions;
  readonly #secret: Buffer;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #outbound = new Map<string, Outbound>();
  readonly #inbound = new Set<Socket>();
  #server: net.Server | undefined;
  #handler: TransportHandler | undefined;
  #closed = false;

  constructor(options: TcpTransportOptions) {
    const secret =
      typeof options.secret === 'string'
        ? Buffer.from(options.secret, 'utf8')
        : Buffer.from(options.secret);
    if (secret.length < 16) throw new TypeError('The shared secret must be at least 16 bytes');
    this.#options = options;
    this.#secret = secret;
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? silentLogger).child({
      transport: 'tcp',
      replica: options.id,
    });
    this.peers = options.peers.map((p) => p.id);
    for (const peer of options.peers) {
      this.#outbound.set(peer.id, {
        socket: undefined,
        up: false,
        timer: undefined,
        delay: options.reconnectDelayMs ?? 100,
        address:
          peer.host !== undefined && peer.port !== undefined
            ? { host: peer.host, port: peer.port }
            : undefined,
      });
    }
  }

  /** The address this transport listens on (after `start()`). */
  address(): TcpAddress {
    const address = this.#server?.address();
    if (!address || typeof address === 'string')
      throw new TypeError('TcpTransport is not listening');
    return { host: address.address, port: address.port };
  }

  /** Sets (or changes) where peer `id` listens; reconnects to it. */
  setPeerAddress(id: string, address: TcpAddress): void {
    const out = this.#outbound.get(id);
    if (!out) throw new TypeError(`Unknown peer ${id}`);
    out.address = { host: address.host, port: address.port };
    out.socket?.destroy();
    if (this.#handler && !out.socket) this.#dial(id);
  }

  async start(handler: TransportHandler, options: CallOptions = {}): Promise<void> {
    this.#handler = handler;
    const server = this.#options.tls
      ? tls.createServer(this.#options.tls.server, (socket) => {
          this.#accept(socket);
        })
      : net.createServer((socket) => {
          this.#accept(socket);
        });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port ?? 0, this.#options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
      options.signal?.addEventListener('abort', () => {
        server.close();
        reject(options.signal?.reason as Error);
      });
    });
    for (const id of this.peers) this.#dial(id);
  }

  send(peerId: string, message: ReplicationMessage): void {
    const out = this.#outbound.get(peerId);
    if (!out?.up || !out.socket) return;
    if (out.socket.writableLength > (this.#options.maxBufferedBytes ?? 8 * 1024 * 1024)) return;
    out.socket.write(frame(message));
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const out of this.#outbound.values()) {
      out.timer?.cancel();
      out.socket?.destroy();
    }
    for (const socket of this.#inbound) socket.destroy();
    const server = this.#server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #proof(role: 'L' | 'D', nonce: string, dialer: string, listener: string): Buffer {
    return createHmac('sha256', this.#secret)
      .update(`${role}|${nonce}|${dialer}|${listener}`)
      .digest();
  }

  #checkProof(expected: Buffer, given: unknown): boolean {
    if (typeof given !== 'string') return false;
    const buffer = Buffer.from(given, 'hex');
    return buffer.length === expected.length && timingSafeEqual(buffer, expected);
  }

  /** The listening side: authenticate the dialer, then take its messages. */
  #accept(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#inbound.add(socket);
    const self = this.#options.id;
    const nonce = randomBytes(16).toString('hex');
    let dialer: string | undefined;
    let stage: 'hello' | 'proof' | 'open' = 'hello';
    const timeout = this.#clock.setTimeout(() => {
      if (stage !== 'open') socket.destroy();
    }, this.#options.handshakeTimeoutMs ?? 5000);
    const fail = (reason: string): void => {
      this.#logger.warn({ peer: dialer, reason }, 'closing replication connection');
      socket.destroy();
    };
    const reader = new FrameReader(
      this.#options.maxFrameBytes ?? 16 * 1024 * 1024,
      (value) => {
        if (stage === 'hello') {
          if (!isRecord(value) || typeof value.id !== 'string' || typeof value.nonce !== 'string') {
            fail('bad hello');
            return;
          }
          if (!this.peers.includes(value.id)) {
            fail(`unknown peer ${value.id}`);
            return;
          }
          dialer = value.id;
          socket.write(
            frame({
              id: self,
              nonce,
              proof: this.#proof('L', value.nonce, dialer, self).toString('hex'),
            }),
          );
          stage = 'proof';
        } else if (stage === 'proof') {
          if (
            !isRecord(value) ||
            !this.#checkProof(this.#proof('D', nonce, dialer as string, self), value.proof)
          ) {
            fail('peer failed the shared-secret proof (PEER_AUTH_FAILED)');
            return;
          }
          stage = 'open';
          timeout.cancel();
          socket.write(frame({ ok: true }));
        } else {
          let message: ReplicationMessage;
          try {
            message = parseReplicationMessage(value);
          } catch (error) {
            fail(error instanceof Error ? error.message : 'invalid message');
            return;
          }
          this.#handler?.message(dialer as string, message);
        }
      },
      (error) => {
        fail(error.message);
      },
    );
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      timeout.cancel();
      this.#inbound.delete(socket);
    });
  }

  /** The dialling side: connect, prove the secret, then send. */
  #dial(peer: string): void {
    const out = this.#outbound.get(peer);
    if (!out || this.#closed || out.socket || !out.address) return;
    out.timer?.cancel();
    out.timer = undefined;
    const self = this.#options.id;
    const { host, port } = out.address;
    const socket: Socket = this.#options.tls
      ? tls.connect({ ...this.#options.tls.client, host, port })
      : net.connect({ host, port });
    socket.setNoDelay(true);
    out.socket = socket;
    const nonce = randomBytes(16).toString('hex');
    let stage: 'hello' | 'ok' | 'open' = 'hello';
    const fail = (reason: string): void => {
      this.#logger.warn({ peer, reason }, 'replication link failed');
      socket.destroy();
    };
    const reader = new FrameReader(
      this.#options.maxFrameBytes ?? 16 * 1024 * 1024,
      (value) => {
        if (stage === 'hello') {
          if (
            !isRecord(value) ||
            value.id !== peer ||
            typeof value.nonce !== 'string' ||
            !this.#checkProof(this.#proof('L', nonce, self, peer), value.proof)
          ) {
            fail('peer failed the shared-secret proof (PEER_AUTH_FAILED)');
            return;
          }
          socket.write(frame({ proof: this.#proof('D', value.nonce, self, peer).toString('hex') }));
          stage = 'ok';
        } else if (stage === 'ok') {
          if (!isRecord(value) || value.ok !== true) {
            fail('handshake refused');
            return;
          }
          stage = 'open';
          out.up = true;
          out.delay = this.#options.reconnectDelayMs ?? 100;
          this.#handler?.peerUp(peer);
        }
      },
      (error) => {
        fail(error.message);
      },
    );
    socket.on(this.#options.tls ? 'secureConnect' : 'connect', () => {
      socket.write(frame({ id: self, nonce }));
    });
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (out.socket === socket) out.socket = undefined;
      if (out.up) {
        out.up = false;
        this.#handler?.peerDown(peer);
      }
      if (this.#closed) return;
      const delay = out.delay;
      out.delay = Math.min(out.delay * 2, 5000);
      out.timer = this.#clock.setTimeout(() => {
        out.timer = undefined;
        this.#dial(peer);
      }, delay);
    });
  }
}
