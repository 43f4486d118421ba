/**
 * The built-in IVR node types: play, menu, gather, record, voicemail, dial,
 * transfer, time-condition, set-variable, condition, http, goto, subflow,
 * return and hangup.
 *
 * @module
 */

import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { timeoutSignal } from './abort.js';
import type { BridgeTarget, CollectDigitsResult } from './call-channel.js';
import { ErrorCode, VoxmeshError } from './errors.js';
import type { NodeOutcome, NodeTypeDefinition } from './ivr-flow.js';
import type { NodeContext } from './ivr-runtime.js';
import { evaluateSchedule, Schedule } from './schedule.js';
import type { ValidationIssue } from './validation.js';

/** One prompt id, or several played in order. */
export const PromptIds = Type.Union([
  Type.String({ minLength: 1 }),
  Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
]);
/** One prompt id, or several played in order. */
export type PromptIds = Static<typeof PromptIds>;

const Language = Type.Optional(
  Type.String({ pattern: '^[a-z]{2}(-[A-Z]{2})?$', description: "Overrides the call's language" }),
);
const BargeInSchema = Type.Union([Type.Literal('none'), Type.Literal('dtmf'), Type.Literal('any')]);
const Keys = Type.String({ pattern: '^[0-9*#A-D]+$' });

const gatherProperties = {
  /** Played before each attempt. */
  prompt: PromptIds,
  /** @defaultValue `'dtmf'` */
  bargeIn: Type.Optional(BargeInSchema),
  /** Only these keys barge in. @defaultValue every key */
  bargeInKeys: Type.Optional(Keys),
  /** @defaultValue `1` */
  minDigits: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 })),
  /** @defaultValue `1` (menu: the longest option) */
  maxDigits: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  /** Ends input; not included in the digits. @defaultValue none */
  finishOnKey: Type.Optional(Keys),
  /** From the end of the prompt. @defaultValue `5000` */
  firstDigitTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Restarts per digit; supersedes the total timeout once a digit arrived. @defaultValue `3000` */
  interDigitTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
  /** @defaultValue no limit */
  totalTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Attempts in all, before `max-attempts`. @defaultValue `3` */
  maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
  /** No-input attempts before the `no-input` output. @defaultValue `maxAttempts` */
  maxNoInput: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
  /** Invalid-input attempts before the `no-match` output. @defaultValue `maxAttempts` */
  maxNoMatch: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
  /** Escalating prompts after the 1st, 2nd, ... no-input (the last one repeats). */
  noInputPrompts: Type.Optional(Type.Array(PromptIds)),
  /** Escalating prompts after the 1st, 2nd, ... invalid input (the last one repeats). */
  noMatchPrompts: Type.Optional(Type.Array(PromptIds)),
  /** Replay `prompt` after a retry prompt. @defaultValue `true` */
  repeatPrompt: Type.Optional(Type.Boolean()),
  /** Store the accepted digits in this variable. */
  variable: Type.Optional(Type.String({ minLength: 1 })),
  language: Language,
};
/** The digit-collection settings of `menu` and `gather` (defaults as in `CollectDigitsOptions`). */
export const GatherSettings = Type.Object(gatherProperties, { additionalProperties: false });
/** The digit-collection settings of `menu` and `gather`. */
export type GatherSettings = Static<typeof GatherSettings>;

const NO_INPUT = 'no-input';
const NO_MATCH = 'no-match';
const MAX_ATTEMPTS = 'max-attempts';

function escalate(list: readonly PromptIds[] | undefined, count: number): string[] {
  if (list === undefined || list.length === 0) return [];
  const entry = list[Math.min(count, list.length) - 1] as PromptIds;
  return typeof entry === 'string' ? [entry] : [...entry];
}

