/**
 * `@voxmesh/history`: call history: CDRs, activities and statistics, with MongoDB and embedded backends.
 *
 * This package is being built; its first API lands with its issue.
 *
 * @packageDocumentation
 */

export {};
