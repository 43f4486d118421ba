/**
 * The call recorder: writes a WAV file, either one mono mix of all legs or
 * one channel per leg, streamed to any writable (a file, a storage adapter's
 * upload stream). Paced by the shared {@link MediaClock}: every tick writes
 * 20 ms per channel, so the file keeps wall-clock time across silence and
 * packet loss. Each input has a small jitter buffer (two frames), and an
 * input that is playing may hold writing back for up to three ticks, so
 * packets that arrive late (a busy event loop) do not become gaps.
 *
 * @module
 */

import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { encodeAlaw, encodeUlaw } from './g711.js';
import type { MediaClock } from './media-clock.js';
import { FRAME_SAMPLES } from './player.js';
import { wavHeader, type WavEncoding } from './wav.js';

/** Options of {@link Recorder}. */
export interface RecorderOptions {
  /** The shared clock that paces writing. */
  mediaClock: MediaClock;
  /**
   * Where the WAV goes: a writable stream (the header then declares an
   * unknown length, which readers take as "to the end") or a file path (the
   * header is completed when the recording stops).
   */
  destination: Writable | { readonly path: string };
  /**
   * The number of inputs (legs).
   * @defaultValue `2`
   */
  inputs?: number | undefined;
  /**
   * `'mix'` writes one mono channel; `'per-input'` one channel per input.
   * @defaultValue `'mix'`
   */
  layout?: 'mix' | 'per-input' | undefined;
  /**
   * The sample encoding of the file.
   * @defaultValue `'pcm16'`
   */
  encoding?: WavEncoding | undefined;
  /**
   * The most audio buffered per input before the oldest is dropped, in ms.
   * @defaultValue `200`
   */
  maxBufferMs?: number | undefined;
}

/** What a finished recording holds. */
export interface RecordingSummary {
  /** Duration written, in milliseconds. */
  durationMs: number;
  /** Bytes of audio data written (header excluded). */
  dataBytes: number;
}

/** Ticks a late input may hold writing back before it counts as silent (60 ms). */
const HOLD_TICKS = 3;

class InputBuffer {
  chunks: Int16Array[] = [];
  length = 0;
  primed = false;
}

/** Records audio from one or more inputs into a WAV file. */
export class Recorder {
  readonly #clock: MediaClock;
  readonly #encoding: WavEncoding;
  readonly #layout: 'mix' | 'per-input';
  readonly #inputs: InputBuffer[];
  readonly #maxBuffer: number;
  readonly #destination: RecorderOptions['destination'];
  #stream: Writable | undefined;
  #path: string | undefined;
  #subscription: Disposable | undefined;
  #frames = 0;
  #dataBytes = 0;
  #stopped = false;
  #due = 0;
  #held = 0;

  constructor(options: RecorderOptions) {
    this.#clock = options.mediaClock;
    this.#encoding = options.encoding ?? 'pcm16';
    this.#layout = options.layout ?? 'mix';
    const inputs = options.inputs ?? 2;
    if (!Number.isInteger(inputs) || inputs < 1 || inputs > 16)
      throw new RangeError('inputs must be 1–16');
    this.#inputs = Array.from({ length: inputs }, () => new InputBuffer());
    this.#maxBuffer = Math.round(((options.maxBufferMs ?? 200) * 8000) / 1000);
    this.#destination = options.destination;
  }

