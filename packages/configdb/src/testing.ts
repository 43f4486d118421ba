/**
 * `@voxmesh/configdb/testing`: the conformance suite of the backend contract
 * and test doubles for replication (a seeded simulated network, skewed clocks).
 *
 * @packageDocumentation
 */

export { SimulatedNetwork, SeededRandom, SkewedClock } from './sim-network.js';
export type { SimulatedNetworkOptions } from './sim-network.js';
export { configBackendSuite } from './conformance.js';
export type {
  ConfigBackendSuiteOptions,
  ConfigBackendFixture,
  ConfigBackendFactoryOptions,
} from './conformance.js';
