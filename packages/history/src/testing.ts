/**
 * `@voxmesh/history/testing`: the conformance suite every `HistoryStore`
 * runs, and test doubles for code built on call history.
 *
 * @packageDocumentation
 */

export { historyStoreSuite, createTestCdr } from './conformance.js';
export type { HistoryStoreSuiteOptions, SuiteTest } from './conformance.js';
export { FlakyHistoryStore } from './flaky-store.js';
export type { FlakyHistoryStoreOptions, FlakyOperation } from './flaky-store.js';
