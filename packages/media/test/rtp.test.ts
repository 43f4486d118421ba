import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VoxmeshError } from '@voxmesh/core';
import {
  decodeRtcp,
  decodeRtp,
  encodeRtcp,
  encodeRtp,
  isRtcp,
  MediaErrorCode,
  rtpPayloadOffset,
  rtpSequence,
  rtpSsrc,
  rtpTimestamp,
  setRtpSequence,
  setRtpSsrc,
  setRtpTimestamp,
  setRtpPayloadType,
  rtpPayloadType,
  rtpMarker,
} from '@voxmesh/media';
import {
  RTCP_SR_SDES_BYE,
  RTP_DTMF_END,
  RTP_PCMA_CSRC_EXT_PAD,
  RTP_PCMU_MARKER,
} from './fixtures/packets.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

describe('RTP golden packets', () => {
  for (const [name, fixture] of Object.entries({ RTP_PCMU_MARKER, RTP_PCMA_CSRC_EXT_PAD })) {
    it(`${name} decodes to its fields and re-encodes to the same bytes`, () => {
      const bytes = hex(fixture.hex);
      const packet = decodeRtp(bytes);
      expect(packet).toMatchObject(fixture.fields);
      expect(Buffer.from(packet.payload).toString('hex')).toBe(fixture.payloadHex);
      expect(encodeRtp(packet).toString('hex')).toBe(fixture.hex);
    });
  }

  it('reads and rewrites header fields in place', () => {
    const bytes = hex(RTP_PCMU_MARKER.hex);
    expect(rtpPayloadOffset(bytes)).toBe(12);
    expect(rtpSequence(bytes)).toBe(0x1234);
    expect(rtpTimestamp(bytes)).toBe(0xabcdef);
    expect(rtpSsrc(bytes)).toBe(0xdeadbeef);
    expect(rtpMarker(bytes)).toBe(true);
    setRtpSequence(bytes, 0x10001);
    setRtpTimestamp(bytes, 0x1_0000_0005);
    setRtpSsrc(bytes, 0xcafebabe);
    setRtpPayloadType(bytes, 8);
    expect(bytes.toString('hex')).toBe('80880001' + '00000005' + 'cafebabe' + 'fffe7f00');
    expect(rtpPayloadType(bytes)).toBe(8);
    expect(rtpMarker(bytes)).toBe(true);
  });

  it('finds the payload past CSRCs and the extension', () => {
    expect(rtpPayloadOffset(hex(RTP_PCMA_CSRC_EXT_PAD.hex))).toBe(12 + 8 + 8);
  });

  it('rejects what is not RTP', () => {
    expect(rtpPayloadOffset(hex('00'))).toBe(-1);
    expect(rtpPayloadOffset(hex('40000000000000000000000000'))).toBe(-1); // version 1
    expect(rtpPayloadOffset(hex('8f00000000000000000000000000'))).toBe(-1); // 15 CSRCs, truncated
    expect(rtpPayloadOffset(hex('900000000000000000000000beef0009'))).toBe(-1); // extension too long
    expect(rtpPayloadOffset(hex('a000000000000000000000000000'))).toBe(-1); // padding 0
    expect(() => decodeRtp(hex('00'))).toThrow(VoxmeshError);
    try {
      decodeRtp(hex('1234'));
    } catch (error) {
      expect(VoxmeshError.is(error, MediaErrorCode.PACKET_INVALID)).toBe(true);
    }
  });

  it('never throws anything but MEDIA_PACKET_INVALID on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          const p = decodeRtp(bytes);
          expect(p.payload.length).toBeGreaterThanOrEqual(0);
        } catch (error) {
          expect(VoxmeshError.is(error, MediaErrorCode.PACKET_INVALID)).toBe(true);
        }
        try {
          decodeRtcp(bytes);
        } catch (error) {
          expect(VoxmeshError.is(error, MediaErrorCode.PACKET_INVALID)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips arbitrary packets', () => {
    fc.assert(
      fc.property(
        fc.record({
          payloadType: fc.integer({ min: 0, max: 127 }),
          marker: fc.boolean(),
          sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
          timestamp: fc.integer({ min: 0, max: 0xffffffff }),
          ssrc: fc.integer({ min: 0, max: 0xffffffff }),
          csrcs: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 15 }),
          payload: fc.uint8Array({ maxLength: 200 }),
          padding: fc.integer({ min: 0, max: 40 }),
        }),
        (packet) => {
          const decoded = decodeRtp(encodeRtp(packet));
          expect({ ...decoded, payload: [...decoded.payload], extension: undefined }).toEqual({
            ...packet,
            payload: [...packet.payload],
            extension: undefined,
          });
        },
      ),
    );
  });
});

describe('RTCP golden packets', () => {
  it('decodes a compound SR + SDES + BYE and re-encodes it byte for byte', () => {
    const bytes = hex(RTCP_SR_SDES_BYE.hex);
    expect(isRtcp(bytes)).toBe(true);
    const packets = decodeRtcp(bytes);
    expect(packets).toEqual(RTCP_SR_SDES_BYE.packets);
    expect(encodeRtcp(packets).toString('hex')).toBe(RTCP_SR_SDES_BYE.hex);
  });

  it('tells RTP from RTCP on a multiplexed port (RFC 5761)', () => {
    expect(isRtcp(hex(RTP_PCMU_MARKER.hex))).toBe(false);
    expect(isRtcp(hex(RTP_DTMF_END.hex))).toBe(false);
  });

  it('keeps unknown packet types as raw bytes', () => {
    const app = hex('80cc0002' + '11111111' + '41424344');
    const packets = decodeRtcp(app);
    expect(packets).toHaveLength(1);
    expect(packets[0]).toMatchObject({ type: 'unknown', packetType: 204 });
    expect(Buffer.from((packets[0] as { data: Uint8Array }).data).equals(app)).toBe(true);
    expect(encodeRtcp(packets).equals(app)).toBe(true);
  });

  it('rejects lengths that run past the datagram', () => {
    expect(() => decodeRtcp(hex('81c800ff11111111'))).toThrow(/length runs past/);
    expect(() => decodeRtcp(hex('81ca000111111111'))).toThrow(/SDES/);
  });
});
