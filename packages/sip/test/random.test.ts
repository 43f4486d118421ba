import { describe, expect, it } from 'vitest';
import { generateBranch, generateCallId, generateTag } from '@voxmesh/sip';

describe('identifiers from the pooled random source', () => {
  it('keep their length and alphabet across many pool refills, and never repeat', () => {
    const seen = new Set<string>();
    // 20,000 × (16 + 8 + 16) bytes: about 200 refills of the 4 KiB pool.
    for (let i = 0; i < 20_000; i++) {
      const branch = generateBranch();
      const tag = generateTag();
      const callId = generateCallId();
      expect(branch).toMatch(/^z9hG4bK[A-Za-z0-9_-]{22}$/); // 128 bits, RFC 3261 §8.1.1.7
      expect(tag).toMatch(/^[0-9a-f]{16}$/); // 64 bits
      expect(callId).toMatch(/^[0-9a-f]{32}$/); // 128 bits
      seen.add(branch).add(tag).add(callId);
    }
    expect(seen.size).toBe(60_000);
  });

  it('spreads the bits: every hex digit appears in every position of the Call-IDs', () => {
    const digits = Array.from({ length: 32 }, () => new Set<string>());
    for (let i = 0; i < 2_000; i++) {
      const id = generateCallId();
      for (let p = 0; p < 32; p++) digits[p]!.add(id[p]!);
    }
    for (const set of digits) expect(set.size).toBe(16);
  });
});
