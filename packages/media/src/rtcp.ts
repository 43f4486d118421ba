/**
 * RTCP packets (RFC 3550 §6): sender and receiver reports, source
 * descriptions and BYE, in compound packets (§6.1). Packet types this module
 * does not know (feedback, XR, APP) are kept as {@link RtcpUnknown} so a
 * relay can forward them untouched.
 *
 * ```text
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|    RC   |   PT=SR=200   |             length            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         SSRC of sender                        |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |              NTP timestamp, most significant word             |
 * |             NTP timestamp, least significant word             |
 * |                         RTP timestamp                         |
 * |                     sender's packet count                     |
 * |                      sender's octet count                     |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                 SSRC_1 (SSRC of first source)                 |
 * | fraction lost |       cumulative number of packets lost       |
 * |           extended highest sequence number received           |
 * |                      interarrival jitter                      |
 * |                         last SR (LSR)                         |
 * |                   delay since last SR (DLSR)                  |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * ```
 *
 * @module
 */

import { VoxmeshError } from '@voxmesh/core';
import { MediaErrorCode } from './errors.js';

/** One reception report block (RFC 3550 §6.4.1). */
export interface RtcpReportBlock {
  /** The source this block reports on. */
  ssrc: number;
  /** Fraction of packets lost since the last report, as a fixed-point number /256. */
  fractionLost: number;
  /** Cumulative packets lost (24-bit signed). */
  packetsLost: number;
  /** Extended highest sequence number received. */
  highestSequence: number;
  /** Interarrival jitter in timestamp units. */
  jitter: number;
  /** The middle 32 bits of the NTP timestamp of the last SR received (0 if none). */
  lastSr: number;
  /** Delay since that SR, in units of 1/65536 s. */
  delaySinceLastSr: number;
}

/** A sender report (PT 200). */
export interface RtcpSenderReport {
  type: 'sr';
  ssrc: number;
  /** NTP timestamp, seconds since 1900 (most significant word). */
  ntpSeconds: number;
  /** NTP timestamp fraction (least significant word). */
  ntpFraction: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  reports: RtcpReportBlock[];
}

/** A receiver report (PT 201). */
export interface RtcpReceiverReport {
  type: 'rr';
  ssrc: number;
  reports: RtcpReportBlock[];
}

/** One SDES item (RFC 3550 §6.5): type 1 = CNAME, 2 = NAME, ... */
export interface RtcpSdesItem {
  type: number;
  text: string;
}

/** A source description chunk. */
export interface RtcpSdesChunk {
  ssrc: number;
  items: RtcpSdesItem[];
}

/** A source description packet (PT 202). */
export interface RtcpSourceDescription {
  type: 'sdes';
  chunks: RtcpSdesChunk[];
}

/** A goodbye packet (PT 203). */
export interface RtcpBye {
  type: 'bye';
  ssrcs: number[];
  reason?: string | undefined;
}

/** Any other RTCP packet, kept as raw bytes (header included). */
export interface RtcpUnknown {
  type: 'unknown';
  packetType: number;
  data: Uint8Array;
}

/** One packet of a compound RTCP packet. */
export type RtcpPacket =
  RtcpSenderReport | RtcpReceiverReport | RtcpSourceDescription | RtcpBye | RtcpUnknown;

/** RTCP packet types (RFC 3550 §12.1). */
export const RtcpPacketType = { SR: 200, RR: 201, SDES: 202, BYE: 203, APP: 204 } as const;

function invalid(message: string): VoxmeshError {
  return new VoxmeshError(MediaErrorCode.PACKET_INVALID, `Invalid RTCP: ${message}`);
}

function readBlocks(view: DataView, at: number, count: number): RtcpReportBlock[] {
  const blocks: RtcpReportBlock[] = [];
  for (let i = 0; i < count; i++, at += 24) {
    const lost = view.getUint32(at + 4) & 0xffffff;
    blocks.push({
      ssrc: view.getUint32(at),
      fractionLost: view.getUint8(at + 4),
      // 24-bit two's complement (RFC 3550 §6.4.1 "cumulative number of packets lost").
      packetsLost: lost & 0x800000 ? lost - 0x1000000 : lost,
      highestSequence: view.getUint32(at + 8),
      jitter: view.getUint32(at + 12),
      lastSr: view.getUint32(at + 16),
      delaySinceLastSr: view.getUint32(at + 20),
    });
  }
  return blocks;
}

/**
 * Decodes a compound RTCP packet (RFC 3550 §6.1). Throws
 * `MEDIA_PACKET_INVALID` when a length field runs past the datagram or the
 * version is not 2.
 */