/**
 * The menu/gather loop: prompt (with barge-in), collect, classify; on no
 * input or invalid input play the escalating retry prompt and try again;
 * after `maxNoInput` no-inputs take `no-input`, after `maxNoMatch` invalid
 * inputs take `no-match`, after `maxAttempts` attempts of both kinds take
 * `max-attempts`. Returns `undefined` when the caller hung up.
 */
export async function runGather(
  ctx: NodeContext,
  settings: GatherSettings,
  accept: (digits: string) => NodeOutcome,
  defaults: { maxDigits: number },
): Promise<NodeOutcome> {
  const maxAttempts = settings.maxAttempts ?? 3;
  const maxNoInput = settings.maxNoInput ?? maxAttempts;
  const maxNoMatch = settings.maxNoMatch ?? maxAttempts;
  let noInput = 0;
  let noMatch = 0;
  let last: typeof NO_INPUT | typeof NO_MATCH | undefined;
  const attempts: { digits: string; reason: CollectDigitsResult['reason']; result: string }[] = [];
  for (let attempt = 1; ; attempt++) {
    const ids: string[] = [];
    if (last === NO_INPUT) ids.push(...escalate(settings.noInputPrompts, noInput));
    if (last === NO_MATCH) ids.push(...escalate(settings.noMatchPrompts, noMatch));
    if (last === undefined || settings.repeatPrompt !== false || ids.length === 0)
      ids.push(...PromptList(settings.prompt));
    const played = await ctx.play(ids, {
      bargeIn: settings.bargeIn ?? 'dtmf',
      bargeInKeys: settings.bargeInKeys,
      flushDigits: true,
    });
    if (played.reason === 'hangup' || ctx.signal.aborted) return undefined;
    // The first-digit timeout runs from here: the end of the prompt.
    const collected = await ctx.channel.collectDigits({
      minDigits: settings.minDigits,
      maxDigits: settings.maxDigits ?? defaults.maxDigits,
      finishOnKey: settings.finishOnKey,
      firstDigitTimeoutMs: settings.firstDigitTimeoutMs,
      interDigitTimeoutMs: settings.interDigitTimeoutMs,
      totalTimeoutMs: settings.totalTimeoutMs,
      signal: ctx.signal,
    });
    if (collected.reason === 'hangup' || collected.reason === 'stopped' || ctx.signal.aborted)
      return undefined;
    const empty = collected.digits === '' && (collected.discarded ?? '') === '';
    const output = empty ? undefined : accept(collected.digits);
    const kind = empty ? NO_INPUT : output === undefined ? NO_MATCH : 'accepted';
    attempts.push({
      digits: collected.digits || (collected.discarded ?? ''),
      reason: collected.reason,
      result: kind,
    });
    ctx.note({ attempts });
    if (output !== undefined && !empty) {
      if (settings.variable !== undefined) ctx.variables.set(settings.variable, collected.digits);
      return output;
    }
    if (kind === NO_INPUT && ++noInput >= maxNoInput) return NO_INPUT;
    if (kind === NO_MATCH && ++noMatch >= maxNoMatch) return NO_MATCH;
    if (attempt >= maxAttempts) return MAX_ATTEMPTS;
    last = kind === NO_INPUT ? NO_INPUT : NO_MATCH;
  }
}

function PromptList(ids: PromptIds): string[] {
  return typeof ids === 'string' ? [ids] : [...ids];
}

function containsAny(text: string, keys: string): boolean {
  for (const key of keys) if (text.includes(key)) return true;
  return false;
}

/** Defines a node type with its config type inferred from the schema. */
export function defineNodeType<S extends TSchema>(
  definition: NodeTypeDefinition<S>,
): NodeTypeDefinition<S> {
  return definition;
}

const Obj = <P extends Parameters<typeof Type.Object>[0]>(properties: P) =>
  Type.Object(properties, { additionalProperties: false });

