/**
 * The transaction layer: creates transactions, keeps them in tables, and
 * matches incoming messages to them (RFC 3261 §17.1.3, §17.2.3).
 *
 * @module
 */

import {
  type Gauge,
  type Clock,
  type Logger,
  Metrics,
  systemClock,
  silentLogger,
} from '@voxmesh/core';

import type { SipRequest, SipResponse } from '../message.js';
import { InviteClientTransaction, NonInviteClientTransaction } from './client-transaction.js';
import { InviteServerTransaction, NonInviteServerTransaction } from './server-transaction.js';
import {
  BRANCH_MAGIC_COOKIE,
  type TransactionContext,
  type TransactionFlow,
  type TransactionTimerOptions,
  resolveTimers,
} from './transaction-base.js';

/** Either client transaction. */
export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;
/** Either server transaction. */
export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;

/** Options of the {@link TransactionLayer} constructor. */
export interface TransactionLayerOptions {
  /** The timer base values T1, T2, T4. @defaultValue RFC 3261: 500, 4000, 5000 ms */
  timers?: TransactionTimerOptions | undefined;
  /** Drives every timer. @defaultValue `systemClock` */
  clock?: Clock | undefined;
  /** @defaultValue `silentLogger` */
  logger?: Logger | undefined;
  /** @defaultValue a private `Metrics` */
  metrics?: Metrics | undefined;
  /**
   * Send `100 Trying` at once for every new INVITE (RFC 3261 §17.2.1).
   * @defaultValue `true`
   */
  autoTrying?: boolean | undefined;
}

/** Options of {@link TransactionLayer.sendRequest}. */
export interface SendRequestOptions {
  /** The request, whose top Via carries a fresh branch (see {@link generateBranch}). */
  request: SipRequest;
  /** The flow it goes out on. */
  flow: TransactionFlow;
}

/** The outcome of {@link TransactionLayer.receiveRequest}. */
export type ReceivedRequest =
  /** A new request: a server transaction was created for the TU to answer. */
  | { kind: 'new'; transaction: ServerTransaction }
  /** A retransmission, or the ACK of a non-2xx final: the transaction handled it. */
  | { kind: 'absorbed'; transaction: ServerTransaction }
  /** An ACK that matches no transaction (the ACK of a 2xx): for the dialog layer. */
  | { kind: 'ack' };

function serverKey(request: SipRequest): string {
  const via = request.topVia;
  // RFC 3261 §17.2.3: the ACK matches the INVITE's transaction.
  const method = request.method === 'ACK' ? 'INVITE' : request.method;
  const branch = via?.branch;
  if (branch !== undefined && branch.startsWith(BRANCH_MAGIC_COOKIE)) {
    // RFC 3261 §17.2.3: branch, sent-by and method (CANCEL is its own transaction).
    return `${branch}\n${via?.sentBy.toLowerCase() ?? ''}\n${method}`;
  }
  // RFC 3261 §17.2.3 (RFC 2543 compatibility): Request-URI, From tag, Call-ID,
  // CSeq number and the top Via. (The To tag is left out so that the ACK,
  // which carries the tag of our response, matches.)
  return [
    'rfc2543',
    request.uri.toString(),
    request.from?.tag ?? '',
    request.callId ?? '',
    request.cseq?.seq ?? '',
    via?.toString() ?? '',
    method,
  ].join('\n');
}

function clientKey(branch: string, method: string): string {
  // RFC 3261 §17.1.3: the branch of the top Via and the CSeq method.
  return `${branch}\n${method}`;
}

/**
 * Owns every transaction of one SIP stack. The transport hands it messages;
 * the TU (dialogs, UAS/UAC, proxy logic) creates client transactions with
 * {@link TransactionLayer.sendRequest} and answers server transactions.
 */
export class TransactionLayer {
  readonly #ctx: TransactionContext;
  readonly #autoTrying: boolean;
  readonly #clients = new Map<string, ClientTransaction>();
  readonly #servers = new Map<string, ServerTransaction>();
  readonly #gauge: Gauge<'kind'>;

