import { describe, expect, it } from 'vitest';
import type { IvrFlow } from '../src/index.js';
import { simulateCall, type SimulatedCall } from '../src/testing.js';

type Config = Record<string, unknown>;

function menuFlow(config: Config, before?: Config): IvrFlow {
  const nodes: IvrFlow['nodes'] = {
    menu: {
      type: 'menu',
      config: { prompt: 'menu', options: ['1', '2'], ...config },
      outputs: {
        '1': 'one',
        '2': 'two',
        'no-input': 'silent',
        'no-match': 'wrong',
        'max-attempts': 'gaveup',
      },
    },
    one: { type: 'play', config: { prompt: 'one' } },
    two: { type: 'play', config: { prompt: 'two' } },
    silent: { type: 'play', config: { prompt: 'out-no-input' } },
    wrong: { type: 'play', config: { prompt: 'out-no-match' } },
    gaveup: { type: 'play', config: { prompt: 'out-max-attempts' } },
  };
  if (before) {
    nodes.welcome = {
      type: 'play',
      config: { prompt: 'welcome', ...before },
      outputs: { next: 'menu' },
    };
  }
  return { id: 'm', start: before ? 'welcome' : 'menu', nodes };
}

function collects(call: SimulatedCall) {
  return call.events.flatMap((e) => (e.type === 'collect.finished' ? [e] : []));
}

describe('menu: timing', () => {
  it('starts the first-digit timeout at the end of the prompt, not its start', async () => {
    const { call } = await simulateCall({
      flow: menuFlow({ firstDigitTimeoutMs: 5_000, maxAttempts: 1 }),
      call: { promptDurationMs: { menu: 4_000 } },
    });
    const started = call.events.find((e) => e.type === 'collect.started');
    expect(started?.atMs).toBe(4_000);
    expect(collects(call)[0]).toMatchObject({ digits: '', reason: 'timeout', atMs: 9_000 });
  });

  it('runs a 10-second timeout on the fake clock', async () => {
    const { call, result } = await simulateCall({
      flow: menuFlow({ firstDigitTimeoutMs: 10_000, maxAttempts: 1 }),
      call: { promptDurationMs: 0 },
    });
    expect(collects(call)[0]?.atMs).toBe(10_000);
    // One attempt: a silence reaches maxNoInput (which defaults to maxAttempts).
    expect(result.steps.map((s) => s.output)).toEqual(['no-input', 'next']);
  });

  it('collects multi-digit options with the inter-digit timeout', async () => {
    const flow = menuFlow({ options: ['1', '2', '12'], interDigitTimeoutMs: 2_000 });
    flow.nodes.menu!.outputs = { ...flow.nodes.menu!.outputs, '12': 'twelve' };
    flow.nodes.twelve = { type: 'play', config: { prompt: 'twelve' } };
    const { call } = await simulateCall({
      flow,
      script: async (call) => {
        await call.waitFor((e) => e.type === 'collect.started');
        await call.press('12', { gapMs: 1_500 });
      },
    });
    expect(call.promptsPlayed()).toEqual(['menu', 'twelve']);
    // Two digits, then the inter-digit timeout (maxDigits is the longest option).
    expect(collects(call)[0]).toMatchObject({ digits: '12', reason: 'max-digits' });
  });
});

