/**
 * `@voxmesh/core/testing`: test doubles and helpers for code built on
 * Voxmesh. The simulated-call harness and the conformance suites of core's
 * interfaces live here.
 *
 * @packageDocumentation
 */

export { FakeClock } from './clock.js';
export type { FakeClockOptions } from './clock.js';
