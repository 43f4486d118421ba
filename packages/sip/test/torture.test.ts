import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createResponse, parseMessage, type SipUri } from '@voxmesh/sip';

interface Expectation {
  section: string;
  expect: 'ok' | 'reject' | 'drop';
  status?: number;
  note?: string;
}

const dir = new URL('./fixtures/rfc4475/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as Record<
  string,
  Expectation
>;

/** Turns a fixture file into wire bytes (see fixtures/rfc4475/README.md). */
function load(name: string): Buffer {
  let text = readFileSync(new URL(`${name}.sip`, dir), 'utf8');
  text = text.replace(/<repeat count=(\d+)>(.*?)<\/repeat>/g, (_m, n: string, s: string) =>
    s.repeat(Number(n)),
  );
  const parts: Buffer[] = [];
  const re = /<hex>([0-9A-Fa-f]*)<\/hex>/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    parts.push(Buffer.from(text.slice(last, m.index).replace(/\r?\n/g, '\r\n'), 'utf8'));
    parts.push(Buffer.from(m[1] as string, 'hex'));
    last = m.index + m[0].length;
  }
  parts.push(Buffer.from(text.slice(last).replace(/\r?\n/g, '\r\n'), 'utf8'));
  let bytes = Buffer.concat(parts);
  const sep = bytes.indexOf('\r\n\r\n');
  if (sep >= 0) {
    const head = bytes.subarray(0, sep).toString('latin1');
    const bodyLength = bytes.length - sep - 4;
    if (/(Content-Length|^l)\s*:\s*AUTO/im.test(head)) {
      const fixed = head.replace(/((?:Content-Length|^l)\s*:\s*)AUTO/im, `$1${bodyLength}`);
      bytes = Buffer.concat([Buffer.from(fixed, 'latin1'), bytes.subarray(sep)]);
    }
  }
  return bytes;
}