describe('menu: barge-in', () => {
  it('a digit during a barge-in prompt stops it and is the answer', async () => {
    const { call, result } = await simulateCall({
      flow: menuFlow({ bargeIn: 'dtmf' }),
      call: { promptDurationMs: { menu: 8_000 } },
      script: async (call) => {
        await call.waitForPrompt('menu');
        await call.silence(1_000);
        await call.press('2');
      },
    });
    const finished = call.events.find((e) => e.type === 'prompt.finished' && e.prompt === 'menu');
    expect(finished).toMatchObject({ reason: 'barge-in', atMs: 1_000 });
    expect(call.promptsPlayed()).toEqual(['menu', 'two']);
    expect(result.steps[0]?.output).toBe('2');
  });

  it("with bargeIn 'none' a digit during the prompt is discarded", async () => {
    const { call } = await simulateCall({
      flow: menuFlow({ bargeIn: 'none', maxAttempts: 1 }),
      call: { promptDurationMs: { menu: 3_000 } },
      script: async (call) => {
        await call.waitForPrompt('menu');
        await call.silence(1_000);
        await call.press('2');
      },
    });
    expect(call.events.find((e) => e.type === 'dtmf')).toMatchObject({ handling: 'discarded' });
    expect(call.events.find((e) => e.type === 'prompt.finished')).toMatchObject({
      reason: 'finished',
    });
    expect(call.promptsPlayed()).toEqual(['menu', 'out-no-input']);
  });

  it('only bargeInKeys interrupt the prompt', async () => {
    const { call } = await simulateCall({
      flow: menuFlow({ bargeIn: 'dtmf', bargeInKeys: '2', maxAttempts: 1 }),
      call: { promptDurationMs: { menu: 5_000 } },
      script: async (call) => {
        await call.waitForPrompt('menu');
        await call.press('1');
        await call.silence(500);
        await call.press('2');
      },
    });
    const dtmf = call.events.filter((e) => e.type === 'dtmf');
    expect(dtmf.map((e) => (e.type === 'dtmf' ? e.handling : ''))).toEqual([
      'discarded',
      'barge-in',
    ]);
    expect(call.promptsPlayed()).toEqual(['menu', 'two']);
  });

  it('input from an earlier prompt never leaks into the next menu', async () => {
    const { call } = await simulateCall({
      flow: menuFlow({ maxAttempts: 1 }, { bargeIn: 'none' }),
      call: { promptDurationMs: { welcome: 3_000 } },
      script: async (call) => {
        await call.waitForPrompt('welcome');
        await call.press('1');
      },
    });
    expect(collects(call)[0]).toMatchObject({ digits: '', reason: 'timeout' });
    expect(call.promptsPlayed()).toEqual(['welcome', 'menu', 'out-no-input']);
  });

  it('a digit that skipped an earlier barge-in prompt is flushed by the menu', async () => {
    const { call } = await simulateCall({
      flow: menuFlow({ maxAttempts: 1 }, { bargeIn: 'dtmf' }),
      call: { promptDurationMs: { welcome: 3_000 } },
      script: async (call) => {
        await call.waitForPrompt('welcome');
        await call.press('1');
      },
    });
    expect(call.events.find((e) => e.type === 'prompt.finished')).toMatchObject({
      reason: 'barge-in',
    });
    expect(collects(call)[0]).toMatchObject({ digits: '' });
    expect(call.promptsPlayed()).toEqual(['welcome', 'menu', 'out-no-input']);
  });
});

interface RetryRow {
  name: string;
  config: Config;
  /** What the caller does at each attempt: a key, or null for silence. */
  inputs: (string | null)[];
  prompts: string[];
  output: string;
}

const retryRows: RetryRow[] = [
  {
    name: 'three silences take no-input, with escalating prompts',
    config: { noInputPrompts: ['ni1', 'ni2'] },
    inputs: [null, null, null],
    prompts: ['menu', 'ni1', 'menu', 'ni2', 'menu', 'out-no-input'],
    output: 'no-input',
  },
  {
    name: 'the last escalating prompt repeats',
    config: { noInputPrompts: ['ni1'], maxAttempts: 4 },
    inputs: [null, null, null, null],
    prompts: ['menu', 'ni1', 'menu', 'ni1', 'menu', 'ni1', 'menu', 'out-no-input'],
    output: 'no-input',
  },
  {
    name: 'three wrong keys take no-match',
    config: { noMatchPrompts: ['nm1', 'nm2'] },
    inputs: ['9', '8', '7'],
    prompts: ['menu', 'nm1', 'menu', 'nm2', 'menu', 'out-no-match'],
    output: 'no-match',
  },
  {
    name: 'mixed failures take max-attempts',
    config: { noInputPrompts: ['ni1'], noMatchPrompts: ['nm1'] },
    inputs: [null, '9', null],
    prompts: ['menu', 'ni1', 'menu', 'nm1', 'menu', 'out-max-attempts'],
    output: 'max-attempts',
  },
  {
    name: 'maxNoInput 1 takes no-input at the first silence',
    config: { maxNoInput: 1 },
    inputs: [null],
    prompts: ['menu', 'out-no-input'],
    output: 'no-input',
  },
  {
    name: 'a valid key after a failure is accepted',
    config: { noMatchPrompts: ['nm1'] },
    inputs: ['9', '1'],
    prompts: ['menu', 'nm1', 'menu', 'one'],
    output: '1',
  },
  {
    name: 'repeatPrompt false plays only the retry prompt',
    config: { noInputPrompts: ['ni1'], repeatPrompt: false, maxAttempts: 2 },
    inputs: [null, '2'],
    prompts: ['menu', 'ni1', 'two'],
    output: '2',
  },
  {
    name: 'an empty finish-key input counts as no input',
    config: { finishOnKey: '#', maxAttempts: 1 },
    inputs: ['#'],
    prompts: ['menu', 'out-no-input'],
    output: 'no-input',
  },
];

