import { describe, expect, it } from 'vitest';
import {
  NameAddr,
  SipHeaders,
  type SipRequest,
  type SipResponse,
  SipUri,
  TelUri,
  createResponse,
  parseMessage,
  parseNameAddr,
  parseUri,
  tryParseUri,
} from '@voxmesh/sip';

const INVITE = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport',
  'v: SIP/2.0/TCP proxy.example.com:5061;branch=z9hG4bK1, SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK2;received=192.0.2.9',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'f: "Alice \\"A\\" Liddell" <sip:alice@atlanta.example.com>;tag=1928301774',
  'i: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'm: <sip:alice@pc33.atlanta.example.com;transport=tcp>;expires=60;q=0.5, sip:alice@192.0.2.4',
  'Route: <sip:p1.example.com;lr>,<sip:p2.example.com;lr>',
  'Record-Route: <sip:rr.example.com;lr>',
  'k: 100rel, timer',
  'Require: timer',
  'Expires: 120',
  'Subject: first',
  '  line folded',
  'c: application/sdp',
  'l: 8',
  '',
  'v=0\r\nwé',
].join('\r\n');

function parseOk(text: string | Buffer): SipRequest | SipResponse {
  const result = parseMessage(typeof text === 'string' ? Buffer.from(text) : text);
  if (!result.ok) throw new Error(`parse failed: ${result.action} ${result.reason}`);
  return result.message;
}

describe('parseMessage', () => {
  it('parses a request with compact forms, lists, folding and a UTF-8 body', () => {
    const msg = parseOk(INVITE);
    expect(msg.isRequest()).toBe(true);
    if (!msg.isRequest()) return;
    expect(msg.method).toBe('INVITE');
    expect(msg.uri).toBeInstanceOf(SipUri);
    expect(msg.via.map((v) => [v.transport, v.host, v.port, v.branch])).toEqual([
      ['UDP', 'pc33.atlanta.example.com', undefined, 'z9hG4bK776asdhds'],
      ['TCP', 'proxy.example.com', 5061, 'z9hG4bK1'],
      ['UDP', '2001:db8::1', 5070, 'z9hG4bK2'],
    ]);
    expect(msg.topVia?.rport).toBe(true);
    expect(msg.via[2]?.received).toBe('192.0.2.9');
    expect(msg.from?.displayName).toBe('Alice "A" Liddell');
    expect(msg.from?.tag).toBe('1928301774');
    expect(msg.to?.tag).toBeUndefined();
    expect(msg.callId).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(msg.cseq).toEqual({ seq: 314159, method: 'INVITE' });
    expect(msg.contact).toHaveLength(2);
    expect(msg.contact[0]?.params).toEqual({ expires: '60', q: '0.5' });
    expect((msg.contact[0]?.uri as SipUri).params.transport).toBe('tcp');
    expect(msg.contact[1]?.uri.toString()).toBe('sip:alice@192.0.2.4');
    expect(msg.route.map((r) => (r.uri as SipUri).host)).toEqual([
      'p1.example.com',
      'p2.example.com',
    ]);
    expect(msg.recordRoute).toHaveLength(1);
    expect(msg.maxForwards).toBe(70);
    expect(msg.expires).toBe(120);
    expect(msg.supported).toEqual(['100rel', 'timer']);
    expect(msg.require).toEqual(['timer']);
    expect(msg.headers.get('subject')).toBe('first line folded');
    expect(msg.contentType).toBe('application/sdp');
    expect(msg.body.toString('utf8')).toBe('v=0\r\nwé');
    expect(msg.body.length).toBe(8);
  });

  it('round-trips through serialize with a byte-correct Content-Length', () => {
    const msg = parseOk(INVITE);
    const again = parseOk(msg.serialize());
    expect(again.headers.get('content-length')).toBe('8');
    expect(again.body.equals(msg.body)).toBe(true);
    expect([...again.headers]).toEqual(
      [...msg.headers]
        .filter((h) => h.name !== 'l')
        .concat([{ name: 'Content-Length', value: '8' }]),
    );
  });

  it('parses a response and ignores bytes beyond Content-Length (RFC 3261 §18.3)', () => {
    const msg = parseOk(
      'SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nTo: <sip:b@h>;tag=9\r\nFrom: <sip:a@h>;tag=1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 2\r\n\r\nabEXTRA',
    );
    expect(msg.isResponse() && msg.status).toBe(180);
    expect(msg.body.toString()).toBe('ab');
  });

  it('rejects a request whose CSeq method does not match with 400', () => {
    const result = parseMessage(
      Buffer.from(INVITE.replace('CSeq: 314159 INVITE', 'CSeq: 314159 ACK')),
    );
    expect(result.ok).toBe(false);
    if (result.ok || result.action !== 'reject') throw new Error('expected reject');
    expect(result.status).toBe(400);
    const response = createResponse(result.request, result.status, { reason: result.reason });
    expect(response.headers.getAll('via')).toEqual(result.request.headers.getAll('via'));
  });

  it('drops what cannot be answered', () => {
    expect(parseMessage(Buffer.from('hello world\r\n\r\n'))).toMatchObject({
      ok: false,
      action: 'drop',
    });
    expect(parseMessage(Buffer.from(''))).toMatchObject({ ok: false, action: 'drop' });
    expect(parseMessage(Buffer.from('SIP/2.0 200 OK\r\nTo: x\r\n\r\n'))).toMatchObject({
      ok: false,
      action: 'drop',
    });
    expect(parseMessage(Buffer.from(INVITE.replace(/^(Via|v): .*\r\n/gm, '')))).toMatchObject({
      ok: false,
      action: 'drop',
    });
  });

  it('answers a short body with 400 and another version with 505', () => {
    expect(parseMessage(Buffer.from(INVITE.replace('l: 8', 'l: 99')))).toMatchObject({
      action: 'reject',
      status: 400,
    });
    expect(parseMessage(Buffer.from(INVITE.replace('SIP/2.0\r\n', 'SIP/7.0\r\n')))).toMatchObject({
      action: 'reject',
      status: 505,
    });
  });
});

