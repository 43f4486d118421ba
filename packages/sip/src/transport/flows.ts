/**
 * The flows of the transport layer: one UDP address pair, one TCP/TLS
 * socket, or one WebSocket.
 *
 * @module
 */

import type { Socket as DgramSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import { isUtf8 } from 'node:buffer';
import type { WebSocket } from 'ws';
import { VoxmeshError, throwIfAborted } from '@voxmesh/core';
import { SipErrorCode } from '../codec/errors.js';
import { SipStreamFramer, type SipStreamFramerOptions, type StreamFrame } from '../codec/framer.js';
import type { Flow, SendOptions, TransportAddress, TransportProtocol } from './types.js';

let nextFlowNumber = 0;

function flowId(
  protocol: TransportProtocol,
  local: TransportAddress,
  remote: TransportAddress,
): string {
  nextFlowNumber = (nextFlowNumber + 1) % Number.MAX_SAFE_INTEGER;
  return `${protocol.toLowerCase()}:${formatAddress(local)}-${formatAddress(remote)}#${nextFlowNumber}`;
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatAddress(address: TransportAddress): string {
  return address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

function flowClosed(flow: Flow, reason: string): VoxmeshError {
  return new VoxmeshError(SipErrorCode.SIP_FLOW_CLOSED, `Flow ${flow.id} is closed: ${reason}`, {
    retryable: true,
  });
}

/** A UDP flow: the listener's socket and one remote address. */
export class UdpFlow implements Flow {
  readonly protocol = 'UDP';
  readonly reliable = false;
  readonly id: string;

  constructor(
    readonly socket: DgramSocket,
    readonly local: TransportAddress,
    readonly remote: TransportAddress,
    readonly maxDatagramBytes: number,
  ) {
    this.id = `udp:${formatAddress(local)}-${formatAddress(remote)}`;
  }

  get closed(): boolean {
    return false;
  }

  send(data: Buffer, options: SendOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    if (data.length > this.maxDatagramBytes) {
      // RFC 3261 §18.1.1: a message this large must go over a congestion-controlled transport.
      return Promise.reject(
        new VoxmeshError(
          SipErrorCode.SIP_MESSAGE_TOO_LARGE,
          `A ${data.length}-byte message does not fit in a UDP datagram (limit ${this.maxDatagramBytes})`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.socket.send(data, this.remote.port, this.remote.host, (error) => {
        if (error) reject(flowClosed(this, error.message));
        else resolve();
      });
    });
  }

  close(): void {
    // A UDP flow has no connection of its own.
  }
}

/** Hooks through which a connection flow reports to its transport layer. */
export interface ConnectionHooks {
  /** A complete message arrived (a frame, or a WebSocket message). */
  onMessage(flow: ConnectionFlow, data: Buffer): void;
  /** The flow closed, for whatever reason. */
  onClose(flow: ConnectionFlow, reason: string): void;
  /**
   * The stream cannot be framed any more: answer if possible, then close the
   * flow (the hook must close it).
   */
  onFramingError(flow: ConnectionFlow, frame: Extract<StreamFrame, { type: 'error' }>): void;
  /** Now, on the monotonic clock. */
  now(): number;
}

/** Limits of a connection flow. */
export interface ConnectionLimits extends SipStreamFramerOptions {
  /** Bytes queued for sending beyond which the flow is closed. */
  maxBufferedBytes: number;
}

/** A connection-oriented flow (TCP, TLS, WS, WSS). */
export abstract class ConnectionFlow implements Flow {
  readonly reliable = true;
  readonly id: string;
  /** Whether we opened the connection (keep-alives are ours to send). */
  readonly outgoing: boolean;
  /** The monotonic time of the last bytes received. */
  lastReceived: number;
  /** When we sent a keep-alive ping that has not been answered yet. */
  pingSentAt: number | undefined;
  /** When we last sent a ping. */
  lastPing: number;
  #closed = false;

  protected constructor(
    readonly protocol: TransportProtocol,
    readonly local: TransportAddress,
    readonly remote: TransportAddress,
    outgoing: boolean,
    protected readonly hooks: ConnectionHooks,
    protected readonly limits: ConnectionLimits,
  ) {
    this.id = flowId(protocol, local, remote);
    this.outgoing = outgoing;
    this.lastReceived = hooks.now();
    this.lastPing = this.lastReceived;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The bytes queued in the socket, not yet written. */
  abstract get bufferedBytes(): number;

  send(data: Buffer, options: SendOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    if (this.#closed) return Promise.reject(flowClosed(this, 'closed before the send'));
    if (this.bufferedBytes + data.length > this.limits.maxBufferedBytes) {
      // The peer does not read: give up on the flow rather than buffer without end.
      this.close('send buffer limit exceeded');
      return Promise.reject(flowClosed(this, 'send buffer limit exceeded'));
    }
    return this.write(data);
  }

  /** Sends an RFC 5626 §3.5.1 keep-alive ping. */
  abstract ping(): void;

  /** Answers a ping with a pong. */
  protected abstract pong(): void;

  protected abstract write(data: Buffer): Promise<void>;

  protected abstract destroy(): void;

  close(reason = 'closed locally'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.destroy();
    this.hooks.onClose(this, reason);
  }

  /** @internal The underlying connection closed. */
  protected closedByPeer(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.hooks.onClose(this, reason);
  }

  protected received(): void {
    this.lastReceived = this.hooks.now();
    this.pingSentAt = undefined;
  }

  protected handleFrames(frames: StreamFrame[]): void {
    for (const frame of frames) {
      if (this.#closed) return;
      switch (frame.type) {
        case 'message':
          this.hooks.onMessage(this, frame.data);
          break;
        case 'ping':
          this.pong();
          break;
        case 'pong':
          break;
        case 'error':
          this.hooks.onFramingError(this, frame);
          return;
      }
    }
  }
}

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');

/** A TCP or TLS connection, framed by Content-Length (RFC 3261 §18.3). */
export class SocketFlow extends ConnectionFlow {
  readonly #socket: Socket;
  readonly #framer: SipStreamFramer;

  constructor(init: {
    protocol: 'TCP' | 'TLS';
    socket: Socket;
    outgoing: boolean;
    hooks: ConnectionHooks;
    limits: ConnectionLimits;
  }) {
    const { socket } = init;
    super(
      init.protocol,
      { host: socket.localAddress ?? '', port: socket.localPort ?? 0 },
      { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
      init.outgoing,
      init.hooks,
      init.limits,
    );
    this.#socket = socket;
    this.#framer = new SipStreamFramer(init.limits);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.received();
      this.handleFrames(this.#framer.push(chunk));
    });
    socket.on('error', (error) => this.closedByPeer(`socket error: ${error.message}`));
    socket.on('close', () => this.closedByPeer('connection closed'));
  }

  get bufferedBytes(): number {
    return this.#socket.writableLength;
  }

  ping(): void {
    this.#socket.write(CRLFCRLF);
  }

  protected pong(): void {
    this.#socket.write(CRLF);
  }

  protected write(data: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#socket.write(data, (error) => {
        if (error) reject(flowClosed(this, error.message));
        else resolve();
      });
    });
  }

  protected destroy(): void {
    this.#socket.destroy();
  }
}

/** A WebSocket connection: one SIP message per WebSocket message (RFC 7118 §5.1). */
export class WebSocketFlow extends ConnectionFlow {
  readonly #ws: WebSocket;

  constructor(init: {
    protocol: 'WS' | 'WSS';
    ws: WebSocket;
    local: TransportAddress;
    remote: TransportAddress;
    outgoing: boolean;
    hooks: ConnectionHooks;
    limits: ConnectionLimits;
  }) {
    super(init.protocol, init.local, init.remote, init.outgoing, init.hooks, init.limits);
    const ws = init.ws;
    this.#ws = ws;
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      this.received();
      const bytes = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      // Some clients send RFC 5626-style CRLF keep-alives inside WebSocket messages.
      if (bytes.length > 0 && bytes.every((b) => b === 0x0d || b === 0x0a)) {
        if (bytes.equals(CRLFCRLF)) this.pong();
        return;
      }
      if (
        bytes.length >
        (this.limits.maxHeaderBytes ?? 32768) + (this.limits.maxBodyBytes ?? 65536)
      ) {
        this.close('message too large');
        return;
      }
      this.hooks.onMessage(this, bytes);
    });
    ws.on('pong', () => this.received());
    ws.on('error', (error) => this.closedByPeer(`websocket error: ${error.message}`));
    ws.on('close', () => this.closedByPeer('websocket closed'));
  }

  get bufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  ping(): void {
    this.#ws.ping();
  }

  protected pong(): void {
    this.#ws.send('\r\n');
  }

  protected write(data: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // Text frames for UTF-8 messages (what browsers expect), binary otherwise (RFC 7118 §5.1).
      this.#ws.send(data, { binary: !isUtf8(data) }, (error) => {
        if (error) reject(flowClosed(this, error.message));
        else resolve();
      });
    });
  }

  protected destroy(): void {
    this.#ws.terminate();
  }
}
