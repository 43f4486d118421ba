import { describe, expect, it } from 'vitest';
import { Dialog, SipRequest, SipResponse, parseNameAddr } from '@voxmesh/sip';

function invite(): SipRequest {
  return new SipRequest({
    method: 'INVITE',
    uri: 'sip:bob@example.com',
    headers: [
      ['Via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc'],
      ['Record-Route', '<sip:p1.example.com;lr>'],
      ['Record-Route', '<sip:p2.example.com;lr>'],
      ['From', '<sip:alice@example.com>;tag=a1'],
      ['To', '<sip:bob@example.com>'],
      ['Call-ID', 'c1'],
      ['CSeq', '10 INVITE'],
      ['Contact', '<sip:alice@192.0.2.1:5060>'],
    ],
  });
}

const contact = parseNameAddr('<sip:me@192.0.2.9:5060>');

describe('Dialog (RFC 3261 §12)', () => {
  it('UAS side: route set in Record-Route order, remote target from Contact, tags swapped', () => {
    const d = Dialog.fromRequest(invite(), 'b1', contact, 'confirmed');
    expect(d.id).toBe('c1\nb1\na1');
    expect(d.routeSet.map((r) => r.toString())).toEqual([
      '<sip:p1.example.com;lr>',
      '<sip:p2.example.com;lr>',
    ]);
    expect(d.remoteTarget.toString()).toBe('sip:alice@192.0.2.1:5060');
    const bye = d.createRequest('BYE');
    expect(bye.uri.toString()).toBe('sip:alice@192.0.2.1:5060');
    expect(bye.headers.getAll('Route')).toEqual([
      '<sip:p1.example.com;lr>',
      '<sip:p2.example.com;lr>',
    ]);
    expect(bye.from?.tag).toBe('b1');
    expect(bye.to?.tag).toBe('a1');
    expect(bye.cseq).toEqual({ seq: 1, method: 'BYE' });
    expect(bye.headers.has('Contact')).toBe(false);
  });

  it('UAC side: route set is Record-Route reversed; CSeq continues from the INVITE', () => {
    const request = invite();
    const response = new SipResponse({
      status: 200,
      headers: [
        ['Record-Route', '<sip:p1.example.com;lr>, <sip:p2.example.com;lr>'],
        ['From', '<sip:alice@example.com>;tag=a1'],
        ['To', '<sip:bob@example.com>;tag=b1'],
        ['Call-ID', 'c1'],
        ['CSeq', '10 INVITE'],
        ['Contact', '<sip:bob@198.51.100.2:5070>'],
      ],
    });
    const d = Dialog.fromResponse(request, response, contact);
    expect(d.state).toBe('confirmed');
    expect(d.routeSet.map((r) => r.uri.toString())).toEqual([
      'sip:p2.example.com;lr',
      'sip:p1.example.com;lr',
    ]);
    const reinvite = d.createRequest('INVITE', { body: 'v=0\r\n', contentType: 'application/sdp' });
    expect(reinvite.cseq?.seq).toBe(11);
    expect(reinvite.uri.toString()).toBe('sip:bob@198.51.100.2:5070');
    expect(reinvite.headers.get('Contact')).toBe('<sip:me@192.0.2.9:5060>');
    expect(reinvite.headers.get('Content-Type')).toBe('application/sdp');
    const ack = d.createRequest('ACK', { cseq: 10 });
    expect(ack.cseq).toEqual({ seq: 10, method: 'ACK' });
  });

  it('strict routing: the first route becomes the Request-URI and the remote target goes last', () => {
    const request = invite();
    request.headers.set('Record-Route', ['<sip:strict.example.com>']);
    const d = Dialog.fromRequest(request, 'b1', contact, 'confirmed');
    const bye = d.createRequest('BYE');
    expect(bye.uri.toString()).toBe('sip:strict.example.com');
    expect(bye.headers.getAll('Route')).toEqual(['<sip:alice@192.0.2.1:5060>']);
  });

  it('refuses requests whose CSeq does not increase, except ACK and CANCEL', () => {
    const d = Dialog.fromRequest(invite(), 'b1', contact, 'confirmed');
    const req = (seq: number, method: string) => {
      const r = invite();
      r.method = method;
      r.headers.set('CSeq', `${seq} ${method}`);
      return r;
    };
    expect(d.acceptRemoteSeq(req(10, 'ACK'))).toBe(true);
    expect(d.acceptRemoteSeq(req(10, 'BYE'))).toBe(false);
    expect(d.acceptRemoteSeq(req(11, 'INFO'))).toBe(true);
    expect(d.acceptRemoteSeq(req(11, 'INFO'))).toBe(false);
  });

  it('needs tags and a Call-ID', () => {
    const request = invite();
    request.headers.set('From', '<sip:alice@example.com>');
    expect(() => Dialog.fromRequest(request, 'b1', contact, 'early')).toThrow(TypeError);
  });
});
