/**
 * The client transactions of RFC 3261 §17.1, with the RFC 6026 `accepted`
 * state for INVITE.
 *
 * @module
 */

import { VoxmeshError } from '@voxmesh/core';
import { SipHeaders } from '../codec/headers.js';
import { SipRequest, type SipResponse } from '../message.js';
import { SipUaErrorCode } from '../ua/errors.js';
import {
  type TransactionContext,
  type TransactionEvents,
  type TransactionFlow,
  TransactionBase,
} from './transaction-base.js';

/**
 * The states of an {@link InviteClientTransaction} (RFC 3261 §17.1.1.2,
 * Figure 5, as updated by RFC 6026 §7.2):
 *
 * ```text
 *                    |INVITE from TU
 *  Timer A fires     |INVITE sent        Timer B fires
 *  Reset A,          V                   or Transport Err.
 *  INVITE sent +-----------+             inform TU
 *    +---------|  calling  |--------------------------+
 *    |         +-----------+ 2xx                      |
 *    +-------->   |   |      2xx to TU                |
 *                 |   |1xx                            |
 *   300-699       |   |1xx to TU        +-----------+ |
 *   ACK sent      |   +---------------->|proceeding | |
 *   resp. to TU   |  1xx to TU          +-----------+ |
 *                 |    +---------+  300-699 | | 2xx   |
 *                 |    |completed|<---------+ | 2xx to TU
 *                 +--->|  (D)    | ACK sent   V       |
 *                      +---------+     +-----------+  |
 *                 Timer D |  300-699   | accepted  |  |
 *                 fires   |  ACK sent  |   (M)     |  |  2xx to TU
 *                         V            +-----------+  |
 *                   +------------+ Timer M |          |
 *                   | terminated |<--------+----------+
 *                   +------------+
 * ```
 */
export type InviteClientTransactionState =
  'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

/**
 * The states of a {@link NonInviteClientTransaction} (RFC 3261 §17.1.2.2, Figure 6):
 * `trying` → (1xx) `proceeding` → (final) `completed` → (Timer K) `terminated`;
 * Timer F or a transport error goes to `terminated` from `trying`/`proceeding`.
 */
export type NonInviteClientTransactionState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/** Events of a client transaction. */
export interface ClientTransactionEvents<S extends string> extends TransactionEvents<S> {
  /** A response for the TU (retransmissions of non-2xx finals are absorbed). */
  response: [response: SipResponse];
  /**
   * The transaction failed: Timer B/F fired (`SIP_TRANSACTION_TIMEOUT`) or the
   * transport failed (`SIP_TRANSPORT_FAILED`). The TU treats a timeout like a
   * 408 (RFC 3261 §17.1.1.2), a transport error like a 503 (§8.1.3.1).
   */
  failure: [error: VoxmeshError];
}

/** Options of the client transaction constructors. */
export interface ClientTransactionOptions {
  /** The request; its top Via carries the branch. */
  request: SipRequest;
  /** Where it is sent. */
  flow: TransactionFlow;
  /** Clock, timers and logger, shared by a transaction layer. */
  context: TransactionContext;
}

/**
 * The INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2). Sends the
 * request at once; emits `response` for provisional and final responses, and
 * for every 2xx retransmission while `accepted` (the TU — the dialog layer —
 * acknowledges 2xx itself, RFC 3261 §13.2.2.4).
 */
export class InviteClientTransaction extends TransactionBase<
  InviteClientTransactionState,
  ClientTransactionEvents<InviteClientTransactionState>
