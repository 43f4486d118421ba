// Hostile REGISTERs: whatever a peer sends, the registrar answers with a
// status (never throws, never hangs) and its store stays well-formed.
import { FakeClock, type Logger, silentLogger } from '@voxmesh/core';
import { Registrar, SipRequest, parseMessage } from '@voxmesh/sip';
import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';

const clock = new FakeClock();
// Internal failures are answered 500 and logged as errors: there must be none.
const failures: unknown[] = [];
const logger: Logger = {
  ...silentLogger,
  error: (fields: unknown) => failures.push(fields),
  child: () => logger,
};
const registrar = new Registrar({ authenticator: false, clock, logger, maxBindingsPerAor: 5 });
afterAll(() => registrar.stop());

const pieces = {
  contact: fc.oneof(
    fc.constantFrom(
      '*',
      '<sip:alice@192.0.2.1>',
      '<sip:alice@192.0.2.1>;expires=0',
      '<sip:alice@192.0.2.1>;expires=99999999999',
      '<sip:alice@192.0.2.1>;q=0.7;expires=120',
      '<sip:alice@[2001:db8::1]:5070;transport=tcp>;q=1',
      '<tel:+15551234>',
      '<mailto:x@y>',
      '<sip:@>',
      '"Alice" <sip:alice@192.0.2.2>;+sip.instance="<urn:uuid:1>";reg-id=1',
      'sip:alice@192.0.2.3;expires=-1',
      '<sip:alice@192.0.2.4>;q=',
      '<sip:alice@192.0.2.4>;expires',
      '<<<>>>',
    ),
    fc.string({ maxLength: 40 }),
  ),
  expires: fc.oneof(fc.constantFrom('0', '60', '3600', '-5', '4294967296', 'abc', ''), fc.string()),
  to: fc.oneof(
    fc.constantFrom(
      '<sip:alice@tenant.example>',
      '<sips:Alice@TENANT.example:5061;transport=tls>',
      '<sip:tenant.example>',
      '<tel:+1555>',
      'garbage',
    ),
    fc.string({ maxLength: 30 }),
  ),
  cseq: fc.oneof(
    fc.constantFrom('1 REGISTER', '99999999999 REGISTER', 'x REGISTER', ''),
    fc.string(),
  ),
  callId: fc.oneof(fc.constantFrom('c1', 'c2'), fc.string({ maxLength: 10 })),
};

it('answers every mutated REGISTER with a status, built or parsed', async () => {
  await registrar.start();
  await fc.assert(
    fc.asyncProperty(
      fc.array(pieces.contact, { maxLength: 4 }),
      fc.option(pieces.expires),
      pieces.to,
      pieces.cseq,
      pieces.callId,
      fc.boolean(),
      async (contacts, expires, to, cseq, callId, viaParser) => {
        const headers: [string, string][] = [
          ['Via', 'SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-fuzz;rport'],
          ['From', '<sip:alice@tenant.example>;tag=f'],
          ['To', to],
          ['Call-ID', callId],
          ['CSeq', cseq],
        ];
        for (const c of contacts) headers.push(['Contact', c]);
        if (expires !== null) headers.push(['Expires', expires]);
        let request = new SipRequest({ method: 'REGISTER', uri: 'sip:tenant.example', headers });
        if (viaParser) {
          // Through the real parser as a peer's bytes would go (rejected ones are answered by the transport).
          const parsed = parseMessage(request.serialize());
          if (!parsed.ok || !parsed.message.isRequest()) return;
          request = parsed.message;
        }
        const response = await registrar.handle({
          request,
          flow: { protocol: 'UDP', remote: { host: '192.0.2.10', port: 5062 } },
        });
        expect(response.status).toBeGreaterThanOrEqual(200);
        expect(response.status).toBeLessThan(700);
        clock.advance(1000);
      },
    ),
    { numRuns: 400, seed: 4242 },
  );
  expect(failures).toEqual([]);
  for (const route of await registrar.lookup('sip:alice@tenant.example')) {
    expect(route.binding.q).toBeGreaterThanOrEqual(0);
    expect(route.binding.q).toBeLessThanOrEqual(1);
    expect(route.binding.expiresAt).toBeGreaterThan(clock.now());
  }
  expect((await registrar.bindings('sip:alice@tenant.example')).length).toBeLessThanOrEqual(5);
});