/** `play`: plays prompts. Output `next`. */
export const playNode = defineNodeType({
  type: 'play',
  version: 1,
  description: 'Plays prompts',
  schema: Obj({
    prompt: PromptIds,
    /** @defaultValue `'none'` */
    bargeIn: Type.Optional(BargeInSchema),
    /** @defaultValue `1` */
    loop: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    language: Language,
  }),
  outputs: ['next'],
  async run(ctx) {
    const result = await ctx.play(ctx.config.prompt, {
      bargeIn: ctx.config.bargeIn ?? 'none',
      loop: ctx.config.loop,
    });
    ctx.note({ playedMs: result.playedMs, reason: result.reason });
    return result.reason === 'hangup' ? undefined : 'next';
  },
});

const MenuSchema = Obj({
  ...gatherProperties,
  /** The accepted entries (`'1'`, `'2'`, `'*'`, or longer codes); each is also an output. */
  options: Type.Array(Type.String({ pattern: '^[0-9*#A-D]{1,16}$' }), { minItems: 1 }),
});

/** `menu`: a choice among options; outputs: each option, `no-input`, `no-match`, `max-attempts`. */
export const menuNode = defineNodeType({
  type: 'menu',
  version: 1,
  description: 'Plays a prompt and branches on the key pressed',
  schema: MenuSchema,
  outputs: (config) => [...config.options, NO_INPUT, NO_MATCH, MAX_ATTEMPTS],
  takesInput: true,
  validate(config) {
    const issues: ValidationIssue[] = [];
    const seen = new Set<string>();
    config.options.forEach((option, i) => {
      if (seen.has(option))
        issues.push({ path: `/options/${i}`, message: `Duplicate option '${option}'` });
      seen.add(option);
      if (config.maxDigits !== undefined && option.length > config.maxDigits) {
        issues.push({
          path: `/options/${i}`,
          message: `Option '${option}' is longer than maxDigits ${config.maxDigits}`,
        });
      }
      if (config.finishOnKey !== undefined && containsAny(option, config.finishOnKey)) {
        issues.push({
          path: `/options/${i}`,
          message: `Option '${option}' contains the finish key`,
        });
      }
    });
    return issues;
  },
  run(ctx) {
    const longest = Math.max(...ctx.config.options.map((o) => o.length));
    return runGather(
      ctx,
      ctx.config,
      (digits) => (ctx.config.options.includes(digits) ? digits : undefined),
      {
        maxDigits: longest,
      },
    );
  },
});

const GatherSchema = Obj({
  ...gatherProperties,
  /** A regular expression the whole input must match. @defaultValue any input of minDigits..maxDigits */
  pattern: Type.Optional(Type.String({ minLength: 1 })),
});

/** `gather`: collects digits into a variable; outputs `success`, `no-input`, `no-match`, `max-attempts`. */
export const gatherNode = defineNodeType({
  type: 'gather',
  version: 1,
  description: 'Collects digits (an account number, a PIN) into a variable',
  schema: GatherSchema,
  outputs: ['success', NO_INPUT, NO_MATCH, MAX_ATTEMPTS],
  takesInput: true,
  validate(config) {
    if (config.pattern === undefined) return [];
    try {
      new RegExp(config.pattern);
      return [];
    } catch (error) {
      return [
        { path: '/pattern', message: `Invalid regular expression: ${(error as Error).message}` },
      ];
    }
  },
  run(ctx) {
    const pattern =
      ctx.config.pattern === undefined ? undefined : new RegExp(`^(?:${ctx.config.pattern})$`);
    const min = ctx.config.minDigits ?? 1;
    return runGather(
      ctx,
      ctx.config,
      (digits) =>
        digits.length >= min && (pattern === undefined || pattern.test(digits))
          ? 'success'
          : undefined,
      { maxDigits: 1 },
    );
  },
});

