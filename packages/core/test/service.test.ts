import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  FakeClock,
  Service,
  ServiceGroup,
  VoxmeshError,
  type ServiceState,
} from '../src/index.js';

class Probe extends Service {
  readonly log: string[] = [];
  failStart: Error | undefined;
  startDelay = 0;

  protected async onStart(): Promise<void> {
    this.log.push(`start:${this.name}`);
    if (this.startDelay) await this.clock.sleep(this.startDelay);
    if (this.failStart) throw this.failStart;
  }

  protected override onDrain(): Promise<void> {
    this.log.push(`drain:${this.name}`);
    return Promise.resolve();
  }

  protected onStop(): Promise<void> {
    this.log.push(`stop:${this.name}`);
    return Promise.resolve();
  }
}

function states(service: Service): ServiceState[] {
  const seen: ServiceState[] = [];
  service.on('state', (state) => seen.push(state));
  return seen;
}

describe('Service lifecycle', () => {
  it('goes idle → starting → running → draining → stopping → stopped', async () => {
    const service = new Probe({ name: 'sip' });
    const seen = states(service);
    expect(service.state).toBe('idle');
    await service.start();
    expect(service.acceptingWork).toBe(true);
    await service.drain();
    expect(seen).toEqual(['starting', 'running', 'draining', 'stopping', 'stopped']);
    expect(service.log).toEqual(['start:sip', 'drain:sip', 'stop:sip']);
  });

  it('shares one start between concurrent callers', async () => {
    const clock = new FakeClock();
    const service = new Probe({ name: 'media', clock });
    service.startDelay = 100;
    const a = service.start();
    const b = service.start();
    await clock.advanceAsync(100);
    await Promise.all([a, b]);
    expect(service.log).toEqual(['start:media']);
    await service.start();
    expect(service.log).toEqual(['start:media']);
  });

  it('a failed start ends in failed, releases resources once, and explains why', async () => {
    const service = new Probe({ name: 'udp' });
    service.failStart = new Error('EADDRINUSE 127.0.0.1:5060');
    const seen = states(service);
    const error = await service.start().catch((e: unknown) => e);
    expect(VoxmeshError.is(error, ErrorCode.START_FAILED)).toBe(true);
    expect((error as Error).message).toContain('EADDRINUSE');
    expect((error as Error).cause).toBe(service.failStart);
    expect(seen).toEqual(['starting', 'failed']);
    await service.stop();
    expect(service.log).toEqual(['start:udp', 'stop:udp']);
    expect(service.state).toBe('stopped');
  });

  it('drain refuses new work at once and waits for in-flight work', async () => {
    const clock = new FakeClock();
    const service = new Probe({ name: 'b2bua', clock });
    await service.start();
    const finished: string[] = [];
    const call = service.runWork(async () => {
      await clock.sleep(1_000);
      finished.push('call');
    });
    expect(service.inFlight).toBe(1);
    let drained = false;
    const draining = service.drain().then(() => (drained = true));
    await clock.advanceAsync(0);
    expect(service.state).toBe('draining');
    expect(() => service.beginWork()).toThrow(
      expect.objectContaining({ code: ErrorCode.NOT_ACCEPTING_WORK }) as Error,
    );
    await clock.advanceAsync(999);
    expect(drained).toBe(false);
    expect(service.state).toBe('draining');
    await clock.advanceAsync(1);
    await Promise.all([call, draining]);
    expect(finished).toEqual(['call']);
    expect(drained).toBe(true);
    expect(service.state).toBe('stopped');
    expect(service.inFlight).toBe(0);
  });

  it('a drain deadline rejects with DRAIN_TIMEOUT and stop() then aborts the work', async () => {
    const clock = new FakeClock();
    const service = new Probe({ name: 'ivr', clock });
    await service.start();
    let abortedWith: unknown;
    const stuck = service.runWork(
      (signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            abortedWith = signal.reason;
            resolve();
          });
        }),
    );
    const draining = service.drain({ timeoutMs: 5_000 });
    const outcome = draining.catch((e: unknown) => e);
    await clock.advanceAsync(5_000);
    const error = await outcome;
    expect(VoxmeshError.is(error, ErrorCode.DRAIN_TIMEOUT)).toBe(true);
    expect(service.state).toBe('draining');
    await service.stop();
    await stuck;
    expect(VoxmeshError.is(abortedWith, ErrorCode.ABORTED)).toBe(true);
    expect(service.state).toBe('stopped');
    expect(clock.pendingTimers).toBe(0);
  });

  it('work tokens release once, also with using', async () => {
    const service = new Probe({ name: 'tx' });
    await service.start();
    const token = service.beginWork();
    token.release();
    token.release();
    expect(service.inFlight).toBe(0);
    {
      using _work = service.beginWork();
      expect(service.inFlight).toBe(1);
    }
    expect(service.inFlight).toBe(0);
    await service.stop();
  });

  it('does not restart once stopped; stop is idempotent; await using stops', async () => {
    const service = new Probe({ name: 'ws' });
    await service.start();
    await Promise.all([service.stop(), service.stop()]);
    expect(service.log).toEqual(['start:ws', 'stop:ws']);
    await expect(service.start()).rejects.toSatisfy((e) => VoxmeshError.is(e, 'INVALID_STATE'));
    expect(() => service.beginWork()).toThrow(/stopped/);
    const scoped = new Probe({ name: 'scoped' });
    {
      await using s = scoped;
      await s.start();
    }
    expect(scoped.state).toBe('stopped');
  });

  it('stopping an idle service skips onStop', async () => {
    const service = new Probe({ name: 'idle' });
    await service.stop();
    expect(service.state).toBe('stopped');
    expect(service.log).toEqual([]);
  });

  it('stop() during a start that waits on its signal aborts the start', async () => {
    class Hanging extends Service {
      stops = 0;
      protected onStart(signal: AbortSignal): Promise<void> {
        return new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(new Error('start aborted')));
        });
      }
      protected onStop(): Promise<void> {
        this.stops++;
        return Promise.resolve();
      }
    }
    const service = new Hanging({ name: 'hanging' });
    const starting = service.start().catch((e: unknown) => e);
    await service.stop();
    expect(VoxmeshError.is(await starting, ErrorCode.START_FAILED)).toBe(true);
    expect(service.state).toBe('stopped');
    expect(service.stops).toBe(1);
  });

  it('an aborted start fails', async () => {
    const service = new Probe({ name: 'slow' });
    const error = await service.start({ signal: AbortSignal.abort('no') }).catch((e: unknown) => e);
    expect(VoxmeshError.is(error, ErrorCode.START_FAILED)).toBe(true);
    expect(service.state).toBe('failed');
  });
});

