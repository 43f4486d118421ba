import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import {
  createConfigView,
  ErrorCode,
  FakeClock,
  IvrRuntime,
  VoxmeshError,
  type IvrFlow,
  type Tenant,
} from '../src/index.js';
import { SimulatedCall, simulateCall } from '../src/testing.js';
import { tenants } from './fixtures.js';

const acme = createConfigView({ tenants: tenants() }).tenant('acme') as Tenant;

function flow(nodes: IvrFlow['nodes'], start = Object.keys(nodes)[0] as string, id = 'f'): IvrFlow {
  return { id, start, nodes };
}

describe('variables and conditions', () => {
  it.each<[string, string | undefined, string, string | undefined, string]>([
    ['equals', 'gold', 'equals', 'gold', 'true'],
    ['equals (no)', 'silver', 'equals', 'gold', 'false'],
    ['not-equals', 'silver', 'not-equals', 'gold', 'true'],
    ['contains', 'platinum', 'contains', 'tin', 'true'],
    ['matches', 'A-123', 'matches', '^A-[0-9]+$', 'true'],
    ['exists', 'x', 'exists', undefined, 'true'],
    ['exists (unset)', undefined, 'exists', undefined, 'false'],
    ['less-than', '9', 'less-than', '10', 'true'],
    ['greater-than (not numeric)', 'abc', 'greater-than', '1', 'false'],
  ])('condition %s', async (_name, value, operator, expected, output) => {
    const nodes: IvrFlow['nodes'] = {
      c: {
        type: 'condition',
        config: {
          variable: 'tier',
          operator,
          ...(expected === undefined ? {} : { value: expected }),
        },
      },
    };
    const { result } = await simulateCall({
      flow: flow(nodes),
      run: { variables: value === undefined ? {} : { tier: value } },
    });
    expect(result.steps[0]?.output).toBe(output);
  });

  it('set-variable templates values from other variables and the call', async () => {
    const { result } = await simulateCall({
      flow: flow({
        s: {
          type: 'set-variable',
          config: {
            variables: {
              greeting: 'hi {{name}} from {{call.from}} to {{call.to}}',
              missing: '[{{nope}}]',
            },
          },
        },
      }),
      call: { from: '555', to: '100' },
      run: { variables: { name: 'Ann' } },
    });
    expect(result.variables).toMatchObject({ greeting: 'hi Ann from 555 to 100', missing: '[]' });
  });
});

describe('play', () => {
  it('plays prompts in the call language, overridable per node', async () => {
    const { call } = await simulateCall({
      flow: flow({
        a: { type: 'play', config: { prompt: ['one', 'two'] }, outputs: { next: 'b' } },
        b: { type: 'play', config: { prompt: 'drei', language: 'de' } },
      }),
      run: { language: 'fr' },
    });
    const started = call.events.flatMap((e) =>
      e.type === 'prompt.started' ? [`${e.prompt}/${e.language}`] : [],
    );
    expect(started).toEqual(['one/fr', 'two/fr', 'drei/de']);
  });

  it('a caller hanging up during a prompt ends the run with outcome hangup', async () => {
    const { call, result } = await simulateCall({
      flow: flow({
        a: { type: 'play', config: { prompt: 'long' }, outputs: { next: 'b' } },
        b: { type: 'play', config: { prompt: 'never' } },
      }),
      call: { promptDurationMs: 60_000 },
      script: async (call) => {
        await call.silence(2_000);
        await call.callerHangup();
      },
    });
    expect(result.outcome).toBe('hangup');
    expect(call.promptsPlayed()).toEqual(['long']);
    expect(call.events.find((e) => e.type === 'prompt.finished')).toMatchObject({
      reason: 'hangup',
      atMs: 2_000,
    });
    expect(call.events.at(-1)).toMatchObject({ type: 'ended', by: 'remote' });
  });
});

