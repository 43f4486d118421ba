/**
 * RTP packets (RFC 3550 §5.1).
 *
 * ```text
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           timestamp                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           synchronization source (SSRC) identifier            |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |            contributing source (CSRC) identifiers             |
 * |                             ....                              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * The hot path (the relay) never decodes a packet into an object: it reads
 * and rewrites header fields in place on the received `Buffer` with the
 * functions below. {@link decodeRtp} / {@link encodeRtp} build and read whole
 * packets where an object is convenient (player, tests).
 *
 * @module
 */

import { VoxmeshError } from '@voxmesh/core';
import { MediaErrorCode } from './errors.js';

/** The fixed RTP header length in bytes (RFC 3550 §5.1). */
export const RTP_HEADER_LENGTH = 12;

/** An RTP header extension (RFC 3550 §5.3.1). */
export interface RtpExtension {
  /** The 16-bit profile-defined identifier. */
  profile: number;
  /** The extension data (a multiple of 4 bytes). */
  data: Uint8Array;
}

/** An RTP packet as an object. */
export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** Contributing sources. @defaultValue `[]` */
  csrcs?: readonly number[] | undefined;
  /** A header extension, if present. */
  extension?: RtpExtension | undefined;
  /** The payload (without padding). */
  payload: Uint8Array;
  /** Padding bytes appended (the last one counts them, RFC 3550 §5.1 P bit). @defaultValue `0` */
  padding?: number | undefined;
}

/**
 * Whether `buf` holds a valid RTP header, and where its payload starts.
 * Returns the payload offset, or `-1` when the packet is not valid RTP
 * (wrong version, truncated CSRC list or extension, bad padding).
 */
export function rtpPayloadOffset(buf: Uint8Array): number {
  if (buf.length < RTP_HEADER_LENGTH) return -1;
  const b0 = buf[0] as number;
  // RFC 3550 §5.1: V is 2.
  if (b0 >> 6 !== 2) return -1;
  let offset = RTP_HEADER_LENGTH + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words.
    if (buf.length < offset + 4) return -1;
    const words = ((buf[offset + 2] as number) << 8) | (buf[offset + 3] as number);
    offset += 4 + words * 4;
  }
  if (offset > buf.length) return -1;
  if (b0 & 0x20) {
    const pad = buf[buf.length - 1] as number;
    if (pad === 0 || offset + pad > buf.length) return -1;
  }
  return offset;
}

/** The payload length of a valid RTP packet whose payload starts at `offset` (padding excluded). */
export function rtpPayloadLength(buf: Uint8Array, offset: number): number {
  const pad = (buf[0] as number) & 0x20 ? (buf[buf.length - 1] as number) : 0;
  return buf.length - offset - pad;
}

/** The payload type (7 bits). */
export function rtpPayloadType(buf: Uint8Array): number {
  return (buf[1] as number) & 0x7f;
}

/** Sets the payload type in place, keeping the marker bit. */
export function setRtpPayloadType(buf: Uint8Array, pt: number): void {
  buf[1] = ((buf[1] as number) & 0x80) | (pt & 0x7f);
}

/** The marker bit. */
export function rtpMarker(buf: Uint8Array): boolean {
  return ((buf[1] as number) & 0x80) !== 0;
}

/** Sets the marker bit in place. */
export function setRtpMarker(buf: Uint8Array, marker: boolean): void {
  buf[1] = marker ? (buf[1] as number) | 0x80 : (buf[1] as number) & 0x7f;
}

/** The 16-bit sequence number. */
export function rtpSequence(buf: Uint8Array): number {
  return ((buf[2] as number) << 8) | (buf[3] as number);
}

/** Sets the sequence number in place (taken modulo 2^16). */
export function setRtpSequence(buf: Uint8Array, seq: number): void {
  buf[2] = (seq >>> 8) & 0xff;
  buf[3] = seq & 0xff;
}

/** The 32-bit timestamp. */
export function rtpTimestamp(buf: Uint8Array): number {
  return (
    (((buf[4] as number) << 24) |
      ((buf[5] as number) << 16) |
      ((buf[6] as number) << 8) |
      (buf[7] as number)) >>>
    0
  );
}

/** Sets the timestamp in place (taken modulo 2^32). */
export function setRtpTimestamp(buf: Uint8Array, ts: number): void {
  buf[4] = (ts >>> 24) & 0xff;
  buf[5] = (ts >>> 16) & 0xff;
  buf[6] = (ts >>> 8) & 0xff;
  buf[7] = ts & 0xff;
}

