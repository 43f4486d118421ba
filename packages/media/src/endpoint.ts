/**
 * {@link RtpEndpoint}: a leg where media terminates — an IVR, voicemail or
 * a conference seat. It sends prompts from a {@link Player} as RTP, sends
 * digits as RFC 4733 events, detects DTMF (RFC 4733, and in-band with
 * Goertzel when no telephone-event was negotiated) and feeds received audio
 * to a recorder.
 *
 * @module
 */

import { TypedEventEmitter, type DtmfEvent } from '@voxmesh/core';
import {
  bytesPerSample,
  decodeAudioInto,
  encodeAudioInto,
  samplesIn,
  type AudioCodecName,
} from './codecs.js';
import { GoertzelDetector, Rfc4733Receiver, telephoneEventPackets } from './dtmf.js';
import type { MediaAddress, MediaLeg } from './leg.js';
import type { MediaClock } from './media-clock.js';
import { Player, type PlayOptions, type PlayResult, type PromptSource } from './player.js';
import {
  encodeRtp,
  rtpPayloadLength,
  rtpPayloadType,
  rtpTimestamp,
  setRtpSequence,
  setRtpSsrc,
  setRtpTimestamp,
} from './rtp.js';

/** Events of an {@link RtpEndpoint}. */
export interface RtpEndpointEvents {
  /** A digit arrived. */
  dtmf: [event: DtmfEvent];
  /** Decoded audio of each received packet (for recorders and analysis). */
  audio: [samples: Int16Array];
}

/** Options of {@link RtpEndpoint}. */
export interface RtpEndpointOptions {
  /** The leg (sockets and latching). */
  leg: MediaLeg;
  /** The shared clock that paces sending. */
  mediaClock: MediaClock;
  /** The negotiated audio codec. */
  codec: AudioCodecName;
  /** Its payload type. */
  payloadType: number;
  /** The negotiated telephone-event payload type, if any. */
  telephoneEventPayloadType?: number | undefined;
  /** Where to send until the peer's first packet latches the leg. */
  remote?: MediaAddress | undefined;
  /**
   * Detect in-band DTMF in received audio.
   * @defaultValue `true` when no telephone-event was negotiated
   */
  inbandDtmf?: boolean | undefined;
}

/** A media leg that plays, records and detects DTMF. */
export class RtpEndpoint extends TypedEventEmitter<RtpEndpointEvents> {
  readonly leg: MediaLeg;
  readonly player: Player;
  readonly #clock: MediaClock;
  readonly #codec: AudioCodecName;
  readonly #pt: number;
  readonly #tePt: number | undefined;
  readonly #rfc4733 = new Rfc4733Receiver();
  readonly #inband: GoertzelDetector | undefined;
  readonly #ssrc = (Math.random() * 0x1_0000_0000) >>> 0;
  #seq = Math.floor(Math.random() * 0x8000);
  #ts = (Math.random() * 0x8000_0000) >>> 0;
  #marker = true;
  #events: { payload: Uint8Array; marker: boolean; due: number; first: boolean; last: boolean }[] =
    [];
  #eventSub: Disposable | undefined;

  constructor(options: RtpEndpointOptions) {
    super();
    this.leg = options.leg;
    this.#clock = options.mediaClock;
    this.#codec = options.codec;
    this.#pt = options.payloadType;
    this.#tePt = options.telephoneEventPayloadType;
    if (options.remote) this.leg.setRemote(options.remote);
    const inband = options.inbandDtmf ?? this.#tePt === undefined;
    this.#inband = inband ? new GoertzelDetector() : undefined;
    this.player = new Player({
      mediaClock: this.#clock,
      sink: (frame) => {
        this.#sendFrame(frame);
      },
    });
    this.leg.onRtp = (packet, offset) => {
      this.#receive(packet, offset);
    };
  }

  /** Plays a prompt to the peer (see {@link Player.play}). */
  play(prompt: PromptSource, options: PlayOptions = {}): Promise<PlayResult> {
    return this.player.play(prompt, options);
  }

