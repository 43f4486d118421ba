import { describe, expect, it } from 'vitest';
import {
  AbortError,
  FakeClock,
  TimeoutError,
  abortable,
  anySignal,
  onAbort,
  throwIfAborted,
  timeoutSignal,
} from '../src/index.js';

describe('signal helpers', () => {
  it('throwIfAborted throws an AbortError with the reason as cause', () => {
    const controller = new AbortController();
    expect(() => throwIfAborted(controller.signal)).not.toThrow();
    expect(() => throwIfAborted(undefined)).not.toThrow();
    controller.abort('shutdown');
    try {
      throwIfAborted(controller.signal);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AbortError);
      expect((error as Error).cause).toBe('shutdown');
    }
  });

  it('abortable rejects when the signal aborts and resolves otherwise', async () => {
    expect(await abortable(Promise.resolve(7), new AbortController().signal)).toBe(7);
    const controller = new AbortController();
    const never = new Promise<number>(() => undefined);
    const result = abortable(never, controller.signal);
    controller.abort(new Error('gone'));
    await expect(result).rejects.toBeInstanceOf(AbortError);
    await expect(abortable(Promise.reject(new Error('inner')), undefined)).rejects.toThrow('inner');
  });

  it('abortable removes its listener once the promise settles', async () => {
    const controller = new AbortController();
    let added = 0;
    let removed = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = (...args: Parameters<typeof add>) => {
      added++;
      add(...args);
    };
    signal.removeEventListener = (...args: Parameters<typeof remove>) => {
      removed++;
      remove(...args);
    };
    for (let i = 0; i < 5; i++) await abortable(Promise.resolve(i), signal);
    expect(added).toBe(5);
    expect(removed).toBe(5);
  });

  it('onAbort fires at once for an aborted signal and can be disposed', () => {
    const calls: unknown[] = [];
    const aborted = AbortSignal.abort('early');
    onAbort(aborted, (r) => calls.push(r));
    expect(calls).toEqual(['early']);
    const controller = new AbortController();
    const sub = onAbort(controller.signal, (r) => calls.push(r));
    sub[Symbol.dispose]();
    controller.abort('late');
    expect(calls).toEqual(['early']);
  });

  it('timeoutSignal aborts with a TimeoutError on the injected clock', () => {
    const clock = new FakeClock();
    const timeout = timeoutSignal(1_000, { clock });
    clock.advance(999);
    expect(timeout.signal.aborted).toBe(false);
    clock.advance(1);
    expect(timeout.signal.aborted).toBe(true);
    expect(timeout.signal.reason).toBeInstanceOf(TimeoutError);
  });

  it('timeoutSignal follows its parent and releases its timer on dispose', () => {
    const clock = new FakeClock();
    const parent = new AbortController();
    const timeout = timeoutSignal(1_000, { clock, signal: parent.signal });
    parent.abort('caller gone');
    expect(timeout.signal.reason).toBe('caller gone');
    expect(clock.pendingTimers).toBe(0);
    const other = timeoutSignal(1_000, { clock });
    expect(clock.pendingTimers).toBe(1);
    other[Symbol.dispose]();
    expect(clock.pendingTimers).toBe(0);
  });

  it('anySignal aborts with the first reason and ignores undefined', () => {
    const a = new AbortController();
    const b = new AbortController();
    expect(anySignal(a.signal, undefined)).toBe(a.signal);
    const any = anySignal(a.signal, b.signal, undefined);
    b.abort('b');
    expect(any.aborted).toBe(true);
    expect(any.reason).toBe('b');
  });
});
