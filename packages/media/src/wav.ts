/**
 * WAV (RIFF WAVE) files: a reader that walks chunks (sox writes a `fact`
 * chunk before `data`, others add `LIST`; a 44-byte header is never assumed)
 * and a header writer for recordings.
 *
 * ```text
 * "RIFF" size "WAVE" { chunk-id chunk-size chunk-data [pad byte if size is odd] }...
 * ```
 *
 * @module
 */

import { VoxmeshError } from '@voxmesh/core';
import { MediaErrorCode } from './errors.js';
import { decodeAlaw, decodeUlaw } from './g711.js';

/** The sample encodings a WAV file may hold that the media plane understands. */
export type WavEncoding = 'pcm16' | 'ulaw' | 'alaw';

/** The `fmt ` chunk and data of a WAV file. */
export interface WavInfo {
  encoding: WavEncoding;
  sampleRate: number;
  channels: number;
  /** The sample bytes (`data` chunk), interleaved when there are several channels. */
  data: Uint8Array;
}

const FORMAT_PCM = 1;
const FORMAT_ALAW = 6;
const FORMAT_ULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;

function invalid(message: string): VoxmeshError {
  return new VoxmeshError(MediaErrorCode.WAV_INVALID, `Invalid WAV: ${message}`);
}

/**
 * Reads a WAV file held in memory. Throws `MEDIA_WAV_INVALID` when the file
 * is not RIFF/WAVE, lacks a `fmt ` or `data` chunk, or holds an encoding
 * other than 16-bit PCM, µ-law or A-law.
 */
export function readWav(file: Uint8Array): WavInfo {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const tag = (at: number): string =>
    String.fromCharCode(
      file[at] as number,
      file[at + 1] as number,
      file[at + 2] as number,
      file[at + 3] as number,
    );
  if (file.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') {
    throw invalid('not a RIFF/WAVE file');
  }
  let fmt: Omit<WavInfo, 'data'> | undefined;
  let data: Uint8Array | undefined;
  let at = 12;
  while (at + 8 <= file.length) {
    const id = tag(at);
    let size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'data' && body + size > file.length) {
      // A streamed recording leaves the size unknown (0xFFFFFFFF) or too large: take what is there.
      size = file.length - body;
    }
    if (body + size > file.length) throw invalid(`chunk '${id}' runs past the end of the file`);
    if (id === 'fmt ') {
      if (size < 16) throw invalid('fmt chunk shorter than 16 bytes');
      let format = view.getUint16(body, true);
      const channels = view.getUint16(body + 2, true);
      const sampleRate = view.getUint32(body + 4, true);
      const bits = view.getUint16(body + 14, true);
      if (format === FORMAT_EXTENSIBLE) {
        if (size < 40) throw invalid('WAVE_FORMAT_EXTENSIBLE fmt chunk shorter than 40 bytes');
        // The sub-format GUID starts with the format tag.
        format = view.getUint16(body + 24, true);
      }
      let encoding: WavEncoding;
      if (format === FORMAT_PCM && bits === 16) encoding = 'pcm16';
      else if (format === FORMAT_ULAW && bits === 8) encoding = 'ulaw';
      else if (format === FORMAT_ALAW && bits === 8) encoding = 'alaw';
      else throw invalid(`unsupported encoding (format ${format}, ${bits} bits per sample)`);
      if (channels < 1) throw invalid('zero channels');
      if (sampleRate < 1) throw invalid('zero sample rate');
      fmt = { encoding, sampleRate, channels };
    } else if (id === 'data') {
      data = file.subarray(body, body + size);
    }
    // Chunks are padded to an even size (RIFF).
    at = body + size + (size & 1);
  }
  if (fmt === undefined) throw invalid('no fmt chunk');
  if (data === undefined) throw invalid('no data chunk');
  return { ...fmt, data };
}

/**
 * Decodes a WAV file to mono 16-bit linear samples. Several channels are
 * mixed down. Throws `MEDIA_WAV_INVALID` for anything {@link readWav} rejects.
 */
export function decodeWav(file: Uint8Array): { sampleRate: number; samples: Int16Array } {
  const wav = readWav(file);
  let interleaved: Int16Array;
  if (wav.encoding === 'ulaw') interleaved = decodeUlaw(wav.data);
  else if (wav.encoding === 'alaw') interleaved = decodeAlaw(wav.data);
  else {
    interleaved = new Int16Array(wav.data.length >> 1);
    const view = new DataView(wav.data.buffer, wav.data.byteOffset, wav.data.byteLength);
    for (let i = 0; i < interleaved.length; i++) interleaved[i] = view.getInt16(i * 2, true);
  }
  if (wav.channels === 1) return { sampleRate: wav.sampleRate, samples: interleaved };
  const frames = Math.floor(interleaved.length / wav.channels);
  const mono = new Int16Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < wav.channels; c++) sum += interleaved[f * wav.channels + c] as number;
    mono[f] = Math.round(sum / wav.channels);
  }
  return { sampleRate: wav.sampleRate, samples: mono };
}

/** Options of {@link wavHeader}. */
export interface WavHeaderOptions {
  encoding: WavEncoding;
  /** @defaultValue `8000` */
  sampleRate?: number | undefined;
  /** @defaultValue `1` */
  channels?: number | undefined;
  /**
   * The size of the data chunk in bytes; when unknown (a stream), the
   * maximum, which readers take as "up to the end of the file".
   * @defaultValue `0xFFFFFFFF` minus the header
   */
  dataBytes?: number | undefined;
}

/** A 44-byte canonical WAV header (RIFF, `fmt `, `data`). */
export function wavHeader(options: WavHeaderOptions): Buffer {
  const channels = options.channels ?? 1;
  const sampleRate = options.sampleRate ?? 8000;
  const bytes = options.encoding === 'pcm16' ? 2 : 1;
  const dataBytes = options.dataBytes ?? 0xffffffff - 36;
  const format =
    options.encoding === 'pcm16'
      ? FORMAT_PCM
      : options.encoding === 'ulaw'
        ? FORMAT_ULAW
        : FORMAT_ALAW;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(Math.min(0xffffffff, 36 + dataBytes), 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(format, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * bytes, 28);
  h.writeUInt16LE(channels * bytes, 32);
  h.writeUInt16LE(bytes * 8, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}
