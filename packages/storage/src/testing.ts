/**
 * `@voxmesh/storage/testing`: conformance suites and test doubles of this package.
 *
 * @packageDocumentation
 */

export {};