> {
  #interval: number;
  #ack: SipRequest | undefined;

  constructor(options: ClientTransactionOptions) {
    super(options.request, options.flow, options.context, 'calling');
    if (options.request.method !== 'INVITE') {
      throw new TypeError('InviteClientTransaction needs an INVITE');
    }
    this.#interval = this.ctx.timers.t1;
  }

  /** Sends the INVITE and starts timers A and B. Call once. */
  start(): void {
    this.transmit(this.request);
    const { t1 } = this.ctx.timers;
    // RFC 3261 §17.1.1.2: for an unreliable transport, Timer A starts at T1.
    if (!this.flow.reliable) this.startTimer('A', this.#interval, () => this.#timerA());
    // RFC 3261 §17.1.1.2: Timer B, 64*T1, for any transport.
    this.startTimer('B', 64 * t1, () => this.#timerB());
  }

  #timerA(): void {
    if (this.state !== 'calling') return;
    // RFC 3261 §17.1.1.2: retransmit and double the interval of Timer A.
    this.transmit(this.request);
    this.#interval *= 2;
    this.startTimer('A', this.#interval, () => this.#timerA());
  }

  #timerB(): void {
    if (this.state !== 'calling') return;
    // RFC 3261 §17.1.1.2: Timer B fires in Calling: inform the TU of a timeout.
    this.emit(
      'failure',
      new VoxmeshError(
        SipUaErrorCode.SIP_TRANSACTION_TIMEOUT,
        `No response to INVITE within ${64 * this.ctx.timers.t1} ms (Timer B)`,
        { retryable: true },
      ),
    );
    this.setState('terminated');
  }

  /** Hands a response matched to this transaction (RFC 3261 §17.1.3) to the machine. */
  receiveResponse(response: SipResponse): void {
    const { status } = response;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (status < 200) {
          // RFC 3261 §17.1.1.2: a provisional response moves to Proceeding; Timer A stops.
          this.stopTimer('A');
          this.stopTimer('B');
          this.setState('proceeding');
          this.emit('response', response);
        } else if (status < 300) {
          // RFC 6026 §7.2: a 2xx moves to Accepted and starts Timer M (64*T1).
          this.stopTimer('A');
          this.stopTimer('B');
          this.setState('accepted');
          this.startTimer('M', 64 * this.ctx.timers.t1, () => this.setState('terminated'));
          this.emit('response', response);
        } else {
          // RFC 3261 §17.1.1.2: 300-699 → send ACK, pass up, Completed, Timer D.
          this.stopTimer('A');
          this.stopTimer('B');
          this.#ack = buildNonSuccessAck(this.request, response);
          this.transmit(this.#ack);
          this.setState('completed');
          // Timer D: at least 32 s for unreliable transports, zero for reliable.
          const d = this.flow.reliable ? 0 : Math.max(32_000, 64 * this.ctx.timers.t1);
          this.startTimer('D', d, () => this.setState('terminated'));
          this.emit('response', response);
        }
        return;
      case 'completed':
        // RFC 3261 §17.1.1.2: retransmitted final responses are answered with
        // the ACK again and not passed up.
        if (status >= 300 && this.#ack !== undefined) this.transmit(this.#ack);
        return;
      case 'accepted':
        // RFC 6026 §7.2: 2xx retransmissions (or 2xx from other forks) go to the TU.
        if (status >= 200 && status < 300) this.emit('response', response);
        return;
      case 'terminated':
        return;
    }
  }

  protected onTransportError(error: unknown): void {
    if (this.state === 'terminated') return;
    // RFC 3261 §17.1.4: inform the TU of the transport failure and terminate.
    if (this.state === 'calling' || this.state === 'proceeding') {
      this.emit(
        'failure',
        new VoxmeshError(SipUaErrorCode.SIP_TRANSPORT_FAILED, 'Sending the INVITE failed', {
          cause: error,
          retryable: true,
        }),
      );
    }
    this.setState('terminated');
  }
}

/**
 * The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the request's
 * Request-URI, Call-ID, From, CSeq number and Route headers, the response's
 * To (with its tag), and one Via equal to the request's top Via.
 */
export function buildNonSuccessAck(invite: SipRequest, response: SipResponse): SipRequest {
  const headers = new SipHeaders();
  const via = invite.headers.getAll('via')[0];
  if (via !== undefined) headers.append('Via', topOfList(via));
  const maxForwards = invite.headers.get('max-forwards');
  headers.append('Max-Forwards', maxForwards ?? '70');
  for (const route of invite.headers.getAll('route')) headers.append('Route', route);
  const from = invite.headers.get('from');
  if (from !== undefined) headers.append('From', from);
  const to = response.headers.get('to');
  if (to !== undefined) headers.append('To', to);
  const callId = invite.headers.get('call-id');
  if (callId !== undefined) headers.append('Call-ID', callId);
  headers.append('CSeq', `${invite.cseq?.seq ?? 1} ACK`);
  return new SipRequest({ method: 'ACK', uri: invite.uri, headers });
}

/** The first value of a possibly comma-joined Via header value. */
function topOfList(value: string): string {
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) return value.slice(0, i).trim();
  }
  return value.trim();
}

