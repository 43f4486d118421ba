/**
 * Error codes of `@voxmesh/configdb`. Each is documented with how to fix it in
 * `docs/errors.md` under `## @voxmesh/configdb`.
 *
 * @module
 */

/** The error codes `@voxmesh/configdb` defines (in addition to core's). */
export const ConfigDbErrorCode = {
  /**
   * A listener asked for changes after a cursor older than the retained change
   * feed. The client must take a new {@link ConfigReplica.snapshot | snapshot}.
   */
  COMPACTED: 'COMPACTED',
  /**
   * A listener's cursor belongs to another epoch of the replica (the replica
   * was wiped and recreated). The client must take a new snapshot.
   */
  EPOCH_MISMATCH: 'EPOCH_MISMATCH',
  /** The replica (or every replica of a shard) could not be reached, or stopped. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** A replication peer failed the shared-secret handshake. */
  PEER_AUTH_FAILED: 'PEER_AUTH_FAILED',
  /** A client sent no or a wrong bearer token to a `ConfigServer`. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** The shard map has no shard for a tenant. */
  SHARD_NOT_FOUND: 'SHARD_NOT_FOUND',
} as const;

/** The union of {@link ConfigDbErrorCode} values. */
export type ConfigDbErrorCode = (typeof ConfigDbErrorCode)[keyof typeof ConfigDbErrorCode];
