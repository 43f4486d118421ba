/**
 * {@link uaBridge}: a ready-made `bridge` callback for {@link SipCallChannel}
 * that dials the target from a {@link UserAgent} and relays the media
 * through the channel's media plane — how an IVR connects a caller onwards
 * (press 1 for sales) and gets the caller back when the far end hangs up.
 *
 * ```text
 *  caller ══ IVR (terminated leg 'a')
 *     bridgeOffer('b1') ──► INVITE(offer) ──► target     (ring timeout → CANCEL, no-answer)
 *     bridgeAnswer('b1', 200's SDP): caller ⇄ relay ⇄ target
 *     target BYE  → unbridge('b1'): the caller is back in the IVR   → completed
 *     caller BYE  → BYE to the target                               → hangup
 *     busy / failed → unbridge, next dial string (if any)           → busy | no-answer | failed
 * ```
 *
 * @module
 */

import {
  onAbort,
  systemClock,
  type BridgeOptions,
  type BridgeResult,
  type BridgeTarget,
  type Clock,
} from '@voxmesh/core';
import type { Call } from '../ua/call.js';
import { SipResponseError } from '../ua/errors.js';
import type { UaTarget } from '../ua/ua-transport.js';
import type { UserAgent } from '../ua/user-agent.js';
import type { SipCallChannel, SipChannelBridge } from './sip-call-channel.js';

/** Where {@link uaBridge} dials a target: a SIP URI, or one with its next hop and From. */
export type UaBridgeDial =
  | string
  | {
      /** The Request-URI. */
      uri: string;
      /** Where the INVITE goes (e.g. the address a registered phone's REGISTER came from). @defaultValue the URI's host */
      next?: UaTarget | undefined;
      /** The From header (the caller ID). @defaultValue from the bridge's `callerId`, else the user agent's */
      from?: string | undefined;
    };

/** Options of {@link uaBridge}. */
export interface UaBridgeOptions {
  /** The user agent that places the outgoing calls. */
  ua: UserAgent;
  /**
   * Turns a bridge target into what to dial, tried in order (e.g. a
   * registrar lookup for an extension, a trunk target for a number).
   */
  resolve: (
    target: BridgeTarget,
    channel: SipCallChannel,
  ) => UaBridgeDial | readonly UaBridgeDial[] | Promise<UaBridgeDial | readonly UaBridgeDial[]>;
  /**
   * The clock of the ring timeout.
   * @defaultValue `systemClock`
   */
  clock?: Clock | undefined;
}

let nextLeg = 1;

function outcomeOf(status: number): BridgeResult['outcome'] {
  // RFC 3261 §21.4.25 / §21.6.1: busy here, busy everywhere; 408/480 and our own CANCEL: nobody answered.
  if (status === 486 || status === 600) return 'busy';
  if (status === 408 || status === 480 || status === 487) return 'no-answer';
  return 'failed';
}

/**
 * A `bridge` callback that dials with a user agent: each dial string in
 * turn until one answers; then the caller's media is relayed to it until
 * either side hangs up. When the far end hangs up first, the caller's media
 * terminates in the IVR again and the result is `completed`.
 */
export function uaBridge(options: UaBridgeOptions): SipChannelBridge {
  const clock = options.clock ?? systemClock;
  return async (channel, target, bridgeOptions) => {
    const resolved = await options.resolve(target, channel);
    const dials: readonly UaBridgeDial[] =
      typeof resolved === 'string' || !Array.isArray(resolved)
        ? [resolved as UaBridgeDial]
        : (resolved as readonly UaBridgeDial[]);
    let last: BridgeResult = { outcome: 'failed', talkMs: 0 };
    for (const dial of dials) {
      if (channel.state === 'ended') return { outcome: 'hangup', talkMs: 0 };
      if (bridgeOptions.signal?.aborted) return { outcome: 'stopped', talkMs: 0 };
      last = await attempt(options.ua, clock, channel, dial, bridgeOptions);
      if (last.outcome === 'completed' || last.outcome === 'hangup' || last.outcome === 'stopped')
        return last;
    }
    return last;
  };
}