const RecordSettings = {
  /** @defaultValue `120000` */
  maxDurationMs: Type.Optional(Type.Integer({ minimum: 1000 })),
  /** @defaultValue no silence detection */
  silenceTimeoutMs: Type.Optional(Type.Integer({ minimum: 500 })),
  /** @defaultValue `'#'` */
  finishOnKey: Type.Optional(Keys),
  /** @defaultValue `true` */
  beep: Type.Optional(Type.Boolean()),
  /** Shorter recordings take `no-audio`. @defaultValue `1000` */
  minDurationMs: Type.Optional(Type.Integer({ minimum: 0 })),
  language: Language,
};

/** `record`: records the caller; outputs `recorded`, `no-audio`. Sets `<variable>` to the storage key. */
export const recordNode = defineNodeType({
  type: 'record',
  version: 1,
  description: "Records the caller's audio",
  schema: Obj({
    prompt: Type.Optional(PromptIds),
    /** Storage key (templated). @defaultValue `recordings/{{call.tenant}}/{{call.id}}/<node id>` */
    key: Type.Optional(Type.String({ minLength: 1 })),
    /** @defaultValue `'recording'` */
    variable: Type.Optional(Type.String({ minLength: 1 })),
    ...RecordSettings,
  }),
  outputs: ['recorded', 'no-audio'],
  takesInput: true,
  async run(ctx) {
    const c = ctx.config;
    if (c.prompt !== undefined) {
      const played = await ctx.play(c.prompt, { bargeIn: 'none' });
      if (played.reason === 'hangup') return undefined;
    }
    const key = ctx.template(c.key ?? `recordings/{{call.tenant}}/{{call.id}}/${ctx.node.id}`);
    return record(ctx, key, c, c.variable ?? 'recording');
  },
});

async function record(
  ctx: NodeContext,
  key: string,
  c: {
    maxDurationMs?: number | undefined;
    silenceTimeoutMs?: number | undefined;
    finishOnKey?: string | undefined;
    beep?: boolean | undefined;
    minDurationMs?: number | undefined;
  },
  variable: string,
): Promise<NodeOutcome> {
  const result = await ctx.channel.record({
    key,
    maxDurationMs: c.maxDurationMs,
    silenceTimeoutMs: c.silenceTimeoutMs,
    finishOnKey: c.finishOnKey,
    beep: c.beep,
    signal: ctx.signal,
  });
  ctx.note({ key: result.key, durationMs: result.durationMs, reason: result.reason });
  if (result.durationMs < (c.minDurationMs ?? 1000))
    return result.reason === 'hangup' ? undefined : 'no-audio';
  ctx.variables.set(variable, result.key);
  ctx.variables.set(`${variable}.durationMs`, String(result.durationMs));
  return result.reason === 'hangup' ? undefined : 'recorded';
}

/** `voicemail`: greeting, then a message into a user's mailbox; outputs `recorded`, `no-audio`. */
export const voicemailNode = defineNodeType({
  type: 'voicemail',
  version: 1,
  description: "Records a message into a user's mailbox",
  schema: Obj({
    /** The mailbox's extension (templated). */
    mailbox: Type.String({ minLength: 1 }),
    /** @defaultValue `'voicemail-greeting'` */
    greeting: Type.Optional(PromptIds),
    ...RecordSettings,
  }),
  outputs: ['recorded', 'no-audio'],
  takesInput: true,
  async run(ctx) {
    const c = ctx.config;
    const mailbox = ctx.template(c.mailbox);
    if (ctx.tenant !== undefined) {
      const user = ctx.tenant.users.find((u) => u.extension === mailbox);
      if (user?.voicemail?.enabled !== true) {
        throw new VoxmeshError(ErrorCode.NOT_FOUND, `Extension ${mailbox} has no voicemail box`);
      }
    }
    const played = await ctx.play(c.greeting ?? 'voicemail-greeting', { bargeIn: 'none' });
    if (played.reason === 'hangup') return undefined;
    ctx.variables.set('voicemail.mailbox', mailbox);
    // Saved even when the caller hangs up mid-message: that is how most messages end.
    const key = `voicemail/${ctx.channel.tenantId}/${mailbox}/${ctx.channel.id}`;
    const outcome = await record(
      ctx,
      key,
      { ...c, finishOnKey: c.finishOnKey ?? '#' },
      'voicemail',
    );
    return outcome;
  },
});

