/**
 * IVR flows: JSON graphs of nodes with named outputs, the node-type registry
 * and flow validation.
 *
 * ```text
 *  { id: 'main', start: 'welcome', nodes: {
 *      welcome: { type: 'play', config: { prompt: 'welcome' }, outputs: { next: 'menu' } },
 *      menu:    { type: 'menu', config: { prompt: 'menu', options: ['1', '2'] },
 *                 outputs: { '1': 'sales', '2': 'support', 'max-attempts': 'bye' } },
 *      ... } }
 * ```
 *
 * A node's type says which outputs it has; an output that is not wired ends
 * the flow (the runtime hangs up). Every node may also wire `error`, taken
 * when the node fails.
 *
 * @module
 */

import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ErrorCode } from './errors.js';
import type { NodeContext } from './ivr-runtime.js';
import {
  pointerSegment,
  schemaIssues,
  ValidationError,
  type ValidationIssue,
} from './validation.js';

/** Identifier of a node within a flow. */
export const NodeId = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9_.-]+$',
  description: 'A node id within its flow',
});

/** One node of a flow. */
export const FlowNode = Type.Object(
  {
    /** The node type (`play`, `menu`, or a registered custom type). */
    type: Type.String({ minLength: 1, maxLength: 100 }),
    /** The node-type version the config was written for. @defaultValue the registered version */
    version: Type.Optional(Type.Integer({ minimum: 1 })),
    /** A label for editors and logs. */
    name: Type.Optional(Type.String({ maxLength: 200 })),
    /** The node's settings, checked against its type's schema. @defaultValue `{}` */
    config: Type.Optional(Type.Unknown()),
    /** Output name → id of the next node. */
    outputs: Type.Optional(Type.Record(Type.String(), NodeId)),
  },
  { additionalProperties: false },
);
/** One node of a flow. */
export type FlowNode = Static<typeof FlowNode>;

/** An IVR flow: a graph of nodes entered at `start`. */
export const IvrFlow = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    start: NodeId,
    nodes: Type.Record(NodeId, FlowNode),
  },
  { additionalProperties: false },
);
/** An IVR flow. */
export type IvrFlow = Static<typeof IvrFlow>;

/** What {@link NodeTypeDefinition.validate} may consult beyond the node's own config. */
export interface NodeValidationContext {
  /** Ids of the flows a `goto`/`subflow` may name, when known. */
  flowIds?: ReadonlySet<string> | undefined;
}

/** The value a node's `run` returns: the name of the output to take, or `undefined` to end the flow. */
export type NodeOutcome = string | undefined;

/**
 * A node type: its config schema, its outputs and what it does. Register
 * custom types with {@link NodeTypeRegistry.register} (or
 * `IvrRuntime.registerNodeType`).
 *
 * @example
 * ```ts
 * runtime.registerNodeType({
 *   type: 'acme.vip-check',
 *   version: 1,
 *   schema: Type.Object({ list: Type.Array(Type.String()) }),
 *   outputs: ['vip', 'regular'],
 *   run: (ctx) => (ctx.config.list.includes(ctx.channel.from.user) ? 'vip' : 'regular'),
 * });
 * ```
 */
export interface NodeTypeDefinition<S extends TSchema = TSchema> {
  /** The name flows use in `type`; custom types should use a prefix (`acme.lookup`). */
  type: string;
  /** An integer version; a flow node written for a newer version is rejected. */
  version: number;
  /** The schema of the node's config. */
  schema: S;
  /** The outputs the node may take, fixed or derived from the config (a menu's options). */
  outputs: readonly string[] | ((config: Static<S>) => readonly string[]);
  /**
   * Whether the node waits for the caller's input (a loop through such a
   * node cannot spin without the caller).
   * @defaultValue `false`
   */
  takesInput?: boolean | undefined;
  /** One line for editors and docs. */
  description?: string | undefined;
  /** Further checks beyond the schema; paths are relative to the config. */
  validate?: ((config: Static<S>, context: NodeValidationContext) => ValidationIssue[]) | undefined;
  /** Runs the node; returns the output to take, or `undefined` to end the flow. */
  run(ctx: NodeContext<Static<S>>): Promise<NodeOutcome> | NodeOutcome;
}

