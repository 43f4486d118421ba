/**
 * The server transactions of RFC 3261 §17.2, with the RFC 6026 `accepted`
 * state for INVITE and the RFC 4320 rules for non-INVITE.
 *
 * @module
 */

import { VoxmeshError } from '@voxmesh/core';
import { createResponse, type SipRequest, type SipResponse } from '../message.js';
import { SipUaErrorCode } from '../ua/errors.js';
import {
  type TransactionContext,
  type TransactionEvents,
  type TransactionFlow,
  TransactionBase,
} from './transaction-base.js';

/**
 * The states of an {@link InviteServerTransaction} (RFC 3261 §17.2.1,
 * Figure 7, as updated by RFC 6026 §7.1):
 *
 * ```text
 *                        |INVITE
 *                        |pass INV to TU, send 100
 *     INVITE             V
 *     send response+-----------+
 *         +--------| proceeding|---------------+ 2xx from TU
 *         |        +-----------+               | send response
 *         +------->    |   | 1xx from TU       V
 *                      |   | send response  +-----------+  2xx from TU
 *                      |   +--------------->|           |  send response
 *      300-699 from TU |                    | accepted  |<-----+
 *      send response   |                    |   (L)     |------+
 *                      V                    +-----------+
 *     INVITE        +-----------+               | Timer L
 *     send response | completed |               V
 *         +---------|  (G, H)   |          terminated
 *         +-------->+-----------+
 *                      |  ACK    \ Timer H: inform TU (no ACK)
 *                      V          \
 *                   +-----------+  terminated
 *                   | confirmed |
 *                   |   (I)     |--- Timer I ---> terminated
 *                   +-----------+
 * ```
 */
export type InviteServerTransactionState =
  'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

/**
 * The states of a {@link NonInviteServerTransaction} (RFC 3261 §17.2.2, Figure 8):
 * `trying` → (1xx) `proceeding` → (final) `completed` → (Timer J) `terminated`.
 */
export type NonInviteServerTransactionState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/** Events of a server transaction. */
export interface ServerTransactionEvents<S extends string> extends TransactionEvents<S> {
  /**
   * The transaction failed: Timer H fired without an ACK
   * (`SIP_TRANSACTION_TIMEOUT`) or the transport failed (`SIP_TRANSPORT_FAILED`).
   */
  failure: [error: VoxmeshError];
  /** An ACK for a non-2xx final response arrived (INVITE only). */
  ack: [ack: SipRequest];
}

/** Options of the server transaction constructors. */
export interface ServerTransactionOptions {
  /** The request that created the transaction. */
  request: SipRequest;
  /** The flow it arrived on; responses go back on it. */
  flow: TransactionFlow;
  /** Clock, timers and logger, shared by a transaction layer. */
  context: TransactionContext;
  /**
   * Send `100 Trying` at once (INVITE only). RFC 3261 §17.2.1 asks for it
   * unless the TU answers within 200 ms.
   * @defaultValue `true`
   */
  autoTrying?: boolean | undefined;
}

/**
 * The INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1). The TU
 * answers with {@link InviteServerTransaction.respond}; retransmitted INVITEs
 * are answered with the last response and never reach the TU; the ACK for a
 * non-2xx final is absorbed (emitted as `ack`). The ACK for a 2xx is a new
 * transaction-less request that the dialog layer handles.
 */
export class InviteServerTransaction extends TransactionBase<
  InviteServerTransactionState,
  ServerTransactionEvents<InviteServerTransactionState>