const Target = Type.Union([
  Obj({ extension: Type.String({ minLength: 1 }) }),
  Obj({ group: Type.String({ minLength: 1 }) }),
  Obj({ number: Type.String({ minLength: 1 }) }),
  Obj({ uri: Type.String({ pattern: '^sips?:' }) }),
]);

function resolveTarget(ctx: NodeContext, target: Static<typeof Target>): BridgeTarget {
  if ('extension' in target) return { extension: ctx.template(target.extension) };
  if ('group' in target) return { group: ctx.template(target.group) };
  if ('number' in target) return { number: ctx.template(target.number) };
  return { uri: ctx.template(target.uri) };
}

/** `dial`: bridges to an extension, group, number or URI; outputs `completed`, `busy`, `no-answer`, `failed`. */
export const dialNode = defineNodeType({
  type: 'dial',
  version: 1,
  description: 'Connects the caller to an extension, a ring group, a number or a SIP URI',
  schema: Obj({
    target: Target,
    /** @defaultValue `30000` */
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1000 })),
    callerId: Type.Optional(
      Obj({ user: Type.String(), displayName: Type.Optional(Type.String()) }),
    ),
  }),
  outputs: ['completed', 'busy', 'no-answer', 'failed'],
  async run(ctx) {
    const result = await ctx.channel.bridge(resolveTarget(ctx, ctx.config.target), {
      timeoutMs: ctx.config.timeoutMs,
      callerId: ctx.config.callerId,
      signal: ctx.signal,
    });
    ctx.note({ outcome: result.outcome, sipStatus: result.sipStatus, talkMs: result.talkMs });
    switch (result.outcome) {
      case 'hangup':
        return undefined;
      case 'stopped':
        return 'failed';
      default:
        return result.outcome;
    }
  },
});

/** `transfer`: hands the call to another destination (blind transfer); ends the flow. */
export const transferNode = defineNodeType({
  type: 'transfer',
  version: 1,
  description: 'Hands the call on (blind transfer)',
  schema: Obj({ target: Target }),
  outputs: [],
  async run(ctx) {
    await ctx.channel.transfer(resolveTarget(ctx, ctx.config.target), { signal: ctx.signal });
    ctx.markTransferred();
    return undefined;
  },
});

/** `time-condition`: branches on a business-hours schedule; outputs `open`, `closed`, `holiday`. */
export const timeConditionNode = defineNodeType({
  type: 'time-condition',
  version: 1,
  description: "Branches on business hours and holidays in the tenant's time zone",
  schema: Obj({
    /** A schedule of the tenant. */
    scheduleId: Type.Optional(Type.String({ minLength: 1 })),
    /** An inline schedule. */
    schedule: Type.Optional(Schedule),
  }),
  outputs: ['open', 'closed', 'holiday'],
  validate(config) {
    return (config.scheduleId === undefined) === (config.schedule === undefined)
      ? [{ path: '', message: 'Give exactly one of scheduleId and schedule' }]
      : [];
  },
  run(ctx) {
    const schedule =
      ctx.config.schedule ?? ctx.tenant?.schedules?.find((s) => s.id === ctx.config.scheduleId);
    if (schedule === undefined) {
      throw new VoxmeshError(
        ErrorCode.NOT_FOUND,
        `Schedule '${ctx.config.scheduleId ?? ''}' not found for tenant '${ctx.channel.tenantId}'`,
      );
    }
    const state = evaluateSchedule(schedule, {
      at: ctx.clock.now(),
      timeZone: ctx.tenant?.timeZone,
    });
    ctx.note({ scheduleId: schedule.id, state });
    return state;
  },
});

