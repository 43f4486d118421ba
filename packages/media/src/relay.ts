/**
 * The relay (media anchoring) between two legs of a call.
 *
 * Each direction is a straight pipe with no jitter buffer: a packet from one
 * leg is checked, its header rewritten in place (payload type, and SSRC,
 * sequence number and timestamp so the far side sees one continuous stream
 * even when the source changes, e.g. after a transfer or re-INVITE), its
 * payload transcoded PCMU↔PCMA in place when the legs negotiated different
 * codecs, and sent on. RFC 4733 telephone-events are passed through (with
 * the far leg's payload type) or intercepted, and reported as digits either
 * way. Taps see each audio payload after the packet was sent, so recording
 * never delays forwarding.
 *
 * @module
 */

import type { DtmfEvent, DtmfMode } from '@voxmesh/core';
import { decodeAudio, type AudioCodecName } from './codecs.js';
import { Rfc4733Receiver } from './dtmf.js';
import {
  alawToUlaw,
  decodeL16,
  encodeAlaw,
  encodeL16,
  encodeUlaw,
  decodeAlaw,
  decodeUlaw,
  ulawToAlaw,
} from './g711.js';
import type { MediaLeg } from './leg.js';
import {
  rtpMarker,
  rtpPayloadLength,
  rtpPayloadType,
  rtpSequence,
  rtpSsrc,
  rtpTimestamp,
  setRtpMarker,
  setRtpPayloadType,
  setRtpSequence,
  setRtpSsrc,
  setRtpTimestamp,
} from './rtp.js';

/** What a leg negotiated: its audio codec and telephone-event payload types. */
export interface RelayLegMedia {
  /** The audio codec on this leg. */
  codec: AudioCodecName;
  /** The payload type of that codec on this leg. */
  payloadType: number;
  /** The telephone-event payload type on this leg, when negotiated. */
  telephoneEventPayloadType?: number | undefined;
  /**
   * Whether this leg's peer wants to receive media (its negotiated direction
   * is sendrecv or recvonly).
   * @defaultValue `true`
   */
  receives?: boolean | undefined;
}

/** A tap on one direction: receives the decoded audio of each forwarded packet. */
export type RelayTap = (samples: Int16Array, from: 'a' | 'b') => void;

/** Events the relay reports through its callbacks. */
export interface RelayCallbacks {
  /** A DTMF digit arrived from leg `from`. */
  onDtmf?: ((from: 'a' | 'b', event: DtmfEvent) => void) | undefined;
}

/** Counters of one direction. */
export interface RelayDirectionCounters {
  forwarded: number;
  transcoded: number;
  dropped: number;
  dtmfPackets: number;
}

class Direction {
  readonly counters: RelayDirectionCounters = {
    forwarded: 0,
    transcoded: 0,
    dropped: 0,
    dtmfPackets: 0,
  };
  readonly dtmf = new Rfc4733Receiver();
  readonly outSsrc = (Math.random() * 0x1_0000_0000) >>> 0;
  inSsrc: number | undefined;
  seqOffset = 0;
  tsOffset = 0;
  lastOutSeq = Math.floor(Math.random() * 0x8000);
  lastOutTs = (Math.random() * 0x8000_0000) >>> 0;
  lastInTs = 0;
  hold = false;
}

/** Relays RTP between leg `a` and leg `b`. */
export class RtpRelay {
  readonly a: MediaLeg;
  readonly b: MediaLeg;
  #mediaA: RelayLegMedia;
  #mediaB: RelayLegMedia;
  dtmfMode: DtmfMode = 'pass-through';
  readonly #ab = new Direction();
  readonly #ba = new Direction();
  readonly #taps = new Set<RelayTap>();
  readonly #callbacks: RelayCallbacks;

  constructor(
    options: {
      a: MediaLeg;
      b: MediaLeg;
      mediaA: RelayLegMedia;
      mediaB: RelayLegMedia;
    } & RelayCallbacks,
  ) {
    this.a = options.a;
    this.b = options.b;
    this.#mediaA = options.mediaA;
    this.#mediaB = options.mediaB;
    this.#callbacks = options;
    this.a.onRtp = (packet, offset) => {
      this.#forward(packet, offset, this.#ab, this.#mediaA, this.#mediaB, this.b, 'a');
    };
    this.b.onRtp = (packet, offset) => {
      this.#forward(packet, offset, this.#ba, this.#mediaB, this.#mediaA, this.a, 'b');
    };
  }

  /** Updates what the legs negotiated (after a re-INVITE). */
  setMedia(mediaA: RelayLegMedia, mediaB: RelayLegMedia): void {
    this.#mediaA = mediaA;
    this.#mediaB = mediaB;
  }

