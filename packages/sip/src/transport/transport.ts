/**
 * The SIP transport layer over real sockets (RFC 3261 §18): UDP, TCP, TLS,
 * WS and WSS listeners, outgoing connections with reuse, response routing,
 * keep-alives and limits.
 *
 * ```text
 *             ┌──────────────── SipTransport (a core Service) ────────────────┐
 *  datagram ─►│ UDP listener ─┐                                               │
 *  stream   ─►│ TCP/TLS ─ framer ─┼─► parseMessage ─┬─ ok: stamp Via, emit 'message'
 *  ws msg   ─►│ WS/WSS ───────┘                   ├─ reject: answer 400/505  │
 *             │                                   └─ drop: count it          │
 *             └───────────────────────────────────────────────────────────────┘
 * ```
 *
 * @module
 */

import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  type Server as NetServer,
  type Socket,
  connect as netConnect,
  createServer as createNetServer,
  isIP,
} from 'node:net';
import { networkInterfaces } from 'node:os';
import {
  type ConnectionOptions as TlsConnectionOptions,
  type TlsOptions,
  connect as tlsConnect,
  createServer as createTlsServer,
} from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import {
  type Clock,
  type Logger,
  Metrics,
  Service,
  type Timer,
  VoxmeshError,
  silentLogger,
  throwIfAborted,
} from '@voxmesh/core';
import { SipErrorCode } from '../codec/errors.js';
import { parseMessage } from '../codec/parser.js';
import { type SipMessage, type SipResponse, createResponse } from '../message.js';
import {
  type ConnectionFlow,
  type ConnectionHooks,
  type ConnectionLimits,
  SocketFlow,
  UdpFlow,
  WebSocketFlow,
  formatAddress,
} from './flows.js';
import { responseTarget, stampReceived } from './routing.js';
import type {
  Flow,
  SendOptions,
  SendResponseOptions,
  SipTransportLayer,
  TransportAddress,
  TransportProtocol,
  TransportTarget,
} from './types.js';

/** One listening socket of a {@link SipTransport}. */
export interface ListenerOptions {
  /** The protocol. */
  protocol: TransportProtocol;
  /**
   * The local address to bind.
   * @defaultValue `'0.0.0.0'`
   */
  host?: string | undefined;
  /**
   * The port to bind; `0` picks a free one (read it from {@link SipTransport.listening}).
   * @defaultValue 5060 for UDP and TCP, 5061 for TLS, 5066 for WS, 7443 for WSS
   */
  port?: number | undefined;
  /**
   * The address to put in Via and Contact instead of the bound one: the
   * public address of a host behind NAT, or a name.
   * @defaultValue the bound address (for a wildcard bind, the first non-internal IPv4 address), and the bound port
   */
  advertised?: { host: string; port?: number | undefined } | undefined;
  /** Certificate and key (and any other Node TLS server option); required for TLS and WSS. @defaultValue none */
  tls?: TlsOptions | undefined;
  /**
   * For WS and WSS: accept WebSocket upgrades only on this path.
   * @defaultValue any path
   */
  path?: string | undefined;
  /**
   * For UDP: the socket's receive buffer (SO_RCVBUF), in bytes, so that a
   * burst arriving while the event loop is busy waits in the kernel instead
   * of being dropped. The kernel may cap it (Linux: `net.core.rmem_max`);
   * the request is then lowered to what it allows.
   * @defaultValue `4_194_304` (4 MiB)
   */
  recvBufferSize?: number | undefined;
  /**
   * For UDP: the socket's send buffer (SO_SNDBUF), in bytes; capped like
   * {@link ListenerOptions.recvBufferSize} (`net.core.wmem_max`).
   * @defaultValue `1_048_576` (1 MiB)
   */
  sendBufferSize?: number | undefined;
}

const DEFAULT_UDP_RECV_BUFFER = 4_194_304;
const DEFAULT_UDP_SEND_BUFFER = 1_048_576;

/**
 * Asks for a socket buffer of `bytes`; the kernel grants what its limit
 * allows (Linux doubles the request for bookkeeping and caps it at
 * rmem_max/wmem_max without an error). An invalid size is a `RangeError`.
 */
