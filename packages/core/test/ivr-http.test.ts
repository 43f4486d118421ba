// The `http` node against a real HTTP server on 127.0.0.1 (port 0), on the
// system clock. Waits are event-driven; the timeouts under test are short but
// nothing asserts how long anything took.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock, IvrRuntime, SystemClock, type IvrFlow } from '../src/index.js';
import { MockWebService, simulateCall, type SimulatedCall } from '../src/testing.js';

const service = new MockWebService();
const clock = new SystemClock();
const runtime = new IvrRuntime({ clock });

beforeAll(async () => {
  await service.start();
});

afterAll(async () => {
  await service.stop();
});

function httpFlow(config: Record<string, unknown>): IvrFlow {
  return {
    id: 'lookup',
    start: 'ask',
    nodes: {
      ask: {
        type: 'http',
        config: { url: `${service.url}/accounts/{{caller}}?x=1`, timeoutMs: 10_000, ...config },
        outputs: { success: 'found', 'give-up': 'sorry', fallback: 'fallback' },
      },
      found: { type: 'play', config: { prompt: 'found' } },
      sorry: { type: 'play', config: { prompt: 'sorry' } },
      fallback: { type: 'play', config: { prompt: 'fallback' } },
    },
  };
}

async function run(
  config: Record<string, unknown>,
  script?: (call: SimulatedCall) => Promise<void>,
) {
  service.requests.length = 0;
  return simulateCall({
    flow: httpFlow(config),
    runtime,
    call: { clock, promptDurationMs: 5 },
    run: { variables: { caller: '+49 30/1' } },
    script,
  });
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('http node against a local web service', () => {
  it('success: templated URL and body, JSON fields assigned to variables', async () => {
    service.handle(() => ({ json: { account: { name: 'Ann', tier: 2 } } }));
    const { result, call } = await run({
      method: 'POST',
      body: { from: '{{call.from}}', note: 'hi {{caller}}' },
      assign: { name: 'account.name', tier: 'account.tier', missing: 'account.nope' },
    });
    expect(service.requests).toHaveLength(1);
    expect(service.requests[0]).toMatchObject({
      method: 'POST',
      url: '/accounts/%2B49%2030%2F1?x=1',
      json: { from: '1001', note: 'hi +49 30/1' },
    });
    expect(result.variables).toMatchObject({
      name: 'Ann',
      tier: '2',
      'http.status': '200',
      'http.attempts': '1',
    });
    expect(result.variables.missing).toBeUndefined();
    expect(call.promptsPlayed()).toEqual(['found']);
    expect(result.steps[0]?.details).toMatchObject({ attempts: 1, status: 200, filler: false });
  });

  it('timeout on every attempt: retries, then give-up', async () => {
    service.handle(() => new Promise(() => undefined)); // never answers
    const { result, call } = await run({ timeoutMs: 150, retries: 2, retryDelayMs: 10 });
    expect(service.requests).toHaveLength(3);
    expect(result.variables).toMatchObject({
      'http.attempts': '3',
      'http.error': 'No response within 150 ms',
    });
    expect(call.promptsPlayed()).toEqual(['sorry']);
  });

  it('a 5xx is retried and a later success wins', async () => {
    let n = 0;
    service.handle(() => (++n === 1 ? { status: 503, body: 'busy' } : { json: { ok: true } }));
    const { result, call } = await run({ retries: 2, retryDelayMs: 10 });
    expect(service.requests).toHaveLength(2);
    expect(result.variables['http.attempts']).toBe('2');
    expect(call.promptsPlayed()).toEqual(['found']);
  });

  it('a 4xx is not retried; fallback variables and the fallback output', async () => {
    service.handle(() => ({ status: 404, json: { error: 'no such account' } }));
    const { result, call } = await run({
      retries: 3,
      retryDelayMs: 10,
      fallback: { name: 'caller {{caller}}' },
    });
    expect(service.requests).toHaveLength(1);
    expect(result.variables).toMatchObject({
      name: 'caller +49 30/1',
      'http.status': '404',
      'http.error': 'HTTP 404',
    });
    expect(call.promptsPlayed()).toEqual(['fallback']);
  });

  it('a 200 with a body that is not JSON is a failure, not retried', async () => {
    service.handle(() => ({ body: '<html>oops' }));
    const { result } = await run({ retries: 2, retryDelayMs: 10 });
    expect(service.requests).toHaveLength(1);
    expect(result.variables['http.error']).toMatch(/^Invalid JSON/);
    expect(result.steps[0]?.output).toBe('give-up');
  });

  it('plays the filler prompt while the service is slow, and stops it when the answer comes', async () => {
    let current: SimulatedCall | undefined;
    service.handle(async () => {
      // Answer only once the caller has heard the filler.
      await until(() => current?.promptsPlayed().includes('please-wait') === true);
      return { json: { name: 'Bo' } };
    });
    const { result, call } = await run(
      {
        timeoutMs: 30_000,
        fillerPrompt: 'please-wait',
        fillerAfterMs: 50,
        assign: { name: 'name' },
      },
      (call) => {
        current = call;
        return Promise.resolve();
      },
    );
    expect(result.variables.name).toBe('Bo');
    const filler = call.events.filter((e) => 'prompt' in e && e.prompt === 'please-wait');
    expect(filler[0]).toMatchObject({ type: 'prompt.started' });
    expect(filler.at(-1)).toMatchObject({ type: 'prompt.finished', reason: 'stopped' });
    expect(call.promptsPlayed().at(-1)).toBe('found');
    expect(result.steps[0]?.details).toMatchObject({ filler: true });
  });

  it('no filler when the answer comes first', async () => {
    service.handle(() => ({ json: {} }));
    const { call } = await run({ fillerPrompt: 'please-wait', fillerAfterMs: 20_000 });
    expect(call.promptsPlayed()).toEqual(['found']);
  });

  it('a caller hanging up aborts the request and ends the run', async () => {
    service.handle(() => new Promise(() => undefined));
    const { result, call } = await run({ timeoutMs: 30_000 }, async (call) => {
      await service.waitForRequests(1);
      await call.callerHangup();
    });
    expect(result.outcome).toBe('hangup');
    expect(call.promptsPlayed()).toEqual([]);
  });
});

describe('http circuit breaker', () => {
  it('opens after repeated failures per tenant and origin, then lets one request through', async () => {
    const fakeClock = new FakeClock();
    const requests: string[] = [];
    let healthy = false;
    const breaking = new IvrRuntime({
      clock: fakeClock,
      httpCircuitBreaker: { failures: 2, openMs: 60_000 },
      fetch: (input) => {
        requests.push(
          typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
        );
        return Promise.resolve(
          healthy ? Response.json({ ok: true }) : new Response('down', { status: 503 }),
        );
      },
    });
    const flowTo = (url: string): IvrFlow => ({
      id: 'cb',
      start: 'ask',
      nodes: {
        ask: { type: 'http', config: { url, retries: 0, fallback: { source: 'default' } } },
      },
    });
    const call = async (tenantId: string, url = 'http://crm.example/a') => {
      const { result } = await simulateCall({
        flow: flowTo(url),
        runtime: breaking,
        call: { clock: fakeClock, tenantId },
      });
      return result;
    };
    expect((await call('t1')).steps[0]?.output).toBe('fallback');
    expect((await call('t1')).steps[0]?.output).toBe('fallback');
    expect(requests).toHaveLength(2);
    // Open: no request for t1 on that origin.
    const skipped = await call('t1', 'http://crm.example/other-path');
    expect(skipped.variables['http.error']).toMatch(/^Circuit open/);
    expect(skipped.steps[0]?.details).toMatchObject({ circuitOpen: true, attempts: 0 });
    expect(requests).toHaveLength(2);
    // Another tenant, or another origin, is not affected.
    await call('t2');
    await call('t1', 'http://billing.example/x');
    expect(requests).toHaveLength(4);
    // After openMs one request goes through; success closes the circuit.
    await fakeClock.advanceAsync(60_000);
    healthy = true;
    expect((await call('t1')).steps[0]?.output).toBe('success');
    expect((await call('t1')).steps[0]?.output).toBe('success');
    expect(requests).toHaveLength(6);
  });

  it('4xx answers do not open the circuit', async () => {
    const fakeClock = new FakeClock();
    let count = 0;
    const rt = new IvrRuntime({
      clock: fakeClock,
      httpCircuitBreaker: { failures: 1 },
      fetch: () => {
        count++;
        return Promise.resolve(new Response('no', { status: 404 }));
      },
    });
    const flow: IvrFlow = {
      id: 'x',
      start: 'a',
      nodes: { a: { type: 'http', config: { url: 'http://h.example/' } } },
    };
    for (let i = 0; i < 3; i++)
      await simulateCall({ flow, runtime: rt, call: { clock: fakeClock } });
    expect(count).toBe(3);
  });
});
