/**
 * Error codes of the SIP transaction, dialog and user-agent layers.
 *
 * @module
 */

import { VoxmeshError, type VoxmeshErrorOptions } from '@voxmesh/core';
import type { SipResponse } from '../message.js';

/**
 * Error codes of the transaction, dialog and user-agent layers of
 * `@voxmesh/sip`. Each is documented in `docs/errors.md` with how to fix it.
 */
export const SipUaErrorCode = {
  /** A client transaction got no final response in time (Timer B or F, RFC 3261 §17.1). */
  SIP_TRANSACTION_TIMEOUT: 'SIP_TRANSACTION_TIMEOUT',
  /** The transport failed to send a message of a transaction (RFC 3261 §17.1.4). */
  SIP_TRANSPORT_FAILED: 'SIP_TRANSPORT_FAILED',
  /** A request was answered with a final non-2xx response ({@link SipResponseError}). */
  SIP_REQUEST_FAILED: 'SIP_REQUEST_FAILED',
  /** A challenge could not be answered, or the credentials were refused. */
  SIP_AUTH_FAILED: 'SIP_AUTH_FAILED',
  /** The dialog or call ended before the operation finished. */
  SIP_DIALOG_TERMINATED: 'SIP_DIALOG_TERMINATED',
} as const;

/** The union of all {@link SipUaErrorCode} values. */
export type SipUaErrorCode = (typeof SipUaErrorCode)[keyof typeof SipUaErrorCode];

/** Options of the {@link SipResponseError} constructor. */
export interface SipResponseErrorOptions extends VoxmeshErrorOptions {
  /** The status code of the final response. */
  status: number;
  /** Its reason phrase. @defaultValue `''` */
  reason?: string | undefined;
  /** The response itself (e.g. for its Min-Expires or Retry-After). @defaultValue none */
  response?: SipResponse | undefined;
}

/** A request was answered with a final non-2xx response. */
export class SipResponseError extends VoxmeshError {
  /** Always `SIP_REQUEST_FAILED`. */
  declare readonly code: string;
  /** The status code. */
  readonly status: number;
  /** The reason phrase. */
  readonly reason: string;
  /** The response, when the error was made from one. */
  readonly response: SipResponse | undefined;

  constructor(message: string, options: SipResponseErrorOptions) {
    super(SipUaErrorCode.SIP_REQUEST_FAILED, message, {
      // RFC 3261 §21.5 / §21.6: server errors and 408/480 may succeed later.
      retryable:
        options.retryable ??
        (options.status >= 500 || options.status === 408 || options.status === 480),
      cause: options.cause,
    });
    this.status = options.status;
    this.reason = options.reason ?? '';
    this.response = options.response;
  }

  static {
    this.prototype.name = 'SipResponseError';
  }
}
