// Event-loop lag and garbage-collection pauses of a benchmark's system under
// test over a measuring window: start() at the mark, stop() at the end.
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

export interface LoopStats {
  /** 99th percentile of the event loop's delay in serving a 1 ms timer (null: no sample). */
  loopLagP99Ms: number | null;
  loopLagMaxMs: number | null;
  loopSamples: number;
  gcCount: number;
  gcTotalMs: number;
  gcMaxMs: number;
}

export function loopStats(): { start(): void; stop(): LoopStats } {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let gcCount = 0;
  let gcTotalMs = 0;
  let gcMaxMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcCount++;
      gcTotalMs += entry.duration;
      gcMaxMs = Math.max(gcMaxMs, entry.duration);
    }
  });
  return {
    start() {
      delay.reset();
      delay.enable();
      gcCount = 0;
      gcTotalMs = 0;
      gcMaxMs = 0;
      gc.observe({ entryTypes: ['gc'] });
    },
    stop() {
      delay.disable();
      gc.disconnect();
      const round = (n: number) => Number(n.toFixed(3));
      return {
        loopLagP99Ms: delay.count > 0 ? round(delay.percentile(99) / 1e6) : null,
        loopLagMaxMs: delay.count > 0 ? round(delay.max / 1e6) : null,
        loopSamples: delay.count,
        gcCount,
        gcTotalMs: round(gcTotalMs),
        gcMaxMs: round(gcMaxMs),
      };
    },
  };
}
