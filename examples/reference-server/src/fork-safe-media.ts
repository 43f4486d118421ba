/**
 * A media controller wrapper that lets any parallel fork answer.
 *
 * The B2BUA offers every parallel fork in the caller's media session (`a` →
 * `b1`, `a` → `b2`, …), but `InProcessMediaController` keeps only the last
 * offer of a session pending, so an answer from an earlier fork is refused.
 * This wrapper remembers each fork's offer and, when a fork other than the
 * last one offered answers, offers it again just before the answer. The
 * media plane reuses the fork's leg (same ports), so the SDP that fork
 * already received stays valid. Everything else passes through unchanged.
 *
 * @module
 */

import type {
  MediaAnswerRequest,
  MediaOfferRequest,
  MediaOperationOptions,
  MediaSdpResult,
  MediaTeardownRequest,
  TerminatingMediaController,
} from '@voxmesh/core';

/** Wraps `inner` (see the module documentation); the result is used in its place. */
export function forkSafeMedia<M extends TerminatingMediaController>(inner: M): M {
  /** Per session: the offers made, by `from>to`, and the last one. */
  const sessions = new Map<string, { offers: Map<string, MediaOfferRequest>; last: string }>();

  const offer = async (
    request: MediaOfferRequest,
    options?: MediaOperationOptions,
  ): Promise<MediaSdpResult> => {
    const result = await inner.offer(request, options);
    const key = `${request.from}>${request.to}`;
    const state = sessions.get(request.sessionId) ?? { offers: new Map(), last: key };
    state.offers.set(key, request);
    state.last = key;
    sessions.set(request.sessionId, state);
    return result;
  };

  const answer = async (
    request: MediaAnswerRequest,
    options?: MediaOperationOptions,
  ): Promise<MediaSdpResult> => {
    const state = sessions.get(request.sessionId);
    const key = `${request.to}>${request.from}`;
    const saved = state?.offers.get(key);
    if (state !== undefined && saved !== undefined && state.last !== key) {
      // RFC 3264 §8: the same offer again; the fork's leg and ports are reused.
      await inner.offer(saved, options);
      state.last = key;
    }
    const result = await inner.answer(request, options);
    if (state !== undefined) state.offers.clear();
    return result;
  };

  const teardown = (
    request: MediaTeardownRequest,
    options?: MediaOperationOptions,
  ): Promise<void> => {
    const state = sessions.get(request.sessionId);
    if (request.leg === undefined) sessions.delete(request.sessionId);
    else if (state !== undefined) {
      for (const key of [...state.offers.keys()]) {
        if (key.split('>').includes(request.leg)) state.offers.delete(key);
      }
    }
    return inner.teardown(request, options);
  };

  inner.on('ended', (sessionId) => {
    sessions.delete(sessionId);
  });

  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'offer') return offer;
      if (property === 'answer') return answer;
      if (property === 'teardown') return teardown;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}