/** The 32-bit SSRC. */
export function rtpSsrc(buf: Uint8Array): number {
  return (
    (((buf[8] as number) << 24) |
      ((buf[9] as number) << 16) |
      ((buf[10] as number) << 8) |
      (buf[11] as number)) >>>
    0
  );
}

/** Sets the SSRC in place. */
export function setRtpSsrc(buf: Uint8Array, ssrc: number): void {
  buf[8] = (ssrc >>> 24) & 0xff;
  buf[9] = (ssrc >>> 16) & 0xff;
  buf[10] = (ssrc >>> 8) & 0xff;
  buf[11] = ssrc & 0xff;
}

/**
 * Whether a datagram on a multiplexed port is RTCP rather than RTP: packet
 * types 192–223 in the second byte (RFC 5761 §4).
 */
export function isRtcp(buf: Uint8Array): boolean {
  if (buf.length < 8 || (buf[0] as number) >> 6 !== 2) return false;
  const pt = buf[1] as number;
  return pt >= 192 && pt <= 223;
}

/** Decodes an RTP packet; throws `MEDIA_PACKET_INVALID` when it is not valid RTP. */
export function decodeRtp(buf: Uint8Array): RtpPacket {
  const offset = rtpPayloadOffset(buf);
  if (offset < 0) {
    throw new VoxmeshError(MediaErrorCode.PACKET_INVALID, 'Not a valid RTP packet');
  }
  const b0 = buf[0] as number;
  const cc = b0 & 0x0f;
  const csrcs: number[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < cc; i++) csrcs.push(view.getUint32(RTP_HEADER_LENGTH + i * 4));
  let extension: RtpExtension | undefined;
  if (b0 & 0x10) {
    const at = RTP_HEADER_LENGTH + cc * 4;
    const words = view.getUint16(at + 2);
    extension = { profile: view.getUint16(at), data: buf.subarray(at + 4, at + 4 + words * 4) };
  }
  const padding = b0 & 0x20 ? (buf[buf.length - 1] as number) : 0;
  return {
    payloadType: rtpPayloadType(buf),
    marker: rtpMarker(buf),
    sequenceNumber: rtpSequence(buf),
    timestamp: rtpTimestamp(buf),
    ssrc: rtpSsrc(buf),
    csrcs,
    extension,
    payload: buf.subarray(offset, buf.length - padding),
    padding,
  };
}

/** Encodes an RTP packet into a new Buffer. */
export function encodeRtp(packet: RtpPacket): Buffer {
  const csrcs = packet.csrcs ?? [];
  if (csrcs.length > 15) throw new RangeError('At most 15 CSRCs fit in an RTP header');
  const ext = packet.extension;
  if (ext && ext.data.length % 4 !== 0) {
    throw new RangeError('RTP header extension data must be a multiple of 4 bytes');
  }
  const padding = packet.padding ?? 0;
  if (padding < 0 || padding > 255) throw new RangeError('RTP padding must be 0–255 bytes');
  const headerLength = RTP_HEADER_LENGTH + csrcs.length * 4 + (ext ? 4 + ext.data.length : 0);
  // From Node's buffer pool (no ArrayBuffer per packet); every byte is written below.
  const buf = Buffer.allocUnsafe(headerLength + packet.payload.length + padding);
  buf[0] = 0x80 | (padding ? 0x20 : 0) | (ext ? 0x10 : 0) | csrcs.length;
  buf[1] = (packet.marker ? 0x80 : 0) | (packet.payloadType & 0x7f);
  setRtpSequence(buf, packet.sequenceNumber);
  setRtpTimestamp(buf, packet.timestamp);
  setRtpSsrc(buf, packet.ssrc);
  let at = RTP_HEADER_LENGTH;
  for (const csrc of csrcs) {
    buf.writeUInt32BE(csrc >>> 0, at);
    at += 4;
  }
  if (ext) {
    buf.writeUInt16BE(ext.profile, at);
    buf.writeUInt16BE(ext.data.length / 4, at + 2);
    buf.set(ext.data, at + 4);
    at += 4 + ext.data.length;
  }
  buf.set(packet.payload, at);
  if (padding) {
    buf.fill(0, at + packet.payload.length, buf.length - 1);
    buf[buf.length - 1] = padding;
  }
  return buf;
}