  constructor(options: TransactionLayerOptions = {}) {
    this.#ctx = {
      clock: options.clock ?? systemClock,
      timers: resolveTimers(options.timers),
      logger: options.logger ?? silentLogger,
    };
    this.#autoTrying = options.autoTrying ?? true;
    this.#gauge = (options.metrics ?? new Metrics()).gauge({
      name: 'sip_transactions',
      help: 'SIP transactions in progress',
      labelNames: ['kind'],
    });
  }

  /** The clock, timers and logger shared by the transactions. */
  get context(): TransactionContext {
    return this.#ctx;
  }

  /** The number of client and server transactions not yet terminated. */
  get size(): { client: number; server: number } {
    return { client: this.#clients.size, server: this.#servers.size };
  }

  /**
   * Creates the client transaction for `request` (INVITE or non-INVITE),
   * registers it and sends the request. Listen to `response` and `failure`
   * on the result. An ACK has no transaction: send it on the flow directly.
   */
  sendRequest(options: SendRequestOptions): ClientTransaction {
    const { request, flow } = options;
    const branch = request.topVia?.branch;
    if (branch === undefined || !branch.startsWith(BRANCH_MAGIC_COOKIE)) {
      throw new TypeError('A client request needs a top Via with a z9hG4bK branch');
    }
    const transaction =
      request.method === 'INVITE'
        ? new InviteClientTransaction({ request, flow, context: this.#ctx })
        : new NonInviteClientTransaction({ request, flow, context: this.#ctx });
    const key = clientKey(branch, request.method);
    if (this.#clients.has(key))
      throw new TypeError(`A client transaction ${branch} already exists`);
    this.#clients.set(key, transaction);
    this.#gauge.inc({ kind: 'client' });
    transaction.once('terminated', () => {
      if (this.#clients.get(key) === transaction) {
        this.#clients.delete(key);
        this.#gauge.dec({ kind: 'client' });
      }
    });
    transaction.start();
    return transaction;
  }

  /**
   * Matches a response to its client transaction (RFC 3261 §17.1.3) and
   * hands it over. Returns `false` when none matches: the caller may pass a
   * 2xx to the dialog layer (a retransmission after the transaction ended)
   * and must drop anything else (RFC 3261 §18.1.2).
   */
  receiveResponse(response: SipResponse): boolean {
    const branch = response.topVia?.branch;
    const method = response.cseq?.method;
    if (branch === undefined || method === undefined) return false;
    const transaction = this.#clients.get(clientKey(branch, method));
    if (transaction === undefined) return false;
    transaction.receiveResponse(response);
    return true;
  }

  /**
   * Matches a request to a server transaction (RFC 3261 §17.2.3). A match is
   * absorbed (a retransmission, or the ACK of a non-2xx final); a new request
   * gets a new server transaction; an unmatched ACK goes to the dialog layer.
   */
  receiveRequest(request: SipRequest, flow: TransactionFlow): ReceivedRequest {
    const key = serverKey(request);
    const existing = this.#servers.get(key);
    if (existing !== undefined) {
      existing.receiveRequest(request);
      return { kind: 'absorbed', transaction: existing };
    }
    if (request.method === 'ACK') return { kind: 'ack' };
    const transaction =
      request.method === 'INVITE'
        ? new InviteServerTransaction({
            request,
            flow,
            context: this.#ctx,
            autoTrying: this.#autoTrying,
          })
        : new NonInviteServerTransaction({ request, flow, context: this.#ctx });
    this.#servers.set(key, transaction);
    this.#gauge.inc({ kind: 'server' });
    transaction.once('terminated', () => {
      if (this.#servers.get(key) === transaction) {
        this.#servers.delete(key);
        this.#gauge.dec({ kind: 'server' });
      }
    });
    return { kind: 'new', transaction };
  }

  /**
   * The INVITE server transaction a CANCEL refers to, or `undefined`
   * (RFC 3261 §9.2: matched by the §17.2.3 rules with the method INVITE).
   */
  findCancelTarget(cancel: SipRequest): InviteServerTransaction | undefined {
    const key = serverKey(cancel);
    const inviteKey = key.slice(0, key.lastIndexOf('\n') + 1) + 'INVITE';
    const found = this.#servers.get(inviteKey);
    return found instanceof InviteServerTransaction ? found : undefined;
  }

  /** Terminates every transaction (stopping all timers), e.g. when the stack stops. */
  terminateAll(): void {
    for (const t of [...this.#clients.values()]) t.terminate();
    for (const t of [...this.#servers.values()]) t.terminate();
  }
}