function setUdpBufferSize(socket: DgramSocket, kind: 'recv' | 'send', bytes: number): void {
  if (!Number.isInteger(bytes) || bytes <= 0) {
    throw new RangeError(`The UDP ${kind} buffer size must be a positive integer, got ${bytes}`);
  }
  try {
    if (kind === 'recv') socket.setRecvBufferSize(bytes);
    else socket.setSendBufferSize(bytes);
  } catch {
    // Above the platform's limit: keep the system default.
  }
}

/** Options of the {@link SipTransport} constructor. */
export interface SipTransportOptions {
  /** The listeners to open on `start()`. At least one is needed to send over UDP. */
  listeners: readonly ListenerOptions[];
  /** A name for logs. @defaultValue `'sip-transport'` */
  name?: string | undefined;
  /** The clock for keep-alives and idle timeouts. @defaultValue `systemClock` */
  clock?: Clock | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
  /** Where the counters go. @defaultValue a private `Metrics` */
  metrics?: Metrics | undefined;
  /** The most connections (TCP, TLS, WS, WSS; incoming and outgoing together). @defaultValue `10000` */
  maxConnections?: number | undefined;
  /** Bytes queued for sending on one connection beyond which it is closed. @defaultValue `1048576` */
  maxBufferedBytes?: number | undefined;
  /** The largest header section accepted on a stream. @defaultValue `32768` */
  maxHeaderBytes?: number | undefined;
  /** The largest body accepted on a stream. @defaultValue `65536` */
  maxBodyBytes?: number | undefined;
  /** The largest message sent as one UDP datagram. @defaultValue `65507` */
  maxDatagramBytes?: number | undefined;
  /**
   * How often to send a CRLF keep-alive (RFC 5626 §3.5.1; a WebSocket ping on
   * WS/WSS) over connections this layer opened; `0` disables them.
   * @defaultValue `100000` (RFC 5626 §4.4.1 suggests 95–120 s for connections)
   */
  keepAliveIntervalMs?: number | undefined;
  /**
   * How long to wait for the pong (any bytes) after a keep-alive before the
   * connection is closed as dead (RFC 5626 §4.4.1).
   * @defaultValue `10000`
   */
  keepAliveTimeoutMs?: number | undefined;
  /** Closes an accepted connection that has been silent this long; `0` never. @defaultValue `600000` */
  idleTimeoutMs?: number | undefined;
  /** Gives up opening a connection after this long. @defaultValue `10000` */
  connectTimeoutMs?: number | undefined;
  /**
   * TLS options for connections this layer opens over TLS and WSS (`ca`,
   * `rejectUnauthorized`, client `cert`/`key`, …).
   * @defaultValue Node's defaults (the system CAs; certificates are verified)
   */
  tlsClient?: TlsConnectionOptions | undefined;
}

/** Events of a {@link SipTransport}. */
export interface SipTransportEvents {
  /** A well-formed message arrived over `flow` (see {@link SipTransportLayerEvents}). */
  message: [message: SipMessage, flow: Flow];
  /** A connection opened (incoming or outgoing). */
  flowOpened: [flow: Flow];
  /** A connection closed. */
  flowClosed: [flow: Flow, reason: string];
  /** Something that arrived was not passed on (malformed, over a limit). */
  dropped: [reason: string, remote: TransportAddress, protocol: TransportProtocol];
}

/** A listener once bound. */
export interface ListenerInfo {
  readonly protocol: TransportProtocol;
  /** The bound address and port. */
  readonly local: TransportAddress;
  /** The address for Via and Contact. */
  readonly advertised: TransportAddress;
}

interface Listener {
  info: ListenerInfo;
  options: ListenerOptions;
  udp?: DgramSocket;
  server?: NetServer;
  wss?: WebSocketServer;
}

const DEFAULT_LISTEN_PORT: Record<TransportProtocol, number> = {
  UDP: 5060,
  TCP: 5060,
  TLS: 5061,
  WS: 5066,
  WSS: 7443,
};

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function firstExternalIPv4(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) {
      if (entry.family === 'IPv4' && !entry.internal) return entry.address;
    }
  }
  return '127.0.0.1';
}

