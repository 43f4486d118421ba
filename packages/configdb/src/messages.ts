/**
 * Validation of replication messages received from peers: a malformed or
 * hostile message is rejected before it reaches the replica.
 *
 * @module
 */

import { ErrorCode, VoxmeshError } from '@voxmesh/core';
import type { ReplicatedOp, ReplicationMessage, StoredEntry, VersionVector } from './types.js';

const ORIGIN = /^[A-Za-z0-9._:@-]{1,200}$/;

function invalid(what: string): never {
  throw new VoxmeshError(ErrorCode.INVALID_INPUT, `Invalid replication message: ${what}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function seq(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) invalid(what);
  return value;
}

function origin(value: unknown): string {
  if (typeof value !== 'string' || !ORIGIN.test(value)) invalid('origin');
  return value;
}

function key(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024) invalid('key');
  return value;
}

function versionVector(value: unknown): VersionVector {
  if (!isRecord(value)) invalid('version vector');
  const vv: VersionVector = {};
  for (const [o, s] of Object.entries(value)) vv[origin(o)] = seq(s, 'version vector entry');
  return vv;
}

function op(value: unknown): ReplicatedOp {
  if (!isRecord(value)) invalid('op');
  const base = {
    o: origin(value.o),
    s: seq(value.s, 'op seq'),
    k: key(value.k),
    l: seq(value.l, 'op clock'),
    c: seq(value.c, 'op counter'),
  };
  if (base.s === 0) invalid('op seq');
  if (value.d === true) return { ...base, d: true };
  if (value.d !== undefined || value.v === undefined) invalid('op value');
  return { ...base, v: value.v };
}

function entry(value: unknown): StoredEntry {
  if (!isRecord(value)) invalid('entry');
  const base = {
    o: origin(value.o),
    s: seq(value.s, 'entry seq'),
    l: seq(value.l, 'entry clock'),
    c: seq(value.c, 'entry counter'),
  };
  if (value.d === true) return { ...base, d: true };
  if (value.d !== undefined || value.v === undefined) invalid('entry value');
  return { ...base, v: value.v };
}

/** Checks a decoded message from a peer; throws `INVALID_INPUT` if malformed. */
export function parseReplicationMessage(value: unknown): ReplicationMessage {
  if (!isRecord(value)) invalid('not an object');
  switch (value.type) {
    case 'sync':
      return { type: 'sync', origin: origin(value.origin), vv: versionVector(value.vv) };
    case 'ops':
      if (!Array.isArray(value.ops)) invalid('ops');
      return { type: 'ops', ops: value.ops.map(op), vv: versionVector(value.vv) };
    case 'state':
      if (!Array.isArray(value.entries)) invalid('entries');
      return {
        type: 'state',
        entries: value.entries.map((pair: unknown) => {
          if (!Array.isArray(pair) || pair.length !== 2) invalid('entry pair');
          return [key(pair[0]), entry(pair[1])] as const;
        }),
        vv: versionVector(value.vv),
      };
    default:
      return invalid('unknown type');
  }
}