  /**
   * Sends digits as RFC 4733 events (RFC 4733 §2.5.1), one after another
   * with a pause of four packet times, paced by the media clock. Requires a
   * negotiated telephone-event payload type.
   */
  sendDigits(digits: string, options: { durationMs?: number } = {}): void {
    if (this.#tePt === undefined)
      throw new TypeError('No telephone-event payload type was negotiated');
    const durationMs = options.durationMs ?? 100;
    let due = this.#events.length === 0 ? 0 : (this.#events.at(-1)?.due ?? 0) + 4;
    if (this.#events.length === 0) this.#eventTicks = 0;
    else due = Math.max(due, this.#eventTicks);
    for (const digit of digits) {
      const packets = telephoneEventPackets({ digit, durationMs });
      packets.forEach((p, i) => {
        this.#events.push({
          payload: p.payload,
          marker: p.marker,
          due: due + p.atMs / 20,
          first: i === 0,
          last: i === packets.length - 1,
        });
      });
      due += (packets.at(-1)?.atMs ?? 0) / 20 + 4;
    }
    this.#eventSub ??= this.#clock.subscribe(() => {
      this.#flushEvents();
    });
  }

  #eventTicks = 0;
  #eventTimestamp = 0;

  #flushEvents(): void {
    const tick = this.#eventTicks++;
    while (this.#events.length > 0 && (this.#events[0]?.due ?? Infinity) <= tick) {
      const e = this.#events.shift();
      if (e === undefined) break;
      // Every packet of one event carries the timestamp of its start (RFC 4733 §2.5.1.2).
      if (e.first) this.#eventTimestamp = this.#ts;
      this.leg.send(
        encodeRtp({
          payloadType: this.#tePt ?? 101,
          marker: e.marker,
          sequenceNumber: this.#seq,
          timestamp: this.#eventTimestamp,
          ssrc: this.#ssrc,
          payload: e.payload,
        }),
      );
      this.#seq = (this.#seq + 1) & 0xffff;
      if (e.last) this.#ts = (this.#ts + ((e.payload[2] ?? 0) << 8) + (e.payload[3] ?? 0)) >>> 0;
    }
    if (this.#events.length === 0) {
      this.#eventSub?.[Symbol.dispose]();
      this.#eventSub = undefined;
    }
  }

  #sendFrame(frame: Int16Array): void {
    // The packet is built in one pooled buffer (the payload encoded straight
    // into it): no per-frame ArrayBuffer. A fresh buffer each time, as a send
    // may still be queued when the next frame is built.
    const packet = Buffer.allocUnsafe(12 + frame.length * bytesPerSample(this.#codec));
    packet[0] = 0x80;
    packet[1] = (this.#marker ? 0x80 : 0) | (this.#pt & 0x7f);
    setRtpSequence(packet, this.#seq);
    setRtpTimestamp(packet, this.#ts);
    setRtpSsrc(packet, this.#ssrc);
    encodeAudioInto(this.#codec, frame, packet, 12);
    this.leg.send(packet);
    this.#marker = false;
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#ts = (this.#ts + frame.length) >>> 0;
  }

  /** Decoded samples of the last packet, reused while nobody listens to `audio`. */
  #scratch = new Int16Array(160);

  #receive(packet: Buffer, offset: number): void {
    const pt = rtpPayloadType(packet);
    const end = offset + rtpPayloadLength(packet, offset);
    if (pt === this.#tePt) {
      for (const e of this.#rfc4733.push(rtpTimestamp(packet), packet.subarray(offset, end)))
        this.#digit(e);
      return;
    }
    if (pt !== this.#pt) return;
    const listening = this.listenerCount('audio') > 0;
    if (!listening && this.#inband === undefined) return;
    const n = samplesIn(this.#codec, end - offset);
    // `audio` listeners may keep what they get: they get their own array.
    let samples: Int16Array;
    if (listening) samples = new Int16Array(n);
    else {
      if (this.#scratch.length !== n) this.#scratch = new Int16Array(n);
      samples = this.#scratch;
    }
    decodeAudioInto(this.#codec, packet, offset, end, samples);
    if (this.#inband) for (const e of this.#inband.push(samples)) this.#digit(e);
    if (listening) this.emit('audio', samples);
  }

  #digit(event: DtmfEvent): void {
    this.emit('dtmf', event);
  }

  /** Stops playing and sending, and closes the leg. */
  close(): void {
    this.player.stop();
    this.#eventSub?.[Symbol.dispose]();
    this.#eventSub = undefined;
    this.#events = [];
    this.leg.close();
  }
}
