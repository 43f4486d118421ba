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
export type { MetricsOptions, MetricConfig } from './metrics.js';

export type * from './media-controller.js';
export type * from './call-channel.js';