function reuseKey(protocol: TransportProtocol, host: string, port: number): string {
  return `${protocol}|${host.toLowerCase()}|${port}`;
}

function isFlow(value: Flow | TransportTarget): value is Flow {
  return typeof (value as Flow).send === 'function';
}

/**
 * The transport layer: listeners and connections for UDP, TCP, TLS, WS and
 * WSS, emitting every well-formed message with the {@link Flow} it came on.
 *
 * - Requests get `received`/`rport` in their top Via (RFC 3261 §18.2.1, RFC 3581).
 * - Malformed requests are answered with 400 (505 for another SIP version)
 *   and never reach `message`; other garbage is dropped and counted.
 * - {@link SipTransport.sendResponse} routes per RFC 3261 §18.2.2.
 * - Connections to the same remote address are reused, incoming ones included.
 * - Over connections it opened, the layer sends keep-alives and closes those
 *   that stop answering; silent accepted connections are closed after
 *   `idleTimeoutMs`.
 * - `drain()` stops accepting connections; UDP and open connections keep
 *   working until `stop()`.
 *
 * @example
 * ```ts
 * const transport = new SipTransport({ listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }] });
 * transport.on('message', (message, flow) => {
 *   if (message.isRequest() && message.method === 'OPTIONS') {
 *     void transport.sendResponse(createResponse(message, 200, { toTag: 'x1' }), { flow });
 *   }
 * });
 * await transport.start();
 * ```
 */