describe('dial and transfer', () => {
  it.each([
    ['completed', 'completed'],
    ['busy', 'busy'],
    ['no-answer', 'no-answer'],
    ['failed', 'failed'],
  ] as const)('dial outcome %s takes output %s', async (outcome, output) => {
    const targets: unknown[] = [];
    const { result } = await simulateCall({
      flow: flow({
        d: { type: 'dial', config: { target: { extension: '{{ext}}' }, timeoutMs: 20_000 } },
      }),
      call: {
        bridge: (target, options) => {
          targets.push({ target, timeoutMs: options.timeoutMs });
          return { outcome, talkMs: 0, sipStatus: outcome === 'busy' ? 486 : undefined };
        },
      },
      run: { variables: { ext: '102' } },
    });
    expect(result.steps[0]?.output).toBe(output);
    expect(targets).toEqual([{ target: { extension: '102' }, timeoutMs: 20_000 }]);
  });

  it('transfer hands the call on and ends the run as transferred', async () => {
    const { result, call } = await simulateCall({
      flow: flow({ t: { type: 'transfer', config: { target: { number: '+4930123' } } } }),
    });
    expect(result.outcome).toBe('transferred');
    expect(call.events.find((e) => e.type === 'transfer')).toMatchObject({
      target: { number: '+4930123' },
    });
  });
});

describe('time-condition', () => {
  const nodes: IvrFlow['nodes'] = {
    tc: {
      type: 'time-condition',
      config: { scheduleId: 'office' },
      outputs: { open: 'o', closed: 'c', holiday: 'h' },
    },
    o: { type: 'play', config: { prompt: 'open' } },
    c: { type: 'play', config: { prompt: 'closed' } },
    h: { type: 'play', config: { prompt: 'holiday' } },
  };
  it.each([
    ['Wednesday 10:00 Berlin', Date.UTC(2026, 5, 10, 8), 'open'],
    ['Wednesday 20:00 Berlin', Date.UTC(2026, 5, 10, 18), 'closed'],
    ['Christmas', Date.UTC(2026, 11, 25, 9), 'holiday'],
  ])("%s: %s in the tenant's time zone", async (_name, now, prompt) => {
    const clock = new FakeClock({ now });
    const { call } = await simulateCall({
      flow: flow(nodes),
      call: { clock },
      run: { tenant: acme },
    });
    expect(call.promptsPlayed()).toEqual([prompt]);
  });

  it('fails clearly when the schedule does not exist', async () => {
    const { result } = await simulateCall({
      flow: flow({ tc: { type: 'time-condition', config: { scheduleId: 'weekend' } } }),
      run: { tenant: acme },
    });
    expect(result.outcome).toBe('failed');
    expect(VoxmeshError.is(result.error, ErrorCode.FLOW_FAILED)).toBe(true);
    expect(result.error?.message).toMatch(/Schedule 'weekend' not found/);
  });
});

