import { describe, expect, it } from 'vitest';
import { AbortError, FakeClock, SystemClock, VoxmeshError } from '../src/index.js';

describe('FakeClock', () => {
  it('fires timers in due order, ties in scheduling order', () => {
    const clock = new FakeClock();
    const order: string[] = [];
    clock.setTimeout(() => order.push('c@30'), 30);
    clock.setTimeout(() => order.push('a@10'), 10);
    clock.setTimeout(() => order.push('b1@20'), 20);
    clock.setTimeout(() => order.push('b2@20'), 20);
    expect(clock.advance(19)).toBe(1);
    expect(order).toEqual(['a@10']);
    clock.advance(11);
    expect(order).toEqual(['a@10', 'b1@20', 'b2@20', 'c@30']);
  });

  it('reads the due time inside a callback and fires timers scheduled within the window', () => {
    const clock = new FakeClock({ now: 1_000 });
    const seen: number[] = [];
    clock.setTimeout(() => {
      seen.push(clock.now());
      clock.setTimeout(() => seen.push(clock.now()), 5);
      clock.setTimeout(() => seen.push(clock.now()), 500);
    }, 10);
    clock.advance(100);
    expect(seen).toEqual([1_010, 1_015]);
    expect(clock.now()).toBe(1_100);
    expect(clock.pendingTimers).toBe(1);
    expect(clock.nextDueIn).toBe(410);
  });

  it('a zero-delay timer does not fire before time advances', () => {
    const clock = new FakeClock();
    let fired = false;
    clock.setTimeout(() => (fired = true), 0);
    expect(fired).toBe(false);
    clock.advance(0);
    expect(fired).toBe(true);
  });

  it('repeats intervals until cancelled, interleaved with timeouts', () => {
    const clock = new FakeClock();
    const order: string[] = [];
    const interval = clock.setInterval(() => order.push(`i${clock.monotonic()}`), 20);
    clock.setTimeout(() => order.push(`t${clock.monotonic()}`), 40);
    clock.advance(60);
    // The interval re-queued itself at t=20, after the timeout was scheduled at t=0.
    expect(order).toEqual(['i20', 't40', 'i40', 'i60']);
    interval.cancel();
    expect(interval.active).toBe(false);
    clock.advance(100);
    expect(order).toHaveLength(4);
  });

  it('cancels timers, also from inside another callback', () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    const later = clock.setTimeout(() => fired.push('later'), 20);
    clock.setTimeout(() => {
      fired.push('first');
      later.cancel();
    }, 10);
    clock.advance(30);
    expect(fired).toEqual(['first']);
    expect(later.active).toBe(false);
    later.cancel();
  });

  it('advanceAsync lets promise chains run between timers', async () => {
    const clock = new FakeClock();
    const log: string[] = [];
    const task = async (): Promise<void> => {
      await clock.sleep(100);
      log.push(`slept@${clock.monotonic()}`);
      await clock.sleep(100);
      log.push(`slept@${clock.monotonic()}`);
    };
    const done = task();
    await clock.advanceAsync(250);
    await done;
    expect(log).toEqual(['slept@100', 'slept@200']);
  });

  it('plain advance does not run the second sleep of a chain (why advanceAsync exists)', async () => {
    const clock = new FakeClock();
    let second = false;
    const done = (async () => {
      await clock.sleep(100);
      await clock.sleep(100);
      second = true;
    })();
    clock.advance(250);
    await Promise.resolve();
    expect(second).toBe(false);
    await clock.advanceAsync(200);
    await done;
    expect(second).toBe(true);
  });

  it('sleep rejects with an AbortError carrying the reason', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const sleeping = clock.sleep(1_000, { signal: controller.signal });
    controller.abort('caller hung up');
    const error = await sleeping.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).cause).toBe('caller hung up');
    expect(clock.pendingTimers).toBe(0);
    await expect(clock.sleep(1, { signal: controller.signal })).rejects.toSatisfy((e) =>
      VoxmeshError.is(e, 'ABORTED'),
    );
  });

  it('runAll stops a runaway interval', async () => {
    const clock = new FakeClock();
    clock.setInterval(() => undefined, 10);
    await expect(clock.runAll({ maxTimers: 50 })).rejects.toThrow(RangeError);
    const bounded = new FakeClock();
    bounded.setTimeout(() => undefined, 10);
    bounded.setTimeout(() => undefined, 1_000);
    expect(await bounded.runAll()).toBe(2);
    expect(bounded.monotonic()).toBe(1_000);
  });

  it('rejects a delay that is not a number', () => {
    const clock = new FakeClock();
    expect(() => clock.setTimeout(() => undefined, Number.NaN)).toThrow(TypeError);
  });
});

describe('SystemClock', () => {
  it('sleeps on real time and measures it monotonically', async () => {
    const clock = new SystemClock();
    const start = clock.monotonic();
    await clock.sleep(15);
    expect(clock.monotonic() - start).toBeGreaterThanOrEqual(14);
    expect(Math.abs(clock.now() - Date.now())).toBeLessThan(50);
  });

  it('cancels real timers', async () => {
    const clock = new SystemClock();
    let fired = 0;
    const timer = clock.setTimeout(() => fired++, 5);
    timer.cancel();
    const interval = clock.setInterval(() => fired++, 5).unref();
    await clock.sleep(30);
    interval.cancel();
    const count = fired;
    await clock.sleep(20);
    expect(count).toBeGreaterThan(0);
    expect(fired).toBe(count);
    expect(timer.active).toBe(false);
  });
});