export function decodeRtcp(buf: Uint8Array): RtcpPacket[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const packets: RtcpPacket[] = [];
  let at = 0;
  if (buf.length < 4) throw invalid('shorter than a header');
  while (at < buf.length) {
    if (at + 4 > buf.length) throw invalid('truncated header');
    const b0 = view.getUint8(at);
    if (b0 >> 6 !== 2) throw invalid(`version ${b0 >> 6}`);
    const count = b0 & 0x1f;
    const pt = view.getUint8(at + 1);
    // RFC 3550 §6.4.1: length in 32-bit words minus one, header included.
    const length = (view.getUint16(at + 2) + 1) * 4;
    if (at + length > buf.length) throw invalid('length runs past the datagram');
    let end = at + length;
    if (b0 & 0x20) {
      const pad = view.getUint8(end - 1);
      if (pad === 0 || pad > length - 4) throw invalid('bad padding');
      end -= pad;
    }
    const body = at + 4;
    switch (pt) {
      case RtcpPacketType.SR:
        if (body + 24 + count * 24 > end) throw invalid('SR too short for its report count');
        packets.push({
          type: 'sr',
          ssrc: view.getUint32(body),
          ntpSeconds: view.getUint32(body + 4),
          ntpFraction: view.getUint32(body + 8),
          rtpTimestamp: view.getUint32(body + 12),
          packetCount: view.getUint32(body + 16),
          octetCount: view.getUint32(body + 20),
          reports: readBlocks(view, body + 24, count),
        });
        break;
      case RtcpPacketType.RR:
        if (body + 4 + count * 24 > end) throw invalid('RR too short for its report count');
        packets.push({
          type: 'rr',
          ssrc: view.getUint32(body),
          reports: readBlocks(view, body + 4, count),
        });
        break;
      case RtcpPacketType.SDES: {
        const chunks: RtcpSdesChunk[] = [];
        let p = body;
        for (let i = 0; i < count; i++) {
          if (p + 4 > end) throw invalid('SDES chunk truncated');
          const chunk: RtcpSdesChunk = { ssrc: view.getUint32(p), items: [] };
          p += 4;
          // RFC 3550 §6.5: items end with a null octet, then pad to 32 bits.
          for (;;) {
            if (p >= end) throw invalid('SDES items not terminated');
            const type = view.getUint8(p);
            if (type === 0) break;
            if (p + 2 > end) throw invalid('SDES item truncated');
            const len = view.getUint8(p + 1);
            if (p + 2 + len > end) throw invalid('SDES item runs past the packet');
            chunk.items.push({
              type,
              text: Buffer.from(buf.buffer, buf.byteOffset + p + 2, len).toString('utf8'),
            });
            p += 2 + len;
          }
          p = (p + 4) & ~3;
          chunks.push(chunk);
        }
        packets.push({ type: 'sdes', chunks });
        break;
      }
      case RtcpPacketType.BYE: {
        // RFC 3550 §6.6.
        if (body + count * 4 > end) throw invalid('BYE too short for its source count');
        const ssrcs: number[] = [];
        for (let i = 0; i < count; i++) ssrcs.push(view.getUint32(body + i * 4));
        let reason: string | undefined;
        const r = body + count * 4;
        if (r < end) {
          const len = view.getUint8(r);
          if (r + 1 + len > end) throw invalid('BYE reason runs past the packet');
          reason = Buffer.from(buf.buffer, buf.byteOffset + r + 1, len).toString('utf8');
        }
        packets.push({ type: 'bye', ssrcs, reason });
        break;
      }
      default:
        packets.push({ type: 'unknown', packetType: pt, data: buf.subarray(at, at + length) });
    }
    at += length;
  }
  return packets;
}

function writeHeader(buf: Buffer, at: number, count: number, pt: number, length: number): void {
  buf[at] = 0x80 | (count & 0x1f);
  buf[at + 1] = pt;
  buf.writeUInt16BE(length / 4 - 1, at + 2);
}

function writeBlocks(buf: Buffer, at: number, blocks: readonly RtcpReportBlock[]): void {
  for (const b of blocks) {
    buf.writeUInt32BE(b.ssrc >>> 0, at);
    buf.writeUInt32BE((((b.fractionLost & 0xff) << 24) | (b.packetsLost & 0xffffff)) >>> 0, at + 4);
    buf.writeUInt32BE(b.highestSequence >>> 0, at + 8);
    buf.writeUInt32BE(b.jitter >>> 0, at + 12);
    buf.writeUInt32BE(b.lastSr >>> 0, at + 16);
    buf.writeUInt32BE(b.delaySinceLastSr >>> 0, at + 20);
    at += 24;
  }
}

