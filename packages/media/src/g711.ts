/**
 * G.711 µ-law and A-law (ITU-T G.711) and 16-bit linear PCM (L16, RFC 3551
 * §4.5.11), by lookup table: decoding is one array read per sample, encoding
 * one read into a 64 k table, and PCMU↔PCMA transcoding one read per byte.
 *
 * @module
 */

const ULAW_BIAS = 0x84;
const ULAW_CLIP = 32635;

function ulawEncodeSample(sample: number): number {
  let s = sample;
  const sign = s < 0 ? 0x80 : 0;
  if (sign) s = -s;
  if (s > ULAW_CLIP) s = ULAW_CLIP;
  s += ULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function ulawDecodeSample(code: number): number {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

const ALAW_SEGMENT_END = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

function alawEncodeSample(sample: number): number {
  let s = sample >> 3;
  let mask: number;
  if (s >= 0) {
    mask = 0xd5;
  } else {
    mask = 0x55;
    s = -s - 1;
  }
  let segment = 0;
  while (segment < 8 && s > (ALAW_SEGMENT_END[segment] as number)) segment++;
  if (segment >= 8) return 0x7f ^ mask;
  let code = segment << 4;
  code |= segment < 2 ? (s >> 1) & 0x0f : (s >> segment) & 0x0f;
  return code ^ mask;
}

function alawDecodeSample(code: number): number {
  const a = code ^ 0x55;
  let t = (a & 0x0f) << 4;
  const segment = (a & 0x70) >> 4;
  if (segment === 0) t += 8;
  else {
    t += 0x108;
    if (segment > 1) t <<= segment - 1;
  }
  return a & 0x80 ? t : -t;
}

/** µ-law code → linear sample. */
export const ULAW_TO_LINEAR: Int16Array = new Int16Array(256);
/** A-law code → linear sample. */
export const ALAW_TO_LINEAR: Int16Array = new Int16Array(256);
/** Linear sample (as an unsigned 16-bit index) → µ-law code. */
export const LINEAR_TO_ULAW: Uint8Array = new Uint8Array(65536);
/** Linear sample (as an unsigned 16-bit index) → A-law code. */
export const LINEAR_TO_ALAW: Uint8Array = new Uint8Array(65536);
/** µ-law code → A-law code (through the linear value). */
export const ULAW_TO_ALAW: Uint8Array = new Uint8Array(256);
/** A-law code → µ-law code (through the linear value). */
export const ALAW_TO_ULAW: Uint8Array = new Uint8Array(256);

for (let i = 0; i < 256; i++) {
  ULAW_TO_LINEAR[i] = ulawDecodeSample(i);
  ALAW_TO_LINEAR[i] = alawDecodeSample(i);
}
for (let i = 0; i < 65536; i++) {
  const sample = i >= 32768 ? i - 65536 : i;
  LINEAR_TO_ULAW[i] = ulawEncodeSample(sample);
  LINEAR_TO_ALAW[i] = alawEncodeSample(sample);
}
for (let i = 0; i < 256; i++) {
  ULAW_TO_ALAW[i] = LINEAR_TO_ALAW[(ULAW_TO_LINEAR[i] as number) & 0xffff] as number;
  ALAW_TO_ULAW[i] = LINEAR_TO_ULAW[(ALAW_TO_LINEAR[i] as number) & 0xffff] as number;
}

/** Encodes linear samples to µ-law. */
export function encodeUlaw(samples: Int16Array, out = new Uint8Array(samples.length)): Uint8Array {
  for (let i = 0; i < samples.length; i++) {
    out[i] = LINEAR_TO_ULAW[(samples[i] as number) & 0xffff] as number;
  }
  return out;
}

/** Decodes µ-law to linear samples. */
export function decodeUlaw(codes: Uint8Array, out = new Int16Array(codes.length)): Int16Array {
  for (let i = 0; i < codes.length; i++) out[i] = ULAW_TO_LINEAR[codes[i] as number] as number;
  return out;
}

/** Encodes linear samples to A-law. */
export function encodeAlaw(samples: Int16Array, out = new Uint8Array(samples.length)): Uint8Array {
  for (let i = 0; i < samples.length; i++) {
    out[i] = LINEAR_TO_ALAW[(samples[i] as number) & 0xffff] as number;
  }
  return out;
}

/** Decodes A-law to linear samples. */
export function decodeAlaw(codes: Uint8Array, out = new Int16Array(codes.length)): Int16Array {
  for (let i = 0; i < codes.length; i++) out[i] = ALAW_TO_LINEAR[codes[i] as number] as number;
  return out;
}

/** Transcodes µ-law bytes to A-law in place (or into `out`). */
export function ulawToAlaw(codes: Uint8Array, out: Uint8Array = codes): Uint8Array {
  for (let i = 0; i < codes.length; i++) out[i] = ULAW_TO_ALAW[codes[i] as number] as number;
  return out;
}

/** Transcodes A-law bytes to µ-law in place (or into `out`). */
export function alawToUlaw(codes: Uint8Array, out: Uint8Array = codes): Uint8Array {
  for (let i = 0; i < codes.length; i++) out[i] = ALAW_TO_ULAW[codes[i] as number] as number;
  return out;
}

/** Encodes linear samples as L16: big-endian 16-bit (RFC 3551 §4.5.11). */
export function encodeL16(
  samples: Int16Array,
  out = new Uint8Array(samples.length * 2),
): Uint8Array {
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as number;
    out[i * 2] = (s >> 8) & 0xff;
    out[i * 2 + 1] = s & 0xff;
  }
  return out;
}

/** Decodes L16 (big-endian 16-bit) to linear samples; a trailing odd byte is ignored. */
export function decodeL16(bytes: Uint8Array, out = new Int16Array(bytes.length >> 1)): Int16Array {
  for (let i = 0; i < out.length; i++) {
    const v = ((bytes[i * 2] as number) << 8) | (bytes[i * 2 + 1] as number);
    out[i] = v >= 32768 ? v - 65536 : v;
  }
  return out;
}