export class SipTransport extends Service<SipTransportEvents> implements SipTransportLayer {
  readonly #options: SipTransportOptions;
  readonly #logger: Logger;
  readonly #limits: ConnectionLimits;
  readonly #maxConnections: number;
  readonly #maxDatagramBytes: number;
  readonly #keepAliveIntervalMs: number;
  readonly #keepAliveTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  #listeners: Listener[] = [];
  readonly #connections = new Map<string, ConnectionFlow>();
  readonly #byRemote = new Map<string, ConnectionFlow>();
  readonly #connecting = new Map<string, Promise<ConnectionFlow>>();
  readonly #pendingSockets = new Set<{ destroy(): void }>();
  #sweep: Timer | undefined;
  readonly #hooks: ConnectionHooks;
  readonly #metrics: {
    received: ReturnType<Metrics['counter']>;
    sent: ReturnType<Metrics['counter']>;
    dropped: ReturnType<Metrics['counter']>;
    rejected: ReturnType<Metrics['counter']>;
    connections: ReturnType<Metrics['gauge']>;
  };

  constructor(options: SipTransportOptions) {
    super({ name: options.name ?? 'sip-transport', clock: options.clock });
    if (!Array.isArray(options.listeners)) throw new TypeError('listeners must be an array');
    for (const listener of options.listeners as readonly ListenerOptions[]) {
      if (
        (listener.protocol === 'TLS' || listener.protocol === 'WSS') &&
        listener.tls === undefined
      ) {
        throw new TypeError(`A ${listener.protocol} listener needs tls options (cert and key)`);
      }
    }
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: this.name });
    this.#limits = {
      maxBufferedBytes: options.maxBufferedBytes ?? 1_048_576,
      maxHeaderBytes: options.maxHeaderBytes ?? 32_768,
      maxBodyBytes: options.maxBodyBytes ?? 65_536,
    };
    this.#maxConnections = options.maxConnections ?? 10_000;
    this.#maxDatagramBytes = options.maxDatagramBytes ?? 65_507;
    this.#keepAliveIntervalMs = options.keepAliveIntervalMs ?? 100_000;
    this.#keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 10_000;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 600_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    const metrics = options.metrics ?? new Metrics();
    this.#metrics = {
      received: metrics.counter({
        name: 'sip_transport_received_total',
        help: 'SIP messages received and passed on',
        labelNames: ['protocol', 'kind'],
      }),
      sent: metrics.counter({
        name: 'sip_transport_sent_total',
        help: 'SIP messages sent',
        labelNames: ['protocol'],
      }),
      dropped: metrics.counter({
        name: 'sip_transport_dropped_total',
        help: 'Received data not passed on (malformed, over a limit)',
        labelNames: ['protocol'],
      }),
      rejected: metrics.counter({
        name: 'sip_transport_rejected_total',
        help: 'Malformed requests answered with 400 or 505 by the transport',
        labelNames: ['protocol'],
      }),
      connections: metrics.gauge({
        name: 'sip_transport_connections',
        help: 'Open connections (TCP, TLS, WS, WSS)',
        labelNames: ['protocol'],
      }),
    };
    this.#hooks = {
      onMessage: (flow, data) => this.#receive(data, flow),
      onClose: (flow, reason) => this.#forget(flow, reason),
      onFramingError: (flow, frame) =>
        this.#framingError(flow, frame.head, frame.status, frame.reason),
      now: () => this.clock.monotonic(),
    };
  }

  /** The bound listeners (available once started). */
  get listening(): readonly ListenerInfo[] {
    return this.#listeners.map((l) => l.info);
  }

  /** The open connections. */
  get connections(): readonly Flow[] {
    return [...this.#connections.values()];
  }

  /** The first listener of `protocol`, or `undefined`. */
  listener(protocol: TransportProtocol): ListenerInfo | undefined {
    return this.#listeners.find((l) => l.info.protocol === protocol)?.info;
  }

  advertisedAddress(protocol: TransportProtocol): TransportAddress | undefined {
    return this.listener(protocol)?.advertised;
  }

  /**
   * A flow by its id: an open connection, or a UDP flow of one of the
   * listeners (UDP flow ids name both addresses, so they stay valid as long
   * as the listener is open). `undefined` for a closed connection.
   */
  flow(id: string): Flow | undefined {
    const connection = this.#connections.get(id);
    if (connection !== undefined) return connection;
    const match = /^udp:(\[[^\]]+\]|[^:]+):(\d+)-(\[[^\]]+\]|[^:]+):(\d+)$/.exec(id);
    if (match === null) return undefined;
    const unbracket = (host: string): string => host.replace(/^\[(.*)\]$/, '$1');
    const localHost = unbracket(match[1] as string);
    const localPort = Number(match[2]);
    const listener = this.#listeners.find(
      (l) =>
        l.udp !== undefined && l.info.local.host === localHost && l.info.local.port === localPort,
    );
    if (listener?.udp === undefined) return undefined;
    return new UdpFlow(
      listener.udp,
      listener.info.local,
      { host: unbracket(match[3] as string), port: Number(match[4]) },
      this.#maxDatagramBytes,
    );
  }

  async send(
    message: SipMessage,
    destination: Flow | TransportTarget,
    options: SendOptions = {},
  ): Promise<Flow> {
    const flow = isFlow(destination) ? destination : await this.#flowTo(destination, options);
    await flow.send(message.serialize(), options);
    this.#metrics.sent.inc({ protocol: flow.protocol });
    return flow;
  }

  async sendResponse(response: SipResponse, options: SendResponseOptions = {}): Promise<Flow> {
    const { flow } = options;
    // RFC 3261 §18.2.2: over a reliable transport, reuse the connection the request came on.
    if (flow !== undefined && flow.reliable && !flow.closed)
      return this.send(response, flow, options);
    const target = responseTarget(response);
    if (flow instanceof UdpFlow) {
      // RFC 3581 §4: send from the address and port the request arrived on, to received:rport.
      const to = target ?? flow.remote;
      const out = new UdpFlow(
        flow.socket,
        flow.local,
        { host: to.host, port: to.port },
        this.#maxDatagramBytes,
      );
      return this.send(response, out, options);
    }
    if (target === undefined) {
      throw new VoxmeshError(
        SipErrorCode.SIP_NO_TRANSPORT,
        'Cannot route the response: its top Via is missing or names an unsupported transport',
      );
    }
    if (flow !== undefined && (target.protocol === 'WS' || target.protocol === 'WSS')) {
      throw new VoxmeshError(
        SipErrorCode.SIP_FLOW_CLOSED,
        `The WebSocket the request came on (${flow.id}) is closed; a response cannot be sent`,
        { retryable: false },
      );
    }
    return this.send(response, target, options);
  }

  /**
   * Returns an open flow to `target`, opening a connection when needed
   * (reused by later sends to the same address).
   */
  connect(target: TransportTarget, options: SendOptions = {}): Promise<Flow> {
    return this.#flowTo(target, options);
  }

  async #flowTo(target: TransportTarget, options: SendOptions): Promise<Flow> {
    throwIfAborted(options.signal);
    if (target.protocol === 'UDP') {
      const family = isIP(target.host);
      const listener =
        this.#listeners.find(
          (l) =>
            l.udp !== undefined &&
            (family === 0 || isIP(l.info.local.host) === family || isWildcardOf(l, family)),
        ) ?? this.#listeners.find((l) => l.udp !== undefined);
      if (listener?.udp === undefined) throw this.#noTransport(target);
      return new UdpFlow(
        listener.udp,
        listener.info.local,
        { host: target.host, port: target.port },
        this.#maxDatagramBytes,
      );
    }
    const key = reuseKey(target.protocol, target.host, target.port);
    const existing = this.#byRemote.get(key);
    if (existing !== undefined && !existing.closed) return existing;
    const pending = this.#connecting.get(key);
    if (pending !== undefined) return pending;
    if (this.state !== 'running' && this.state !== 'draining') throw this.#noTransport(target);
    if (this.#connections.size + this.#connecting.size >= this.#maxConnections) {
      throw new VoxmeshError(
        SipErrorCode.SIP_CONNECTION_LIMIT,
        `Connection limit (${this.#maxConnections}) reached; not connecting to ${target.host}:${target.port}`,
        { retryable: true },
      );
    }
    const connecting = this.#open(target, options.signal).finally(() =>
      this.#connecting.delete(key),
    );
    this.#connecting.set(key, connecting);
    const flow = await connecting;
    this.#byRemote.set(key, flow);
    return flow;
  }

  #noTransport(target: TransportTarget): VoxmeshError {
    return new VoxmeshError(
      SipErrorCode.SIP_NO_TRANSPORT,
      `No ${target.protocol} transport available to reach ${target.host}:${target.port} (transport is ${this.state})`,
    );
  }

  #open(target: TransportTarget, signal: AbortSignal | undefined): Promise<ConnectionFlow> {
    return new Promise<ConnectionFlow>((resolve, reject) => {
      let settled = false;
      let destroy: () => void = () => undefined;
      const pendingEntry = { destroy: () => destroy() };
      const finish = (error: unknown, flow?: ConnectionFlow): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        this.#pendingSockets.delete(pendingEntry);
        if (flow !== undefined) {
          this.#adopt(flow);
          resolve(flow);
          return;
        }
        destroy();
        reject(
          VoxmeshError.is(error)
            ? error
            : new VoxmeshError(
                SipErrorCode.SIP_CONNECT_FAILED,
                `Cannot connect over ${target.protocol} to ${formatAddress(target)}: ${error instanceof Error ? error.message : String(error)}`,
                { cause: error, retryable: true },
              ),
        );
      };
      const onAbort = (): void => finish(signal?.reason ?? new Error('aborted'));
      const timer = this.clock.setTimeout(
        () => finish(new Error(`timed out after ${this.#connectTimeoutMs} ms`)),
        this.#connectTimeoutMs,
      );
      timer.unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pendingSockets.add(pendingEntry);
      const servername = isIP(target.host) === 0 ? target.host : undefined;
      switch (target.protocol) {
        case 'TCP':
        case 'TLS': {
          const socket: Socket =
            target.protocol === 'TCP'
              ? netConnect({ host: target.host, port: target.port })
              : tlsConnect({
                  ...this.#options.tlsClient,
                  host: target.host,
                  port: target.port,
                  servername,
                });
          destroy = () => socket.destroy();
          socket.once('error', (error) => finish(error));
          socket.once(target.protocol === 'TCP' ? 'connect' : 'secureConnect', () => {
            if (settled) return;
            finish(
              undefined,
              new SocketFlow({
                protocol: target.protocol as 'TCP' | 'TLS',
                socket,
                outgoing: true,
                hooks: this.#hooks,
                limits: this.#limits,
              }),
            );
          });
          break;
        }
        case 'WS':
        case 'WSS': {
          const scheme = target.protocol === 'WS' ? 'ws' : 'wss';
          const host = target.host.includes(':') ? `[${target.host}]` : target.host;
          const ws = new WebSocket(`${scheme}://${host}:${target.port}/`, 'sip', {
            ...(target.protocol === 'WSS' ? this.#options.tlsClient : {}),
            ...(servername !== undefined && target.protocol === 'WSS' ? { servername } : {}),
            maxPayload: (this.#limits.maxHeaderBytes ?? 0) + (this.#limits.maxBodyBytes ?? 0),
          });
          destroy = () => ws.terminate();
          let local: TransportAddress = { host: '', port: 0 };
          let remote: TransportAddress = { host: target.host, port: target.port };
          ws.once('upgrade', (response) => {
            const s = response.socket;
            local = { host: s.localAddress ?? '', port: s.localPort ?? 0 };
            remote = { host: s.remoteAddress ?? target.host, port: s.remotePort ?? target.port };
          });
          ws.once('error', (error) => finish(error));
          ws.once('open', () => {
            if (settled) return;
            if (ws.protocol !== 'sip') {
              finish(
                new Error(
                  'the server did not accept the "sip" WebSocket subprotocol (RFC 7118 §4.1)',
                ),
              );
              return;
            }
            finish(
              undefined,
              new WebSocketFlow({
                protocol: target.protocol as 'WS' | 'WSS',
                ws,
                local,
                remote,
                outgoing: true,
                hooks: this.#hooks,
                limits: this.#limits,
              }),
            );
          });
          break;
        }
        default:
          finish(this.#noTransport(target));
      }
    });
  }

  #adopt(flow: ConnectionFlow): void {
    this.#connections.set(flow.id, flow);
    this.#byRemote.set(reuseKey(flow.protocol, flow.remote.host, flow.remote.port), flow);
    this.#metrics.connections.inc({ protocol: flow.protocol });
    this.#logger.debug({ flow: flow.id }, 'flow opened');
    this.#safeEmit('flowOpened', flow);
  }

  #forget(flow: ConnectionFlow, reason: string): void {
    if (!this.#connections.delete(flow.id)) return;
    for (const [key, value] of this.#byRemote) if (value === flow) this.#byRemote.delete(key);
    this.#metrics.connections.dec({ protocol: flow.protocol });
    this.#logger.debug({ flow: flow.id, reason }, 'flow closed');
    this.#safeEmit('flowClosed', flow, reason);
  }

  #safeEmit<K extends keyof SipTransportEvents>(event: K, ...args: SipTransportEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (error) {
      // A listener's bug must not tear down the socket that delivered the message.
      this.#logger.error({ err: error, event }, 'a transport event listener threw');
    }
  }

  #drop(reason: string, flow: Flow): void {
    this.#metrics.dropped.inc({ protocol: flow.protocol });
    this.#logger.debug({ flow: flow.id, reason }, 'dropped');
    this.#safeEmit('dropped', reason, flow.remote, flow.protocol);
  }

  #receive(data: Buffer, flow: Flow): void {
    const result = parseMessage(data);
    if (result.ok) {
      const message = result.message;
      // RFC 3261 §18.2.1 / RFC 3581 §4: record where the request really came from.
      if (message.isRequest()) stampReceived(message, flow.remote);
      this.#metrics.received.inc({
        protocol: flow.protocol,
        kind: message.isRequest() ? 'request' : 'response',
      });
      this.#safeEmit('message', message, flow);
      return;
    }
    if (result.action === 'drop') {
      // A bare CRLF datagram is a keep-alive, not an error.
      if (result.reason !== 'empty message') this.#drop(result.reason, flow);
      return;
    }
    const { request } = result;
    this.#drop(result.reason, flow);
    // RFC 3261 §17.2: no response to ACK.
    if (request.method === 'ACK') return;
    stampReceived(request, flow.remote);
    const response = createResponse(request, result.status, {
      headers: [['Warning', `399 - "${result.reason.replace(/["\\]/g, "'")}"`]],
    });
    this.#metrics.rejected.inc({ protocol: flow.protocol });
    this.sendResponse(response, { flow }).catch((error: unknown) => {
      this.#logger.debug({ err: error, flow: flow.id }, 'could not send a 400');
    });
  }

  /**
   * A stream that can no longer be framed (over a limit, unusable
   * Content-Length): answer the request whose header lines were read with
   * 413 or 400 when that is possible, then close the connection, since the
   * next message cannot be found (RFC 3261 §18.3).
   */
  #framingError(flow: ConnectionFlow, head: Buffer, status: 400 | 413, reason: string): void {
    this.#drop(reason, flow);
    const close = (): void => flow.close(`framing error: ${reason}`);
    const parsed = head.length === 0 ? undefined : parseMessage(Buffer.concat([head, CRLF]));
    const request =
      parsed === undefined
        ? undefined
        : parsed.ok
          ? parsed.message.isRequest()
            ? parsed.message
            : undefined
          : parsed.action === 'reject'
            ? parsed.request
            : undefined;
    if (
      request === undefined ||
      request.method === 'ACK' ||
      request.headers.get('via') === undefined
    ) {
      close();
      return;
    }
    const response = createResponse(request, status, {
      headers: [['Warning', `399 - "${reason}"`]],
    });
    this.#metrics.rejected.inc({ protocol: flow.protocol });
    flow.send(response.serialize()).then(close, close);
  }

  protected async onStart(signal: AbortSignal): Promise<void> {
    for (const options of this.#options.listeners) {
      throwIfAborted(signal);
      this.#listeners.push(await this.#listen(options));
    }
    const every = Math.max(250, Math.min(1000, this.#keepAliveTimeoutMs / 2));
    this.#sweep = this.clock.setInterval(() => this.#sweepFlows(), every).unref();
  }

  #sweepFlows(): void {
    const now = this.clock.monotonic();
    for (const flow of this.#connections.values()) {
      if (flow.outgoing && this.#keepAliveIntervalMs > 0) {
        // RFC 5626 §4.4.1: no pong within the timeout means the flow has failed.
        if (flow.pingSentAt !== undefined && now - flow.pingSentAt >= this.#keepAliveTimeoutMs) {
          flow.close('keep-alive timeout');
          continue;
        }
        if (now - Math.max(flow.lastPing, flow.lastReceived) >= this.#keepAliveIntervalMs) {
          flow.lastPing = now;
          flow.pingSentAt ??= now;
          flow.ping();
        }
      } else if (
        !flow.outgoing &&
        this.#idleTimeoutMs > 0 &&
        now - flow.lastReceived >= this.#idleTimeoutMs
      ) {
        flow.close('idle timeout');
      }
    }
  }

  async #listen(options: ListenerOptions): Promise<Listener> {
    const host = options.host ?? '0.0.0.0';
    const port = options.port ?? DEFAULT_LISTEN_PORT[options.protocol];
    const makeInfo = (bound: TransportAddress): ListenerInfo => ({
      protocol: options.protocol,
      local: bound,
      advertised: {
        host:
          options.advertised?.host ?? (isWildcard(bound.host) ? firstExternalIPv4() : bound.host),
        port: options.advertised?.port ?? bound.port,
      },
    });
    if (options.protocol === 'UDP') {
      const socket = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4' });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ address: host, port }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      try {
        setUdpBufferSize(socket, 'recv', options.recvBufferSize ?? DEFAULT_UDP_RECV_BUFFER);
        setUdpBufferSize(socket, 'send', options.sendBufferSize ?? DEFAULT_UDP_SEND_BUFFER);
      } catch (error) {
        socket.close();
        throw error;
      }
      const address = socket.address();
      const listener: Listener = {
        options,
        udp: socket,
        info: makeInfo({ host: address.address, port: address.port }),
      };
      socket.on('error', (error) => this.#logger.warn({ err: error }, 'UDP socket error'));
      socket.on('message', (data, rinfo) => {
        const flow = new UdpFlow(
          socket,
          listener.info.local,
          { host: rinfo.address, port: rinfo.port },
          this.#maxDatagramBytes,
        );
        this.#receive(data, flow);
      });
      return listener;
    }
    let server: NetServer;
    let wss: WebSocketServer | undefined;
    if (options.protocol === 'TCP' || options.protocol === 'TLS') {
      const onSocket = (socket: Socket): void => {
        if (this.#connections.size >= this.#maxConnections || this.state !== 'running') {
          socket.destroy();
          return;
        }
        this.#adopt(
          new SocketFlow({
            protocol: options.protocol as 'TCP' | 'TLS',
            socket,
            outgoing: false,
            hooks: this.#hooks,
            limits: this.#limits,
          }),
        );
      };
      if (options.protocol === 'TCP') {
        server = createNetServer(onSocket);
      } else {
        const tlsServer = createTlsServer(options.tls ?? {}, onSocket);
        tlsServer.on('tlsClientError', (error) =>
          this.#logger.debug({ err: error }, 'TLS handshake failed'),
        );
        server = tlsServer;
      }
    } else {
      const httpServer =
        options.protocol === 'WS' ? createHttpServer() : createHttpsServer(options.tls ?? {});
      server = httpServer;
      // RFC 7118 §4.1: the WebSocket subprotocol is "sip".
      wss = new WebSocketServer({
        server: httpServer,
        maxPayload: (this.#limits.maxHeaderBytes ?? 0) + (this.#limits.maxBodyBytes ?? 0),
        handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
      });
      wss.on('error', (error) => this.#logger.warn({ err: error }, 'WebSocket server error'));
      wss.on('connection', (ws, request) => {
        const s = request.socket;
        if (
          this.#connections.size >= this.#maxConnections ||
          this.state !== 'running' ||
          ws.protocol !== 'sip' ||
          (options.path !== undefined && (request.url ?? '/').split('?')[0] !== options.path)
        ) {
          ws.close(ws.protocol !== 'sip' ? 1002 : 1013);
          return;
        }
        this.#adopt(
          new WebSocketFlow({
            protocol: options.protocol as 'WS' | 'WSS',
            ws,
            local: { host: s.localAddress ?? '', port: s.localPort ?? 0 },
            remote: { host: s.remoteAddress ?? '', port: s.remotePort ?? 0 },
            outgoing: false,
            hooks: this.#hooks,
            limits: this.#limits,
          }),
        );
      });
    }
    server.on('error', (error) => this.#logger.warn({ err: error }, 'listener error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    const bound =
      address !== null && typeof address === 'object'
        ? { host: address.address, port: address.port }
        : { host, port };
    return { options, server, wss, info: makeInfo(bound) };
  }

  protected override onDrain(): Promise<void> {
    // Stop accepting connections; UDP and open connections keep serving in-flight transactions.
    for (const listener of this.#listeners) listener.server?.close();
    return Promise.resolve();
  }

  protected async onStop(): Promise<void> {
    this.#sweep?.cancel();
    for (const pending of [...this.#pendingSockets]) pending.destroy();
    for (const flow of [...this.#connections.values()]) flow.close('transport stopped');
    const closing: Promise<void>[] = [];
    for (const listener of this.#listeners) {
      const { udp, server, wss } = listener;
      if (udp !== undefined)
        closing.push(new Promise<void>((resolve) => udp.close(() => resolve())));
      if (wss !== undefined) {
        for (const client of wss.clients) client.terminate();
        closing.push(new Promise<void>((resolve) => wss.close(() => resolve())));
      }
      if (server !== undefined && server.listening) {
        closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
      }
      if (server !== undefined && 'closeAllConnections' in server)
        (server as HttpServer).closeAllConnections();
    }
    await Promise.all(closing);
    this.#listeners = [];
  }
}

const CRLF = Buffer.from('\r\n');

function isWildcardOf(listener: Listener, family: number): boolean {
  const host = listener.info.local.host;
  return (family === 4 && host === '0.0.0.0') || (family === 6 && host === '::');
}