async function attempt(
  ua: UserAgent,
  clock: Clock,
  channel: SipCallChannel,
  dial: UaBridgeDial,
  options: BridgeOptions,
): Promise<BridgeResult> {
  const leg = `b${nextLeg++}`;
  const d = typeof dial === 'string' ? { uri: dial } : dial;
  const callerId = options.callerId;
  const from =
    d.from ??
    (callerId?.uri === undefined
      ? undefined
      : callerId.displayName === undefined
        ? `<${callerId.uri}>`
        : `"${callerId.displayName.replace(/["\\]/g, '')}" <${callerId.uri}>`);
  const offer = await channel.bridgeOffer(leg);
  let out: Call;
  try {
    out = ua.invite({ uri: d.uri, next: d.next, from, body: offer });
  } catch (error) {
    await channel.unbridge(leg).catch(() => undefined);
    throw error;
  }
  // While it rings: the caller hanging up, the signal, or the ring timeout cancel it.
  let stopped: 'hangup' | 'stopped' | 'no-answer' | undefined;
  const cancel = (why: 'hangup' | 'stopped' | 'no-answer'): void => {
    stopped ??= why;
    out.cancel();
  };
  const onEnded = (): void => {
    cancel('hangup');
  };
  channel.on('ended', onEnded);
  const abort = onAbort(options.signal, () => {
    cancel('stopped');
  });
  const ring = clock.setTimeout(() => {
    cancel('no-answer');
  }, options.timeoutMs ?? 30_000);
  let answer: string;
  try {
    const ok = await out.answered();
    answer = ok.body.toString('utf8');
  } catch (error) {
    await channel.unbridge(leg).catch(() => undefined);
    if (stopped !== undefined) return { outcome: stopped, talkMs: 0 };
    const status = error instanceof SipResponseError ? error.status : undefined;
    return {
      outcome: status === undefined ? 'failed' : outcomeOf(status),
      sipStatus: status,
      talkMs: 0,
    };
  } finally {
    ring.cancel();
    abort[Symbol.dispose]();
    channel.off('ended', onEnded);
  }
  const started = clock.monotonic();
  try {
    await channel.bridgeAnswer(leg, answer);
  } catch {
    // RFC 3261 §15: a session whose media cannot be set up is ended with BYE (Reason 488).
    await out.bye({ reason: { protocol: 'SIP', cause: 488 } }).catch(() => undefined);
    await channel.unbridge(leg).catch(() => undefined);
    return { outcome: 'failed', sipStatus: 488, talkMs: 0 };
  }
  if (channel.state === 'ended') {
    await out.bye().catch(() => undefined);
    return { outcome: 'hangup', talkMs: 0 };
  }
  // Talking: until either side hangs up (or the signal stops the bridge).
  const by = await new Promise<'far' | 'caller' | 'stopped'>((resolve) => {
    const onFar = (): void => {
      done('far');
    };
    const onCaller = (): void => {
      done('caller');
    };
    const stop = onAbort(options.signal, () => {
      done('stopped');
    });
    const done = (who: 'far' | 'caller' | 'stopped'): void => {
      out.off('terminated', onFar);
      channel.off('ended', onCaller);
      stop[Symbol.dispose]();
      resolve(who);
    };
    out.once('terminated', onFar);
    channel.once('ended', onCaller);
    if (out.state === 'terminated') done('far');
  });
  const talkMs = clock.monotonic() - started;
  if (by !== 'far') await out.bye().catch(() => undefined);
  if (by !== 'caller') await channel.unbridge(leg).catch(() => undefined);
  return {
    outcome: by === 'caller' ? 'hangup' : by === 'stopped' ? 'stopped' : 'completed',
    talkMs,
  };
}