describe('RFC 4475 torture messages', () => {
  for (const [name, exp] of Object.entries(manifest)) {
    it(`${name} (§${exp.section}) → ${exp.expect}${exp.status ? ` ${exp.status}` : ''}`, () => {
      const result = parseMessage(load(name));
      if (exp.expect === 'ok') {
        expect(result, result.ok ? '' : result.reason).toMatchObject({ ok: true });
        if (!result.ok) return;
        // every typed accessor works on a valid message, and it round-trips
        const msg = result.message;
        expect(() => [msg.via, msg.from, msg.to, msg.cseq, msg.contact, msg.route]).not.toThrow();
        const again = parseMessage(msg.serialize());
        expect(again.ok).toBe(true);
        if (again.ok) {
          expect(again.message.callId).toBe(msg.callId);
          expect(again.message.body.equals(msg.body)).toBe(true);
          expect(again.message.via.map(String)).toEqual(msg.via.map(String));
        }
      } else if (exp.expect === 'reject') {
        expect(result).toMatchObject({ ok: false, action: 'reject', status: exp.status });
        if (result.ok || result.action !== 'reject') return;
        // a 400/505 can be built from what was read
        const response = createResponse(result.request, result.status, { reason: result.reason });
        expect(response.serialize().toString('latin1')).toMatch(
          new RegExp(`^SIP/2\\.0 ${exp.status} `),
        );
        expect(response.headers.getAll('via')).toEqual(result.request.headers.getAll('via'));
      } else {
        expect(result).toMatchObject({ ok: false, action: 'drop' });
      }
    });
  }

  it('wsinv: reads the folded, spaced and compact headers', () => {
    const result = parseMessage(load('wsinv'));
    if (!result.ok) throw new Error(result.reason);
    const msg = result.message;
    expect(msg.to?.tag).toBe('1918181833n');
    expect(msg.from?.displayName).toBe('J Rosenberg \\"');
    expect(msg.from?.tag).toBe('98asjd8');
    expect(msg.maxForwards).toBe(68);
    expect(msg.cseq).toEqual({ seq: 9, method: 'INVITE' });
    expect(msg.via.map((v) => [v.transport, v.host, v.branch])).toEqual([
      ['UDP', '192.0.2.2', '390skdjuw'],
      ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'z9hG4bK30239'],
    ]);
    expect(msg.contact[0]?.displayName).toBe('Quoted string ""');
    expect(msg.contact[0]?.params).toEqual({ newparam: 'newvalue', secondparam: null, q: '0.33' });
    expect(msg.headers.get('NewFangledHeader')).toBe('newfangled value continued newfangled value');
    expect(msg.headers.get('subject')).toBe('');
    expect(msg.body.toString()).toMatch(/^v=0\r\n/);
  });

  it('intmeth and esc01: unusual methods, users and passwords', () => {
    const a = parseMessage(load('intmeth'));
    if (!a.ok || !a.message.isRequest()) throw new Error('intmeth did not parse');
    expect(a.message.method).toBe("!interesting-Method0123456789_*+`.%indeed'~");
    const uri = a.message.uri as SipUri;
    expect(uri.password).toBe("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    expect(uri.host).toBe('example.com');
    const b = parseMessage(load('esc01'));
    if (!b.ok || !b.message.isRequest()) throw new Error('esc01 did not parse');
    expect((b.message.uri as SipUri).user).toBe('sips%3Auser%40example.com');
  });

  it('semiuri: a ";" in the user part belongs to the user', () => {
    const result = parseMessage(load('semiuri'));
    if (!result.ok || !result.message.isRequest()) throw new Error('semiuri did not parse');
    const uri = result.message.uri as SipUri;
    expect([uri.user, uri.host, uri.params]).toEqual([
      'user;par=u%40example.net',
      'example.com',
      {},
    ]);
  });

  it('dblreq: only the first request of a datagram is read', () => {
    const result = parseMessage(load('dblreq'));
    if (!result.ok || !result.message.isRequest()) throw new Error('dblreq did not parse');
    expect(result.message.method).toBe('REGISTER');
    expect(result.message.body.length).toBe(0);
  });

  it('escnull and regescrt: escaped NUL and escaped headers inside <> are fine', () => {
    const a = parseMessage(load('escnull'));
    if (!a.ok) throw new Error(a.reason);
    expect(a.message.contact.map((c) => (c.uri as SipUri).user)).toEqual(['%00', '%00%00']);
    const b = parseMessage(load('regescrt'));
    if (!b.ok) throw new Error(b.reason);
    expect((b.message.contact[0]?.uri as SipUri).headers).toEqual({
      Route: '%3Csip:sip.example.com%3E',
    });
  });

  it('longreq (§3.1.1.7): long values and many headers', () => {
    const longName = 'a'.repeat(100);
    const vias = Array.from(
      { length: 40 },
      (_, i) => `Via: SIP/2.0/TCP sip${i}.example.com;branch=z9hG4bK${'x'.repeat(50)}${i}`,
    );
    const text = [
      `INVITE sip:${longName}@example.com SIP/2.0`,
      `To: "I have a user name of ${'extreme'.repeat(10)} proportion" <sip:${longName}@example.com:6000;unknownparam1=verylonguparamvalue${'y'.repeat(200)};unknownparam2>`,
      `From: sip:${'b'.repeat(200)}@example.net;tag=12982424;unknownheaderparamname${'z'.repeat(200)}=unknowheaderparamvalue;unknownValuelessparamname`,
      `Call-ID: longreq.${'c'.repeat(2000)}`,
      'CSeq: 1 INVITE',
      'Max-Forwards: 70',
      ...vias,
      `Contact: <sip:${longName}@host5.example.net>`,
      `Subject: ${'s'.repeat(5000)}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const result = parseMessage(Buffer.from(text));
    if (!result.ok) throw new Error(result.reason);
    expect(result.message.via).toHaveLength(40);
    expect(result.message.callId?.length).toBe(2008);
  });
});