/** `set-variable`: sets call variables (values templated); output `next`. */
export const setVariableNode = defineNodeType({
  type: 'set-variable',
  version: 1,
  description: 'Sets call variables',
  schema: Obj({ variables: Type.Record(Type.String({ minLength: 1 }), Type.String()) }),
  outputs: ['next'],
  run(ctx) {
    for (const [name, value] of Object.entries(ctx.config.variables))
      ctx.variables.set(name, ctx.template(value));
    return 'next';
  },
});

/** `condition`: compares a variable; outputs `true`, `false`. */
export const conditionNode = defineNodeType({
  type: 'condition',
  version: 1,
  description: 'Branches on a call variable',
  schema: Obj({
    variable: Type.String({ minLength: 1 }),
    operator: Type.Union([
      Type.Literal('equals'),
      Type.Literal('not-equals'),
      Type.Literal('contains'),
      Type.Literal('matches'),
      Type.Literal('exists'),
      Type.Literal('less-than'),
      Type.Literal('greater-than'),
    ]),
    /** Compared with (templated); a regular expression for `matches`. */
    value: Type.Optional(Type.String()),
  }),
  outputs: ['true', 'false'],
  validate(config) {
    if (config.operator !== 'exists' && config.value === undefined) {
      return [{ path: '/value', message: `Operator '${config.operator}' needs a value` }];
    }
    if (config.operator === 'matches') {
      try {
        new RegExp(config.value ?? '');
      } catch (error) {
        return [
          { path: '/value', message: `Invalid regular expression: ${(error as Error).message}` },
        ];
      }
    }
    return [];
  },
  run(ctx) {
    const actual = ctx.variables.get(ctx.config.variable);
    const expected = ctx.template(ctx.config.value ?? '');
    let result: boolean;
    switch (ctx.config.operator) {
      case 'exists':
        result = actual !== undefined && actual !== '';
        break;
      case 'equals':
        result = actual === expected;
        break;
      case 'not-equals':
        result = actual !== expected;
        break;
      case 'contains':
        result = actual?.includes(expected) ?? false;
        break;
      case 'matches':
        result = actual !== undefined && new RegExp(expected).test(actual);
        break;
      case 'less-than':
        result = actual !== undefined && actual !== '' && Number(actual) < Number(expected);
        break;
      case 'greater-than':
        result = actual !== undefined && actual !== '' && Number(actual) > Number(expected);
        break;
    }
    return result ? 'true' : 'false';
  },
});

const HttpSchema = Obj({
  /** Templated with call variables (values are URL-encoded). */
  url: Type.String({ pattern: '^https?://' }),
  /** @defaultValue `'GET'` */
  method: Type.Optional(
    Type.Union([Type.Literal('GET'), Type.Literal('POST'), Type.Literal('PUT')]),
  ),
  headers: Type.Optional(Type.Record(Type.String(), Type.String())),
  /** Sent as JSON; values templated. */
  body: Type.Optional(Type.Record(Type.String(), Type.String())),
  /** Per attempt. @defaultValue `3000` */
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 120_000 })),
  /** Further attempts after a timeout, network error or 5xx. @defaultValue `1` */
  retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
  /** Before the first retry; doubles for each later one. @defaultValue `250` */
  retryDelayMs: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Played (looped) while the service is slow. */
  fillerPrompt: Type.Optional(PromptIds),
  /** @defaultValue `1500` */
  fillerAfterMs: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Variable name → dotted path into the JSON response (`data.account.name`). */
  assign: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String())),
  /** Variables set when the service gives no answer; with it, the node takes `fallback` instead of `give-up`. */
  fallback: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String())),
  language: Language,
});

function pick(value: unknown, path: string): string | undefined {
  let current: unknown = value;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  if (current === undefined || current === null) return undefined;
  return typeof current === 'string' ? current : JSON.stringify(current);
}

