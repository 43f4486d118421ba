/**
 * The audio codecs the media plane speaks, and the RFC 3551 static payload
 * types.
 *
 * @module
 */

import {
  ALAW_TO_LINEAR,
  decodeAlaw,
  decodeL16,
  decodeUlaw,
  encodeAlaw,
  encodeL16,
  encodeUlaw,
  LINEAR_TO_ALAW,
  LINEAR_TO_ULAW,
  ULAW_TO_LINEAR,
} from './g711.js';

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

/**
 * Encodes `samples` into `target` from `offset` (which must have room for
 * them); returns the bytes written. No allocation: for per-frame paths.
 */
export function encodeAudioInto(
  codec: AudioCodecName,
  samples: Int16Array,
  target: Uint8Array,
  offset: number,
): number {
  const n = samples.length;
  if (codec === 'L16') {
    for (let i = 0; i < n; i++) {
      const s = samples[i] as number;
      target[offset + i * 2] = (s >> 8) & 0xff;
      target[offset + i * 2 + 1] = s & 0xff;
    }
    return n * 2;
  }
  const table = codec === 'PCMU' ? LINEAR_TO_ULAW : LINEAR_TO_ALAW;
  for (let i = 0; i < n; i++) target[offset + i] = table[(samples[i] as number) & 0xffff] as number;
  return n;
}

/**
 * Decodes the payload bytes `source[start..end)` of `codec` into `out`
 * (which must have room for them); returns the samples written. No
 * allocation: for per-packet paths.
 */
export function decodeAudioInto(
  codec: AudioCodecName,
  source: Uint8Array,
  start: number,
  end: number,
  out: Int16Array,
): number {
  if (codec === 'L16') {
    const n = (end - start) >> 1;
    for (let i = 0; i < n; i++) {
      const v = ((source[start + i * 2] as number) << 8) | (source[start + i * 2 + 1] as number);
      out[i] = v >= 32768 ? v - 65536 : v;
    }
    return n;
  }
  const table = codec === 'PCMU' ? ULAW_TO_LINEAR : ALAW_TO_LINEAR;
  const n = end - start;
  for (let i = 0; i < n; i++) out[i] = table[source[start + i] as number] as number;
  return n;
}

/** Samples in `bytes` payload bytes of `codec`. */
export function samplesIn(codec: AudioCodecName, bytes: number): number {
  return codec === 'L16' ? bytes >> 1 : bytes;
}

/** Bytes per sample of `codec` (G.711: 1, L16: 2). */
export function bytesPerSample(codec: AudioCodecName): number {
  return codec === 'L16' ? 2 : 1;
}

/** Whether `name` (case-insensitive) is a codec this package can encode and decode. */
export function isAudioCodec(name: string): name is AudioCodecName {
  return name === 'PCMU' || name === 'PCMA' || name === 'L16';
}
