import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type * as Errors from '../src/errors.js';
import { AbortError, ErrorCode, TimeoutError, VoxmeshError } from '../src/index.js';

// A second, independent copy of the module: what an application gets when two
// versions of @voxmesh/core end up in one node_modules tree.
const secondCopy = '../src/errors.ts?second-copy';
const copy = (await import(secondCopy)) as typeof Errors;

describe('VoxmeshError', () => {
  it('carries a code, a message, a cause and a retryable label', () => {
    const cause = new Error('socket closed');
    const error = new VoxmeshError(ErrorCode.INVALID_INPUT, 'bad header', { cause });
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toBe('bad header');
    expect(error.cause).toBe(cause);
    expect(error.retryable).toBe(false);
    expect(error.name).toBe('VoxmeshError');
    expect(error).toBeInstanceOf(Error);
    expect(new TimeoutError().retryable).toBe(true);
  });

  it('is() filters by code', () => {
    const error = new AbortError();
    expect(VoxmeshError.is(error)).toBe(true);
    expect(VoxmeshError.is(error, ErrorCode.ABORTED)).toBe(true);
    expect(VoxmeshError.is(error, ErrorCode.TIMEOUT)).toBe(false);
  });

  it('is() rejects look-alikes that lack the brand', () => {
    const fake = Object.assign(new Error('x'), { code: 'ABORTED', name: 'AbortError' });
    expect(VoxmeshError.is(fake)).toBe(false);
    expect(VoxmeshError.is({ code: 'ABORTED' })).toBe(false);
    expect(VoxmeshError.is(null)).toBe(false);
    expect(VoxmeshError.is('ABORTED')).toBe(false);
    expect(fake instanceof VoxmeshError).toBe(false);
  });

  it('recognises errors created by another copy of the package', () => {
    expect(copy.VoxmeshError).not.toBe(VoxmeshError);
    const foreign = new copy.AbortError('from the other copy');
    expect(VoxmeshError.is(foreign, 'ABORTED')).toBe(true);
    expect(foreign instanceof VoxmeshError).toBe(true);
    expect(foreign instanceof AbortError).toBe(true);
    expect(foreign instanceof TimeoutError).toBe(false);
    expect(new copy.TimeoutError() instanceof AbortError).toBe(false);
    expect(copy.VoxmeshError.is(new TimeoutError(), 'TIMEOUT')).toBe(true);
  });

  it('keeps subclass names for logs', () => {
    expect(new AbortError().name).toBe('AbortError');
    expect(new TimeoutError().name).toBe('TimeoutError');
    expect(String(new AbortError('x'))).toBe('AbortError: x');
  });

  it('documents every code in docs/errors.md', () => {
    const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
    const documented = new Set([...doc.matchAll(/^### `([A-Z_]+)`/gm)].map((m) => m[1]));
    for (const code of Object.values(ErrorCode)) {
      expect(documented, `docs/errors.md lacks a section for ${code}`).toContain(code);
    }
  });
});
