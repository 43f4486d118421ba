import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VoxmeshError } from '@voxmesh/core';
import {
  answerDirection,
  createAnswer,
  isHold,
  MediaErrorCode,
  parseSdp,
  writeSdp,
} from '@voxmesh/media';

const crlf = (lines: string[]): string => lines.join('\r\n') + '\r\n';

const OFFER = crlf([
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 18 0 8 101',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=rtcp-mux',
  'a=sendrecv',
  'm=video 51372 RTP/AVP 96',
  'a=rtpmap:96 H264/90000',
]);

const G711 = [
  { payloadType: 0, name: 'PCMU', clockRate: 8000 },
  { payloadType: 8, name: 'PCMA', clockRate: 8000 },
];

describe('parseSdp', () => {
  it('fills static payload types without rtpmap from RFC 3551', () => {
    const s = parseSdp(OFFER);
    const audio = s.media[0]!;
    expect(audio.formats.map((f) => [f.payloadType, f.name, f.clockRate])).toEqual([
      [18, 'G729', 8000],
      [0, 'PCMU', 8000],
      [8, 'PCMA', 8000],
      [101, 'telephone-event', 8000],
    ]);
    expect(audio.formats[3]!.fmtp).toBe('0-16');
    expect(audio).toMatchObject({
      port: 49170,
      address: '192.0.2.10',
      rtcpMux: true,
      ptime: 20,
      direction: 'sendrecv',
    });
    expect(s.media[1]).toMatchObject({ type: 'video', port: 51372 });
  });

  it('writes what it parsed', () => {
    const s = parseSdp(OFFER);
    expect(parseSdp(writeSdp(s))).toEqual(s);
  });

  it('reads hold in both styles (direction attribute and 0.0.0.0)', () => {
    const old = parseSdp(OFFER.replace(/c=IN IP4 192.0.2.10/, 'c=IN IP4 0.0.0.0'));
    expect(isHold(old.media[0]!)).toBe(true);
    const sendonly = parseSdp(OFFER.replace('a=sendrecv', 'a=sendonly'));
    expect(sendonly.media[0]!.direction).toBe('sendonly');
    expect(isHold(sendonly.media[0]!)).toBe(true);
    expect(isHold(parseSdp(OFFER).media[0]!)).toBe(false);
  });

  const hostile: [string, string][] = [
    ['empty', ''],
    ['not SDP', 'hello world'],
    ['no v=0', OFFER.replace('v=0', 'v=1')],
    ['no origin', OFFER.replace(/o=.*\r\n/, '')],
    ['port out of range', OFFER.replace('49170', '70000')],
    ['payload type out of range', OFFER.replace('18 0 8 101', '0 300')],
    ['payload type not a number', OFFER.replace('18 0 8 101', '0 x')],
    ['no connection address', OFFER.replace('c=IN IP4 192.0.2.10\r\n', '')],
    ['bad clock rate', OFFER.replace('telephone-event/8000', 'telephone-event/0')],
    ['bad ptime', OFFER.replace('a=ptime:20', 'a=ptime:-5')],
    ['NUL byte', OFFER.replace('s=-', 's=\0')],
    ['huge', OFFER + 'a=x:' + 'y'.repeat(70_000) + '\r\n'],
    ['too many m= lines', OFFER + 'm=audio 1 RTP/AVP 0\r\n'.repeat(20)],
    [
      'too many formats',
      OFFER.replace('18 0 8 101', Array.from({ length: 100 }, (_, i) => i).join(' ')),
    ],
  ];
  for (const [name, body] of hostile) {
    it(`refuses hostile SDP with MEDIA_SDP_INVALID: ${name}`, () => {
      let caught: unknown;
      try {
        parseSdp(body);
      } catch (error) {
        caught = error;
      }
      expect(VoxmeshError.is(caught, MediaErrorCode.SDP_INVALID), String(caught)).toBe(true);
    });
  }

  it('never throws anything but MEDIA_SDP_INVALID on mangled offers', () => {
    const lines = OFFER.split('\r\n');
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom(...lines), fc.string({ maxLength: 40 })), {
          maxLength: 30,
        }),
        (parts) => {
          const body = ['v=0', ...parts].join('\r\n');
          try {
            const s = parseSdp(body);
            for (const m of s.media) {
              expect(m.port).toBeGreaterThanOrEqual(0);
              expect(m.port).toBeLessThanOrEqual(65535);
            }
          } catch (error) {
            expect(VoxmeshError.is(error, MediaErrorCode.SDP_INVALID), String(error)).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('createAnswer (RFC 3264)', () => {
  it('picks the first offered codec we support, keeps the offer payload types, mirrors mux and ptime', () => {
    const a = createAnswer({
      offer: OFFER,
      codecs: [...G711].reverse(),
      address: '203.0.113.5',
      port: 30000,
    });
    expect(a.codec).toMatchObject({ payloadType: 0, name: 'PCMU' });
    expect(a.telephoneEvent).toMatchObject({ payloadType: 101 });
    const s = parseSdp(a.sdp);
    expect(s.media).toHaveLength(2);
    expect(s.media[0]).toMatchObject({
      port: 30000,
      address: '203.0.113.5',
      rtcpMux: true,
      ptime: 20,
      direction: 'sendrecv',
    });
    expect(s.media[0]!.formats.map((f) => f.payloadType)).toEqual([0, 101]);
    // The video stream is rejected with port 0 (RFC 3264 §6).
    expect(s.media[1]).toMatchObject({ type: 'video', port: 0 });
  });

  it('maps dynamic payload types by name, not number', () => {
    const offer = OFFER.replace('18 0 8 101', '97 98').replace(
      'a=rtpmap:101 telephone-event/8000',
      'a=rtpmap:97 pcma/8000\r\na=rtpmap:98 telephone-event/8000',
    );
    const a = createAnswer({ offer, codecs: G711, address: '127.0.0.1', port: 4000 });
    expect(a.codec).toMatchObject({ payloadType: 97, name: 'pcma' });
    expect(a.telephoneEvent).toMatchObject({ payloadType: 98 });
  });

  it('answers hold with the mirrored direction and omits rtcp-mux when not offered', () => {
    const offer = OFFER.replace('a=sendrecv', 'a=sendonly').replace('a=rtcp-mux\r\n', '');
    const a = createAnswer({ offer, codecs: G711, address: '127.0.0.1', port: 4000 });
    const m = parseSdp(a.sdp).media[0]!;
    expect(m.direction).toBe('recvonly');
    expect(m.rtcpMux).toBe(false);
    expect(m.rtcpPort).toBe(4001);
    expect(answerDirection('recvonly')).toBe('sendonly');
    expect(answerDirection('inactive')).toBe('inactive');
    expect(answerDirection('sendrecv', 'sendonly')).toBe('sendonly');
  });

  it('refuses an offer without a common codec', () => {
    const offer = OFFER.replace('18 0 8 101', '18');
    let caught: unknown;
    try {
      createAnswer({ offer, codecs: G711, address: '127.0.0.1', port: 4000 });
    } catch (error) {
      caught = error;
    }
    expect(VoxmeshError.is(caught, MediaErrorCode.SDP_NO_COMMON_CODEC)).toBe(true);
  });
});
