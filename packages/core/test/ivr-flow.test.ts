import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import {
  builtinNodeTypes,
  FakeClock,
  ErrorCode,
  flowIssues,
  IvrRuntime,
  NodeTypeRegistry,
  validateFlow,
  VoxmeshError,
  type IvrFlow,
  type ValidationError,
} from '../src/index.js';
import { simulateCall } from '../src/testing.js';

const registry = new NodeTypeRegistry(builtinNodeTypes);

function issues(flow: unknown, flowIds?: string[]): { path: string; message: string }[] {
  return flowIssues(flow, { registry, flowIds: flowIds ? new Set(flowIds) : undefined });
}

const menu = {
  type: 'menu',
  config: { prompt: 'menu', options: ['1', '2'] },
  outputs: { '1': 'a', '2': 'b' },
};

describe('flow validation', () => {
  it('accepts a valid flow', () => {
    const flow = {
      id: 'ok',
      start: 'menu',
      nodes: {
        menu: { ...menu, outputs: { ...menu.outputs, 'no-input': 'menu' } },
        a: { type: 'play', config: { prompt: 'a' }, outputs: { next: 'menu' } },
        b: { type: 'hangup' },
      },
    };
    expect(issues(flow)).toEqual([]);
    expect(validateFlow(flow, { registry })).toBe(flow);
  });

  it.each<[string, unknown, string, RegExp]>([
    ['a flow that is not an object', 'main', '', /object/i],
    ['a missing start', { id: 'f', nodes: {} }, '/start', /Expected required property/],
    [
      'a start node that does not exist',
      { id: 'f', start: 'x', nodes: {} },
      '/start',
      /Start node 'x' does not exist/,
    ],
    [
      'an unknown node type',
      { id: 'f', start: 'a', nodes: { a: { type: 'teleport' } } },
      '/nodes/a/type',
      /Unknown node type 'teleport'/,
    ],
    [
      'a node written for a newer type version',
      { id: 'f', start: 'a', nodes: { a: { type: 'hangup', version: 3 } } },
      '/nodes/a/version',
      /registered in version 1, the node needs 3/,
    ],
    [
      'a config that breaks the schema',
      {
        id: 'f',
        start: 'a',
        nodes: { a: { type: 'menu', config: { prompt: 'm', options: [], maxDigits: 0 } } },
      },
      '/nodes/a/config/options',
      /greater or equal to 1/,
    ],
    [
      'an output the type does not have',
      {
        id: 'f',
        start: 'a',
        nodes: { a: { type: 'play', config: { prompt: 'p' }, outputs: { done: 'a' } } },
      },
      '/nodes/a/outputs/done',
      /has no output 'done' \(it has: next, error\)/,
    ],
    [
      'a menu output for an option that does not exist',
      { id: 'f', start: 'm', nodes: { m: { ...menu, outputs: { '3': 'm' } } } },
      '/nodes/m/outputs/3',
      /has no output '3'/,
    ],
    [
      'a dangling output',
      {
        id: 'f',
        start: 'a',
        nodes: { a: { type: 'play', config: { prompt: 'p' }, outputs: { next: 'b' } } },
      },
      '/nodes/a/outputs/next',
      /points to missing node 'b'/,
    ],
    [
      'an unreachable node',
      { id: 'f', start: 'a', nodes: { a: { type: 'hangup' }, orphan: { type: 'hangup' } } },
      '/nodes/orphan',
      /unreachable from start 'a'/,
    ],
    [
      'a loop without input',
      {
        id: 'f',
        start: 'a',
        nodes: {
          a: { type: 'play', config: { prompt: 'p' }, outputs: { next: 'b' } },
          b: { type: 'set-variable', config: { variables: { x: '1' } }, outputs: { next: 'a' } },
        },
      },
      '/nodes/a',
      /Loop without input: a → b → a/,
    ],
    [
      'a node looping onto itself',
      {
        id: 'f',
        start: 'a',
        nodes: { a: { type: 'play', config: { prompt: 'p' }, outputs: { next: 'a' } } },
      },
      '/nodes/a',
      /Loop without input: a → a/,
    ],
    [
      'a menu option longer than maxDigits',
      {
        id: 'f',
        start: 'm',
        nodes: { m: { type: 'menu', config: { prompt: 'm', options: ['123'], maxDigits: 2 } } },
      },
      '/nodes/m/config/options/0',
      /longer than maxDigits 2/,
    ],
    [
      'an invalid regular expression',
      {
        id: 'f',
        start: 'g',
        nodes: { g: { type: 'gather', config: { prompt: 'g', pattern: '([' } } },
      },
      '/nodes/g/config/pattern',
      /Invalid regular expression/,
    ],
    [
      'a condition without a value',
      {
        id: 'f',
        start: 'c',
        nodes: { c: { type: 'condition', config: { variable: 'x', operator: 'equals' } } },
      },
      '/nodes/c/config/value',
      /needs a value/,
    ],
  ])('rejects %s', (_name, flow, path, message) => {
    const found = issues(flow);
    const issue = found.find((i) => i.path === path);
    expect(issue, JSON.stringify(found)).toBeDefined();
    expect(issue?.message).toMatch(message);
  });

  it('a loop through a node that takes input is fine', () => {
    const flow = {
      id: 'f',
      start: 'a',
      nodes: {
        a: { type: 'play', config: { prompt: 'p' }, outputs: { next: 'm' } },
        m: { ...menu, outputs: { '1': 'a', '2': 'a' } },
      },
    };
    expect(issues(flow)).toEqual([]);
  });

  it('checks goto/subflow targets when the flow ids are known', () => {
    const flow = {
      id: 'f',
      start: 'g',
      nodes: { g: { type: 'goto', config: { flowId: 'other' } } },
    };
    expect(issues(flow, ['f'])).toEqual([
      { path: '/nodes/g/config/flowId', message: "Flow 'other' does not exist" },
    ]);
    expect(issues(flow, ['f', 'other'])).toEqual([]);
  });

  it('validateFlow throws INVALID_FLOW listing every problem', () => {
    const flow = {
      id: 'bad',
      start: 'a',
      nodes: { a: { type: 'nope' }, b: { type: 'play', config: {}, outputs: { next: 'z' } } },
    };
    let error: unknown;
    try {
      validateFlow(flow, { registry });
    } catch (e) {
      error = e;
    }
    expect(VoxmeshError.is(error, ErrorCode.INVALID_FLOW)).toBe(true);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual([
      '/nodes/a/type',
      '/nodes/b/config/prompt',
      '/nodes/b/outputs/next',
      '/nodes/b',
    ]);
    expect((error as Error).message).toMatch(
      /^IVR flow 'bad' is invalid: \/nodes\/a\/type: Unknown node type 'nope'/,
    );
  });
});

