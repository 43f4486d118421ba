/**
 * The dialog state of RFC 3261 §12: identifiers, sequence numbers, the
 * remote target and the route set, and building requests within the dialog.
 *
 * @module
 */

import { SipHeaders } from '../codec/headers.js';
import { randomHex } from '../codec/random.js';
import { NameAddr } from '../codec/name-addr.js';
import { SipUri, type Uri } from '../codec/uri.js';
import { SipRequest, type SipResponse } from '../message.js';

/** A new tag for From or To: 64 random bits (RFC 3261 §19.3 asks for at least 32). */
export function generateTag(): string {
  return randomHex(8);
}

/** A new Call-ID: 128 random bits (RFC 3261 §8.1.1.4). */
export function generateCallId(): string {
  return randomHex(16);
}

/** The state of a dialog (RFC 3261 §12: early after a 1xx with a tag, confirmed after a 2xx). */
export type DialogState = 'early' | 'confirmed' | 'terminated';

/** The fields of a {@link Dialog}. */
export interface DialogInit {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** The local party (From of our requests). */
  localUri: NameAddr;
  /** The remote party (To of our requests). */
  remoteUri: NameAddr;
  /** Where in-dialog requests go: the peer's Contact. */
  remoteTarget: Uri;
  /** The route set, in the order our requests carry it. */
  routeSet: NameAddr[];
  /** The last CSeq we sent (`undefined`: none yet). */
  localSeq: number | undefined;
  /** The last CSeq the peer sent (`undefined`: none yet). */
  remoteSeq: number | undefined;
  /** Our Contact. */
  localContact: NameAddr;
  state: DialogState;
  /** Whether the dialog was established over sips (RFC 3261 §12.1.1). */
  secure?: boolean | undefined;
}

/** Options of {@link Dialog.createRequest}. */
export interface DialogRequestOptions {
  /** Extra headers, appended in order. @defaultValue none */
  headers?: Iterable<readonly [string, string]> | undefined;
  body?: Buffer | string | undefined;
  /** Content-Type of `body`. */
  contentType?: string | undefined;
  /**
   * The CSeq number to use instead of the next one (an ACK or CANCEL reuses
   * the INVITE's, RFC 3261 §13.2.2.4, §9.1).
   */
  cseq?: number | undefined;
}

/**
 * One dialog (RFC 3261 §12). Created by the UAC from a response
 * ({@link Dialog.fromResponse}) or by the UAS from a request
 * ({@link Dialog.fromRequest}).
 */
export class Dialog {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly localUri: NameAddr;
  readonly remoteUri: NameAddr;
  remoteTarget: Uri;
  routeSet: NameAddr[];
  localSeq: number | undefined;
  remoteSeq: number | undefined;
  localContact: NameAddr;
  state: DialogState;
  readonly secure: boolean;

  constructor(init: DialogInit) {
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localUri = init.localUri;
    this.remoteUri = init.remoteUri;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.localContact = init.localContact;
    this.state = init.state;
    this.secure = init.secure ?? false;
  }

  /** The dialog id: Call-ID, local tag, remote tag (RFC 3261 §12). */
  get id(): string {
    return Dialog.key(this.callId, this.localTag, this.remoteTag);
  }

  /** The id of a dialog from its three parts. */
  static key(callId: string, localTag: string, remoteTag: string): string {
    return `${callId}\n${localTag}\n${remoteTag}`;
  }

  /**
   * The UAC side (RFC 3261 §12.1.2): from a request we sent and a 1xx/2xx
   * with a To tag. Route set: Record-Route in reverse; remote target: Contact.
   */
  static fromResponse(request: SipRequest, response: SipResponse, localContact: NameAddr): Dialog {
    const to = response.to;
    const from = request.from;
    const callId = request.callId;
    if (to?.tag === undefined || from?.tag === undefined || callId === undefined) {
      throw new TypeError('A dialog needs From and To tags and a Call-ID');
    }
    const contact = response.contact[0];
    return new Dialog({
      callId,
      localTag: from.tag,
      remoteTag: to.tag,
      localUri: from.clone(),
      remoteUri: to.clone(),
      // RFC 3261 §12.1.2: the remote target is the Contact of the response.
      remoteTarget: contact?.uri.clone() ?? request.uri,
      // RFC 3261 §12.1.2: the route set is the Record-Route list in reverse order.
      routeSet: [...response.recordRoute].reverse().map((r) => r.clone()),
      localSeq: request.cseq?.seq,
      remoteSeq: undefined,
      localContact,
      state: response.status < 200 ? 'early' : 'confirmed',
      secure: request.uri instanceof SipUri && request.uri.scheme === 'sips',
    });
  }

