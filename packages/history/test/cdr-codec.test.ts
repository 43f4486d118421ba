import fc from 'fast-check';
import { MemoryLevel } from 'memory-level';
import { describe, expect, it } from 'vitest';
import { EmbeddedHistoryStore, HistoryOutbox, normalizeCdr, type CdrInput } from '@voxmesh/history';
import { createTestCdr } from '@voxmesh/history/testing';
import { cdrFigures, decodeCdr, encodeCdr, withExpiry } from '../src/cdr-codec.js';

const T0 = Date.UTC(2024, 0, 1);

/** CDRs over the whole range of what normalizeCdr accepts. */
const cdrInput: fc.Arbitrary<CdrInput> = fc
  .record({
    tenantId: fc.stringMatching(/^[a-z0-9.\-é]{1,20}$/),
    callId: fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\u0000')),
    leg: fc.constantFrom('a', 'b1', 'b2'),
    direction: fc.constantFrom('inbound', 'outbound', 'internal'),
    from: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\u0000')),
    to: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\u0000')),
    users: fc.option(fc.array(fc.constantFrom('200', '201', 'ünï"\\'), { maxLength: 3 }), {
      nil: undefined,
    }),
    startedAt: fc.integer({ min: -1e12, max: 4e14 }),
    ring: fc.integer({ min: 0, max: 1e5 }),
    talk: fc.integer({ min: 0, max: 1e7 }),
    disposition: fc.constantFrom('answered', 'no-answer', 'busy', 'failed', 'cancelled'),
    hangupCause: fc.option(fc.integer({ min: 1, max: 127 }), { nil: undefined }),
    sipStatus: fc.option(fc.integer({ min: 100, max: 699 }), { nil: undefined }),
    ivrPath: fc.option(fc.array(fc.string({ minLength: 1, maxLength: 5 }), { maxLength: 3 }), {
      nil: undefined,
    }),
    recordings: fc.option(fc.array(fc.constant('rec/1.wav'), { maxLength: 2 }), {
      nil: undefined,
    }),
  })
  .filter((r) => [r.ivrPath ?? [], r.users ?? []].flat().every((s) => !s.includes('\u0000')))
  .map((r) => {
    const cdr: CdrInput = {
      tenantId: r.tenantId,
      callId: r.callId,
      leg: r.leg,
      direction: r.direction,
      from: r.from,
      to: r.to,
      users: r.users,
      startedAt: new Date(r.startedAt),
      endedAt: new Date(r.startedAt + r.ring + r.talk),
      disposition: r.disposition,
      hangupCause: r.hangupCause,
      sipStatus: r.sipStatus,
      ivrPath: r.ivrPath,
      recordings: r.recordings,
    };
    if (r.disposition === 'answered') cdr.answeredAt = new Date(r.startedAt + r.ring);
    return cdr;
  });

/** The stored form used before the compact one: the record as a JSON object. */
function objectForm(input: CdrInput, expireAt?: number): string {
  const cdr = normalizeCdr(input);
  return JSON.stringify({
    ...cdr,
    startedAt: cdr.startedAt.getTime(),
    answeredAt: cdr.answeredAt?.getTime(),
    endedAt: cdr.endedAt.getTime(),
    expireAt,
  });
}

describe('the stored form of a CDR', () => {
  it('decodes to exactly the normalised record, with and without expireAt', () => {
    fc.assert(
      fc.property(cdrInput, fc.option(fc.integer({ min: 0, max: 4e14 })), (input, expireAt) => {
        const cdr = normalizeCdr(input);
        expect(decodeCdr(encodeCdr(cdr))).toStrictEqual(cdr);
        const expiring = { ...cdr };
        if (expireAt !== null) expiring.expireAt = new Date(expireAt);
        const encoded = encodeCdr(expiring);
        expect(decodeCdr(encoded)).toStrictEqual(expiring);
        if (expireAt !== null) expect(withExpiry(encodeCdr(cdr), expireAt)).toBe(encoded);
        expect(cdrFigures(encoded)).toEqual({
          startedAt: cdr.startedAt.getTime(),
          answered: cdr.disposition === 'answered',
          durationMs: cdr.durationMs,
          talkMs: cdr.talkMs,
        });
      }),
    );
  });

  it('is much smaller than the record as a JSON object', () => {
    const input = createTestCdr({ tenantId: 'tenant-1.example', callId: 'o-1@sbc-1.example' });
    expect(encodeCdr(normalizeCdr(input)).length).toBeLessThan(objectForm(input).length / 2);
  });

  it('reads records stored as JSON objects', () => {
    fc.assert(
      fc.property(cdrInput, (input) => {
        const cdr = normalizeCdr(input);
        expect(decodeCdr(objectForm(input))).toEqual(cdr);
        expect(cdrFigures(objectForm(input))).toEqual(cdrFigures(encodeCdr(cdr)));
      }),
    );
  });
});

