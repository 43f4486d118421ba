/**
 * A stand-alone registrar node: a transport layer, a transaction layer and a
 * {@link Registrar}, wired together. REGISTER goes to the registrar, OPTIONS
 * is answered 200, every other request 405.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { type Logger, Service, silentLogger } from '@voxmesh/core';
import { type SipMessage, type SipRequest, createResponse } from '../message.js';
import type { TransactionFlow } from '../transaction/transaction-base.js';
import { type ServerTransaction, TransactionLayer } from '../transaction/transaction-layer.js';
import type { Flow, SipTransportLayer } from '../transport/types.js';
import type { Registrar } from './registrar.js';

/** Options of the {@link RegistrarServer} constructor. */
export interface RegistrarServerOptions {
  /** Where requests come from (a started `SipTransport`, or an in-memory layer). */
  transport: SipTransportLayer;
  /** Answers REGISTER; its lifecycle stays with the caller. */
  registrar: Registrar;
  /**
   * The transaction layer.
   * @defaultValue a new `TransactionLayer` on the registrar's clock
   */
  transactions?: TransactionLayer | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
}

/**
 * Serves a {@link Registrar} over a transport layer with RFC 3261 §17
 * server transactions (so retransmitted REGISTERs are absorbed and answered
 * with the same response). `drain()` answers new requests with 503.
 *
 * @example
 * ```ts
 * const transport = new SipTransport({ listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 5060 }] });
 * const registrar = new Registrar({ credentials });
 * const server = new RegistrarServer({ transport, registrar });
 * await transport.start(); await registrar.start(); await server.start();
 * ```
 */
export class RegistrarServer extends Service {
  /** The transaction layer in use. */
  readonly transactions: TransactionLayer;
  readonly #transport: SipTransportLayer;
  readonly #registrar: Registrar;
  readonly #logger: Logger;
  readonly #onMessage = (message: SipMessage, flow: Flow): void => {
    this.#receive(message, flow);
  };

  constructor(options: RegistrarServerOptions) {
    super({ name: 'sip-registrar-server' });
    this.#transport = options.transport;
    this.#registrar = options.registrar;
    this.#logger = options.logger ?? silentLogger;
    this.transactions = options.transactions ?? new TransactionLayer({ logger: this.#logger });
  }

  protected onStart(): Promise<void> {
    this.#transport.on('message', this.#onMessage);
    return Promise.resolve();
  }

  protected onStop(): Promise<void> {
    this.#transport.off('message', this.#onMessage);
    this.transactions.terminateAll();
    return Promise.resolve();
  }

  #receive(message: SipMessage, flow: Flow): void {
    if (message.isResponse()) {
      // No client transactions here: stray responses are dropped (RFC 3261 §18.1.2).
      this.transactions.receiveResponse(message);
      return;
    }
    const transport = this.#transport;
    const txFlow: TransactionFlow = {
      reliable: flow.reliable,
      // RFC 3261 §18.2.2: responses go back over the request's flow, or per Via.
      send: async (m) => {
        if (m.isResponse()) await transport.sendResponse(m, { flow });
        else await transport.send(m, flow);
      },
    };
    const received = this.transactions.receiveRequest(message, txFlow);
    if (received.kind !== 'new') return;
    const { transaction } = received;
    transaction.on('failure', (error: unknown) => {
      this.#logger.debug({ err: error }, 'registrar server: transaction failed');
    });
    if (message.method === 'INVITE') {
      transaction.respond(createResponse(message, 405, { toTag: tag(), headers: ALLOW }));
      return;
    }
    if (!this.acceptingWork) {
      transaction.respond(
        createResponse(message, 503, { toTag: tag(), headers: [['Retry-After', '5']] }),
      );
      return;
    }
    const work = this.beginWork();
    void this.#answer(message, flow, transaction).finally(() => work.release());
  }

  async #answer(request: SipRequest, flow: Flow, transaction: ServerTransaction): Promise<void> {
    let response;
    if (request.method === 'REGISTER') {
      response = await this.#registrar
        .handle({ request, flow, signal: this.signal })
        .catch(() => createResponse(request, 500, { toTag: tag() }));
    } else if (request.method === 'OPTIONS') {
      response = createResponse(request, 200, { toTag: tag(), headers: ALLOW });
    } else {
      response = createResponse(request, 405, { toTag: tag(), headers: ALLOW });
    }
    try {
      transaction.respond(response);
    } catch (error) {
      // The transaction ended meanwhile (stopped, or a transport error).
      this.#logger.debug({ err: error }, 'registrar server: response not sent');
    }
  }
}

const ALLOW: [string, string][] = [['Allow', 'REGISTER, OPTIONS']];

/** A To tag (RFC 3261 §19.3: at least 32 bits of randomness). */
function tag(): string {
  return randomBytes(6).toString('hex');
}
