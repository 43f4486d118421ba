/**
 * A call: the INVITE dialog usage of RFC 3261 §13–15 from either side, with
 * re-INVITE, UPDATE (RFC 3311), reliable provisional responses (RFC 3262),
 * session timers (RFC 4028), INFO (RFC 6086), REFER (RFC 3515, with Replaces,
 * RFC 3891, and Referred-By, RFC 3892) and Reason (RFC 3326).
 *
 * @module
 */

import {
  type Clock,
  type Logger,
  type Timer,
  TypedEventEmitter,
  VoxmeshError,
  AbortError,
  abortable,
} from '@voxmesh/core';
import { NameAddr } from '../codec/name-addr.js';
import type { SipUri } from '../codec/uri.js';
import { Dialog, generateTag } from '../dialog/dialog.js';
import { type SipRequest, type SipResponse, createResponse } from '../message.js';
import type { ClientTransaction, ServerTransaction } from '../transaction/transaction-layer.js';
import type { InviteServerTransaction } from '../transaction/server-transaction.js';
import type { TransactionTimers } from '../transaction/transaction-base.js';
import type { UaTarget } from './ua-transport.js';
import { SipResponseError, SipUaErrorCode } from './errors.js';

/**
 * The states of a {@link Call}:
 *
 * ```text
 * outgoing:  calling ──1xx──► proceeding ──1xx with tag──► early ──2xx──► confirmed ──BYE──► terminated
 * incoming:  ringing ──progress(183/180 with tag)──► early ──accept()──► confirmed ──BYE──► terminated
 *            any state ──failure, CANCEL, reject()──► terminated
 * ```
 */
export type CallState = 'calling' | 'proceeding' | 'ringing' | 'early' | 'confirmed' | 'terminated';

/** Why a call ended. */
export interface CallEnd {
  /**
   * `bye` (either side hung up), `canceled`, `rejected` (a final non-2xx),
   * `timeout` (no answer, no ACK, or the session timer expired), `failed`
   * (transport error) or `replaced` (RFC 3891).
   */
  cause: 'bye' | 'canceled' | 'rejected' | 'timeout' | 'failed' | 'replaced';
  /** Who ended it. */
  by: 'local' | 'remote';
  /** The final status, when a response ended it. */
  status?: number | undefined;
  /** The Reason header (RFC 3326) of the BYE or CANCEL, when it had one. */
  reason?: string | undefined;
}

/** A Reason header value (RFC 3326 §2). */
export interface ReasonOptions {
  /** `SIP` or `Q.850`. */
  protocol: 'SIP' | 'Q.850';
  cause: number;
  text?: string | undefined;
}

/** Formats a Reason header (RFC 3326 §2). */
export function formatReason(reason: ReasonOptions): string {
  const text = reason.text === undefined ? '' : `;text="${reason.text.replace(/["\\]/g, '')}"`;
  return `${reason.protocol};cause=${reason.cause}${text}`;
}

/** A response the application gives to a request. */
export interface ResponseSpec {
  status: number;
  reason?: string | undefined;
  headers?: Iterable<readonly [string, string]> | undefined;
  body?: Buffer | string | undefined;
  contentType?: string | undefined;
}

/** A request within the dialog that the application may answer. */
export interface InDialogRequest {
  readonly request: SipRequest;
  readonly call: Call;
}

/**
 * How a call answers requests within its dialog. Each handler returns the
 * response; a missing handler gives the default noted on it.
 */
export interface CallDelegate {
  /** A re-INVITE. @defaultValue 200 with the current local body */
  onReinvite?(ctx: InDialogRequest): ResponseSpec | Promise<ResponseSpec>;
  /** An UPDATE (RFC 3311). @defaultValue 200, with the local body when the UPDATE carried an offer */
  onUpdate?(ctx: InDialogRequest): ResponseSpec | Promise<ResponseSpec>;
  /** An INFO (RFC 6086). @defaultValue 200 */
  onInfo?(ctx: InDialogRequest): ResponseSpec | Promise<ResponseSpec>;
  /** A REFER (RFC 3515). @defaultValue 603 Decline */
  onRefer?(ctx: InDialogRequest): ResponseSpec | Promise<ResponseSpec>;
  /** A NOTIFY (e.g. the progress of a REFER). @defaultValue 200 */
  onNotify?(ctx: InDialogRequest): ResponseSpec | Promise<ResponseSpec>;
  /** Any other in-dialog request (MESSAGE, OPTIONS, …). @defaultValue 200 for OPTIONS, else 405 */
  onRequest?(ctx: InDialogRequest): ResponseSpec | Promise<ResponseSpec>;
}

/** Events of a {@link Call}. */
export interface CallEvents {
  /** The state changed. */
  state: [state: CallState, previous: CallState];
  /** A provisional response arrived (outgoing calls). */
  progress: [response: SipResponse];
  /** The call was answered (outgoing: the 2xx; incoming: our 2xx was ACKed). */
  confirmed: [];
  /** The call ended. */
  terminated: [end: CallEnd];
  /** A request arrived within the dialog (after it was answered). */
  request: [request: SipRequest, response: SipResponse];
}

