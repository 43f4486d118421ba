/**
 * A programmable phone for tests: registers, calls, answers, rejects, holds,
 * transfers and sends DTMF, and records every SIP message it exchanged.
 * Public under `@voxmesh/sip/testing`.
 *
 * @module
 */

import {
  type Clock,
  type Logger,
  type Metrics,
  TypedEventEmitter,
  abortable,
  onceEvent,
} from '@voxmesh/core';
import { SipUri, parseUri } from '../codec/uri.js';
import type { SipMessage, SipRequest, SipResponse } from '../message.js';
import type { TransactionTimerOptions } from '../transaction/transaction-base.js';
import type { Call, CallEnd, InDialogRequest, ResponseSpec } from './call.js';
import type { UaTransport } from './ua-transport.js';
import type { SipTransportLayer } from '../transport/types.js';
import { UserAgent } from './user-agent.js';

/** The states of a {@link VirtualPhone}. */
export type VirtualPhoneState = 'idle' | 'ringing' | 'early' | 'talking' | 'holding' | 'hungup';

/** Options of the {@link VirtualPhone} constructor. */
export interface VirtualPhoneOptions {
  /** The transport it runs on (the package's transport layer, or a `MemoryNetwork` transport). */
  transport: UaTransport | SipTransportLayer;
  /** Its address of record, e.g. `sip:alice@voxmesh.test`. */
  uri: string;
  /** Digest credentials for REGISTER and challenged calls. @defaultValue none */
  credentials?: { username: string; password: string } | undefined;
  /** @defaultValue none */
  displayName?: string | undefined;
  /**
   * Answer incoming calls by itself (after sending 180).
   * @defaultValue `false`: incoming calls ring until {@link VirtualPhone.answer}
   */
  autoAnswer?: boolean | undefined;
  /** The RTP port put in its SDP (no media flows). @defaultValue `40000` */
  rtpPort?: number | undefined;
  /** Session timers. @defaultValue off, so that fake-time tests see only what they cause */
  sessionTimer?: { expiresS?: number; minSeS?: number } | false | undefined;
  timers?: TransactionTimerOptions | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  metrics?: Metrics | undefined;
}

/** One recorded SIP message. */
export interface RecordedMessage {
  direction: 'in' | 'out';
  message: SipMessage;
}

/** Events of a {@link VirtualPhone}. */
export interface VirtualPhoneEvents {
  state: [state: VirtualPhoneState, previous: VirtualPhoneState];
  /** A DTMF digit arrived by INFO. */
  dtmf: [digit: string];
}

/** Options of {@link VirtualPhone.call}. */
export interface VirtualPhoneCallOptions {
  uri: string;
  /** Extra INVITE headers. */
  headers?: Iterable<readonly [string, string]> | undefined;
  signal?: AbortSignal | undefined;
}

/** Options of {@link VirtualPhone.transfer}. */
export interface VirtualPhoneTransferOptions {
  /** Blind transfer to this URI. */
  target?: string | undefined;
  /** Attended transfer: replace this other call of the phone (RFC 3891). */
  replaces?: Call | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * A virtual phone: a {@link UserAgent} with one active call at a time,
 * simple SDP, and a record of everything it sent and received.
 *
 * @example
 * ```ts
 * const alice = new VirtualPhone({ transport, uri: 'sip:alice@voxmesh.test' });
 * await alice.start();
 * await alice.call({ uri: 'sip:bob@127.0.0.1:5070' });
 * expect(alice.state).toBe('talking');
 * await alice.sendDtmf({ digits: '12#' });
 * await alice.hangup();
 * expect(alice.sent('BYE')).toHaveLength(1);
 * ```
 */
export class VirtualPhone extends TypedEventEmitter<VirtualPhoneEvents> {
  /** The user agent underneath. */
  readonly ua: UserAgent;
  /** Every SIP message sent and received, in order. */
  readonly messages: RecordedMessage[] = [];
  /** DTMF digits received by INFO, in order. */
  readonly dtmfReceived: string[] = [];
  /** Calls made or received, in order (the last is the current one). */
  readonly history: Call[] = [];
  readonly #autoAnswer: boolean;
  readonly #rtpPort: number;
  #state: VirtualPhoneState = 'idle';
  #current: Call | undefined;
  #localHold = false;
  #remoteHold = false;
  #sdpVersion = 1;

  constructor(options: VirtualPhoneOptions) {
    super();
    this.ua = new UserAgent({
      transport: options.transport,
      uri: options.uri,
      credentials: options.credentials,
      displayName: options.displayName,
      sessionTimer: options.sessionTimer ?? false,
      timers: options.timers,
      clock: options.clock,
      logger: options.logger,
      metrics: options.metrics,
      userAgent: 'voxmesh-virtual-phone',
    });
    this.#autoAnswer = options.autoAnswer ?? false;
    this.#rtpPort = options.rtpPort ?? 40_000;
    this.ua.on('message', (message, direction) => {
      this.messages.push({ direction, message });
    });
    this.ua.on('invite', (call) => {
      this.#incoming(call);
    });
  }