describe('EmbeddedHistoryStore with records of the earlier stored form', () => {
  it('queries, counts, purges and deletes them like any other', async () => {
    const db = new MemoryLevel<string, string>();
    const store = new EmbeddedHistoryStore({ db: db });
    await store.open();
    const tenantId = 'demo.local';
    const old = createTestCdr({ tenantId, callId: 'old', startedAt: new Date(T0) });
    const fresh = createTestCdr({ tenantId, callId: 'new', startedAt: new Date(T0 + 60_000) });
    await store.setRetention({ tenantId, retentionMs: 3_600_000 });
    await store.recordCdrs([old, fresh]);
    // Rewrite the primary record of `old` as the earlier form stored it.
    const keys = await db.keys({ gte: 'C\u0000', lt: 'C\u0001' }).all();
    const oldKey = keys.find((k) => k.endsWith(':old:a')) as string;
    await db.put(oldKey, objectForm(old, T0 + 3_600_000));

    const { items } = await store.queryCdrs({ tenantId });
    expect(items.map((c) => c.callId)).toEqual(['new', 'old']);
    expect(items[1]).toEqual({ ...normalizeCdr(old), expireAt: new Date(T0 + 3_600_000) });
    expect(await store.getCdr({ tenantId, id: `${tenantId}:old:a` })).toEqual(items[1]);
    expect((await store.queryCdrs({ tenantId, user: '200' })).items.map((c) => c.callId)).toEqual([
      'new',
      'old',
    ]);
    const stats = await store.statistics({
      tenantId,
      since: new Date(T0),
      until: new Date(T0 + 86_400_000),
      granularity: 'day',
    });
    expect(stats.total).toMatchObject({ calls: 2, answered: 2, durationMs: 140_000 });
    expect(await store.purgeExpired({ now: new Date(T0 + 3_600_000) })).toBe(1);
    expect((await store.queryCdrs({ tenantId })).items.map((c) => c.callId)).toEqual(['new']);
    expect(await store.deleteTenant({ tenantId })).toBe(1);
    // Nothing of the tenant is left but nothing else was there either.
    expect(await db.keys().all()).toEqual([]);
    await store.close();
    await db.close();
  });
});

describe('HistoryOutbox with entries of the earlier stored form', () => {
  it('delivers CDRs and activities it finds in the database at start', async () => {
    const db = new MemoryLevel<string, string>();
    const store = new EmbeddedHistoryStore({ db: new MemoryLevel<string, string>() });
    await store.open();
    const cdr = createTestCdr({ tenantId: 'demo.local', callId: 'left-over' });
    // An entry written before CDRs were queued in their stored form.
    await db.put(
      'o\u00000000000000000007',
      JSON.stringify({
        k: 'c',
        r: {
          ...cdr,
          startedAt: cdr.startedAt.getTime(),
          answeredAt: cdr.answeredAt?.getTime(),
          endedAt: cdr.endedAt.getTime(),
        },
      }),
    );
    await db.put(
      'o\u00000000000000000008',
      JSON.stringify({ k: 'a', r: { tenantId: 'demo.local', id: 'x', at: T0, type: 'login' } }),
    );
    const outbox = new HistoryOutbox({ store, db: db });
    await outbox.start();
    expect(outbox.pending).toBe(2);
    await outbox.recordCdrs([createTestCdr({ tenantId: 'demo.local', callId: 'after' })]);
    await outbox.flush();
    expect(
      (await store.queryCdrs({ tenantId: 'demo.local' })).items.map((c) => c.callId).sort(),
    ).toEqual(['after', 'left-over']);
    expect(await store.getCdr({ tenantId: 'demo.local', id: 'demo.local:left-over:a' })).toEqual(
      normalizeCdr(cdr),
    );
    expect((await store.queryActivities({ tenantId: 'demo.local' })).items).toMatchObject([
      { id: 'x', at: new Date(T0), type: 'login' },
    ]);
    expect(await db.keys().all()).toEqual([]);
    await outbox.drain();
    await store.close();
    await db.close();
  });
});