describe('record and voicemail', () => {
  const rec = (config: Record<string, unknown>): IvrFlow =>
    flow({
      r: {
        type: 'record',
        config: { prompt: 'after-the-tone', ...config },
        outputs: { recorded: 'ok', 'no-audio': 'empty' },
      },
      ok: { type: 'play', config: { prompt: 'thanks' } },
      empty: { type: 'play', config: { prompt: 'nothing-heard' } },
    });

  it('the finish key ends a recording', async () => {
    const { call, result } = await simulateCall({
      flow: rec({}),
      script: async (call) => {
        await call.waitFor((e) => e.type === 'record.started');
        await call.talk(4_000);
        await call.press('#');
      },
    });
    expect(call.recordings).toEqual([
      { key: `recordings/test/${call.id}/r`, durationMs: 4_000, reason: 'finish-key' },
    ]);
    expect(result.variables.recording).toBe(`recordings/test/${call.id}/r`);
    expect(call.promptsPlayed()).toEqual(['after-the-tone', 'thanks']);
  });

  it('silence ends a recording, trailing silence trimmed', async () => {
    const { call } = await simulateCall({
      flow: rec({ silenceTimeoutMs: 3_000 }),
      script: async (call) => {
        await call.waitFor((e) => e.type === 'record.started');
        await call.talk(2_500);
      },
    });
    expect(call.recordings[0]).toMatchObject({ durationMs: 2_500, reason: 'silence' });
  });

  it('maxDurationMs ends a recording', async () => {
    const { call } = await simulateCall({
      flow: rec({ maxDurationMs: 10_000 }),
      script: async (call) => {
        await call.waitFor((e) => e.type === 'record.started');
        await call.talk(30_000);
      },
    });
    expect(call.recordings[0]).toMatchObject({ durationMs: 10_000, reason: 'max-duration' });
  });

  it('a too-short recording takes no-audio', async () => {
    const { call } = await simulateCall({
      flow: rec({ silenceTimeoutMs: 2_000 }),
      script: async (call) => {
        await call.waitFor((e) => e.type === 'record.started');
      },
    });
    expect(call.recordings[0]).toMatchObject({ durationMs: 0, reason: 'silence' });
    expect(call.promptsPlayed()).toEqual(['after-the-tone', 'nothing-heard']);
  });

  it('voicemail records into the mailbox; a hang-up still keeps the message', async () => {
    const { call, result } = await simulateCall({
      flow: flow({ vm: { type: 'voicemail', config: { mailbox: '101' } } }),
      call: { tenantId: 'acme' },
      run: { tenant: acme },
      script: async (call) => {
        await call.waitFor((e) => e.type === 'record.started');
        await call.talk(5_000);
        await call.callerHangup();
      },
    });
    expect(result.outcome).toBe('hangup');
    expect(call.promptsPlayed()).toEqual(['voicemail-greeting']);
    expect(call.recordings).toEqual([
      { key: `voicemail/acme/101/${call.id}`, durationMs: 5_000, reason: 'hangup' },
    ]);
    expect(result.variables['voicemail.mailbox']).toBe('101');
  });

  it('voicemail to a user without a mailbox fails through the error output', async () => {
    const { call } = await simulateCall({
      flow: flow({
        vm: { type: 'voicemail', config: { mailbox: '102' }, outputs: { error: 'sorry' } },
        sorry: { type: 'play', config: { prompt: 'no-mailbox' } },
      }),
      run: { tenant: acme },
    });
    expect(call.promptsPlayed()).toEqual(['no-mailbox']);
  });
});

describe('goto, subflow, return, hangup', () => {
  const flows: Record<string, IvrFlow> = {
    checkHours: flow(
      {
        c: {
          type: 'condition',
          config: { variable: 'vip', operator: 'exists' },
          outputs: { true: 'yes', false: 'no' },
        },
        yes: { type: 'return', config: { value: 'vip' } },
        no: { type: 'play', config: { prompt: 'regular' } },
      },
      'c',
      'checkHours',
    ),
    other: flow({ p: { type: 'play', config: { prompt: 'other-flow' } } }, 'p', 'other'),
  };
  const main = flow({
    sub: {
      type: 'subflow',
      config: { flowId: 'checkHours', outputs: ['vip'] },
      outputs: { vip: 'v', done: 'd' },
    },
    v: { type: 'goto', config: { flowId: 'other' } },
    d: { type: 'hangup', config: { reason: 'done' } },
  });

  it.each([
    [{ vip: '1' }, ['other-flow'], ['sub:vip', 'c:true', 'yes:', 'v:', 'p:next']],
    [{}, ['regular'], ['sub:done', 'c:false', 'no:next', 'd:']],
  ])('with variables %o', async (variables, prompts, steps) => {
    const { call, result } = await simulateCall({
      flow: main,
      run: { variables, flows: (id) => flows[id] },
    });
    expect(call.promptsPlayed()).toEqual(prompts);
    expect(result.outcome).toBe('completed');
    // Steps are recorded in the order nodes finished (a subflow node after its subflow).
    expect(result.steps.map((s) => `${s.nodeId}:${s.output ?? ''}`).sort()).toEqual(
      [...steps].sort(),
    );
  });

  it('a goto to a missing flow fails the run', async () => {
    const { result } = await simulateCall({
      flow: flow({ g: { type: 'goto', config: { flowId: 'nowhere' } } }),
    });
    expect(result.outcome).toBe('failed');
    expect(result.error?.message).toMatch(/flow 'nowhere' does not exist/);
  });
});