  /** Stops (or resumes) forwarding media that comes from `leg`. */
  setHold(leg: 'a' | 'b', hold: boolean): void {
    (leg === 'a' ? this.#ab : this.#ba).hold = hold;
  }

  /** Counters of the direction from `leg`. */
  counters(from: 'a' | 'b'): RelayDirectionCounters {
    return { ...(from === 'a' ? this.#ab : this.#ba).counters };
  }

  /** Adds a tap (e.g. a recorder); returns a `Disposable` that removes it. */
  tap(tap: RelayTap): Disposable {
    this.#taps.add(tap);
    return { [Symbol.dispose]: () => this.#taps.delete(tap) };
  }

  #forward(
    packet: Buffer,
    offset: number,
    dir: Direction,
    inMedia: RelayLegMedia,
    outMedia: RelayLegMedia,
    out: MediaLeg,
    from: 'a' | 'b',
  ): void {
    const pt = rtpPayloadType(packet);
    if (pt === inMedia.telephoneEventPayloadType) {
      dir.counters.dtmfPackets++;
      const payload = packet.subarray(offset, offset + rtpPayloadLength(packet, offset));
      for (const event of dir.dtmf.push(rtpTimestamp(packet), payload))
        this.#callbacks.onDtmf?.(from, event);
      if (this.dtmfMode === 'intercept' || outMedia.telephoneEventPayloadType === undefined) {
        dir.counters.dropped++;
        return;
      }
      this.#rewrite(packet, dir, outMedia.telephoneEventPayloadType);
      this.#send(packet, dir, outMedia, out);
      return;
    }
    if (pt !== inMedia.payloadType) {
      // Comfort noise or a codec not negotiated: not forwarded.
      dir.counters.dropped++;
      return;
    }
    let data: Buffer = packet;
    let codec = inMedia.codec;
    if (inMedia.codec !== outMedia.codec) {
      data = this.#transcode(packet, offset, inMedia.codec, outMedia.codec);
      codec = outMedia.codec;
      dir.counters.transcoded++;
    }
    this.#rewrite(data, dir, outMedia.payloadType);
    this.#send(data, dir, outMedia, out);
    if (this.#taps.size > 0) {
      const samples = decodeAudio(
        codec,
        data.subarray(offset, offset + rtpPayloadLength(data, offset)),
      );
      for (const tap of this.#taps) tap(samples, from);
    }
  }

  #send(packet: Buffer, dir: Direction, outMedia: RelayLegMedia, out: MediaLeg): void {
    if (dir.hold || outMedia.receives === false) {
      dir.counters.dropped++;
      return;
    }
    out.send(packet);
    dir.counters.forwarded++;
  }

  #rewrite(packet: Buffer, dir: Direction, outPt: number): void {
    const ssrc = rtpSsrc(packet);
    const seq = rtpSequence(packet);
    const ts = rtpTimestamp(packet);
    if (ssrc !== dir.inSsrc) {
      // A new source: continue the outgoing sequence and timestamp where the
      // old source left off (RFC 3550 §8.2 / RFC 7667 §3.2.1.2 translator).
      dir.inSsrc = ssrc;
      dir.seqOffset = (dir.lastOutSeq + 1 - seq) & 0xffff;
      dir.tsOffset = (dir.lastOutTs + 160 - ts) >>> 0;
      setRtpMarker(packet, true);
    } else if (rtpMarker(packet)) {
      setRtpMarker(packet, true);
    }
    const outSeq = (seq + dir.seqOffset) & 0xffff;
    const outTs = (ts + dir.tsOffset) >>> 0;
    setRtpSequence(packet, outSeq);
    setRtpTimestamp(packet, outTs);
    setRtpSsrc(packet, dir.outSsrc);
    setRtpPayloadType(packet, outPt);
    dir.lastOutSeq = outSeq;
    dir.lastOutTs = outTs;
    dir.lastInTs = ts;
  }

  #transcode(packet: Buffer, offset: number, from: AudioCodecName, to: AudioCodecName): Buffer {
    const end = offset + rtpPayloadLength(packet, offset);
    const payload = packet.subarray(offset, end);
    if ((from === 'PCMU' && to === 'PCMA') || (from === 'PCMA' && to === 'PCMU')) {
      if (from === 'PCMU') ulawToAlaw(payload);
      else alawToUlaw(payload);
      // Padding (if any) is cut off with the tail: clear the P bit.
      packet[0] = (packet[0] as number) & ~0x20;
      return packet.subarray(0, end);
    }
    // Through linear PCM (L16 on one side): the payload changes size.
    const samples =
      from === 'PCMU'
        ? decodeUlaw(payload)
        : from === 'PCMA'
          ? decodeAlaw(payload)
          : decodeL16(payload);
    const encoded =
      to === 'PCMU'
        ? encodeUlaw(samples)
        : to === 'PCMA'
          ? encodeAlaw(samples)
          : encodeL16(samples);
    const header = packet.subarray(0, offset);
    const out = Buffer.allocUnsafe(offset + encoded.length);
    header.copy(out, 0);
    // Padding is dropped with the old payload.
    out[0] = (out[0] as number) & ~0x20;
    out.set(encoded, offset);
    return out;
  }
}
