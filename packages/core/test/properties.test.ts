// Property-based tests: invariants of the gather state machine over random
// settings and key sequences, and "bad input never crashes" for validation
// and routing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  builtinNodeTypes,
  createConfigView,
  DigitCollector,
  digitCollectorSettings,
  FakeClock,
  flowIssues,
  NodeTypeRegistry,
  routeCall,
  ValidationError,
} from '../src/index.js';
import { tenants } from './fixtures.js';

const key = fc.constantFrom('0', '1', '2', '5', '9', '*', '#');

describe('DigitCollector invariants', () => {
  it('never returns more than maxDigits, never the finish key, always ends, leaves no timer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          maxDigits: fc.integer({ min: 1, max: 8 }),
          minFraction: fc.double({ min: 0, max: 1, noNaN: true }),
          finishOnKey: fc.constantFrom('', '#', '*#'),
          firstDigitTimeoutMs: fc.integer({ min: 1, max: 10_000 }),
          interDigitTimeoutMs: fc.integer({ min: 1, max: 5_000 }),
          totalTimeoutMs: fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined }),
        }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 6_000 }), key), { maxLength: 12 }),
        async (s, presses) => {
          const minDigits = Math.floor(s.minFraction * s.maxDigits);
          const settings = digitCollectorSettings({ ...s, minDigits });
          const clock = new FakeClock();
          const collector = new DigitCollector({ clock, settings });
          let at = 0;
          const pressed: string[] = [];
          for (const [gap, k] of presses) {
            at += gap;
            clock.setTimeout(() => {
              if (collector.push(k)) pressed.push(k);
            }, at);
          }
          // Every rule ends input within first-digit + one inter-digit per key.
          const bound = s.firstDigitTimeoutMs + at + s.interDigitTimeoutMs * (presses.length + 1);
          let endedAt: number | undefined;
          void collector.result.then(() => (endedAt = clock.monotonic()));
          await clock.advanceAsync(bound + 1);
          const result = await collector.result;
          expect(endedAt).toBeLessThanOrEqual(bound);
          expect(result.digits.length).toBeLessThanOrEqual(s.maxDigits);
          for (const finish of s.finishOnKey) expect(result.digits).not.toContain(finish);
          // The result is exactly the consumed keys, minus a final finish key.
          const typed = pressed.join('');
          const expected = result.reason === 'finish-key' ? typed.slice(0, -1) : typed;
          expect(result.digits + result.discarded).toBe(expected);
          if (result.reason === 'timeout' && result.digits !== '') {
            expect(result.digits.length).toBeGreaterThanOrEqual(minDigits);
          }
          expect(result.discarded.length).toBeLessThan(Math.max(1, minDigits));
          // Only the key-press timers (never fired ones) may remain.
          clock.advance(bound * 2);
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('bad input never crashes', () => {
  const registry = new NodeTypeRegistry(builtinNodeTypes);

  it('createConfigView rejects anything malformed with a ValidationError', () => {
    fc.assert(
      fc.property(fc.array(fc.anything(), { minLength: 1, maxLength: 3 }), (list) => {
        expect(() => createConfigView({ tenants: list })).toThrow(ValidationError);
      }),
      { numRuns: 200 },
    );
  });

  it('createConfigView reports mutated fixtures as issues, never throws anything else', () => {
    const paths = [
      'users',
      'ringGroups',
      'dids',
      'flows',
      'outboundRoutes',
      'interTenant',
      'limits',
      'schedules',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...paths),
        fc.anything(),
        fc.integer({ min: 0, max: 3 }),
        (path, value, index) => {
          const list = tenants() as unknown as Record<string, unknown>[];
          (list[index] as Record<string, unknown>)[path] = value;
          try {
            createConfigView({ tenants: list });
          } catch (error) {
            expect(error).toBeInstanceOf(ValidationError);
            expect((error as ValidationError).issues.length).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('flowIssues returns issues for anything, never throws', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({
            id: fc.string(),
            start: fc.string(),
            nodes: fc.dictionary(
              fc.string({ minLength: 1, maxLength: 4 }),
              fc.record({
                type: fc.constantFrom('play', 'menu', 'http', 'goto', 'nope', 'condition'),
                config: fc.anything(),
                outputs: fc.dictionary(fc.string(), fc.string({ minLength: 1, maxLength: 4 })),
              }),
            ),
          }),
        ),
        (flow) => {
          expect(Array.isArray(flowIssues(flow, { registry }))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('routeCall answers any dialled number with a route', () => {
    const view = createConfigView({ tenants: tenants() });
    fc.assert(
      fc.property(
        fc.constantFrom<'user' | 'trunk'>('user', 'trunk'),
        fc.constantFrom('acme', 'globex', 'initech', 'reseller', 'ghost'),
        fc.string({ maxLength: 12 }),
        fc.string({ maxLength: 12 }),
        fc.option(fc.constantFrom('acme.example', 'globex.example', 'x.example'), {
          nil: undefined,
        }),
        (origin, tenantId, from, to, toDomain) => {
          const route = routeCall(view, {
            origin,
            tenantId,
            from: { number: from },
            to,
            toDomain,
            at: 0,
          });
          expect(['user', 'ring-group', 'ivr', 'voicemail', 'trunk', 'reject']).toContain(
            route.kind,
          );
          if (route.kind === 'reject') expect(route.sipStatus).toBeGreaterThanOrEqual(400);
        },
      ),
      { numRuns: 500 },
    );
  });
});
