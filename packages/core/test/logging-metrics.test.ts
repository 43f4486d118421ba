import { Writable } from 'node:stream';
import { Registry, register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Metrics, VoxmeshError, createLogger, silentLogger } from '../src/index.js';

function sink(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('logger seam', () => {
  it('writes structured JSON lines with child bindings and the level filter', () => {
    const out = sink();
    const logger = createLogger({
      level: 'info',
      destination: out.stream,
      base: { service: 'sip' },
    });
    const call = logger.child({ tenantId: 'demo.local', callId: 'c1' });
    call.debug('not written');
    call.info({ status: 200 }, 'answered');
    const lines = out.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      service: 'sip',
      tenantId: 'demo.local',
      callId: 'c1',
      status: 200,
      msg: 'answered',
      level: 30,
    });
    expect(logger.isLevelEnabled('debug')).toBe(false);
  });

  it('serialises errors with their code and cause', () => {
    const out = sink();
    const logger = createLogger({ destination: out.stream });
    logger.error(
      { err: new VoxmeshError('TIMEOUT', 'no answer', { cause: new Error('t') }) },
      'failed',
    );
    const [line] = out.lines();
    // pino's error serialiser appends the cause chain to the message and the stack.
    expect(line?.err).toMatchObject({
      type: 'VoxmeshError',
      code: 'TIMEOUT',
      message: 'no answer: t',
    });
  });

  it('silentLogger accepts every call shape and writes nothing', () => {
    silentLogger.info('x');
    silentLogger.child({ a: 1 }).error({ err: new Error('e') }, 'y');
    expect(silentLogger.isLevelEnabled('fatal')).toBe(false);
  });
});

describe('metrics seam', () => {
  it('registers on the injected registry only', async () => {
    const registry = new Registry();
    const metrics = new Metrics({ registry });
    const calls = metrics.counter({ name: 'calls_total', help: 'Calls', labelNames: ['tenant'] });
    calls.inc({ tenant: 'demo.local' }, 2);
    const text = await registry.metrics();
    expect(text).toContain('voxmesh_calls_total{tenant="demo.local"} 2');
    expect(globalRegistry.getSingleMetric('voxmesh_calls_total')).toBeUndefined();
  });

  it('returns the same metric for the same name and refuses a different kind', () => {
    const metrics = new Metrics({ prefix: 'test_' });
    const a = metrics.gauge({ name: 'active_calls', help: 'Active calls' });
    const b = metrics.gauge({ name: 'active_calls', help: 'Active calls' });
    expect(a).toBe(b);
    expect(() => metrics.counter({ name: 'active_calls', help: 'x' })).toThrow(TypeError);
    const h = metrics.histogram({ name: 'setup_seconds', help: 'Setup', buckets: [0.1, 1] });
    h.observe(0.5);
    expect(metrics.registry.getSingleMetric('test_setup_seconds')).toBe(h);
  });

  it('keeps two instances apart', async () => {
    const one = new Metrics();
    const two = new Metrics();
    one.counter({ name: 'x_total', help: 'x' }).inc();
    expect(await two.registry.metrics()).not.toContain('x_total');
  });
});
