import { describe, expect, it } from 'vitest';
import { AbortError, TypedEventEmitter, onceEvent } from '../src/index.js';

interface CallEvents {
  answered: [at: number];
  ended: [cause: string, code: number];
  error: [error: Error];
}

class Call extends TypedEventEmitter<CallEvents> {}

describe('TypedEventEmitter', () => {
  it('delivers typed arguments to on/once listeners and removes them with off', () => {
    const call = new Call();
    const seen: string[] = [];
    const onEnded = (cause: string, code: number): void => {
      seen.push(`${cause}/${code}`);
    };
    call.on('ended', onEnded);
    call.once('answered', (at) => seen.push(`answered@${at}`));
    call.emit('answered', 5);
    call.emit('answered', 6);
    call.emit('ended', 'bye', 200);
    call.off('ended', onEnded);
    call.emit('ended', 'bye', 200);
    expect(seen).toEqual(['answered@5', 'bye/200']);
    // @ts-expect-error wrong argument types are compile errors
    call.emit('ended', 200, 'bye');
  });

  it('onceEvent resolves with the arguments of the next event', async () => {
    const call = new Call();
    const next = onceEvent(call, 'ended');
    call.emit('ended', 'cancel', 487);
    expect(await next).toEqual(['cancel', 487]);
    expect(call.listenerCount('ended')).toBe(0);
    expect(call.listenerCount('error')).toBe(0);
  });

  it('onceEvent rejects on error and on abort, and cleans up', async () => {
    const call = new Call();
    const failing = onceEvent(call, 'answered');
    call.emit('error', new Error('transport closed'));
    await expect(failing).rejects.toThrow('transport closed');
    const controller = new AbortController();
    const aborted = onceEvent(call, 'answered', { signal: controller.signal });
    controller.abort('timeout');
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    expect(call.listenerCount('answered')).toBe(0);
    expect(call.listenerCount('error')).toBe(0);
  });
});
