/**
 * Validation against the TypeBox schemas of the domain model and IVR flows,
 * with precise JSON-pointer paths.
 *
 * @module
 */

import type { TSchema } from '@sinclair/typebox';
import { Value, type ValueError } from '@sinclair/typebox/value';
import { VoxmeshError } from './errors.js';

/** One problem found by validation. */
export interface ValidationIssue {
  /** A JSON pointer to the offending value (e.g. `/tenants/0/users/3/extension`); `''` is the root. */
  path: string;
  /** What is wrong, in words. */
  message: string;
}

/**
 * A validation failure that lists every problem found: `INVALID_CONFIG` for
 * tenant configuration, `INVALID_FLOW` for IVR flows.
 */
export class ValidationError extends VoxmeshError {
  /** Every problem found, in document order. */
  readonly issues: readonly ValidationIssue[];

  constructor(code: string, subject: string, issues: readonly ValidationIssue[]) {
    const shown = issues
      .slice(0, 10)
      .map((i) => `${i.path === '' ? '/' : i.path}: ${i.message}`)
      .join('; ');
    const more = issues.length > 10 ? ` (and ${issues.length - 10} more)` : '';
    super(code, `${subject} is invalid: ${shown}${more}`);
    this.issues = issues;
  }

  static {
    this.prototype.name = 'ValidationError';
  }
}

/** Escapes one JSON-pointer segment (RFC 6901 §3). */
export function pointerSegment(segment: string | number): string {
  return String(segment).replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Checks `value` against `schema` and returns the problems found, each path
 * prefixed with `basePath`. For a union of objects told apart by a `type`
 * literal, the problems of the matching variant are reported rather than a
 * bare "expected union value".
 */
export function schemaIssues(schema: TSchema, value: unknown, basePath = ''): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const paths = new Set<string>();
  for (const error of Value.Errors(schema, value)) {
    // One issue per path: a missing property also fails its type check.
    for (const issue of explain(error, basePath)) {
      if (paths.has(issue.path)) continue;
      paths.add(issue.path);
      issues.push(issue);
    }
    if (issues.length >= 100) break;
  }
  return issues;
}

function explain(error: ValueError, basePath: string): ValidationIssue[] {
  const variants = (error.schema as { anyOf?: TSchema[] }).anyOf;
  const v = error.value as Record<string, unknown> | null;
  if (variants !== undefined && typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const discriminated = variants.filter((variant) => literalType(variant) !== undefined);
    if (discriminated.length > 0) {
      const match = discriminated.find((variant) => literalType(variant) === v.type);
      if (match === undefined) {
        const allowed = discriminated.map((variant) => `'${String(literalType(variant))}'`);
        return [
          {
            path: `${basePath}${error.path}/type`,
            message: `Expected one of ${allowed.join(', ')}, got ${JSON.stringify(v.type)}`,
          },
        ];
      }
      return schemaIssues(match, v, `${basePath}${error.path}`);
    }
  }
  return [{ path: `${basePath}${error.path}`, message: error.message }];
}

function literalType(schema: TSchema): unknown {
  const props = (schema as { properties?: Record<string, { const?: unknown }> }).properties;
  return props?.type?.const;
}
