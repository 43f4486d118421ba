/**
 * `@voxmesh/core`: the primitives every Voxmesh package shares — errors,
 * abort signals, an injectable clock, typed events, the service lifecycle,
 * the logging and metrics seams — and the interfaces between the packages:
 * {@link MediaController} (signalling ↔ media) and {@link CallChannel}
 * (call logic ↔ telephony).
 *
 * @packageDocumentation
 */

export { ErrorCode, VoxmeshError, AbortError, TimeoutError } from './errors.js';
export type { VoxmeshErrorOptions } from './errors.js';

export { throwIfAborted, onAbort, abortable, anySignal, timeoutSignal } from './abort.js';
export type { TimeoutController } from './abort.js';

export { SystemClock, FakeClock, systemClock } from './clock.js';
export type { Clock, Timer, SleepOptions, FakeClockOptions } from './clock.js';

export { TypedEventEmitter, onceEvent } from './events.js';
export type { EventMap, Listener, TypedEvents } from './events.js';

export { Service, ServiceGroup } from './service.js';
export type {
  ServiceState,
  ServiceEvents,
  ServiceOptions,
  ServiceGroupOptions,
  StartOptions,
  DrainOptions,
  WorkToken,
} from './service.js';

export { createLogger, silentLogger } from './logger.js';
export type { Logger, LogFn, LogLevel, CreateLoggerOptions } from './logger.js';

export { Metrics } from './metrics.js';
export type {
  MetricsOptions,
  MetricConfig,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from './metrics.js';

export type * from './media-controller.js';
export { isTerminatingMediaController } from './media-controller.js';
export type * from './call-channel.js';

export { ValidationError, schemaIssues } from './validation.js';
export type { ValidationIssue } from './validation.js';

export {
  Weekday,
  TimeOfDay,
  WeeklyHours,
  Holiday,
  Schedule,
  evaluateSchedule,
  localTime,
  isValidTimeZone,
} from './schedule.js';
export type { LocalTime, ScheduleState, EvaluateScheduleOptions } from './schedule.js';

export {
  Id,
  ExtensionNumber,
  PhoneNumber,
  Destination,
  CallerIdPresentation,
  SipCredentials,
  ForwardingRules,
  User,
  Device,
  RingGroup,
  Did,
  Trunk,
  OutboundRoute,
  BlacklistEntry,
  EmergencySettings,
  InterTenantPolicy,
  TenantLimits,
  Tenant,
} from './domain.js';

export { createConfigView, configIssues, canManageTenant } from './config-view.js';
export type { ConfigView, CreateConfigViewOptions } from './config-view.js';

export { routeCall, isBlacklisted } from './routing.js';
export type {
  RouteRequest,
  Route,
  RouteBase,
  UserRoute,
  RingGroupRoute,
  IvrRoute,
  VoicemailRoute,
  TrunkRoute,
  RejectRoute,
  RejectReason,
  PresentedCaller,
} from './routing.js';

export {
  NodeId,
  FlowNode,
  IvrFlow,
  NodeTypeRegistry,
  flowIssues,
  validateFlow,
  nodeOutputs,
  ERROR_OUTPUT,
} from './ivr-flow.js';
export type {
  NodeTypeDefinition,
  NodeValidationContext,
  NodeOutcome,
  ValidateFlowOptions,
} from './ivr-flow.js';

export { DigitCollector, digitCollectorSettings } from './digit-collector.js';
export type { DigitCollectorSettings, DigitCollectorResult } from './digit-collector.js';

export { IvrRuntime } from './ivr-runtime.js';
export type {
  NodeContext,
  HttpCircuitBreaker,
  HttpCircuitBreakerOptions,
  SubflowResult,
  IvrStep,
  IvrRunOutcome,
  IvrRunResult,
  IvrRuntimeOptions,
  RunFlowOptions,
} from './ivr-runtime.js';

export {
  builtinNodeTypes,
  defineNodeType,
  runGather,
  PromptIds,
  GatherSettings,
} from './ivr-nodes.js';