/** The output every node may wire: taken when the node fails. */
export const ERROR_OUTPUT = 'error';

/** The node types a runtime knows, by name. */
export class NodeTypeRegistry {
  readonly #types = new Map<string, NodeTypeDefinition>();

  /** Creates a registry holding `types` (typically {@link builtinNodeTypes} plus custom ones). */
  constructor(types: readonly NodeTypeDefinition[] = []) {
    for (const type of types) this.register(type);
  }

  /**
   * Adds a node type. Throws a `TypeError` for a malformed definition and
   * when the type is already registered (unless `replace` is set).
   */
  register<S extends TSchema>(
    definition: NodeTypeDefinition<S>,
    options: {
      /**
       * Replace an existing definition of the same type.
       * @defaultValue `false`
       */
      replace?: boolean;
    } = {},
  ): void {
    const { type, version } = definition;
    if (typeof type !== 'string' || !/^[A-Za-z][A-Za-z0-9_.-]*$/.test(type)) {
      throw new TypeError(
        `Node type name must match /^[A-Za-z][A-Za-z0-9_.-]*$/, got ${JSON.stringify(type)}`,
      );
    }
    if (!Number.isInteger(version) || version < 1) {
      throw new TypeError(`Node type '${type}' needs an integer version ≥ 1`);
    }
    if (typeof definition.run !== 'function') {
      throw new TypeError(`Node type '${type}' needs a run(ctx) function`);
    }
    if (this.#types.has(type) && options.replace !== true) {
      throw new TypeError(`Node type '${type}' is already registered`);
    }
    this.#types.set(type, definition as unknown as NodeTypeDefinition);
  }

  /** The definition of `type`, if registered. */
  get(type: string): NodeTypeDefinition | undefined {
    return this.#types.get(type);
  }

  /** The registered type names. */
  types(): string[] {
    return [...this.#types.keys()];
  }
}

/** Options of {@link validateFlow}. */
export interface ValidateFlowOptions {
  /** The node types flows may use. */
  registry: NodeTypeRegistry;
  /** Ids of the flows `goto`/`subflow` nodes may name; not checked when omitted. */
  flowIds?: ReadonlySet<string> | undefined;
}

/** The outputs of a node whose config is valid. */
export function nodeOutputs(definition: NodeTypeDefinition, config: unknown): readonly string[] {
  const outputs =
    typeof definition.outputs === 'function' ? definition.outputs(config) : definition.outputs;
  return [...outputs, ERROR_OUTPUT];
}

/**
 * Checks a flow and returns every problem found, each with a JSON-pointer
 * path: the flow's shape; unknown node types and newer versions; configs
 * against their type's schema; outputs the type does not have; outputs that
 * point to no node (dangling); nodes unreachable from `start`; loops in which
 * no node takes input.
 */
export function flowIssues(flow: unknown, options: ValidateFlowOptions): ValidationIssue[] {
  const shape = schemaIssues(IvrFlow, flow);
  if (shape.length > 0) return shape;
  const { nodes, start } = flow as IvrFlow;
  const issues: ValidationIssue[] = [];
  if (!Object.hasOwn(nodes, start)) {
    issues.push({ path: '/start', message: `Start node '${start}' does not exist` });
  }
  const edges = new Map<string, string[]>();
  const inputNodes = new Set<string>();
  for (const [id, node] of Object.entries(nodes)) {
    const at = `/nodes/${pointerSegment(id)}`;
    const targets: string[] = [];
    edges.set(id, targets);
    const definition = options.registry.get(node.type);
    if (definition === undefined) {
      issues.push({ path: `${at}/type`, message: `Unknown node type '${node.type}'` });
    } else if (node.version !== undefined && node.version > definition.version) {
      issues.push({
        path: `${at}/version`,
        message: `Node type '${node.type}' is registered in version ${definition.version}, the node needs ${node.version}`,
      });
    }
    let allowed: readonly string[] | undefined;
    if (definition !== undefined) {
      if (definition.takesInput === true) inputNodes.add(id);
      const config = node.config ?? {};
      const configIssues = schemaIssues(definition.schema, config, `${at}/config`);
      issues.push(...configIssues);
      if (configIssues.length === 0) {
        allowed = nodeOutputs(definition, config);
        for (const issue of definition.validate?.(config, { flowIds: options.flowIds }) ?? []) {
          issues.push({ path: `${at}/config${issue.path}`, message: issue.message });
        }
      }
    }
    for (const [output, target] of Object.entries(node.outputs ?? {})) {
      const outAt = `${at}/outputs/${pointerSegment(output)}`;
      if (allowed !== undefined && !allowed.includes(output)) {
        issues.push({
          path: outAt,
          message: `Node type '${node.type}' has no output '${output}' (it has: ${allowed.join(', ')})`,
        });
      }
      if (!Object.hasOwn(nodes, target)) {
        issues.push({
          path: outAt,
          message: `Output '${output}' points to missing node '${target}'`,
        });
      } else {
        targets.push(target);
      }
    }
  }
  if (Object.hasOwn(nodes, start)) {
    const reached = new Set<string>([start]);
    const queue = [start];
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      for (const next of edges.get(id) ?? []) {
        if (!reached.has(next)) {
          reached.add(next);
          queue.push(next);
        }
      }
    }
    for (const id of Object.keys(nodes)) {
      if (!reached.has(id)) {
        issues.push({
          path: `/nodes/${pointerSegment(id)}`,
          message: `Node '${id}' is unreachable from start '${start}'`,
        });
      }
    }
  }
  for (const cycle of cyclesWithoutInput(edges, inputNodes)) {
    issues.push({
      path: `/nodes/${pointerSegment(cycle[0] as string)}`,
      message: `Loop without input: ${[...cycle, cycle[0]].join(' → ')} (no node on it waits for the caller)`,
    });
  }
  return issues;
}