describe('custom node types', () => {
  it('registerNodeType adds a type with its schema, outputs and run', async () => {
    const runtime = new IvrRuntime();
    runtime.registerNodeType({
      type: 'acme.vip-check',
      version: 2,
      schema: Type.Object({ vips: Type.Array(Type.String()) }, { additionalProperties: false }),
      outputs: ['vip', 'regular'],
      run: (ctx) => (ctx.config.vips.includes(ctx.channel.from.user) ? 'vip' : 'regular'),
    });
    const flow: IvrFlow = {
      id: 'vip',
      start: 'check',
      nodes: {
        check: {
          type: 'acme.vip-check',
          version: 2,
          config: { vips: ['1001'] },
          outputs: { vip: 'v', regular: 'r' },
        },
        v: { type: 'play', config: { prompt: 'welcome-vip' } },
        r: { type: 'play', config: { prompt: 'welcome' } },
      },
    };
    // A runtime without the custom type rejects the flow up front.
    const plain = await simulateCall({ flow, call: { from: '1001' } }).catch((e: unknown) => e);
    expect(VoxmeshError.is(plain, ErrorCode.INVALID_FLOW)).toBe(true);

    const clock = new FakeClock();
    const fake = new IvrRuntime({ registry: runtime.registry, clock });
    const a = await simulateCall({ flow, runtime: fake, call: { clock, from: '1001' } });
    const b = await simulateCall({ flow, runtime: fake, call: { clock, from: '2002' } });
    expect(a.call.promptsPlayed()).toEqual(['welcome-vip']);
    expect(b.call.promptsPlayed()).toEqual(['welcome']);
    expect(() =>
      validateFlow(
        {
          ...flow,
          nodes: { ...flow.nodes, check: { ...flow.nodes.check!, config: { vips: 'all' } } },
        },
        { registry: runtime.registry },
      ),
    ).toThrow(/\/nodes\/check\/config\/vips/);
  });

  it('refuses malformed and duplicate definitions', () => {
    const r = new NodeTypeRegistry(builtinNodeTypes);
    const base = { version: 1, schema: Type.Object({}), outputs: [], run: () => undefined };
    expect(() => r.register({ ...base, type: 'play' })).toThrow(/already registered/);
    expect(() => r.register({ ...base, type: 'play' }, { replace: true })).not.toThrow();
    expect(() => r.register({ ...base, type: '9lives' })).toThrow(TypeError);
    expect(() => r.register({ ...base, type: 'x', version: 0 })).toThrow(/version/);
    expect(r.types()).toContain('http');
  });
});