/**
 * The non-INVITE client transaction (RFC 3261 §17.1.2). Emits `response` for
 * provisional responses and the first final response.
 */
export class NonInviteClientTransaction extends TransactionBase<
  NonInviteClientTransactionState,
  ClientTransactionEvents<NonInviteClientTransactionState>
> {
  #interval: number;

  constructor(options: ClientTransactionOptions) {
    super(options.request, options.flow, options.context, 'trying');
    if (options.request.method === 'INVITE' || options.request.method === 'ACK') {
      throw new TypeError(`NonInviteClientTransaction cannot carry ${options.request.method}`);
    }
    this.#interval = this.ctx.timers.t1;
  }

  /** Sends the request and starts timers E and F. Call once. */
  start(): void {
    this.transmit(this.request);
    // RFC 3261 §17.1.2.2: Timer E at T1 (unreliable only), Timer F at 64*T1.
    if (!this.flow.reliable) this.startTimer('E', this.#interval, () => this.#timerE());
    this.startTimer('F', 64 * this.ctx.timers.t1, () => this.#timerF());
  }

  #timerE(): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    this.transmit(this.request);
    // RFC 3261 §17.1.2.2: in Trying the interval doubles up to T2; in
    // Proceeding retransmissions happen every T2.
    this.#interval =
      this.state === 'trying'
        ? Math.min(2 * this.#interval, this.ctx.timers.t2)
        : this.ctx.timers.t2;
    this.startTimer('E', this.#interval, () => this.#timerE());
  }

  #timerF(): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    // RFC 3261 §17.1.2.2 / RFC 4320: Timer F reports a timeout to the TU (never a 408 response).
    this.emit(
      'failure',
      new VoxmeshError(
        SipUaErrorCode.SIP_TRANSACTION_TIMEOUT,
        `No final response to ${this.request.method} within ${64 * this.ctx.timers.t1} ms (Timer F)`,
        { retryable: true },
      ),
    );
    this.setState('terminated');
  }

  /** Hands a response matched to this transaction (RFC 3261 §17.1.3) to the machine. */
  receiveResponse(response: SipResponse): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    if (response.status < 200) {
      if (this.state === 'trying' && !this.flow.reliable) {
        // RFC 3261 §17.1.2.2: in Proceeding, Timer E fires every T2.
        this.#interval = this.ctx.timers.t2;
        this.startTimer('E', this.#interval, () => this.#timerE());
      }
      this.setState('proceeding');
      this.emit('response', response);
      return;
    }
    this.stopTimer('E');
    this.stopTimer('F');
    this.setState('completed');
    // RFC 3261 §17.1.2.2: Timer K is T4 for unreliable transports, zero for reliable.
    this.startTimer('K', this.flow.reliable ? 0 : this.ctx.timers.t4, () =>
      this.setState('terminated'),
    );
    this.emit('response', response);
  }

  protected onTransportError(error: unknown): void {
    if (this.state === 'terminated') return;
    if (this.state === 'trying' || this.state === 'proceeding') {
      this.emit(
        'failure',
        new VoxmeshError(
          SipUaErrorCode.SIP_TRANSPORT_FAILED,
          `Sending the ${this.request.method} failed`,
          { cause: error, retryable: true },
        ),
      );
    }
    this.setState('terminated');
  }
}
