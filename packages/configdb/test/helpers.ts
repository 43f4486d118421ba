import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChangeEvent } from '../src/index.js';

/** A fresh temporary directory and its removal. */
export function tempDir(prefix = 'configdb-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Collects `n` events from an iterator. */
export async function take(
  iterator: AsyncIterator<ChangeEvent>,
  n: number,
): Promise<ChangeEvent[]> {
  const out: ChangeEvent[] = [];
  while (out.length < n) {
    const next = await iterator.next();
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}