/** Options of {@link Call.progress}. */
export interface CallProgressOptions {
  /** @defaultValue `180` */
  status?: number | undefined;
  body?: Buffer | string | undefined;
  contentType?: string | undefined;
  headers?: Iterable<readonly [string, string]> | undefined;
  /**
   * Send it reliably (RFC 3262): with `Require: 100rel` and `RSeq`,
   * retransmitted until the PRACK. Needs the caller's `Supported: 100rel`.
   * @defaultValue `false`
   */
  reliable?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/** Options of {@link Call.accept}. */
export interface CallAcceptOptions {
  /** The answer (or offer, when the INVITE had no body). */
  body?: Buffer | string | undefined;
  /** @defaultValue `'application/sdp'` when `body` is given */
  contentType?: string | undefined;
  headers?: Iterable<readonly [string, string]> | undefined;
  /** Aborts waiting for the ACK (the call stays up). */
  signal?: AbortSignal | undefined;
}

/** Options of {@link Call.reject}. */
export interface CallRejectOptions {
  /** @defaultValue `486` */
  status?: number | undefined;
  reason?: string | undefined;
  headers?: Iterable<readonly [string, string]> | undefined;
}

/** Options of {@link Call.bye} and {@link Call.cancel}. */
export interface CallEndOptions {
  /** A Reason header (RFC 3326). */
  reason?: ReasonOptions | undefined;
  signal?: AbortSignal | undefined;
}

/** Options of the in-dialog request methods of {@link Call}. */
export interface CallRequestOptions {
  body?: Buffer | string | undefined;
  /** @defaultValue `'application/sdp'` when `body` is given (INFO: required) */
  contentType?: string | undefined;
  headers?: Iterable<readonly [string, string]> | undefined;
  signal?: AbortSignal | undefined;
}

/** Options of {@link Call.refer}. */
export interface CallReferOptions {
  /** The transfer target (blind transfer). */
  target?: string | undefined;
  /** Attended transfer: the call to the target that the peer should replace (RFC 3891). */
  replaces?: Call | undefined;
  signal?: AbortSignal | undefined;
}

/** Session timer settings (RFC 4028). */
export interface SessionTimerOptions {
  /**
   * The session interval asked for, in seconds.
   * @defaultValue `1800`
   */
  expiresS?: number | undefined;
  /**
   * The smallest interval accepted (Min-SE, RFC 4028 §5: at least 90).
   * @defaultValue `90`
   */
  minSeS?: number | undefined;
}

/**
 * How the requests of one call are routed and authenticated, when they
 * differ from the user agent's defaults (a B2BUA leg to a trunk or to a
 * phone behind NAT).
 */
export interface CallRoute {
  /**
   * The next hop of the initial request and of in-dialog requests without a
   * route set, instead of the Request-URI or the outbound proxy
   * (e.g. the address a registered phone's REGISTER came from).
   */
  next?: UaTarget | undefined;
  /** Credentials answering 401/407 on this call instead of the user agent's. */
  credentials?: { username: string; password: string } | undefined;
}

/** What a call needs from its user agent. @internal */
export interface CallHost {
  readonly callClock: Clock;
  readonly timers: TransactionTimers;
  readonly logger: Logger;
  readonly sessionTimer: Required<SessionTimerOptions> | undefined;
  readonly supported: readonly string[];
  /** Sends a non-INVITE request (adds Via, routes it, retries on 401/407). */
  sendRequest(
    request: SipRequest,
    options: { signal?: AbortSignal | undefined },
    route?: CallRoute,
  ): Promise<SipResponse>;
  /** Sends an INVITE in a client transaction (adds Via and routes it). */
  sendInvite(
    request: SipRequest,
    signal: AbortSignal | undefined,
    route?: CallRoute,
  ): Promise<ClientTransaction>;
  /** Sends a CANCEL for a pending INVITE (RFC 3261 §9.1). */
  sendCancel(invite: SipRequest, reason: string | undefined, route?: CallRoute): void;
  /** Sends an ACK outside any transaction (adds Via, routes it). */
  sendAck(ack: SipRequest, route?: CallRoute): void;
  /**
   * Our Contact for a request: for one we send, on the transport it goes out
   * on; for one we received, on the transport it came in on (`incoming`).
   */
  contactFor(request: SipRequest, incoming?: boolean, route?: CallRoute): NameAddr;
  /** Builds the credentials of a request answered with 401/407, or `undefined`. */
  authorize(request: SipRequest, response: SipResponse, route?: CallRoute): SipRequest | undefined;
  registerDialog(call: Call): void;
  unregisterCall(call: Call): void;
  /** Starts a new call (for REFER handling by applications). */
  findCallByDialog(callId: string, localTag: string, remoteTag: string): Call | undefined;
}

/**
 * One call, outgoing ({@link UserAgent.invite}) or incoming (from the
 * user agent's INVITE middleware). Within the dialog it sends BYE,
 * re-INVITE, UPDATE, INFO and REFER, and answers the peer's requests through
 * its {@link CallDelegate}.
 */
export class Call extends TypedEventEmitter<CallEvents> {
  /** Who started the call. */
  readonly direction: 'outgoing' | 'incoming';
  /** The INVITE that started it (for outgoing calls: the latest one sent, with credentials). */
  invite: SipRequest;
  /** The dialog, once there is one. */
  dialog: Dialog | undefined;
  /** How in-dialog requests are answered. */
  delegate: CallDelegate = {};
  /** The last body we sent as offer or answer. */
  localBody: Buffer | undefined;
  /** The last session description from the peer. */
  remoteBody: Buffer | undefined;
  /** The final response of an outgoing call, or our own for an incoming one. */
  finalResponse: SipResponse | undefined;
  /** For an incoming INVITE with Replaces (RFC 3891): the call it replaces. */
  replaces: Call | undefined;
  /** Why the call ended, once it has. */
  end: CallEnd | undefined;
  /** How this call's requests are routed and authenticated (set by `UserAgent.invite`). */
  route: CallRoute = {};
  /**
   * Outgoing calls: the ACK for the 2xx is sent by {@link Call.ack} instead of
   * at once, so that it can carry the answer to an offer in the 2xx (an
   * INVITE without SDP, RFC 3264 §5). Set by `UserAgent.invite({ deferAck })`.
   */
  deferAck = false;

  readonly #host: CallHost;
  #state: CallState;
  #serverTx: InviteServerTransaction | undefined;
  #localTag: string;
  #ackTimer: Timer | undefined;
  #ackWait: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  #ackFor: number | undefined;
  #ack: SipRequest | undefined;
  #ackDeferred = false;
  #ackCseq: number | undefined;
  #answered: Promise<SipResponse> | undefined;
  #cancelRequested: string | false | undefined = undefined;
  #provisionalSeen = false;
  // RFC 3262
  #rseq = 0;
  #lastRseqIn: number | undefined;
  readonly #detachOnEnd = new Set<() => void>();
  #reliablePending = new Map<
    number,
    { timer: Timer | undefined; resolve: () => void; reject: (e: unknown) => void }
  >();
  // RFC 4028
  #sessionTimer: Timer | undefined;
  #sessionInterval: number | undefined;
  #refresher: 'local' | 'remote' | undefined;
  // Pending in-dialog re-INVITE from the peer, for the 2xx retransmissions
  #reinviteTx: InviteServerTransaction | undefined;
  #localReinvite = false;

  /** @internal */
  constructor(options: {
    host: CallHost;
    direction: 'outgoing' | 'incoming';
    invite: SipRequest;
    serverTransaction?: InviteServerTransaction | undefined;
  }) {
    super();
    this.#host = options.host;
    this.direction = options.direction;
    this.invite = options.invite;
    this.#serverTx = options.serverTransaction;
    this.#state = options.direction === 'outgoing' ? 'calling' : 'ringing';
    this.#localTag =
      options.direction === 'outgoing' ? (options.invite.from?.tag ?? '') : generateTag();
    if (options.invite.body.length > 0 && options.direction === 'incoming') {
      this.remoteBody = options.invite.body;
    }
    if (options.direction === 'outgoing' && options.invite.body.length > 0) {
      this.localBody = options.invite.body;
    }
  }