/**
 * `http`: calls a web service with a timeout per attempt, retries with
 * backoff, and a filler prompt while it is slow. Outputs `success` (a 2xx
 * response; `assign` copies fields into variables), `fallback` (no usable
 * answer, `fallback` variables set), `give-up` (no usable answer and no
 * fallback). Sets `http.status`, `http.attempts`, `http.error`. While the
 * runtime's circuit breaker is open for the tenant and the service's origin
 * (after repeated timeouts, network errors or 5xx), no request is made and
 * the node takes `fallback` / `give-up` at once.
 */
export const httpNode = defineNodeType({
  type: 'http',
  version: 1,
  description: 'Calls a web service (timeout, retries, filler prompt, fallback)',
  schema: HttpSchema,
  outputs: ['success', 'give-up', 'fallback'],
  async run(ctx) {
    const c = ctx.config;
    const url = c.url.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (m) =>
      encodeURIComponent(ctx.template(m)),
    );
    const method = c.method ?? 'GET';
    const body =
      c.body === undefined
        ? undefined
        : JSON.stringify(
            Object.fromEntries(Object.entries(c.body).map(([k, v]) => [k, ctx.template(v)])),
          );
    const headers: Record<string, string> = { accept: 'application/json', ...c.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const retries = c.retries ?? 1;
    const started = ctx.clock.now();
    const stopFiller = new AbortController();
    let filler: Promise<unknown> | undefined;
    const fillerTimer =
      c.fillerPrompt === undefined
        ? undefined
        : ctx.clock.setTimeout(() => {
            filler = ctx.play(c.fillerPrompt as PromptIds, {
              bargeIn: 'none',
              loop: Infinity,
              signal: stopFiller.signal,
            });
          }, c.fillerAfterMs ?? 1500);
    let attempts = 0;
    let status: number | undefined;
    let lastError = '';
    let json: unknown;
    let ok = false;
    let serviceFault = false;
    let circuitKey: string;
    try {
      circuitKey = `${ctx.channel.tenantId} ${new URL(url).origin}`;
    } catch {
      throw new VoxmeshError(ErrorCode.INVALID_INPUT, `Invalid URL after templating: ${url}`);
    }
    const open = ctx.httpCircuit.isOpen(circuitKey);
    if (open) lastError = `Circuit open: ${new URL(url).origin} failed repeatedly`;
    try {
      for (let attempt = 0; !open && attempt <= retries; attempt++) {
        attempts++;
        let retryable = true;
        {
          using timeout = timeoutSignal(c.timeoutMs ?? 3000, {
            clock: ctx.clock,
            signal: ctx.signal,
            message: `No response within ${c.timeoutMs ?? 3000} ms`,
          });
          try {
            const response = await ctx.fetch(url, {
              method,
              headers,
              body,
              signal: timeout.signal,
            });
            status = response.status;
            const text = await response.text();
            if (response.ok) {
              json = text === '' ? {} : JSON.parse(text);
              ok = true;
            } else {
              lastError = `HTTP ${response.status}`;
              // Client errors repeat: only 5xx (and 408/429) are worth retrying.
              retryable =
                response.status >= 500 || response.status === 408 || response.status === 429;
            }
          } catch (error) {
            if (ctx.signal.aborted) return undefined;
            const reason = timeout.signal.aborted
              ? (timeout.signal.reason as Error)
              : (error as Error);
            lastError =
              reason instanceof SyntaxError
                ? `Invalid JSON: ${reason.message}`
                : (reason.message ?? String(reason));
            retryable = !(reason instanceof SyntaxError);
          }
        }
        serviceFault = !ok && retryable;
        if (ok || !retryable || attempt === retries) break;
        await ctx.clock.sleep((c.retryDelayMs ?? 250) * 2 ** attempt, { signal: ctx.signal });
      }
    } catch (error) {
      if (ctx.signal.aborted) return undefined;
      throw error;
    } finally {
      fillerTimer?.cancel();
      stopFiller.abort();
      await filler;
    }
    if (!open) ctx.httpCircuit.record(circuitKey, !serviceFault);
    ctx.variables.set('http.attempts', String(attempts));
    ctx.variables.set('http.status', status === undefined ? '' : String(status));
    ctx.variables.set('http.error', ok ? '' : lastError);
    ctx.note({
      url,
      method,
      attempts,
      status,
      elapsedMs: ctx.clock.now() - started,
      error: ok ? undefined : lastError,
      filler: filler !== undefined,
      circuitOpen: open,
    });
    if (ok) {
      for (const [name, path] of Object.entries(c.assign ?? {})) {
        const value = pick(json, path);
        if (value !== undefined) ctx.variables.set(name, value);
      }
      return 'success';
    }
    if (c.fallback !== undefined) {
      for (const [name, value] of Object.entries(c.fallback))
        ctx.variables.set(name, ctx.template(value));
      return 'fallback';
    }
    return 'give-up';
  },
});

