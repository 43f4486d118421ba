/**
 * `@voxmesh/sip/testing`: conformance suites and test doubles of this package.
 *
 * @packageDocumentation
 */

// ---- Registrar: the BindingStore conformance suite ----

export { bindingStoreSuite } from './registrar/binding-store-suite.js';
export type {
  BindingStoreSuiteOptions,
  SuiteTestFunction,
  SuiteExpect,
} from './registrar/binding-store-suite.js';

// ---- Virtual phone and in-memory network (user-agent layer) ----

export { VirtualPhone } from './ua/virtual-phone.js';
export type {
  VirtualPhoneOptions,
  VirtualPhoneState,
  VirtualPhoneEvents,
  VirtualPhoneCallOptions,
  VirtualPhoneTransferOptions,
  RecordedMessage,
} from './ua/virtual-phone.js';
export { MemoryNetwork } from './ua/memory-network.js';
export type { MemoryTransportOptions, DropRule } from './ua/memory-network.js';
export { uaTransportSuite } from './ua/transport-suite.js';
export type { UaTransportSuiteOptions, UaTransportPair } from './ua/transport-suite.js';
// ---- end: virtual phone and in-memory network ----

// ---- Transports: the SipTransportLayer conformance suite ----

export { transportLayerSuite } from './transport/conformance.js';
export type { TransportLayerPair, TransportLayerSuiteOptions } from './transport/conformance.js';
