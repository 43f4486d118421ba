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