describe('menu: retries', () => {
  it.each(retryRows)('$name', async (row) => {
    const { call, result } = await simulateCall({
      flow: menuFlow({ bargeIn: 'none', ...row.config }),
      call: { promptDurationMs: 1_000 },
      script: async (call) => {
        for (const input of row.inputs) {
          await call.waitFor(
            (e) => e.type === 'collect.started' && collects(call).length === countStarts(call) - 1,
          );
          if (input === null) await call.silence(6_000);
          else await call.press(input);
        }
      },
    });
    expect(call.promptsPlayed()).toEqual(row.prompts);
    expect(result.steps[0]?.output).toBe(row.output);
    expect(result.outcome).toBe('completed');
  });
});

function countStarts(call: SimulatedCall): number {
  return call.events.filter((e) => e.type === 'collect.started').length;
}

describe('gather', () => {
  const flow = (config: Config): IvrFlow => ({
    id: 'g',
    start: 'pin',
    nodes: {
      pin: {
        type: 'gather',
        config: { prompt: 'enter-pin', variable: 'pin', maxAttempts: 1, ...config },
        outputs: { success: 'ok', 'no-match': 'bad', 'no-input': 'none' },
      },
      ok: { type: 'play', config: { prompt: 'ok' } },
      bad: { type: 'play', config: { prompt: 'bad' } },
      none: { type: 'play', config: { prompt: 'none' } },
    },
  });

  it('stores digits ended by the finish key, without the key', async () => {
    const { result, call } = await simulateCall({
      flow: flow({ minDigits: 4, maxDigits: 8, finishOnKey: '#' }),
      script: async (call) => {
        await call.waitFor((e) => e.type === 'collect.started');
        await call.press('1234#', { gapMs: 400 });
      },
    });
    expect(result.variables.pin).toBe('1234');
    expect(call.promptsPlayed()).toEqual(['enter-pin', 'ok']);
  });

  it('returns the digits on timeout when at least minDigits', async () => {
    const { result } = await simulateCall({
      flow: flow({ minDigits: 3, maxDigits: 6 }),
      script: async (call) => {
        await call.waitFor((e) => e.type === 'collect.started');
        await call.press('987');
      },
    });
    expect(result.variables.pin).toBe('987');
    expect(result.steps[0]?.output).toBe('success');
  });

  it('too few digits at a timeout is no-match, not no-input', async () => {
    const { result, call } = await simulateCall({
      flow: flow({ minDigits: 4, maxDigits: 6 }),
      script: async (call) => {
        await call.waitFor((e) => e.type === 'collect.started');
        await call.press('12');
      },
    });
    expect(result.steps[0]?.output).toBe('no-match');
    expect(result.variables.pin).toBeUndefined();
    expect(collects(call)[0]).toMatchObject({ digits: '', discarded: '12' });
  });

  it('input not matching the pattern is no-match', async () => {
    const { result } = await simulateCall({
      flow: flow({ minDigits: 4, maxDigits: 4, pattern: '[0-9]{3}0' }),
      script: async (call) => {
        await call.waitFor((e) => e.type === 'collect.started');
        await call.press('1234');
      },
    });
    expect(result.steps[0]?.output).toBe('no-match');
  });

  it('ends with outcome hangup when the caller hangs up while collecting', async () => {
    const { result, call } = await simulateCall({
      flow: flow({ maxDigits: 4 }),
      script: async (call) => {
        await call.waitFor((e) => e.type === 'collect.started');
        await call.press('12');
        await call.callerHangup();
      },
    });
    expect(result.outcome).toBe('hangup');
    expect(collects(call)[0]).toMatchObject({ reason: 'hangup', digits: '12' });
    expect(call.promptsPlayed()).toEqual(['enter-pin']);
  });
});
