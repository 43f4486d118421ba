/**
 * `@voxmesh/core/testing`: test doubles and helpers for code built on
 * Voxmesh. The simulated-call harness and the conformance suites of core's
 * interfaces live here.
 *
 * @packageDocumentation
 */

export { FakeClock } from './clock.js';
export type { FakeClockOptions } from './clock.js';

export { SimulatedCall, simulateCall } from './simulated-call.js';
export type {
  SimulatedCallEvent,
  SimulatedCallOptions,
  PressOptions,
  SimulatedWaitOptions,
  SimulateCallOptions,
  Simulation,
} from './simulated-call.js';

export { MockWebService } from './mock-web-service.js';
export type {
  RecordedRequest,
  MockResponse,
  MockHandler,
  MockWebServiceOptions,
} from './mock-web-service.js';

export { callChannelSuite } from './call-channel-suite.js';
export type { CallChannelHarness, CallChannelSuiteOptions } from './call-channel-suite.js';