describe('createResponse (RFC 3261 §8.2.6)', () => {
  it('copies Via, From, To, Call-ID and CSeq and adds a To tag', () => {
    const request = parseOk(INVITE) as SipRequest;
    const response = createResponse(request, 486, { toTag: 'abc' });
    expect(response.status).toBe(486);
    expect(response.reason).toBe('Busy Here');
    expect(response.headers.getAll('via')).toEqual(request.headers.getAll('via'));
    expect(response.to?.tag).toBe('abc');
    expect(response.from?.tag).toBe('1928301774');
    expect(response.callId).toBe(request.callId);
    expect(response.cseq).toEqual(request.cseq);
    expect(response.headers.has('contact')).toBe(false);
    const wire = response.toString();
    expect(wire.startsWith('SIP/2.0 486 Busy Here\r\n')).toBe(true);
    expect(wire.endsWith('Content-Length: 0\r\n\r\n')).toBe(true);
  });
});

describe('SipHeaders', () => {
  it('looks up case-insensitively and by compact form, and edits in order', () => {
    const h = new SipHeaders([
      ['Via', 'a'],
      ['To', 't'],
      ['v', 'b'],
    ]);
    expect(h.getAll('VIA')).toEqual(['a', 'b']);
    h.prepend('Via', 'z');
    expect(h.getAll('v')).toEqual(['z', 'a', 'b']);
    h.set('via', 'only');
    expect([...h].map((f) => `${f.name}=${f.value}`)).toEqual(['Via=only', 'To=t']);
    h.append('call-id', 'c');
    expect([...h].at(-1)).toEqual({ name: 'Call-ID', value: 'c' });
    expect(h.remove('i')).toBe(1);
    expect(() => h.append('X', 'a\r\nInjected: 1')).toThrow(TypeError);
  });
});

describe('URIs and name-addr', () => {
  it('parses sip, sips, tel and other URIs', () => {
    const uri = parseUri('sips:alice:pw@[2001:db8::1]:5061;transport=tls;lr?subject=hi&x=1');
    expect(uri).toBeInstanceOf(SipUri);
    const sip = uri as SipUri;
    expect([sip.scheme, sip.user, sip.password, sip.host, sip.port]).toEqual([
      'sips',
      'alice',
      'pw',
      '2001:db8::1',
      5061,
    ]);
    expect(sip.params).toEqual({ transport: 'tls', lr: null });
    expect(sip.headers).toEqual({ subject: 'hi', x: '1' });
    expect(sip.toString()).toBe('sips:alice:pw@[2001:db8::1]:5061;transport=tls;lr?subject=hi&x=1');
    const tel = parseUri('tel:+1-201-555-0123;phone-context=example.com');
    expect(tel).toBeInstanceOf(TelUri);
    expect((tel as TelUri).number).toBe('+1-201-555-0123');
    expect(parseUri('sip:+1234;phone-context=x@example.com').toString()).toBe(
      'sip:+1234;phone-context=x@example.com',
    );
    expect(parseUri('mailto:a@b.example').scheme).toBe('mailto');
    expect(tryParseUri('sip:')).toBeUndefined();
    expect(tryParseUri('sip:host:99999')).toBeUndefined();
    expect(tryParseUri('sip:a b@host')).toBeUndefined();
    expect(() => parseUri('nonsense')).toThrow(/Invalid URI/);
  });

  it('parses name-addr and addr-spec forms and serialises them', () => {
    const a = parseNameAddr('sip:bob@example.com;tag=5');
    expect(a.tag).toBe('5');
    expect((a.uri as SipUri).params).toEqual({});
    const b = parseNameAddr('Bob Smith <sip:bob@example.com;transport=udp>;tag=5');
    expect(b.displayName).toBe('Bob Smith');
    expect(b.toString()).toBe('Bob Smith <sip:bob@example.com;transport=udp>;tag=5');
    const c = new NameAddr({ displayName: 'A "b"', uri: parseUri('sip:a@h') });
    expect(c.toString()).toBe('"A \\"b\\"" <sip:a@h>');
    expect(parseNameAddr(c.toString()).displayName).toBe('A "b"');
  });
});