  /** The current state. */
  get state(): CallState {
    return this.#state;
  }

  /** The Call-ID. */
  get callId(): string {
    return this.invite.callId ?? '';
  }

  /** Our tag (From of an outgoing call, To of an incoming one). */
  get localTag(): string {
    return this.#localTag;
  }

  #setState(state: CallState): void {
    const previous = this.#state;
    if (previous === state || previous === 'terminated') return;
    this.#state = state;
    this.emit('state', state, previous);
  }

  /** @internal Ends the call locally: timers stop, listeners hear `terminated`. */
  /**
   * Removes this call's listeners from an INVITE client transaction once the
   * call has ended: the transaction lingers (Timer D or M, RFC 3261
   * §17.1.1.2, RFC 6026 §7.2) and must not keep the call alive meanwhile.
   */
  #detachFrom(
    tx: ClientTransaction,
    onResponse: (response: SipResponse) => void,
    onFailure: (error: VoxmeshError) => void,
  ): void {
    const detach = (): void => {
      tx.off('response', onResponse);
      tx.off('response', afterFinal);
      tx.off('failure', onFailure);
      tx.off('terminated', detach);
      this.#detachOnEnd.delete(onEnd);
    };
    // Until the final response, the listeners settle the INVITE's promise.
    const pending = (): boolean => tx.state === 'calling' || tx.state === 'proceeding';
    const afterFinal = (response: SipResponse): void => {
      if (response.status >= 200 && this.#state === 'terminated') detach();
    };
    tx.on('response', afterFinal);
    const onEnd = (): void => {
      if (!pending()) detach();
    };
    this.#detachOnEnd.add(onEnd);
    tx.once('terminated', detach);
  }

  _terminate(end: CallEnd): void {
    if (this.#state === 'terminated') return;
    this.end = end;
    this.#ackTimer?.cancel();
    this.#sessionTimer?.cancel();
    for (const pending of this.#reliablePending.values()) {
      pending.timer?.cancel();
      pending.reject(this.#terminatedError());
    }
    this.#reliablePending.clear();
    this.#ackWait?.reject(this.#terminatedError());
    this.#ackWait = undefined;
    if (this.dialog !== undefined) this.dialog.state = 'terminated';
    this.#setState('terminated');
    this.#host.unregisterCall(this);
    this.emit('terminated', end);
    // After the listeners ran: a final response that ended the call is still being handled.
    for (const detach of [...this.#detachOnEnd]) detach();
  }

  #route(): CallRoute {
    return this.route;
  }

  #terminatedError(): VoxmeshError {
    return new VoxmeshError(SipUaErrorCode.SIP_DIALOG_TERMINATED, 'The call has ended');
  }

  // ------------------------------------------------------------------ outgoing

  /**
   * @internal Sends the INVITE; resolves with the 2xx, rejects with a
   * {@link SipResponseError} or a transaction error.
   */
  _start(signal: AbortSignal | undefined): Promise<SipResponse> {
    this.#answered = this.#runInvite(signal);
    this.#answered.catch(() => undefined);
    return this.#answered;
  }

  /** Resolves with the 2xx when an outgoing call is answered; rejects when it fails. */
  answered(options: { signal?: AbortSignal | undefined } = {}): Promise<SipResponse> {
    if (this.#answered === undefined) throw new TypeError('Only outgoing calls are answered');
    return abortable(this.#answered, options.signal);
  }

  async #runInvite(signal: AbortSignal | undefined): Promise<SipResponse> {
    let request = this.invite;
    for (let attempt = 0; ; attempt++) {
      this.invite = request;
      const response = await this.#inviteOnce(request, signal);
      if ((response.status === 401 || response.status === 407) && attempt === 0) {
        const retry = this.#host.authorize(request, response, this.#route());
        if (retry !== undefined) {
          request = retry;
          continue;
        }
      }
      if (response.status >= 300) {
        const cause = response.status === 487 ? 'canceled' : 'rejected';
        this._terminate({
          cause,
          by: cause === 'canceled' ? 'local' : 'remote',
          status: response.status,
        });
        throw new SipResponseError(`INVITE answered ${response.status} ${response.reason}`, {
          status: response.status,
          reason: response.reason,
          response,
        });
      }
      return response;
    }
  }

  #inviteOnce(request: SipRequest, signal: AbortSignal | undefined): Promise<SipResponse> {
    return new Promise<SipResponse>((resolve, reject) => {
      this.#host.sendInvite(request, signal, this.#route()).then(
        (tx) => {
          const onResponse = (response: SipResponse): void => {
            this.#onInviteResponse(request, response, resolve);
          };
          const onFailure = (error: VoxmeshError): void => {
            this._terminate({
              cause: error.code === SipUaErrorCode.SIP_TRANSACTION_TIMEOUT ? 'timeout' : 'failed',
              by: 'local',
            });
            reject(error);
          };
          tx.on('response', onResponse);
          tx.on('failure', onFailure);
          this.#detachFrom(tx, onResponse, onFailure);
        },
        (error: unknown) => {
          this._terminate({ cause: 'failed', by: 'local' });
          reject(error);
        },
      );
    });
  }

  #onInviteResponse(
    request: SipRequest,
    response: SipResponse,
    resolve: (r: SipResponse) => void,
  ): void {
    const status = response.status;
    if (status < 200) {
      if (!this.#provisionalSeen) {
        this.#provisionalSeen = true;
        // RFC 3261 §9.1: a CANCEL is sent only once a provisional response arrived.
        if (typeof this.#cancelRequested === 'string' || this.#cancelRequested === false) {
          this.#host.sendCancel(
            request,
            this.#cancelRequested === false ? undefined : this.#cancelRequested,
            this.#route(),
          );
        }
      }
      if (this.#state === 'terminated') return;
      if (status > 100 && response.to?.tag !== undefined) {
        if (this.dialog === undefined || this.dialog.remoteTag !== response.to.tag) {
          this.dialog = Dialog.fromResponse(
            request,
            response,
            this.#host.contactFor(request, false, this.#route()),
          );
          this.#host.registerDialog(this);
        }
        this.#handleReliableProvisional(response);
        if (response.body.length > 0) this.remoteBody = response.body;
        this.#setState('early');
      } else if (this.#state === 'calling') {
        this.#setState('proceeding');
      }
      this.emit('progress', response);
      return;
    }
    if (status < 300) {
      const toTag = response.to?.tag;
      if (this.dialog !== undefined && this.dialog.state === 'confirmed') {
        if (toTag === this.dialog.remoteTag) {
          // RFC 3261 §13.2.2.4: a retransmitted 2xx is answered with the same ACK.
          if (this.#ack !== undefined && !this.#ackDeferred) {
            this.#host.sendAck(this.#ack, this.#route());
          }
        } else {
          this.#ackAndByeFork(request, response);
        }
        return;
      }
      if (this.dialog === undefined || this.dialog.remoteTag !== toTag) {
        this.dialog = Dialog.fromResponse(
          request,
          response,
          this.#host.contactFor(request, false, this.#route()),
        );
      } else {
        // RFC 3261 §12.1.2: the 2xx fixes the route set and the remote target.
        this.dialog.routeSet = [...response.recordRoute].reverse().map((r) => r.clone());
        this.dialog.refreshTarget(response);
      }
      this.dialog.state = 'confirmed';
      this.dialog.localSeq = request.cseq?.seq;
      this.#host.registerDialog(this);
      this.finalResponse = response;
      if (response.body.length > 0) this.remoteBody = response.body;
      // RFC 3261 §13.2.2.4: the UAC core sends the ACK for a 2xx itself.
      this.#ack = this.dialog.createRequest('ACK', { cseq: request.cseq?.seq });
      this.#ackCseq = request.cseq?.seq;
      if (this.deferAck) this.#ackDeferred = true;
      else this.#host.sendAck(this.#ack, this.#route());
      this.#startSessionTimer(response, 'uac');
      this.#setState('confirmed');
      this.emit('confirmed');
      resolve(response);
      if (this.#cancelRequested !== undefined) {
        // CANCEL lost the race with the 2xx (RFC 3261 §9.1): end with BYE.
        void this.bye().catch(() => undefined);
      }
      return;
    }
    this.finalResponse = response;
    resolve(response);
  }

  /** RFC 3261 §13.2.2.4: ACK a 2xx from another fork, then end that dialog with BYE. */
  #ackAndByeFork(request: SipRequest, response: SipResponse): void {
    const fork = Dialog.fromResponse(
      request,
      response,
      this.#host.contactFor(request, false, this.#route()),
    );
    this.#host.sendAck(fork.createRequest('ACK', { cseq: request.cseq?.seq }), this.#route());
    void this.#host
      .sendRequest(fork.createRequest('BYE'), { signal: undefined }, this.#route())
      .catch(() => undefined);
  }

  #handleReliableProvisional(response: SipResponse): void {
    // RFC 3262 §4: a reliable provisional response carries Require: 100rel and RSeq.
    if (!response.require.includes('100rel') || this.dialog === undefined) return;
    const rseq = Number.parseInt(response.headers.get('rseq') ?? '', 10);
    if (!Number.isInteger(rseq)) return;
    // RFC 3262 §4: retransmissions (same RSeq) are not PRACKed again; out of order ones are dropped.
    if (this.#lastRseqIn !== undefined && rseq <= this.#lastRseqIn) return;
    this.#lastRseqIn = rseq;
    const cseq = response.cseq;
    const prack = this.dialog.createRequest('PRACK', {
      headers: [['RAck', `${rseq} ${cseq?.seq ?? 0} ${cseq?.method ?? 'INVITE'}`]],
    });
    void this.#host
      .sendRequest(prack, { signal: undefined }, this.#route())
      .catch((error: unknown) => {
        this.#host.logger.debug({ err: error }, 'PRACK failed');
      });
  }

  /**
   * Sends the ACK of a call made with `deferAck`, with the answer to the
   * 2xx's offer (RFC 3264 §5, RFC 3261 §13.2.2.4). Does nothing when the ACK
   * was sent already.
   */
  ack(
    options: { body?: Buffer | string | undefined; contentType?: string | undefined } = {},
  ): void {
    if (!this.#ackDeferred || this.dialog === undefined) return;
    this.#ackDeferred = false;
    const contentType =
      options.body === undefined ? undefined : (options.contentType ?? 'application/sdp');
    this.#ack = this.dialog.createRequest('ACK', {
      cseq: this.#ackCseq,
      body: options.body,
      contentType,
    });
    if (options.body !== undefined) this.localBody = Buffer.from(options.body);
    this.#host.sendAck(this.#ack, this.#route());
  }

  /**
   * Cancels an outgoing call that is not answered yet (RFC 3261 §9.1): the
   * CANCEL goes out once a provisional response has arrived.
   */
  cancel(options: CallEndOptions = {}): void {
    if (this.direction !== 'outgoing') throw new TypeError('Only outgoing calls are cancelled');
    if (this.#state === 'confirmed' || this.#state === 'terminated') return;
    if (this.#cancelRequested !== undefined) return;
    const reason = options.reason === undefined ? undefined : formatReason(options.reason);
    this.#cancelRequested = reason ?? false;
    if (this.#provisionalSeen) this.#host.sendCancel(this.invite, reason, this.#route());
  }

  // ------------------------------------------------------------------ incoming

  /**
   * Sends a provisional response (180 by default). With `reliable`, resolves
   * when the PRACK arrives (RFC 3262).
   */
  async progress(options: CallProgressOptions = {}): Promise<void> {
    const tx = this.#requireServerTx();
    if (tx.state !== 'proceeding')
      throw new TypeError(`Cannot send a provisional response in ${tx.state}`);
    const status = options.status ?? 180;
    if (status <= 100 || status >= 200) throw new RangeError('progress() sends 101–199');
    const headers: (readonly [string, string])[] = [...(options.headers ?? [])];
    const reliable = options.reliable ?? false;
    let rseq: number | undefined;
    if (reliable) {
      const offered =
        this.invite.supported.includes('100rel') || this.invite.require.includes('100rel');
      if (!offered) throw new TypeError('The caller does not support 100rel (RFC 3262)');
      rseq = ++this.#rseq;
      headers.push(['Require', '100rel'], ['RSeq', String(rseq)]);
    }
    const response = this.#buildResponse(status, {
      headers,
      body: options.body,
      contentType: options.contentType,
    });
    this.#ensureUasDialog('early');
    tx.respond(response);
    if (options.body !== undefined) this.localBody = Buffer.from(options.body);
    this.#setState('early');
    if (rseq === undefined) return;
    // RFC 3262 §3: retransmit the reliable provisional response with T1 doubling until the PRACK.
    const key = rseq;
    await new Promise<void>((resolve, reject) => {
      const clock = this.#host.callClock;
      let interval = this.#host.timers.t1;
      const entry: {
        timer: Timer | undefined;
        resolve: () => void;
        reject: (e: unknown) => void;
      } = {
        timer: undefined,
        resolve: () => {
          deadline.cancel();
          resolve();
        },
        reject: (error: unknown) => {
          deadline.cancel();
          reject(error);
        },
      };
      const retransmit = (): void => {
        if (tx.state === 'proceeding') tx.respond(response);
        interval *= 2;
        entry.timer = clock.setTimeout(retransmit, interval);
      };
      // RFC 3262 §3: no PRACK within 64*T1: reject the INVITE with a 5xx.
      const deadline = clock.setTimeout(() => {
        entry.timer?.cancel();
        this.#reliablePending.delete(key);
        if (tx.state === 'proceeding') tx.respond(this.#buildResponse(504, {}));
        this._terminate({ cause: 'timeout', by: 'local', status: 504 });
        reject(
          new VoxmeshError(
            SipUaErrorCode.SIP_TRANSACTION_TIMEOUT,
            'No PRACK for a reliable provisional response',
          ),
        );
      }, 64 * this.#host.timers.t1);
      // Retransmissions only on unreliable transports (RFC 3262 §3 leaves reliability to TCP).
      if (!tx.flow.reliable) entry.timer = clock.setTimeout(retransmit, interval);
      this.#reliablePending.set(key, entry);
      options.signal?.addEventListener(
        'abort',
        () => {
          entry.timer?.cancel();
          this.#reliablePending.delete(key);
          entry.reject(new AbortError(undefined, { cause: options.signal?.reason }));
        },
        { once: true },
      );
    });
  }

  /**
   * Answers an incoming call with 200 (RFC 3261 §13.3.1.4): the 2xx is
   * retransmitted until the ACK arrives. Resolves on the ACK; after 64*T1
   * without one the call is ended with BYE and the promise rejects.
   */
  async accept(options: CallAcceptOptions = {}): Promise<void> {
    const tx = this.#requireServerTx();
    if (tx.state !== 'proceeding') throw new TypeError(`Cannot accept in state ${tx.state}`);
    const headers: (readonly [string, string])[] = [...(options.headers ?? [])];
    headers.push(...this.#sessionTimerAnswerHeaders());
    const contentType =
      options.body === undefined ? undefined : (options.contentType ?? 'application/sdp');
    const response = this.#buildResponse(200, { headers, body: options.body, contentType });
    this.#ensureUasDialog('confirmed');
    const dialog = this.dialog as Dialog;
    dialog.state = 'confirmed';
    if (options.body !== undefined) this.localBody = Buffer.from(options.body);
    this.finalResponse = response;
    this.#host.registerDialog(this);
    await this.#sendReliable2xx(tx, response, true, options.signal);
  }

  /** Rejects an incoming call (486 by default). */
  reject(options: CallRejectOptions = {}): void {
    const tx = this.#requireServerTx();
    if (tx.state !== 'proceeding') throw new TypeError(`Cannot reject in state ${tx.state}`);
    const status = options.status ?? 486;
    if (status < 300) throw new RangeError('reject() needs a status of 300 or more');
    const response = this.#buildResponse(status, {
      headers: options.headers,
      reason: options.reason,
    });
    tx.respond(response);
    this.finalResponse = response;
    this._terminate({ cause: 'rejected', by: 'local', status });
  }

  /** @internal The peer cancelled the INVITE (RFC 3261 §9.2). */
  _cancelled(cancel: SipRequest): void {
    const tx = this.#serverTx;
    if (tx === undefined || tx.state !== 'proceeding') return;
    // RFC 3261 §9.2: the UAS answers the INVITE with 487.
    tx.respond(this.#buildResponse(487, {}));
    this._terminate({
      cause: 'canceled',
      by: 'remote',
      status: 487,
      reason: cancel.headers.get('reason'),
    });
  }

  #requireServerTx(): InviteServerTransaction {
    if (this.direction !== 'incoming' || this.#serverTx === undefined) {
      throw new TypeError('Only incoming calls are answered');
    }
    return this.#serverTx;
  }

  #ensureUasDialog(state: 'early' | 'confirmed'): void {
    if (this.dialog !== undefined) return;
    this.dialog = Dialog.fromRequest(
      this.invite,
      this.#localTag,
      this.#host.contactFor(this.invite, true),
      state,
    );
    this.#host.registerDialog(this);
  }

  #buildResponse(
    status: number,
    options: {
      headers?: Iterable<readonly [string, string]> | undefined;
      body?: Buffer | string | undefined;
      contentType?: string | undefined;
      reason?: string | undefined;
    },
    request: SipRequest = this.invite,
  ): SipResponse {
    const headers: (readonly [string, string])[] = [];
    // RFC 3261 §12.1.1: a response that creates a dialog carries Record-Route and Contact.
    if (status > 100 && status < 300) {
      for (const rr of request.headers.getAll('record-route')) headers.push(['Record-Route', rr]);
      headers.push(['Contact', this.#host.contactFor(request, true).toString()]);
      headers.push(['Supported', this.#host.supported.join(', ')]);
    }
    if (options.body !== undefined)
      headers.push(['Content-Type', options.contentType ?? 'application/sdp']);
    headers.push(...(options.headers ?? []));
    return createResponse(request, status, {
      toTag: this.#localTag,
      headers,
      body: options.body,
      reason: options.reason,
    });
  }

  /**
   * RFC 3261 §13.3.1.4: the UAS core retransmits a 2xx (T1 doubling up to T2)
   * until the ACK arrives; after 64*T1 it gives up (and ends the call with BYE
   * when this was the initial INVITE).
   */
  #sendReliable2xx(
    tx: InviteServerTransaction,
    response: SipResponse,
    initial: boolean,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    tx.respond(response);
    this.#ackFor = response.cseq?.seq;
    const reliable = tx.flow.reliable;
    return new Promise<void>((resolve, reject) => {
      const stop = (): void => {
        this.#ackTimer?.cancel();
        deadline.cancel();
        this.#ackWait = undefined;
      };
      this.#ackWait = {
        resolve: () => {
          stop();
          resolve();
        },
        reject: (error: unknown) => {
          stop();
          reject(error);
        },
      };
      const clock = this.#host.callClock;
      const { t1, t2 } = this.#host.timers;
      let interval = t1;
      const tick = (): void => {
        if (tx.state === 'accepted') tx.respond(response);
        interval = Math.min(interval * 2, t2);
        this.#ackTimer = clock.setTimeout(tick, interval);
      };
      // Retransmissions only on unreliable transports (RFC 3261 §13.3.1.4).
      if (!reliable) this.#ackTimer = clock.setTimeout(tick, interval);
      const deadline = clock.setTimeout(() => {
        stop();
        const error = new VoxmeshError(
          SipUaErrorCode.SIP_TRANSACTION_TIMEOUT,
          'No ACK for the 2xx within 64*T1',
        );
        if (initial) {
          // RFC 3261 §13.3.1.4: without an ACK, the UAS ends the dialog with BYE.
          void this.bye().catch(() => undefined);
          if (this.#state !== 'terminated') this._terminate({ cause: 'timeout', by: 'local' });
        }
        reject(error);
      }, 64 * t1);
      signal?.addEventListener(
        'abort',
        () => {
          reject(new AbortError(undefined, { cause: signal.reason }));
        },
        { once: true },
      );
    });
  }

  /** @internal An ACK for a 2xx of this dialog arrived. */
  _ack(ack: SipRequest): void {
    if (this.#ackFor === undefined || ack.cseq?.seq !== this.#ackFor) return;
    this.#ackFor = undefined;
    if (ack.body.length > 0) this.remoteBody = ack.body;
    const wait = this.#ackWait;
    wait?.resolve();
    if (this.#state !== 'confirmed' && this.#state !== 'terminated') {
      this.#startSessionTimer(this.finalResponse, 'uas');
      this.#setState('confirmed');
      this.emit('confirmed');
    }
  }

  // ------------------------------------------------------------------ in dialog

  /** Ends the call with BYE (RFC 3261 §15.1.1), optionally with a Reason (RFC 3326). */
  async bye(options: CallEndOptions = {}): Promise<void> {
    const dialog = this.dialog;
    if (this.#state === 'terminated') return;
    if (dialog === undefined || (this.#state !== 'confirmed' && this.direction === 'outgoing')) {
      if (this.direction === 'outgoing') {
        this.cancel(options);
        return;
      }
    }
    if (
      this.direction === 'incoming' &&
      this.#state !== 'confirmed' &&
      this.#serverTx?.state === 'proceeding'
    ) {
      // An incoming call not yet answered is rejected instead.
      this.reject({ status: 480 });
      return;
    }
    if (dialog === undefined) return;
    // A deferred ACK goes out first: the 2xx must be acknowledged (RFC 3261 §13.2.2.4).
    this.ack();
    const headers: (readonly [string, string])[] = [];
    if (options.reason !== undefined) headers.push(['Reason', formatReason(options.reason)]);
    const bye = dialog.createRequest('BYE', { headers });
    this._terminate({
      cause: 'bye',
      by: 'local',
      reason: options.reason === undefined ? undefined : formatReason(options.reason),
    });
    // RFC 3261 §15.1.1: the session ends when the BYE is sent; its response is informative.
    await this.#host.sendRequest(bye, { signal: options.signal }, this.#route());
  }

  /** Sends a re-INVITE (RFC 3261 §14.1) with a new offer; resolves with the 2xx. */
  async reinvite(options: CallRequestOptions = {}): Promise<SipResponse> {
    const dialog = this.#confirmedDialog();
    const contentType =
      options.body === undefined ? undefined : (options.contentType ?? 'application/sdp');
    const headers: (readonly [string, string])[] = [...(options.headers ?? [])];
    if (this.#sessionInterval !== undefined && this.#refresher !== undefined) {
      headers.push([
        'Session-Expires',
        `${this.#sessionInterval};refresher=${this.#refresherParam()}`,
      ]);
      headers.push(['Supported', 'timer']);
    }
    const request = dialog.createRequest('INVITE', { headers, body: options.body, contentType });
    if (this.#localReinvite) {
      throw new SipResponseError('A re-INVITE is already pending', { status: 491 });
    }
    this.#localReinvite = true;
    try {
      return await this.#reinviteLoop(dialog, request, options);
    } finally {
      this.#localReinvite = false;
    }
  }

  async #reinviteLoop(
    dialog: Dialog,
    first: SipRequest,
    options: CallRequestOptions,
  ): Promise<SipResponse> {
    let request = first;
    for (let attempt = 0; ; attempt++) {
      const tx = await this.#host.sendInvite(request, options.signal, this.#route());
      const response = await abortable(
        new Promise<SipResponse>((resolve, reject) => {
          const onResponse = (r: SipResponse): void => {
            if (r.status >= 200) resolve(r);
          };
          tx.on('response', onResponse);
          tx.on('failure', reject);
          this.#detachFrom(tx, onResponse, reject);
        }),
        options.signal,
      );
      if ((response.status === 401 || response.status === 407) && attempt === 0) {
        const retry = this.#host.authorize(request, response, this.#route());
        if (retry !== undefined) {
          dialog.localSeq = retry.cseq?.seq;
          request = retry;
          continue;
        }
      }
      if (response.status >= 300) {
        // RFC 3261 §14.1: a failed re-INVITE leaves the session as it was
        // (481 and 408 end the dialog, RFC 5057 §5).
        if (response.status === 481 || response.status === 408) {
          this._terminate({ cause: 'failed', by: 'remote', status: response.status });
        }
        throw new SipResponseError(`re-INVITE answered ${response.status}`, {
          status: response.status,
          reason: response.reason,
          response,
        });
      }
      dialog.refreshTarget(response);
      this.#host.sendAck(dialog.createRequest('ACK', { cseq: request.cseq?.seq }), this.#route());
      if (options.body !== undefined) this.localBody = Buffer.from(options.body);
      if (response.body.length > 0) this.remoteBody = response.body;
      this.#startSessionTimer(response, 'uac');
      return response;
    }
  }

  /** Sends an UPDATE (RFC 3311), e.g. a new offer or a session refresh; resolves with the 2xx. */
  async update(options: CallRequestOptions = {}): Promise<SipResponse> {
    const response = await this.#request('UPDATE', options);
    this.dialog?.refreshTarget(response);
    if (options.body !== undefined) this.localBody = Buffer.from(options.body);
    if (response.body.length > 0) this.remoteBody = response.body;
    return response;
  }

  /** Sends an INFO (RFC 6086), e.g. DTMF as `application/dtmf-relay`; resolves with the 2xx. */
  info(options: CallRequestOptions & { contentType: string }): Promise<SipResponse> {
    return this.#request('INFO', options);
  }

  /** Sends one DTMF digit as INFO `application/dtmf-relay`. */
  dtmf(options: {
    digit: string;
    durationMs?: number | undefined;
    signal?: AbortSignal | undefined;
  }): Promise<SipResponse> {
    if (!/^[0-9A-D*#]$/i.test(options.digit))
      throw new RangeError(`Not a DTMF digit: ${options.digit}`);
    return this.info({
      contentType: 'application/dtmf-relay',
      body: `Signal=${options.digit.toUpperCase()}\r\nDuration=${options.durationMs ?? 160}\r\n`,
      signal: options.signal,
    });
  }

  /**
   * Asks the peer to call a target (RFC 3515): a blind transfer with
   * `target`, or an attended transfer with `replaces` (Refer-To carries a
   * Replaces header, RFC 3891). Adds Referred-By (RFC 3892). Resolves with the 2xx (202).
   */
  async refer(options: CallReferOptions): Promise<SipResponse> {
    let referTo: string;
    if (options.replaces !== undefined) {
      const other = options.replaces;
      const od = other.dialog;
      if (od === undefined) throw new TypeError('The call to replace has no dialog');
      // RFC 3891 §3: Replaces = call-id ;to-tag= ;from-tag= from the target's point of view:
      // its To tag is our remote tag on that dialog, its From tag our local tag.
      const replaces = encodeURIComponent(
        `${od.callId};to-tag=${od.remoteTag};from-tag=${od.localTag}`,
      );
      referTo = `<${od.remoteUri.uri.toString()}?Replaces=${replaces}>`;
    } else if (options.target !== undefined) {
      referTo = `<${options.target}>`;
    } else {
      throw new TypeError('refer() needs a target or a call to replace');
    }
    const referredBy = this.dialog?.localUri.uri.toString();
    return await this.#request('REFER', {
      headers: [
        ['Refer-To', referTo],
        ...(referredBy === undefined
          ? []
          : ([['Referred-By', `<${referredBy}>`]] as (readonly [string, string])[])),
      ],
      signal: options.signal,
    });
  }

  /** Sends a NOTIFY for a REFER's implicit subscription (RFC 3515 §2.4.4) with a sipfrag status line. */
  notifyReferStatus(options: {
    status: number;
    reason?: string | undefined;
    final: boolean;
    signal?: AbortSignal | undefined;
  }): Promise<SipResponse> {
    const reason = options.reason ?? '';
    return this.#request('NOTIFY', {
      headers: [
        ['Event', 'refer'],
        [
          'Subscription-State',
          options.final ? 'terminated;reason=noresource' : 'active;expires=60',
        ],
      ],
      contentType: 'message/sipfrag;version=2.0',
      body: `SIP/2.0 ${options.status} ${reason}\r\n`,
      signal: options.signal,
    });
  }

  /** Sends any request within the dialog; resolves with the final response (any status). */
  async sendRequest(method: string, options: CallRequestOptions = {}): Promise<SipResponse> {
    const dialog = this.#confirmedDialog();
    const contentType =
      options.body === undefined ? undefined : (options.contentType ?? 'application/sdp');
    const request = dialog.createRequest(method, {
      headers: options.headers,
      body: options.body,
      contentType,
    });
    return this.#host.sendRequest(request, { signal: options.signal }, this.#route());
  }

  async #request(method: string, options: CallRequestOptions): Promise<SipResponse> {
    const response = await this.sendRequest(method, options);
    if (response.status >= 300) {
      if (response.status === 481 || response.status === 408) {
        this._terminate({ cause: 'failed', by: 'remote', status: response.status });
      }
      throw new SipResponseError(`${method} answered ${response.status}`, {
        status: response.status,
        reason: response.reason,
        response,
      });
    }
    return response;
  }

  #confirmedDialog(): Dialog {
    const dialog = this.dialog;
    if (dialog === undefined || this.#state === 'terminated') {
      throw new VoxmeshError(SipUaErrorCode.SIP_DIALOG_TERMINATED, 'The call has no active dialog');
    }
    return dialog;
  }

  /** @internal A request within this dialog, already checked for CSeq order. */
  async _receive(request: SipRequest, tx: ServerTransaction): Promise<void> {
    const ctx: InDialogRequest = { request, call: this };
    const method = request.method;
    const respond = (spec: ResponseSpec): SipResponse => {
      const response = this.#buildResponse(
        spec.status,
        {
          headers: spec.headers,
          body: spec.body,
          contentType: spec.contentType,
          reason: spec.reason,
        },
        request,
      );
      return response;
    };
    try {
      switch (method) {
        case 'BYE': {
          // RFC 3261 §15.1.2: answer 200 and end the session.
          tx.respond(respond({ status: 200 }));
          // A BYE before our 2xx was ACKed: the INVITE transaction is answered 487 (§15.1.2).
          if (this.#serverTx?.state === 'proceeding')
            this.#serverTx.respond(this.#buildResponse(487, {}));
          this._terminate({ cause: 'bye', by: 'remote', reason: request.headers.get('reason') });
          return;
        }
        case 'PRACK': {
          // RFC 3262 §3: match the RAck to a pending reliable provisional response.
          const rack = (request.headers.get('rack') ?? '').trim().split(/\s+/);
          const rseq = Number.parseInt(rack[0] ?? '', 10);
          const pending = this.#reliablePending.get(rseq);
          if (pending === undefined) {
            tx.respond(respond({ status: 481 }));
            return;
          }
          pending.timer?.cancel();
          this.#reliablePending.delete(rseq);
          tx.respond(respond({ status: 200 }));
          pending.resolve();
          return;
        }
        case 'INVITE': {
          const itx = tx as InviteServerTransaction;
          // RFC 3261 §14.2: a re-INVITE while ours is pending → 491.
          if (this.#localReinvite) {
            itx.respond(respond({ status: 491 }));
            return;
          }
          // RFC 3261 §14.2: a re-INVITE while the peer's previous one is pending → 500.
          if (this.#reinviteTx !== undefined && this.#reinviteTx.state === 'proceeding') {
            itx.respond(respond({ status: 500, headers: [['Retry-After', '1']] }));
            return;
          }
          this.#reinviteTx = itx;
          const spec = (await this.delegate.onReinvite?.(ctx)) ?? {
            status: 200,
            body: this.localBody,
            contentType: this.localBody === undefined ? undefined : 'application/sdp',
          };
          if (request.body.length > 0 && spec.status < 300) this.remoteBody = request.body;
          const headers: (readonly [string, string])[] = [...(spec.headers ?? [])];
          if (spec.status >= 200 && spec.status < 300) {
            headers.push(...this.#sessionTimerAnswerHeaders(request));
            this.dialog?.refreshTarget(request);
          }
          const response = respond({ ...spec, headers });
          this.emit('request', request, response);
          if (spec.status >= 200 && spec.status < 300) {
            if (spec.body !== undefined) this.localBody = Buffer.from(spec.body);
            this.#startSessionTimer(response, 'uas');
            await this.#sendReliable2xx(itx, response, false, undefined).catch(() => undefined);
          } else {
            itx.respond(response);
          }
          return;
        }
        case 'ACK':
          return;
        default: {
          const delegate = this.delegate;
          const handler:
            ((c: InDialogRequest) => ResponseSpec | Promise<ResponseSpec>) | undefined =
            method === 'UPDATE'
              ? delegate.onUpdate?.bind(delegate)
              : method === 'INFO'
                ? delegate.onInfo?.bind(delegate)
                : method === 'REFER'
                  ? delegate.onRefer?.bind(delegate)
                  : method === 'NOTIFY'
                    ? delegate.onNotify?.bind(delegate)
                    : delegate.onRequest?.bind(delegate);
          const fallback: ResponseSpec =
            method === 'UPDATE'
              ? request.body.length > 0 && this.localBody !== undefined
                ? { status: 200, body: this.localBody, contentType: 'application/sdp' }
                : { status: 200 }
              : method === 'INFO' || method === 'NOTIFY' || method === 'OPTIONS'
                ? { status: 200 }
                : method === 'REFER'
                  ? { status: 603 }
                  : { status: 405, headers: [['Allow', ALLOW]] };
          const spec = (await handler?.(ctx)) ?? fallback;
          const headers: (readonly [string, string])[] = [...(spec.headers ?? [])];
          if (method === 'UPDATE' && spec.status >= 200 && spec.status < 300) {
            if (request.body.length > 0) this.remoteBody = request.body;
            this.dialog?.refreshTarget(request);
            headers.push(...this.#sessionTimerAnswerHeaders(request));
          }
          const response = respond({ ...spec, headers });
          tx.respond(response);
          if (method === 'UPDATE' && spec.status >= 200 && spec.status < 300) {
            this.#startSessionTimer(response, 'uas');
          }
          this.emit('request', request, response);
        }
      }
    } catch (error) {
      this.#host.logger.warn({ err: error, method }, 'in-dialog request handler failed');
      try {
        tx.respond(respond({ status: 500 }));
      } catch {
        // already answered
      }
    }
  }

  // ------------------------------------------------------------------ RFC 4028

  /** The Session-Expires/Require headers of a 2xx to an INVITE or UPDATE (RFC 4028 §9). */
  #sessionTimerAnswerHeaders(request: SipRequest = this.invite): (readonly [string, string])[] {
    const settings = this.#host.sessionTimer;
    const se = request.headers.get('session-expires');
    if (settings === undefined || se === undefined) return [];
    const interval = Number.parseInt(se, 10);
    if (!Number.isInteger(interval)) return [];
    const refresherParam = /refresher=(uac|uas)/i.exec(se)?.[1]?.toLowerCase();
    // RFC 4028 §9: when the UAC did not choose, the UAS may; we pick the UAC if it supports timers.
    const uacSupports = request.supported.includes('timer');
    const refresher = refresherParam ?? (uacSupports ? 'uac' : 'uas');
    const headers: (readonly [string, string])[] = [
      ['Session-Expires', `${interval};refresher=${refresher}`],
    ];
    if (uacSupports) headers.push(['Require', 'timer']);
    return headers;
  }

  /** The refresher parameter of a refresh we send (we are the UAC of that transaction). */
  #refresherParam(): 'uac' | 'uas' {
    return this.#refresher === 'local' ? 'uac' : 'uas';
  }

  /**
   * Starts the session timer from a 2xx (RFC 4028 §10): the refresher sends
   * a re-INVITE at half the interval; the other side sends BYE when no
   * refresh came by `interval - min(32, interval/3)` seconds.
   * `role` is our role in the transaction that carried it.
   */
  #startSessionTimer(response: SipResponse | undefined, role: 'uac' | 'uas'): void {
    if (this.#host.sessionTimer === undefined || response === undefined) return;
    const se = response.headers.get('session-expires');
    if (se === undefined) return;
    const interval = Number.parseInt(se, 10);
    if (!Number.isInteger(interval) || interval <= 0) return;
    const param = /refresher=(uac|uas)/i.exec(se)?.[1]?.toLowerCase() ?? 'uas';
    this.#sessionInterval = interval;
    this.#refresher = param === role ? 'local' : 'remote';
    this.#sessionTimer?.cancel();
    if (this.#refresher === 'local') {
      this.#sessionTimer = this.#host.callClock.setTimeout(
        () => {
          if (this.#state !== 'confirmed') return;
          // RFC 4028 §10: refresh with a re-INVITE carrying the current session.
          this.reinvite({ body: this.localBody }).catch((error: unknown) => {
            this.#host.logger.info({ err: error }, 'session refresh failed');
          });
        },
        (interval * 1000) / 2,
      );
    } else {
      const guard = Math.min(32, interval / 3);
      this.#sessionTimer = this.#host.callClock.setTimeout(
        () => {
          if (this.#state !== 'confirmed') return;
          // RFC 4028 §10: no refresh before the session expired: send BYE.
          void this.bye({
            reason: { protocol: 'SIP', cause: 408, text: 'Session timer expired' },
          }).catch(() => undefined);
          if (this.end !== undefined) this.end = { ...this.end, cause: 'timeout' };
        },
        (interval - guard) * 1000,
      );
    }
  }
}

/** The methods a {@link UserAgent} answers (the Allow header). */
export const ALLOW =
  'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, REFER, NOTIFY, MESSAGE';

/** Our URI as a name-addr with a tag. @internal */
export function localIdentity(uri: SipUri, displayName: string | undefined, tag: string): NameAddr {
  return new NameAddr({ displayName, uri: uri.clone(), params: { tag } });
}
