/**
 * `@voxmesh/configdb`: configuration store: replicated, with resumable update listeners.
 *
 * This package is being built; its first API lands with its issue.
 *
 * @packageDocumentation
 */

export {};