/** Like {@link flowIssues}, but throws a `ValidationError` (`INVALID_FLOW`) listing every problem. */
export function validateFlow(flow: unknown, options: ValidateFlowOptions): IvrFlow {
  const issues = flowIssues(flow, options);
  if (issues.length > 0) {
    const id = (flow as { id?: unknown } | null)?.id;
    throw new ValidationError(
      ErrorCode.INVALID_FLOW,
      typeof id === 'string' ? `IVR flow '${id}'` : 'IVR flow',
      issues,
    );
  }
  return flow as IvrFlow;
}

/**
 * One cycle per strongly connected component of the graph without its input
 * nodes (Tarjan's algorithm), reported as a path through the component.
 */
function cyclesWithoutInput(edges: Map<string, string[]>, inputs: Set<string>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let counter = 0;
  const next = (id: string): string[] => (edges.get(id) ?? []).filter((t) => !inputs.has(t));
  const visit = (id: string): void => {
    index.set(id, counter);
    low.set(id, counter);
    counter++;
    stack.push(id);
    onStack.add(id);
    for (const target of next(id)) {
      if (!index.has(target)) {
        visit(target);
        low.set(id, Math.min(low.get(id) as number, low.get(target) as number));
      } else if (onStack.has(target)) {
        low.set(id, Math.min(low.get(id) as number, index.get(target) as number));
      }
    }
    if (low.get(id) === index.get(id)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop() ?? id;
        onStack.delete(member);
        component.push(member);
      } while (member !== id);
      const selfLoop = component.length === 1 && next(id).includes(id);
      if (component.length > 1 || selfLoop) cycles.push(pathThrough(id, new Set(component), next));
    }
  };
  for (const id of edges.keys()) {
    if (!inputs.has(id) && !index.has(id)) visit(id);
  }
  return cycles;
}

function pathThrough(
  start: string,
  members: Set<string>,
  next: (id: string) => string[],
): string[] {
  // Walks from start inside the component until it returns to start (a DFS
  // is enough: every member of a strongly connected component reaches start).
  const path: string[] = [];
  const seen = new Set<string>();
  const dfs = (id: string): boolean => {
    path.push(id);
    seen.add(id);
    for (const target of next(id)) {
      if (target === start) return true;
      if (members.has(target) && !seen.has(target) && dfs(target)) return true;
    }
    path.pop();
    return false;
  };
  dfs(start);
  return path.length > 0 ? path : [start];
}
