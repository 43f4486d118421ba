/**
 * The IVR runtime: runs a flow (a JSON graph of nodes with named outputs)
 * against a {@link CallChannel}. Node types are pluggable
 * ({@link IvrRuntime.registerNodeType}); the built-in ones are in
 * `builtinNodeTypes`.
 *
 * ```text
 *   run(flow, channel)
 *     │ answer (unless answered)
 *     ▼
 *   node = flow.start ──► type.run(ctx) ──► output ──► node.outputs[output] ──┐
 *     ▲                       │ throws: the `error` output if wired,          │
 *     │                       │         else the run fails (FLOW_FAILED)      │
 *     └───────────────────────┴───────────────────────────────────────────────┘
 *   ends when: an output is not wired or a node returns no output (completed),
 *   the caller hangs up (hangup), a transfer node hands the call on
 *   (transferred), or a node fails without an `error` output (failed).
 *   Completed and failed runs hang the call up unless `hangupOnEnd` is false.
 * ```
 *
 * @module
 */

import type { TSchema } from '@sinclair/typebox';
import { anySignal } from './abort.js';
import type { CallChannel, PlayOptions, PlayResult, PromptSource } from './call-channel.js';
import { systemClock, type Clock } from './clock.js';
import type { Tenant } from './domain.js';
import { ErrorCode, VoxmeshError } from './errors.js';
import { builtinNodeTypes } from './ivr-nodes.js';
import {
  ERROR_OUTPUT,
  NodeTypeRegistry,
  validateFlow,
  type FlowNode,
  type IvrFlow,
  type NodeTypeDefinition,
} from './ivr-flow.js';
import { silentLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';

/** What a node's `run` receives. */
export interface NodeContext<C = unknown> {
  /** The node's config, already checked against its type's schema. */
  readonly config: C;
  /** The node being run. */
  readonly node: { readonly id: string; readonly type: string; readonly name?: string | undefined };
  /** The flow being run. */
  readonly flow: IvrFlow;
  /** The call. */
  readonly channel: CallChannel;
  /** The call's tenant, when the run was given one (schedules, time zone, language). */
  readonly tenant: Tenant | undefined;
  /** The language prompts are played in (the node's `language` config overrides it). */
  readonly language: string;
  /** Aborted when the caller hangs up or the run is stopped: pass it to every wait. */
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The `fetch` used by HTTP nodes. */
  readonly fetch: typeof fetch;
  /** The runtime's circuit breaker for web services, shared by every call. */
  readonly httpCircuit: HttpCircuitBreaker;
  /** The call variables (the channel's). */
  readonly variables: Map<string, string>;
  /**
   * Replaces `{{name}}` with the variable `name`; `call.id`, `call.from`,
   * `call.to` and `call.tenant` are always defined. Unknown names become `''`.
   */
  template(text: string): string;
  /** Prompt ids as sources in the node's (or the call's) language. */
  prompts(ids: string | readonly string[]): PromptSource[];
  /** Plays prompt ids (see {@link CallChannel.play}); the run's signal stops it. */
  play(ids: string | readonly string[], options?: PlayOptions): Promise<PlayResult>;
  /** Adds fields to this step's record (visible in the run result and call history). */
  note(fields: Record<string, unknown>): void;
  /** Runs another flow on the same call and resolves with how it ended. */
  runSubflow(flowId: string): Promise<SubflowResult>;
  /** Ends this flow and continues in flow `flowId` (the node should then return `undefined`). */
  goto(flowId: string): void;
  /** Ends a subflow with a value (the node should then return `undefined`). */
  returnValue(value: string): void;
  /** Marks the call handed on (the node should then return `undefined`; the run does not hang up). */
  markTransferred(): void;
}

/**
 * A circuit breaker per key (HTTP nodes use tenant + origin): after
 * `failures` consecutive failures the circuit opens for `openMs`; then one
 * request is let through, and its failure opens it again.
 */
export interface HttpCircuitBreaker {
  /** Whether requests for `key` should be skipped now. */
  isOpen(key: string): boolean;
  /** Records the outcome of a request for `key`. */
  record(key: string, ok: boolean): void;
}

/** Options of the runtime's {@link HttpCircuitBreaker}. */
export interface HttpCircuitBreakerOptions {
  /**
   * Consecutive failures that open the circuit.
   * @defaultValue `5`
   */
  failures?: number | undefined;
  /**
   * How long the circuit stays open, in ms.
   * @defaultValue `30000`
   */
  openMs?: number | undefined;
}

class CircuitBreakers implements HttpCircuitBreaker {
  readonly #states = new Map<string, { failures: number; openUntil: number }>();
  constructor(
    private readonly clock: Clock,
    private readonly options: HttpCircuitBreakerOptions | false,
  ) {}

  isOpen(key: string): boolean {
    if (this.options === false) return false;
    const state = this.#states.get(key);
    return state !== undefined && this.clock.monotonic() < state.openUntil;
  }

  record(key: string, ok: boolean): void {
    if (this.options === false) return;
    if (ok) {
      this.#states.delete(key);
      return;
    }
    const state = this.#states.get(key) ?? { failures: 0, openUntil: 0 };
    state.failures++;
    if (state.failures >= (this.options.failures ?? 5)) {
      state.openUntil = this.clock.monotonic() + (this.options.openMs ?? 30_000);
    }
    this.#states.set(key, state);
    // Bounded memory: forget the oldest keys beyond 10,000.
    if (this.#states.size > 10_000) {
      const oldest = this.#states.keys().next().value;
      if (oldest !== undefined) this.#states.delete(oldest);
    }
  }
}

/** How a subflow ended. */
export interface SubflowResult {
  outcome: IvrRunOutcome;
  /** The value given by a `return` node, if any. */
  value?: string | undefined;
}

/** One node run, in order. */
export interface IvrStep {
  flowId: string;
  nodeId: string;
  type: string;
  /** The output taken, if any. */
  output?: string | undefined;
  /** Wall-clock times (clock milliseconds). */
  startedAt: number;
  endedAt: number;
  /** The error message when the node failed. */
  error?: string | undefined;
  /** Fields the node added with `note()`. */
  details?: Record<string, unknown> | undefined;
}

/** How a run ended. */
export type IvrRunOutcome = 'completed' | 'hangup' | 'transferred' | 'failed';

/** The result of {@link IvrRuntime.run}. */
export interface IvrRunResult {
  outcome: IvrRunOutcome;
  steps: IvrStep[];
  /** The call variables at the end. */
  variables: Record<string, string>;
  /** Why the run failed (`FLOW_FAILED`, cause: the node's error). */
  error?: VoxmeshError | undefined;
}

/** Options of the {@link IvrRuntime} constructor. */
export interface IvrRuntimeOptions {
  /**
   * The node types; custom ones can also be added with {@link IvrRuntime.registerNodeType}.
   * @defaultValue a registry of the built-in node types
   */
  registry?: NodeTypeRegistry | undefined;
  /** @defaultValue {@link systemClock} */
  clock?: Clock | undefined;
  /** @defaultValue {@link silentLogger} */
  logger?: Logger | undefined;
  /** @defaultValue a private {@link Metrics} */
  metrics?: Metrics | undefined;
  /**
   * The `fetch` HTTP nodes use.
   * @defaultValue `globalThis.fetch`
   */
  fetch?: typeof fetch | undefined;
  /**
   * The circuit breaker of HTTP nodes, per tenant and service origin; `false` disables it.
   * @defaultValue `{ failures: 5, openMs: 30000 }`
   */
  httpCircuitBreaker?: HttpCircuitBreakerOptions | false | undefined;
  /**
   * Most nodes one run may execute (guards against runaway loops).
   * @defaultValue `1000`
   */
  maxSteps?: number | undefined;
}

/** Options of {@link IvrRuntime.run}. */
export interface RunFlowOptions {
  /** Stops the run (the call is then hung up). */
  signal?: AbortSignal | undefined;
  /** The call's tenant: schedules, time zone, language, and flows for `goto`/`subflow`. */
  tenant?: Tenant | undefined;
  /**
   * Looks up flows named by `goto`/`subflow`.
   * @defaultValue the tenant's flows
   */
  flows?: ((flowId: string) => IvrFlow | undefined) | undefined;
  /** Variables set before the first node. */
  variables?: Record<string, string> | undefined;
  /**
   * The call's prompt language.
   * @defaultValue the `language` variable, else the tenant's language, else `'en'`
   */
  language?: string | undefined;
  /**
   * Answer the call before the first node.
   * @defaultValue `true`
   */
  answer?: boolean | undefined;
  /**
   * Hang up when the flow completes or fails.
   * @defaultValue `true`
   */
  hangupOnEnd?: boolean | undefined;
  /**
   * Validate the flow first (throws `INVALID_FLOW`).
   * @defaultValue `true`
   */
  validate?: boolean | undefined;
}

interface RunState {
  channel: CallChannel;
  options: RunFlowOptions;
  signal: AbortSignal;
  steps: IvrStep[];
  transferred: boolean;
  language: string;
  depth: number;
}

type GraphEnd =
  | { kind: 'completed'; value?: string | undefined }
  | { kind: 'hangup' }
  | { kind: 'transferred' }
  | { kind: 'goto'; flowId: string }
  | { kind: 'failed'; error: VoxmeshError };

/** Runs IVR flows. One runtime serves any number of concurrent calls. */
export class IvrRuntime {
  /** The node types this runtime knows. */
  readonly registry: NodeTypeRegistry;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #fetch: typeof fetch;
  readonly #circuit: HttpCircuitBreaker;
  readonly #maxSteps: number;
  readonly #nodeRuns;
  readonly #runs;

  constructor(options: IvrRuntimeOptions = {}) {
    this.registry = options.registry ?? new NodeTypeRegistry(builtinNodeTypes);
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#metrics = options.metrics ?? new Metrics();
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#maxSteps = options.maxSteps ?? 1_000;
    this.#circuit = new CircuitBreakers(this.#clock, options.httpCircuitBreaker ?? {});
    this.#nodeRuns = this.#metrics.counter({
      name: 'ivr_node_runs_total',
      help: 'IVR nodes run, by node type and output taken',
      labelNames: ['type', 'output'],
    });
    this.#runs = this.#metrics.counter({
      name: 'ivr_runs_total',
      help: 'IVR runs, by outcome',
      labelNames: ['outcome'],
    });
  }

  /** Adds a custom node type (see {@link NodeTypeDefinition}). */
  registerNodeType<S extends TSchema>(
    definition: NodeTypeDefinition<S>,
    options: { replace?: boolean } = {},
  ): void {
    this.registry.register(definition, options);
  }

  /**
   * Runs `flow` on `channel` until it ends. Resolves with the outcome (a
   * caller hanging up is an outcome, not an error); rejects only for an
   * invalid flow (`INVALID_FLOW`).
   */
  async run(
    flow: IvrFlow,
    channel: CallChannel,
    options: RunFlowOptions = {},
  ): Promise<IvrRunResult> {
    if (options.validate !== false) validateFlow(flow, { registry: this.registry });
    const hangup = new AbortController();
    // Who ended the call: the far side (the caller hung up) or this run (a hangup node).
    let endedBy: 'local' | 'remote' | 'system' | undefined;
    const onEnded = (by: 'local' | 'remote' | 'system'): void => {
      endedBy ??= by;
      hangup.abort(new VoxmeshError(ErrorCode.ABORTED, 'The call ended'));
    };
    channel.on('ended', onEnded);
    if (channel.state === 'ended') onEnded('system');
    for (const [key, value] of Object.entries(options.variables ?? {}))
      channel.variables.set(key, value);
    const state: RunState = {
      channel,
      options,
      signal: anySignal(hangup.signal, options.signal),
      steps: [],
      transferred: false,
      language:
        options.language ?? channel.variables.get('language') ?? options.tenant?.language ?? 'en',
      depth: 0,
    };
    let end: GraphEnd;
    try {
      if (options.answer !== false && channel.state !== 'answered' && channel.state !== 'ended') {
        await channel.answer({ signal: state.signal });
      }
      end = await this.#runFlows(flow, state);
    } catch (error) {
      end = state.signal.aborted
        ? { kind: 'hangup' }
        : {
            kind: 'failed',
            error: new VoxmeshError(
              ErrorCode.FLOW_FAILED,
              `Flow '${flow.id}' failed: ${String(error)}`,
              { cause: error },
            ),
          };
    } finally {
      channel.off('ended', onEnded);
    }
    if (end.kind === 'goto') end = { kind: 'completed' };
    const callerLeft = endedBy !== undefined && endedBy !== 'local';
    const outcome: IvrRunOutcome =
      end.kind === 'hangup' || (callerLeft && end.kind === 'completed') ? 'hangup' : end.kind;
    if (
      (outcome === 'completed' || outcome === 'failed') &&
      options.hangupOnEnd !== false &&
      channel.state !== 'ended'
    ) {
      await channel.hangup({ reason: outcome === 'failed' ? 'ivr-failed' : 'ivr-completed' });
    }
    this.#runs.inc({ outcome });
    return {
      outcome,
      steps: state.steps,
      variables: Object.fromEntries(channel.variables),
      error: end.kind === 'failed' ? end.error : undefined,
    };
  }

  async #runFlows(first: IvrFlow, state: RunState): Promise<GraphEnd> {
    let flow = first;
    for (;;) {
      const end = await this.#runGraph(flow, state);
      if (end.kind !== 'goto') return end;
      const next = this.#lookup(end.flowId, state);
      if (next === undefined) {
        return {
          kind: 'failed',
          error: new VoxmeshError(
            ErrorCode.FLOW_FAILED,
            `goto: flow '${end.flowId}' does not exist`,
          ),
        };
      }
      flow = next;
    }
  }

  #lookup(flowId: string, state: RunState): IvrFlow | undefined {
    const found =
      state.options.flows?.(flowId) ?? state.options.tenant?.flows?.find((f) => f.id === flowId);
    if (found !== undefined && state.options.validate !== false)
      validateFlow(found, { registry: this.registry });
    return found;
  }

  async #runGraph(flow: IvrFlow, state: RunState): Promise<GraphEnd> {
    let nodeId: string | undefined = flow.start;
    let value: string | undefined;
    while (nodeId !== undefined) {
      if (state.signal.aborted || state.channel.state === 'ended') return { kind: 'hangup' };
      if (state.steps.length >= this.#maxSteps) {
        return {
          kind: 'failed',
          error: new VoxmeshError(
            ErrorCode.FLOW_FAILED,
            `Flow '${flow.id}' exceeded ${this.#maxSteps} steps (a loop?)`,
          ),
        };
      }
      const node: FlowNode | undefined = flow.nodes[nodeId];
      const definition: NodeTypeDefinition | undefined =
        node === undefined ? undefined : this.registry.get(node.type);
      if (node === undefined || definition === undefined) {
        return {
          kind: 'failed',
          error: new VoxmeshError(
            ErrorCode.FLOW_FAILED,
            `Flow '${flow.id}' has no runnable node '${nodeId}'`,
          ),
        };
      }
      const step: IvrStep = {
        flowId: flow.id,
        nodeId,
        type: node.type,
        startedAt: this.#clock.now(),
        endedAt: 0,
      };
      state.steps.push(step);
      let jump: string | undefined;
      let returned: string | undefined;
      const id = nodeId;
      const config = node.config ?? {};
      const language =
        typeof (config as { language?: unknown }).language === 'string'
          ? (config as { language: string }).language
          : state.language;
      const ctx: NodeContext = {
        config,
        node: { id, type: node.type, name: node.name },
        flow,
        channel: state.channel,
        tenant: state.options.tenant,
        language,
        signal: state.signal,
        clock: this.#clock,
        logger: this.#logger,
        metrics: this.#metrics,
        fetch: this.#fetch,
        httpCircuit: this.#circuit,
        variables: state.channel.variables,
        template: (text) => template(text, state.channel),
        prompts: (ids) =>
          (typeof ids === 'string' ? [ids] : ids).map((prompt) => ({ prompt, language })),
        play: (ids, options = {}) =>
          state.channel.play(ctx.prompts(ids), {
            ...options,
            signal: anySignal(options.signal, state.signal),
          }),
        note: (fields) => {
          step.details = { ...step.details, ...fields };
        },
        runSubflow: (flowId) => this.#subflow(flowId, state),
        goto: (flowId) => {
          jump = flowId;
        },
        returnValue: (v) => {
          returned = v;
        },
        markTransferred: () => {
          state.transferred = true;
        },
      };
      let output: string | undefined;
      try {
        output = await definition.run(ctx);
      } catch (error) {
        step.endedAt = this.#clock.now();
        if (state.signal.aborted) return { kind: 'hangup' };
        step.error = error instanceof Error ? error.message : String(error);
        this.#logger.warn(
          { err: error, flowId: flow.id, nodeId: id, callId: state.channel.id },
          'IVR node failed',
        );
        const next: string | undefined = node.outputs?.[ERROR_OUTPUT];
        this.#nodeRuns.inc({ type: node.type, output: ERROR_OUTPUT });
        if (next === undefined) {
          return {
            kind: 'failed',
            error: new VoxmeshError(
              ErrorCode.FLOW_FAILED,
              `Node '${id}' (${node.type}) of flow '${flow.id}' failed: ${step.error}`,
              { cause: error },
            ),
          };
        }
        step.output = ERROR_OUTPUT;
        nodeId = next;
        continue;
      }
      step.endedAt = this.#clock.now();
      step.output = output;
      this.#nodeRuns.inc({ type: node.type, output: output ?? '' });
      if (state.transferred) return { kind: 'transferred' };
      if (jump !== undefined) return { kind: 'goto', flowId: jump };
      if (returned !== undefined) return { kind: 'completed', value: returned };
      value = undefined;
      nodeId = output === undefined ? undefined : node.outputs?.[output];
    }
    return { kind: 'completed', value };
  }

  async #subflow(flowId: string, state: RunState): Promise<SubflowResult> {
    if (state.depth >= 16)
      throw new VoxmeshError(
        ErrorCode.FLOW_FAILED,
        `Subflows nested deeper than 16 (at '${flowId}')`,
      );
    const flow = this.#lookup(flowId, state);
    if (flow === undefined)
      throw new VoxmeshError(ErrorCode.FLOW_FAILED, `subflow: flow '${flowId}' does not exist`);
    state.depth++;
    try {
      const end = await this.#runFlows(flow, state);
      if (end.kind === 'failed') throw end.error;
      if (end.kind === 'completed') return { outcome: 'completed', value: end.value };
      return { outcome: end.kind === 'goto' ? 'completed' : end.kind };
    } finally {
      state.depth--;
    }
  }
}

/** Replaces `{{name}}` in `text` with call variables (see {@link NodeContext.template}). */
export function template(text: string, channel: CallChannel): string {
  return text.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (_match, name: string) => {
    switch (name) {
      case 'call.id':
        return channel.id;
      case 'call.from':
        return channel.from.user;
      case 'call.to':
        return channel.to.user;
      case 'call.tenant':
        return channel.tenantId;
      default:
        return channel.variables.get(name) ?? '';
    }
  });
}
