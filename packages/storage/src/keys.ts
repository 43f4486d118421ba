/**
 * Blob keys, metadata and content types: the rules every `BlobStore`
 * enforces, chosen as the common subset of the filesystem, S3 and Azure Blob.
 *
 * A key is a `/`-separated path of 1 to 1024 UTF-8 bytes. Each segment is
 * non-empty, is not `.` or `..`, does not end with `.`, and contains no
 * backslash and no control character. Metadata names are lowercase
 * identifiers (`[a-z][a-z0-9_]*`, valid for S3 headers and Azure's C#
 * identifiers alike); values are printable ASCII without leading or trailing
 * spaces, at most 2 KiB in all.
 *
 * @module
 */

import { ErrorCode, VoxmeshError } from '@voxmesh/core';
import { StorageErrorCode } from './errors.js';

/** The longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** The most metadata, in bytes of names plus values. */
export const MAX_METADATA_BYTES = 2048;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f\\]/;

function invalidKey(key: string, why: string): VoxmeshError {
  return new VoxmeshError(
    StorageErrorCode.INVALID_KEY,
    `Invalid blob key ${JSON.stringify(key.slice(0, 200))}: ${why}`,
  );
}

/**
 * Throws `INVALID_KEY` unless `key` follows the key rules (see the module
 * documentation); throws `TypeError` when it is not a string.
 */
export function validateKey(key: unknown): asserts key is string {
  if (typeof key !== 'string')
    throw new TypeError(`A blob key must be a string, got ${typeof key}`);
  if (key.length === 0) throw invalidKey(key, 'it is empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw invalidKey(key, `it is longer than ${MAX_KEY_BYTES} UTF-8 bytes`);
  }
  if (LONE_SURROGATE.test(key)) throw invalidKey(key, 'it contains a lone surrogate');
  if (CONTROL.test(key)) throw invalidKey(key, 'it contains a control character or a backslash');
  for (const segment of key.split('/')) {
    if (segment === '')
      throw invalidKey(key, 'it has an empty segment (leading, trailing or double slash)');
    if (segment === '.' || segment === '..') throw invalidKey(key, `it has a '${segment}' segment`);
    if (segment.endsWith('.')) throw invalidKey(key, 'a segment ends with a dot');
  }
}

/** Whether `key` follows the key rules. */
export function isValidKey(key: unknown): key is string {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

const METADATA_NAME = /^[a-z][a-z0-9_]{0,63}$/;
const METADATA_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;

/** Throws `INVALID_INPUT` unless `metadata` follows the metadata rules; returns a copy. */
export function validateMetadata(metadata: unknown): Record<string, string> {
  if (metadata === undefined) return {};
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new TypeError('Blob metadata must be an object of string values');
  }
  const copy: Record<string, string> = {};
  let bytes = 0;
  for (const [name, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') throw new TypeError(`Metadata value '${name}' must be a string`);
    if (!METADATA_NAME.test(name)) {
      throw new VoxmeshError(
        ErrorCode.INVALID_INPUT,
        `Invalid metadata name ${JSON.stringify(name)}: use a lowercase identifier ([a-z][a-z0-9_]*, at most 64 characters)`,
      );
    }
    if (!METADATA_VALUE.test(value)) {
      throw new VoxmeshError(
        ErrorCode.INVALID_INPUT,
        `Invalid metadata value for '${name}': use printable ASCII without leading or trailing spaces`,
      );
    }
    bytes += name.length + value.length;
    copy[name] = value;
  }
  if (bytes > MAX_METADATA_BYTES) {
    throw new VoxmeshError(
      ErrorCode.INVALID_INPUT,
      `Blob metadata is ${bytes} bytes; at most ${MAX_METADATA_BYTES} are allowed`,
    );
  }
  return copy;
}

// RFC 9110 §8.3.1: media-type = type "/" subtype parameters; type and subtype are tokens (§5.6.2).
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const MEDIA_TYPE = new RegExp(
  `^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|"(?:[^"\\\\\\x00-\\x1f\\x7f]|\\\\[\\x20-\\x7e])*"))*$`,
);

/** The content type of blobs stored without one. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/**
 * Throws `INVALID_INPUT` unless `contentType` is a media type as defined by
 * RFC 9110 §8.3.1 (`type/subtype` with optional parameters); returns it, or
 * {@link DEFAULT_CONTENT_TYPE} when undefined.
 */
export function validateContentType(contentType: unknown): string {
  if (contentType === undefined) return DEFAULT_CONTENT_TYPE;
  if (typeof contentType !== 'string') throw new TypeError('A content type must be a string');
  if (contentType.length > 256 || !MEDIA_TYPE.test(contentType)) {
    throw new VoxmeshError(
      ErrorCode.INVALID_INPUT,
      `Invalid content type ${JSON.stringify(contentType.slice(0, 100))}: expected type/subtype with optional parameters`,
    );
  }
  return contentType;
}

/** The media type of a content type without its parameters, lowercased (`audio/wav`). */
export function essence(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}
