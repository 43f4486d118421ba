/**
 * A real HTTP server on loopback for testing IVR `http` nodes and webhooks:
 * it records every request and answers through a handler that may delay, fail
 * or hold a response until the test releases it. Public under
 * `@voxmesh/core/testing`.
 *
 * @module
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the mock web service received. */
export interface RecordedRequest {
  method: string;
  /** The path with the query string. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body as text. */
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json?: unknown;
}

/** What the mock answers. */
export interface MockResponse {
  /** @defaultValue `200` */
  status?: number | undefined;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is (when `json` is not given). */
  body?: string | undefined;
  headers?: Record<string, string> | undefined;
}

/** Answers one request; may return a promise to hold the response. */
export type MockHandler = (request: RecordedRequest) => MockResponse | Promise<MockResponse>;

/** Options of the {@link MockWebService} constructor. */
export interface MockWebServiceOptions {
  /** @defaultValue answers `200 {}` */
  handler?: MockHandler | undefined;
  /**
   * The loopback address to listen on.
   * @defaultValue `'127.0.0.1'`
   */
  host?: string | undefined;
}

/** A recording HTTP server on loopback (port 0). */
export class MockWebService {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  #handler: MockHandler;
  readonly #host: string;
  #server: Server | undefined;
  #url: string | undefined;
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(options: MockWebServiceOptions = {}) {
    this.#handler = options.handler ?? (() => ({ json: {} }));
    this.#host = options.host ?? '127.0.0.1';
  }

  /** The base URL (`http://127.0.0.1:<port>`); throws before {@link MockWebService.start}. */
  get url(): string {
    if (this.#url === undefined) throw new TypeError('MockWebService is not started');
    return this.#url;
  }

  /** Replaces the handler. */
  handle(handler: MockHandler): void {
    this.#handler = handler;
  }

  /** Starts listening on an ephemeral port; resolves with the base URL. */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      void this.#serve(req, res);
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.#host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    this.#url = `http://${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${port}`;
    return this.#url;
  }

  /** Resolves once `count` requests in all have been received. */
  waitForRequests(count: number): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /** Stops the server, dropping held connections. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Same as {@link MockWebService.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let json: unknown;
    try {
      json = body === '' ? undefined : JSON.parse(body);
    } catch {
      json = undefined;
    }
    const request: RecordedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      body,
      json,
    };
    this.requests.push(request);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.requests.length < w.count) return true;
      w.resolve();
      return false;
    });
    let response: MockResponse;
    try {
      response = await this.#handler(request);
    } catch (error) {
      response = { status: 500, body: String(error) };
    }
    if (res.destroyed) return;
    const text =
      response.json !== undefined ? JSON.stringify(response.json) : (response.body ?? '');
    res.writeHead(response.status ?? 200, {
      'content-type': response.json !== undefined ? 'application/json' : 'text/plain',
      ...response.headers,
    });
    res.end(text);
  }
}