/** The encoded size of one RTCP packet (validating what must fit its fields). */
function sizeOf(packet: RtcpPacket): number {
  switch (packet.type) {
    case 'sr':
      if (packet.reports.length > 31) throw new RangeError('At most 31 report blocks');
      return 28 + packet.reports.length * 24;
    case 'rr':
      if (packet.reports.length > 31) throw new RangeError('At most 31 report blocks');
      return 8 + packet.reports.length * 24;
    case 'sdes': {
      let size = 4;
      for (const chunk of packet.chunks) {
        let raw = 4;
        for (const item of chunk.items) {
          const length = Buffer.byteLength(item.text, 'utf8');
          if (length > 255) throw new RangeError('SDES item text is at most 255 bytes');
          raw += 2 + length;
        }
        // At least one null octet, padded to a 32-bit boundary (RFC 3550 §6.5).
        size += (raw + 4) & ~3;
      }
      return size;
    }
    case 'bye': {
      const reason = packet.reason === undefined ? -1 : Buffer.byteLength(packet.reason, 'utf8');
      if (reason > 255) throw new RangeError('BYE reason is at most 255 bytes');
      const raw = 4 + packet.ssrcs.length * 4 + (reason >= 0 ? 1 + reason : 0);
      return (raw + 3) & ~3;
    }
    case 'unknown':
      return packet.data.length;
  }
}

/** Writes one RTCP packet of `size` bytes at `at` into a zero-filled `buf`. */
function writeOne(packet: RtcpPacket, buf: Buffer, at: number, size: number): void {
  switch (packet.type) {
    case 'sr':
      writeHeader(buf, at, packet.reports.length, RtcpPacketType.SR, size);
      buf.writeUInt32BE(packet.ssrc >>> 0, at + 4);
      buf.writeUInt32BE(packet.ntpSeconds >>> 0, at + 8);
      buf.writeUInt32BE(packet.ntpFraction >>> 0, at + 12);
      buf.writeUInt32BE(packet.rtpTimestamp >>> 0, at + 16);
      buf.writeUInt32BE(packet.packetCount >>> 0, at + 20);
      buf.writeUInt32BE(packet.octetCount >>> 0, at + 24);
      writeBlocks(buf, at + 28, packet.reports);
      return;
    case 'rr':
      writeHeader(buf, at, packet.reports.length, RtcpPacketType.RR, size);
      buf.writeUInt32BE(packet.ssrc >>> 0, at + 4);
      writeBlocks(buf, at + 8, packet.reports);
      return;
    case 'sdes': {
      writeHeader(buf, at, packet.chunks.length, RtcpPacketType.SDES, size);
      let p = at + 4;
      for (const chunk of packet.chunks) {
        const start = p;
        buf.writeUInt32BE(chunk.ssrc >>> 0, p);
        p += 4;
        for (const item of chunk.items) {
          const length = buf.write(item.text, p + 2, 'utf8');
          buf[p] = item.type;
          buf[p + 1] = length;
          p += 2 + length;
        }
        // The null octet(s) are already zero.
        p = start + ((p - start + 4) & ~3);
      }
      return;
    }
    case 'bye': {
      writeHeader(buf, at, packet.ssrcs.length, RtcpPacketType.BYE, size);
      packet.ssrcs.forEach((s, i) => buf.writeUInt32BE(s >>> 0, at + 4 + i * 4));
      if (packet.reason !== undefined) {
        const r = at + 4 + packet.ssrcs.length * 4;
        buf[r] = buf.write(packet.reason, r + 1, 'utf8');
      }
      return;
    }
    case 'unknown':
      buf.set(packet.data, at);
      return;
  }
}

/**
 * Encodes RTCP packets into one compound packet (RFC 3550 §6.1), written
 * straight into one buffer from Node's pool: no intermediate buffers, as
 * reports go out for every leg every few seconds.
 */
export function encodeRtcp(packets: readonly RtcpPacket[]): Buffer {
  let total = 0;
  const sizes: number[] = [];
  for (const p of packets) {
    const size = sizeOf(p);
    sizes.push(size);
    total += size;
  }
  const buf = Buffer.allocUnsafe(total).fill(0);
  let at = 0;
  packets.forEach((p, i) => {
    const size = sizes[i] as number;
    writeOne(p, buf, at, size);
    at += size;
  });
  return buf;
}

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_EPOCH_OFFSET = 2_208_988_800;

/** Converts Unix milliseconds to an NTP timestamp `[seconds, fraction]` (RFC 3550 §4). */
export function toNtp(unixMs: number): [seconds: number, fraction: number] {
  const seconds = Math.floor(unixMs / 1000);
  const fraction = Math.floor(((unixMs - seconds * 1000) / 1000) * 0x1_0000_0000);
  return [(seconds + NTP_EPOCH_OFFSET) >>> 0, fraction >>> 0];
}

/** The middle 32 bits of an NTP timestamp: what LSR carries (RFC 3550 §6.4.1). */
export function ntpMiddle(seconds: number, fraction: number): number {
  return (((seconds & 0xffff) << 16) | (fraction >>> 16)) >>> 0;
}