> {
  #last: SipResponse | undefined;
  #interval: number;

  constructor(options: ServerTransactionOptions) {
    super(options.request, options.flow, options.context, 'proceeding');
    if (options.request.method !== 'INVITE') {
      throw new TypeError('InviteServerTransaction needs an INVITE');
    }
    this.#interval = this.ctx.timers.t1;
    // RFC 3261 §17.2.1: generate a 100 (Trying) unless the TU answers within 200 ms.
    if (options.autoTrying ?? true) this.respond(createResponse(this.request, 100));
  }

  /** The last response sent. */
  get lastResponse(): SipResponse | undefined {
    return this.#last;
  }

  /** Sends a response from the TU. Throws a `TypeError` when the state forbids it. */
  respond(response: SipResponse): void {
    const { status } = response;
    switch (this.state) {
      case 'proceeding':
        this.#last = response;
        this.transmit(response);
        if (status < 200) return;
        if (status < 300) {
          // RFC 6026 §7.1: a 2xx moves to Accepted with Timer L (64*T1); the TU
          // retransmits the 2xx itself until the ACK (RFC 3261 §13.3.1.4).
          this.setState('accepted');
          this.startTimer('L', 64 * this.ctx.timers.t1, () => this.setState('terminated'));
          return;
        }
        // RFC 3261 §17.2.1: 300-699 → Completed; Timer G (unreliable), Timer H.
        this.setState('completed');
        if (!this.flow.reliable) this.startTimer('G', this.#interval, () => this.#timerG());
        this.startTimer('H', 64 * this.ctx.timers.t1, () => this.#timerH());
        return;
      case 'accepted':
        // RFC 6026 §7.1: 2xx retransmissions from the TU pass through.
        if (status >= 200 && status < 300) {
          this.#last = response;
          this.transmit(response);
          return;
        }
        throw new TypeError(`Cannot send ${status} after a 2xx`);
      default:
        throw new TypeError(`Cannot send a response in state ${this.state}`);
    }
  }

  #timerG(): void {
    if (this.state !== 'completed' || this.#last === undefined) return;
    // RFC 3261 §17.2.1: retransmit; the interval doubles up to T2.
    this.transmit(this.#last);
    this.#interval = Math.min(2 * this.#interval, this.ctx.timers.t2);
    this.startTimer('G', this.#interval, () => this.#timerG());
  }

  #timerH(): void {
    if (this.state !== 'completed') return;
    // RFC 3261 §17.2.1: no ACK within Timer H: terminate and tell the TU.
    this.emit(
      'failure',
      new VoxmeshError(
        SipUaErrorCode.SIP_TRANSACTION_TIMEOUT,
        `No ACK for the ${this.#last?.status ?? ''} response within ${64 * this.ctx.timers.t1} ms (Timer H)`,
      ),
    );
    this.setState('terminated');
  }

  /** Hands a retransmitted INVITE or a matching ACK (RFC 3261 §17.2.3) to the machine. */
  receiveRequest(request: SipRequest): void {
    if (request.method === 'ACK') {
      if (this.state !== 'completed') return;
      // RFC 3261 §17.2.1: ACK in Completed → Confirmed, Timer I (T4, or 0 when reliable).
      this.stopTimer('G');
      this.stopTimer('H');
      this.setState('confirmed');
      this.startTimer('I', this.flow.reliable ? 0 : this.ctx.timers.t4, () =>
        this.setState('terminated'),
      );
      this.emit('ack', request);
      return;
    }
    // RFC 3261 §17.2.1: a retransmitted INVITE in Proceeding or Completed is
    // answered with the most recent response; in Accepted it is absorbed (RFC 6026 §7.1).
    if ((this.state === 'proceeding' || this.state === 'completed') && this.#last !== undefined) {
      this.transmit(this.#last);
    }
  }

  protected onTransportError(error: unknown): void {
    if (this.state === 'terminated') return;
    // RFC 3261 §17.2.4 / RFC 6026 §7.1: report and terminate (in Accepted the
    // TU may still retransmit its 2xx, so stay there).
    this.emit(
      'failure',
      new VoxmeshError(SipUaErrorCode.SIP_TRANSPORT_FAILED, 'Sending a response failed', {
        cause: error,
      }),
    );
    if (this.state !== 'accepted') this.setState('terminated');
  }
}

/**
 * The non-INVITE server transaction (RFC 3261 §17.2.2), with the rules of
 * RFC 4320 §4: only `100` may be sent as a provisional response, and never a
 * `408`.
 */
export class NonInviteServerTransaction extends TransactionBase<
  NonInviteServerTransactionState,
  ServerTransactionEvents<NonInviteServerTransactionState>
> {
  #last: SipResponse | undefined;

  constructor(options: ServerTransactionOptions) {
    super(options.request, options.flow, options.context, 'trying');
    if (options.request.method === 'INVITE' || options.request.method === 'ACK') {
      throw new TypeError(`NonInviteServerTransaction cannot carry ${options.request.method}`);
    }
  }

  /** The last response sent. */
  get lastResponse(): SipResponse | undefined {
    return this.#last;
  }

  /** Sends a response from the TU. Throws a `TypeError` when the state forbids it. */
  respond(response: SipResponse): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') {
      throw new TypeError(`Cannot send a response in state ${this.state}`);
    }
    // RFC 4320 §4.1: no provisional response other than 100 to a non-INVITE request.
    if (response.status < 200 && response.status !== 100) {
      throw new TypeError(`A non-INVITE request may only be answered with 100 provisionally`);
    }
    // RFC 4320 §4.2: a transaction-stateful element never sends 408 to a non-INVITE request.
    if (response.status === 408) {
      throw new TypeError('RFC 4320 forbids a 408 response to a non-INVITE request');
    }
    this.#last = response;
    this.transmit(response);
    if (response.status < 200) {
      this.setState('proceeding');
      return;
    }
    this.setState('completed');
    // RFC 3261 §17.2.2: Timer J is 64*T1 for unreliable transports, zero for reliable.
    this.startTimer('J', this.flow.reliable ? 0 : 64 * this.ctx.timers.t1, () =>
      this.setState('terminated'),
    );
  }

  /** Hands a retransmitted request (RFC 3261 §17.2.3) to the machine. */
  receiveRequest(_request: SipRequest): void {
    // RFC 3261 §17.2.2: retransmissions in Trying are discarded; in Proceeding
    // and Completed the last response is sent again.
    if ((this.state === 'proceeding' || this.state === 'completed') && this.#last !== undefined) {
      this.transmit(this.#last);
    }
  }

  protected onTransportError(error: unknown): void {
    if (this.state === 'terminated') return;
    // RFC 3261 §17.2.4: inform the TU and terminate.
    this.emit(
      'failure',
      new VoxmeshError(SipUaErrorCode.SIP_TRANSPORT_FAILED, 'Sending a response failed', {
        cause: error,
      }),
    );
    this.setState('terminated');
  }
}
