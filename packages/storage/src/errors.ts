/**
 * Error codes of `@voxmesh/storage`. Every code is documented, with how to fix
 * it, in `docs/errors.md` under `@voxmesh/storage`.
 *
 * Failures shared with other packages use core's codes: a missing object is
 * `NOT_FOUND`, an aborted operation `ABORTED`, a backend without signed URLs
 * `NOT_SUPPORTED`, malformed metadata or content types `INVALID_INPUT`.
 *
 * @module
 */

/** The error codes specific to `@voxmesh/storage`. */
export const StorageErrorCode = {
  /** A blob key breaks the key rules (empty segment, `..`, control characters, too long). */
  INVALID_KEY: 'INVALID_KEY',
  /** A byte range starts at or beyond the end of the object. */
  RANGE_NOT_SATISFIABLE: 'RANGE_NOT_SATISFIABLE',
  /** The storage backend failed (network, server error, throttling). */
  STORAGE_BACKEND_ERROR: 'STORAGE_BACKEND_ERROR',
  /** A mirrored write did not reach the required number of stores. */
  MIRROR_WRITE_FAILED: 'MIRROR_WRITE_FAILED',
  /** An upload was larger than the configured limit. */
  UPLOAD_TOO_LARGE: 'UPLOAD_TOO_LARGE',
  /** An upload's content type is not on the allow-list. */
  CONTENT_TYPE_NOT_ALLOWED: 'CONTENT_TYPE_NOT_ALLOWED',
  /** A request carried no signature and no other credentials accepted it. */
  ACCESS_DENIED: 'ACCESS_DENIED',
  /** A signed URL's signature does not match its method, tenant, key and expiry. */
  SIGNATURE_INVALID: 'SIGNATURE_INVALID',
  /** A signed URL has expired. */
  SIGNATURE_EXPIRED: 'SIGNATURE_EXPIRED',
  /** The FileHandler does not serve this HTTP method. */
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  /** A request's `If-Match` precondition failed. */
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  /** The FileHandler failed on an unexpected error (a bug, logged with its cause). */
  INTERNAL_ERROR: 'INTERNAL_ERROR',
} as const;

/** The union of all {@link StorageErrorCode} values. */
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];