function flowRef(
  config: { flowId: string },
  context: { flowIds?: ReadonlySet<string> | undefined },
): ValidationIssue[] {
  return context.flowIds !== undefined && !context.flowIds.has(config.flowId)
    ? [{ path: '/flowId', message: `Flow '${config.flowId}' does not exist` }]
    : [];
}

/** `goto`: continues in another flow; ends this one. */
export const gotoNode = defineNodeType({
  type: 'goto',
  version: 1,
  description: 'Continues in another flow',
  schema: Obj({ flowId: Type.String({ minLength: 1 }) }),
  outputs: [],
  validate: flowRef,
  run(ctx) {
    ctx.goto(ctx.config.flowId);
    return undefined;
  },
});

/**
 * `subflow`: runs another flow and comes back. Output `done`, or the value of
 * the subflow's `return` node when it is one of `outputs`.
 */
export const subflowNode = defineNodeType({
  type: 'subflow',
  version: 1,
  description: 'Runs another flow and comes back',
  schema: Obj({
    flowId: Type.String({ minLength: 1 }),
    /** Values a `return` node of the subflow may give, each an output. */
    outputs: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }))),
  }),
  outputs: (config) => ['done', ...(config.outputs ?? [])],
  validate: flowRef,
  async run(ctx) {
    const result = await ctx.runSubflow(ctx.config.flowId);
    if (result.outcome === 'transferred') {
      ctx.markTransferred();
      return undefined;
    }
    if (result.outcome !== 'completed') return undefined;
    if (result.value !== undefined && (ctx.config.outputs ?? []).includes(result.value))
      return result.value;
    return 'done';
  },
});

/** `return`: ends a subflow with a value. */
export const returnNode = defineNodeType({
  type: 'return',
  version: 1,
  description: 'Ends a subflow with a value',
  schema: Obj({ value: Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }) }),
  outputs: [],
  run(ctx) {
    ctx.returnValue(ctx.config.value);
    return undefined;
  },
});

/** `hangup`: ends the call. */
export const hangupNode = defineNodeType({
  type: 'hangup',
  version: 1,
  description: 'Ends the call',
  schema: Obj({
    /** For a call not yet answered. @defaultValue `480` */
    sipStatus: Type.Optional(Type.Integer({ minimum: 400, maximum: 699 })),
    reason: Type.Optional(Type.String({ maxLength: 200 })),
  }),
  outputs: [],
  async run(ctx) {
    await ctx.channel.hangup({
      sipStatus: ctx.config.sipStatus,
      reason: ctx.config.reason ?? 'ivr-hangup',
    });
    return undefined;
  },
});

/** Every built-in node type. */
export const builtinNodeTypes: readonly NodeTypeDefinition[] = [
  playNode,
  menuNode,
  gatherNode,
  recordNode,
  voicemailNode,
  dialNode,
  transferNode,
  timeConditionNode,
  setVariableNode,
  conditionNode,
  httpNode,
  gotoNode,
  subflowNode,
  returnNode,
  hangupNode,
] as unknown as readonly NodeTypeDefinition[];