describe('ServiceGroup', () => {
  it('starts in order and stops in reverse', async () => {
    const log: string[] = [];
    const members = ['config', 'sip', 'http'].map((name) => {
      const s = new Probe({ name });
      s.log.push = (...items: string[]) => log.push(...items);
      return s;
    });
    const group = new ServiceGroup({ name: 'server', services: members });
    await group.start();
    await group.stop();
    expect(log).toEqual([
      'start:config',
      'start:sip',
      'start:http',
      'stop:http',
      'stop:sip',
      'stop:config',
    ]);
  });

  it('stops what it started when a member fails to start', async () => {
    const log: string[] = [];
    const members = ['config', 'sip', 'http'].map((name) => {
      const s = new Probe({ name });
      s.log.push = (...items: string[]) => log.push(...items);
      return s;
    });
    (members[1] as Probe).failStart = new Error('port taken');
    const group = new ServiceGroup({ name: 'server', services: members });
    await expect(group.start()).rejects.toThrow(/port taken/);
    expect(log).toEqual(['start:config', 'start:sip', 'stop:sip', 'stop:config']);
    expect(members.map((m) => m.state)).toEqual(['stopped', 'stopped', 'stopped']);
  });

  it('drains every member and waits for their work', async () => {
    const clock = new FakeClock();
    const a = new Probe({ name: 'a', clock });
    const b = new Probe({ name: 'b', clock });
    const group = new ServiceGroup({ name: 'g', services: [a, b], clock });
    await group.start();
    const work = b.runWork(() => clock.sleep(300));
    const draining = group.drain();
    await clock.advanceAsync(0);
    expect(a.state).toBe('stopped');
    expect(b.state).toBe('draining');
    await clock.advanceAsync(300);
    await Promise.all([work, draining]);
    expect(group.state).toBe('stopped');
    expect(b.state).toBe('stopped');
  });
});