  /** Opens the destination, writes the header and starts recording on the next tick. */
  async start(): Promise<void> {
    if (this.#subscription !== undefined || this.#stopped)
      throw new TypeError('A recorder starts once');
    const channels = this.#layout === 'mix' ? 1 : this.#inputs.length;
    const header = wavHeader({ encoding: this.#encoding, channels });
    if ('path' in this.#destination) {
      const { createWriteStream } = await import('node:fs');
      this.#path = this.#destination.path;
      this.#stream = createWriteStream(this.#path);
    } else {
      this.#stream = this.#destination;
    }
    this.#stream.write(header);
    this.#subscription = this.#clock.subscribe(() => {
      this.#tick();
    });
  }

  /** Feeds audio of input `index` (copied; call from a relay tap or endpoint). */
  write(index: number, samples: Int16Array): void {
    const input = this.#inputs[index];
    if (input === undefined || this.#stopped) return;
    input.chunks.push(Int16Array.from(samples));
    input.length += samples.length;
    while (input.length > this.#maxBuffer && input.chunks.length > 1) {
      input.length -= (input.chunks.shift() as Int16Array).length;
    }
    // Two frames of jitter buffer before an input plays (again).
    if (!input.primed && input.length >= FRAME_SAMPLES * 2) input.primed = true;
    this.#drain(false);
  }

  /** Stops recording, flushes, completes the header (file destinations) and closes. */
  async stop(): Promise<RecordingSummary> {
    if (this.#stopped) return this.#summary();
    this.#subscription?.[Symbol.dispose]();
    // Write what is due with what has arrived.
    for (const input of this.#inputs) if (input.length < FRAME_SAMPLES) input.primed = false;
    this.#drain(false);
    this.#stopped = true;
    const stream = this.#stream;
    if (stream !== undefined) {
      await new Promise<void>((resolve, reject) => {
        stream.once('error', reject);
        stream.end(() => {
          resolve();
        });
      });
    }
    if (this.#path !== undefined) {
      // Complete the RIFF and data sizes now that the length is known.
      const file = await open(this.#path, 'r+');
      try {
        const channels = this.#layout === 'mix' ? 1 : this.#inputs.length;
        const header = wavHeader({
          encoding: this.#encoding,
          channels,
          dataBytes: this.#dataBytes,
        });
        await file.write(header, 0, header.length, 0);
      } finally {
        await file.close();
      }
    }
    return this.#summary();
  }

  #summary(): RecordingSummary {
    return { durationMs: this.#frames * 20, dataBytes: this.#dataBytes };
  }

  #take(input: InputBuffer, out: Int16Array): void {
    if (!input.primed || input.length < FRAME_SAMPLES) return;
    let n = 0;
    while (n < FRAME_SAMPLES) {
      const chunk = input.chunks[0] as Int16Array;
      const take = Math.min(FRAME_SAMPLES - n, chunk.length);
      out.set(chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.length) input.chunks.shift();
      else input.chunks[0] = chunk.subarray(take);
    }
    input.length -= FRAME_SAMPLES;
  }

  #tick(): void {
    this.#due++;
    this.#drain(true);
  }

  /**
   * Writes the frames that are due. An input that is playing (primed) but
   * has no frame yet holds writing back for up to `HOLD_TICKS` ticks, so a
   * packet that is merely late does not become a gap; after that the input
   * counts as silent (and primes again with two frames).
   */
  #drain(fromTick: boolean): void {
    while (this.#due > 0) {
      const starving = this.#inputs.filter((i) => i.primed && i.length < FRAME_SAMPLES);
      if (starving.length > 0) {
        if (fromTick) this.#held++;
        if (this.#held <= HOLD_TICKS) return;
        for (const i of starving) i.primed = false;
      }
      this.#held = 0;
      this.#due--;
      this.#writeFrame();
    }
  }

  #writeFrame(): void {
    const stream = this.#stream;
    if (stream === undefined) return;
    const frames = this.#inputs.map((input) => {
      const frame = new Int16Array(FRAME_SAMPLES);
      this.#take(input, frame);
      return frame;
    });
    let pcm: Int16Array;
    if (this.#layout === 'mix') {
      pcm = new Int16Array(FRAME_SAMPLES);
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        let sum = 0;
        for (const f of frames) sum += f[i] as number;
        pcm[i] = sum > 32767 ? 32767 : sum < -32768 ? -32768 : sum;
      }
    } else {
      const ch = frames.length;
      pcm = new Int16Array(FRAME_SAMPLES * ch);
      for (let i = 0; i < FRAME_SAMPLES; i++) {
        for (let c = 0; c < ch; c++) pcm[i * ch + c] = (frames[c] as Int16Array)[i] as number;
      }
    }
    let bytes: Uint8Array;
    if (this.#encoding === 'ulaw') bytes = encodeUlaw(pcm);
    else if (this.#encoding === 'alaw') bytes = encodeAlaw(pcm);
    else {
      const buf = Buffer.alloc(pcm.length * 2);
      for (let i = 0; i < pcm.length; i++) buf.writeInt16LE(pcm[i] as number, i * 2);
      bytes = buf;
    }
    stream.write(bytes);
    this.#frames++;
    this.#dataBytes += bytes.length;
  }
}