describe('runtime guards', () => {
  it('a node that throws takes its error output, or fails the run and hangs up', async () => {
    const runtime = new IvrRuntime({ clock: new FakeClock() });
    runtime.registerNodeType({
      type: 'test.boom',
      version: 1,
      schema: Type.Object({}),
      outputs: ['next'],
      run: () => {
        throw new Error('kaboom');
      },
    });
    const call = new SimulatedCall({ clock: new FakeClock() });
    const failing = await runtime.run(flow({ b: { type: 'test.boom' } }), call);
    expect(failing.outcome).toBe('failed');
    expect(failing.error?.message).toMatch(/Node 'b' \(test.boom\) of flow 'f' failed: kaboom/);
    expect((failing.error?.cause as Error).message).toBe('kaboom');
    expect(call.state).toBe('ended');
    expect(failing.steps[0]).toMatchObject({ nodeId: 'b', error: 'kaboom' });

    const caught = await runtime.run(
      flow({ b: { type: 'test.boom', outputs: { error: 'h' } }, h: { type: 'hangup' } }),
      new SimulatedCall(),
    );
    expect(caught.outcome).toBe('completed');
    expect(caught.steps.map((s) => s.output)).toEqual(['error', undefined]);
  });

  it('stops a runaway loop at maxSteps', async () => {
    const clock = new FakeClock();
    const runtime = new IvrRuntime({ clock, maxSteps: 50 });
    const looping = flow({
      a: { type: 'set-variable', config: { variables: { x: '1' } }, outputs: { next: 'b' } },
      b: { type: 'set-variable', config: { variables: { y: '2' } }, outputs: { next: 'a' } },
    });
    const result = await runtime.run(looping, new SimulatedCall({ clock }), { validate: false });
    expect(result.outcome).toBe('failed');
    expect(result.error?.message).toMatch(/exceeded 50 steps/);
    expect(result.steps).toHaveLength(50);
  });

  it('rejects an invalid flow before touching the call', async () => {
    const call = new SimulatedCall();
    await expect(new IvrRuntime().run(flow({ a: { type: 'nope' } }), call)).rejects.toMatchObject({
      code: ErrorCode.INVALID_FLOW,
    });
    expect(call.state).toBe('ringing');
  });

  it('the run signal stops the flow and hangs up', async () => {
    const clock = new FakeClock();
    const call = new SimulatedCall({ clock, promptDurationMs: 60_000 });
    const controller = new AbortController();
    const running = new IvrRuntime({ clock }).run(
      flow({ p: { type: 'play', config: { prompt: 'long' } } }),
      call,
      {
        signal: controller.signal,
      },
    );
    await call.silence(1_000);
    controller.abort();
    const result = await running;
    expect(result.outcome).toBe('completed');
    expect(call.events.find((e) => e.type === 'prompt.finished')).toMatchObject({
      reason: 'stopped',
    });
    expect(call.state).toBe('ended');
  });

  it('operations on an ended call reject with INVALID_STATE', async () => {
    const call = new SimulatedCall();
    await call.hangup();
    await expect(call.play({ prompt: 'x' })).rejects.toMatchObject({
      code: ErrorCode.INVALID_STATE,
    });
  });
});

describe('simulateCall guards', () => {
  it('a flow that never ends fails with TIMEOUT after maxCallMs, and the call is hung up', async () => {
    const clock = new FakeClock();
    const runtime = new IvrRuntime({ clock });
    runtime.registerNodeType({
      type: 'test.forever',
      version: 1,
      schema: Type.Object({}),
      outputs: [],
      // Waits for a minute at a time until the call ends.
      run: async (ctx) => {
        while (!ctx.signal.aborted)
          await ctx.clock.sleep(60_000, { signal: ctx.signal }).catch(() => undefined);
        return undefined;
      },
    });
    let seen: SimulatedCall | undefined;
    const error = await simulateCall({
      flow: flow({ f: { type: 'test.forever' } }),
      runtime,
      call: { clock },
      maxCallMs: 3_600_000,
      script: (call) => {
        seen = call;
      },
    }).catch((e: unknown) => e);
    expect(VoxmeshError.is(error, ErrorCode.TIMEOUT)).toBe(true);
    expect(seen?.state).toBe('ended');
  });

  it("a failing script hangs the call up and rethrows the script's error", async () => {
    let seen: SimulatedCall | undefined;
    const error = await simulateCall({
      flow: flow({ p: { type: 'play', config: { prompt: 'p' } } }),
      call: { promptDurationMs: 10_000 },
      script: (call) => {
        seen = call;
        throw new Error('script broke');
      },
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('script broke');
    expect(seen?.state).toBe('ended');
  });
});