  /**
   * The UAS side (RFC 3261 §12.1.1): from a request and the tag we put in
   * our To. Route set: Record-Route in order; remote target: Contact.
   */
  static fromRequest(
    request: SipRequest,
    localTag: string,
    localContact: NameAddr,
    state: DialogState,
  ): Dialog {
    const from = request.from;
    const to = request.to;
    const callId = request.callId;
    if (from?.tag === undefined || to === undefined || callId === undefined) {
      throw new TypeError('A dialog needs a From tag, a To and a Call-ID');
    }
    const localUri = to.clone();
    localUri.tag = localTag;
    const contact = request.contact[0];
    return new Dialog({
      callId,
      localTag,
      remoteTag: from.tag,
      localUri,
      remoteUri: from.clone(),
      // RFC 3261 §12.1.1: the remote target is the Contact of the request.
      remoteTarget: contact?.uri.clone() ?? request.uri,
      // RFC 3261 §12.1.1: the route set is the Record-Route list, in order.
      routeSet: request.recordRoute.map((r) => r.clone()),
      localSeq: undefined,
      remoteSeq: request.cseq?.seq,
      localContact,
      state,
      secure: request.uri instanceof SipUri && request.uri.scheme === 'sips',
    });
  }

  /**
   * Updates the remote target from a target refresh (re-INVITE, UPDATE or
   * their 2xx: RFC 3261 §12.2, RFC 3311 §5.1).
   */
  refreshTarget(message: SipRequest | SipResponse): void {
    const contact = message.contact[0];
    if (contact !== undefined) this.remoteTarget = contact.uri.clone();
  }

  /**
   * Checks the CSeq of a request from the peer (RFC 3261 §12.2.2): a lower
   * number than the last one is out of order (answer 500). Returns whether
   * the request is acceptable, and records its number.
   */
  acceptRemoteSeq(request: SipRequest): boolean {
    const seq = request.cseq?.seq;
    if (seq === undefined) return false;
    // ACK and CANCEL reuse the INVITE's number (RFC 3261 §13.2.2.4, §9.1).
    if (request.method === 'ACK' || request.method === 'CANCEL') return true;
    if (this.remoteSeq !== undefined && seq <= this.remoteSeq) return false;
    this.remoteSeq = seq;
    return true;
  }

  /** The next local CSeq number (RFC 3261 §12.2.1.1: monotonically increasing). */
  nextSeq(): number {
    // RFC 3261 §8.1.1.5: the first number is arbitrary but below 2**31.
    this.localSeq = this.localSeq === undefined ? 1 : this.localSeq + 1;
    return this.localSeq;
  }

  /**
   * A request within the dialog (RFC 3261 §12.2.1.1): To/From with tags,
   * Call-ID, CSeq, the Request-URI and Route headers from the remote target
   * and route set (loose or strict routing), and our Contact. The caller adds
   * the Via.
   */
  createRequest(method: string, options: DialogRequestOptions = {}): SipRequest {
    const headers = new SipHeaders();
    let uri: Uri = this.remoteTarget.clone();
    const routes = this.routeSet.map((r) => r.toString());
    const first = this.routeSet[0];
    if (first !== undefined && first.uri instanceof SipUri && !('lr' in first.uri.params)) {
      // RFC 3261 §12.2.1.1: strict routing: the first route becomes the
      // Request-URI and the remote target goes last in the Route set.
      uri = first.uri.clone();
      routes.shift();
      routes.push(`<${this.remoteTarget.toString()}>`);
    }
    headers.append('Max-Forwards', '70');
    for (const route of routes) headers.append('Route', route);
    headers.append('From', this.localUri.toString());
    headers.append('To', this.remoteUri.toString());
    headers.append('Call-ID', this.callId);
    const seq = options.cseq ?? this.nextSeq();
    headers.append('CSeq', `${seq} ${method}`);
    if (method !== 'ACK' && method !== 'CANCEL' && method !== 'BYE') {
      headers.append('Contact', this.localContact.toString());
    }
    for (const [name, value] of options.headers ?? []) headers.append(name, value);
    if (options.body !== undefined && options.contentType !== undefined) {
      headers.append('Content-Type', options.contentType);
    }
    return new SipRequest({ method, uri, headers, body: options.body });
  }
}

/** A name-addr for a URI without display name or parameters. */
export function nameAddrOf(uri: Uri, params: Record<string, string | null> = {}): NameAddr {
  return new NameAddr({ uri, params });
}