  /** The phone's state. */
  get state(): VirtualPhoneState {
    return this.#state;
  }

  /** The current (or last) call. */
  get currentCall(): Call | undefined {
    return this.#current;
  }

  /** Starts the user agent. */
  start(): Promise<void> {
    return this.ua.start();
  }

  /** Stops the user agent (calls end without BYE). */
  stop(): Promise<void> {
    return this.ua.stop();
  }

  /** Requests it sent with this method. */
  sent(method: string): SipRequest[] {
    return this.messages
      .filter((m) => m.direction === 'out' && m.message.isRequest() && m.message.method === method)
      .map((m) => m.message as SipRequest);
  }

  /** Requests it received with this method, or responses with this status. */
  received(what: string | number): SipMessage[] {
    return this.messages
      .filter(
        (m) =>
          m.direction === 'in' &&
          (typeof what === 'number'
            ? m.message.isResponse() && m.message.status === what
            : m.message.isRequest() && m.message.method === what),
      )
      .map((m) => m.message);
  }

  /** Resolves when the phone reaches `state` (at once if it is there). */
  async waitForState(
    state: VirtualPhoneState,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<void> {
    while (this.#state !== state) {
      await onceEvent(this, 'state', options);
    }
  }

  /** Registers with digest authentication; rejects with `SipResponseError` on failure. */
  register(
    options: { registrar?: string; expiresS?: number; signal?: AbortSignal } = {},
  ): Promise<SipResponse> {
    return this.ua.register(options);
  }

  /** Calls `uri`; resolves when answered (state `talking`), rejects when it fails. */
  async call(options: VirtualPhoneCallOptions): Promise<Call> {
    if (this.#current !== undefined && this.#current.state !== 'terminated') {
      throw new TypeError('The phone is already in a call');
    }
    const call = this.ua.invite({
      uri: options.uri,
      body: this.#sdp(),
      headers: options.headers,
      signal: options.signal,
    });
    this.#adopt(call);
    this.#setState('early');
    await call.answered({ signal: options.signal });
    return call;
  }

  /** Answers the ringing call. */
  async answer(options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    const call = this.#requireCall();
    await call.accept({ body: this.#sdp(), signal: options.signal });
  }

  /** Rejects the ringing call (486 by default). */
  reject(options: { status?: number | undefined } = {}): void {
    this.#requireCall().reject({ status: options.status ?? 486 });
  }

  /** Hangs up (BYE, or CANCEL while calling). */
  async hangup(options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    const call = this.#requireCall();
    await call.bye({ signal: options.signal });
  }

  /** Puts the call on hold with a re-INVITE (`a=sendonly`, RFC 3264 §8.4). */
  async hold(options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    const call = this.#requireCall();
    this.#localHold = true;
    await call.reinvite({ body: this.#sdp(), signal: options.signal });
    this.#updateTalkState();
  }

  /** Takes the call off hold (`a=sendrecv`). */
  async unhold(options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    const call = this.#requireCall();
    this.#localHold = false;
    await call.reinvite({ body: this.#sdp(), signal: options.signal });
    this.#updateTalkState();
  }

  /** Sends DTMF digits as INFO `application/dtmf-relay`, one request per digit. */
  async sendDtmf(options: { digits: string; signal?: AbortSignal | undefined }): Promise<void> {
    const call = this.#requireCall();
    for (const digit of options.digits) await call.dtmf({ digit, signal: options.signal });
  }

  /**
   * Transfers the current call (REFER, RFC 3515): blind to `target`, or
   * attended by replacing another call. Resolves when the peer reports the
   * transfer's outcome (NOTIFY with a final sipfrag); the phone then hangs up.
   */
  async transfer(options: VirtualPhoneTransferOptions): Promise<void> {
    const call = this.#requireCall();
    const done = new Promise<number>((resolve) => {
      call.delegate.onNotify = (ctx: InDialogRequest): ResponseSpec => {
        const status = /^SIP\/2\.0 (\d{3})/.exec(ctx.request.body.toString('utf8'))?.[1];
        const code = Number(status ?? 0);
        if (code >= 200) resolve(code);
        return { status: 200 };
      };
    });
    await call.refer({
      target: options.target,
      replaces: options.replaces,
      signal: options.signal,
    });
    const status = await abortable(done, options.signal);
    if (status < 300) {
      await call.bye({ signal: options.signal }).catch(() => undefined);
    }
  }

  #requireCall(): Call {
    const call = this.#current;
    if (call === undefined || call.state === 'terminated') {
      throw new TypeError('The phone has no call');
    }
    return call;
  }

  #incoming(call: Call): void {
    const busy = this.#current !== undefined && this.#current.state !== 'terminated';
    if (busy && call.replaces === undefined) {
      // One call at a time, unless the new one replaces a call (RFC 3891).
      call.reject({ status: 486 });
      return;
    }
    const replaced = call.replaces;
    this.#adopt(call);
    if (replaced !== undefined) {
      // RFC 3891 §3: accept the new call and end the replaced one with BYE.
      void call
        .accept({ body: this.#sdp() })
        .then(() => replaced.bye())
        .catch(() => undefined);
      return;
    }
    this.#setState('ringing');
    if (this.#autoAnswer) {
      void call
        .progress()
        .then(() => call.accept({ body: this.#sdp() }))
        .catch(() => undefined);
    }
  }

  #adopt(call: Call): void {
    this.#current = call;
    this.history.push(call);
    this.#localHold = false;
    this.#remoteHold = false;
    call.delegate = {
      onInfo: (ctx) => {
        const body = ctx.request.body.toString('utf8');
        const digit = /Signal\s*=\s*([0-9A-D*#])/i.exec(body)?.[1];
        if (digit !== undefined) {
          this.dtmfReceived.push(digit.toUpperCase());
          this.emit('dtmf', digit.toUpperCase());
        }
        return { status: 200 };
      },
      onReinvite: (ctx) => {
        const offer = ctx.request.body.toString('utf8');
        this.#remoteHold = /a=(sendonly|inactive)/.test(offer) || /c=IN IP4 0\.0\.0\.0/.test(offer);
        queueMicrotask(() => this.#updateTalkState());
        return {
          status: 200,
          body: this.#sdp(this.#remoteHold ? 'recvonly' : undefined),
          contentType: 'application/sdp',
        };
      },
      onRefer: (ctx) => this.#onRefer(ctx),
    };
    call.on('state', (state) => {
      if (call !== this.#current) return;
      if (state === 'early' && this.#state !== 'ringing') this.#setState('early');
      if (state === 'confirmed') this.#updateTalkState();
    });
    call.on('terminated', (_end: CallEnd) => {
      if (call === this.#current) this.#setState('hungup');
    });
  }

  /** RFC 3515 §2.4: accept a REFER, call the target, report progress by NOTIFY. */
  #onRefer(ctx: InDialogRequest): ResponseSpec {
    const referTo = ctx.request.headers.get('refer-to');
    const inner =
      referTo === undefined ? undefined : (/<([^>]*)>/.exec(referTo)?.[1] ?? referTo.trim());
    let target: SipUri | undefined;
    try {
      const uri = inner === undefined ? undefined : parseUri(inner);
      if (uri instanceof SipUri) target = uri;
    } catch {
      target = undefined;
    }
    if (target === undefined) return { status: 400, reason: 'Bad Refer-To' };
    const headers: [string, string][] = [];
    const replaces = Object.entries(target.headers).find(
      ([name]) => name.toLowerCase() === 'replaces',
    )?.[1];
    if (replaces !== undefined) headers.push(['Replaces', decodeURIComponent(replaces)]);
    const referredBy = ctx.request.headers.get('referred-by');
    if (referredBy !== undefined) headers.push(['Referred-By', referredBy]);
    const uri = target.clone();
    uri.headers = {};
    const original = ctx.call;
    queueMicrotask(() => {
      void (async () => {
        await original
          .notifyReferStatus({ status: 100, reason: 'Trying', final: false })
          .catch(() => undefined);
        const call = this.ua.invite({ uri: uri.toString(), body: this.#sdp(), headers });
        let status = 200;
        let reason = 'OK';
        try {
          await call.answered();
        } catch (error) {
          status = (error as { status?: number }).status ?? 503;
          reason = 'Failed';
        }
        await original.notifyReferStatus({ status, reason, final: true }).catch(() => undefined);
        if (status < 300) this.#adopt(call);
        if (status < 300) this.#updateTalkState();
      })();
    });
    return { status: 202 };
  }

  #updateTalkState(): void {
    const call = this.#current;
    if (call === undefined || call.state !== 'confirmed') return;
    this.#setState(this.#localHold || this.#remoteHold ? 'holding' : 'talking');
  }

  #setState(state: VirtualPhoneState): void {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.emit('state', state, previous);
  }

  /** A minimal audio SDP (RFC 4566) offering PCMU, PCMA and telephone-event. */
  #sdp(direction?: 'recvonly'): string {
    const mode = direction ?? (this.#localHold ? 'sendonly' : 'sendrecv');
    const version = this.#sdpVersion++;
    return [
      'v=0',
      `o=- 1 ${version} IN IP4 127.0.0.1`,
      's=voxmesh virtual phone',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${this.#rtpPort} RTP/AVP 0 8 101`,
      'a=rtpmap:0 PCMU/8000',
      'a=rtpmap:8 PCMA/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=fmtp:101 0-15',
      `a=${mode}`,
      '',
    ].join('\r\n');
  }
}
