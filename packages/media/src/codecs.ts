/**
 * The audio codecs the media plane speaks, and the RFC 3551 static payload
 * types.
 *
 * @module
 */

import { decodeAlaw, decodeL16, decodeUlaw, encodeAlaw, encodeL16, encodeUlaw } from './g711.js';

/** A codec name the media plane can encode and decode. */
export type AudioCodecName = 'PCMU' | 'PCMA' | 'L16';

/** An RTP payload format as SDP describes it (`a=rtpmap`, RFC 4566 §6). */
export interface PayloadFormat {
  /** The payload type number (0–127). */
  payloadType: number;
  /** The encoding name, e.g. `PCMU`, `telephone-event`. */
  name: string;
  /** The RTP clock rate in Hz. */
  clockRate: number;
  /** Audio channels. @defaultValue `1` */
  channels?: number | undefined;
  /** Format parameters (`a=fmtp`), e.g. `0-16` for telephone-event. */
  fmtp?: string | undefined;
}

/**
 * The static audio payload types of RFC 3551 §6 (Table 4), used when an SDP
 * lists a static payload type without an `a=rtpmap`.
 */
export const STATIC_PAYLOAD_TYPES: ReadonlyMap<number, PayloadFormat> = new Map(
  (
    [
      [0, 'PCMU', 8000],
      [3, 'GSM', 8000],
      [4, 'G723', 8000],
      [5, 'DVI4', 8000],
      [6, 'DVI4', 16000],
      [7, 'LPC', 8000],
      [8, 'PCMA', 8000],
      [9, 'G722', 8000],
      [10, 'L16', 44100, 2],
      [11, 'L16', 44100],
      [12, 'QCELP', 8000],
      [13, 'CN', 8000],
      [14, 'MPA', 90000],
      [15, 'G728', 8000],
      [16, 'DVI4', 11025],
      [17, 'DVI4', 22050],
      [18, 'G729', 8000],
    ] as const
  ).map(([payloadType, name, clockRate, channels]): [number, PayloadFormat] => [
    payloadType,
    { payloadType, name, clockRate, channels: channels ?? 1 },
  ]),
);

/** Encodes 16-bit linear samples into the payload of `codec`. */
export function encodeAudio(codec: AudioCodecName, samples: Int16Array): Uint8Array {
  switch (codec) {
    case 'PCMU':
      return encodeUlaw(samples);
    case 'PCMA':
      return encodeAlaw(samples);
    case 'L16':
      return encodeL16(samples);
  }
}

/** Decodes the payload of `codec` into 16-bit linear samples. */
export function decodeAudio(codec: AudioCodecName, payload: Uint8Array): Int16Array {
  switch (codec) {
    case 'PCMU':
      return decodeUlaw(payload);
    case 'PCMA':
      return decodeAlaw(payload);
    case 'L16':
      return decodeL16(payload);
  }
}

/** Bytes per sample of `codec` (G.711: 1, L16: 2). */
export function bytesPerSample(codec: AudioCodecName): number {
  return codec === 'L16' ? 2 : 1;
}

/** Whether `name` (case-insensitive) is a codec this package can encode and decode. */
export function isAudioCodec(name: string): name is AudioCodecName {
  return name === 'PCMU' || name === 'PCMA' || name === 'L16';
}
