/**
 * The prompt player: plays 8 kHz audio in 20 ms frames paced by the shared
 * {@link MediaClock}, with stop, loop and barge-in.
 *
 * ```text
 *   idle ──play()──► playing ──end of prompt──► idle   (result 'completed'; loops restart instead)
 *                      │  stop() / signal ─────► idle   (result 'stopped')
 *                      └─ interrupt() with bargeIn ► idle (result 'interrupted')
 * ```
 *
 * @module
 */

import { VoxmeshError, type DtmfEvent } from '@voxmesh/core';
import { decodeAlaw, decodeUlaw } from './g711.js';
import { MediaErrorCode } from './errors.js';
import type { MediaClock } from './media-clock.js';
import { decodeWav, type WavEncoding } from './wav.js';

/** Samples in one 20 ms frame at 8 kHz. */
export const FRAME_SAMPLES = 160;

/** A prompt: a WAV file, raw encoded audio, or samples (all 8 kHz mono). */
export type PromptSource =
  | Uint8Array
  | { readonly samples: Int16Array }
  | { readonly raw: Uint8Array; readonly encoding: WavEncoding };

/**
 * Decodes a prompt to 8 kHz 16-bit samples. WAV files are read by walking
 * their chunks; a sample rate other than 8000 Hz is refused with
 * `MEDIA_WAV_INVALID` (convert with sox first).
 */
export function loadPrompt(source: PromptSource): Int16Array {
  if (source instanceof Uint8Array) {
    const wav = decodeWav(source);
    if (wav.sampleRate !== 8000) {
      throw new VoxmeshError(
        MediaErrorCode.WAV_INVALID,
        `Invalid WAV: prompts must be 8000 Hz, this one is ${wav.sampleRate} Hz`,
      );
    }
    return wav.samples;
  }
  if ('samples' in source) return source.samples;
  if (source.encoding === 'ulaw') return decodeUlaw(source.raw);
  if (source.encoding === 'alaw') return decodeAlaw(source.raw);
  const out = new Int16Array(source.raw.length >> 1);
  const view = new DataView(source.raw.buffer, source.raw.byteOffset, source.raw.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/** How a playback ended. */
export type PlayResult = 'completed' | 'stopped' | 'interrupted';

/** Options of {@link Player.play}. */
export interface PlayOptions {
  /**
   * Start again at the end, until stopped.
   * @defaultValue `false`
   */
  loop?: boolean | undefined;
  /**
   * Whether {@link Player.interrupt} (a DTMF digit, speech) ends the playback.
   * @defaultValue `true`
   */
  bargeIn?: boolean | undefined;
  /** Stops the playback (it then resolves `'stopped'`). */
  signal?: AbortSignal | undefined;
}

/** Options of {@link Player}. */
export interface PlayerOptions {
  /** The shared clock that paces the frames. */
  mediaClock: MediaClock;
  /** Receives each 20 ms frame (160 samples; reused, so copy to keep it). */
  sink: (frame: Int16Array) => void;
}

interface Playback {
  samples: Int16Array;
  position: number;
  loop: boolean;
  bargeIn: boolean;
  done: (result: PlayResult) => void;
}

/** Plays prompts into a sink, one 20 ms frame per media clock tick. */
export class Player {
  readonly #clock: MediaClock;
  readonly #sink: (frame: Int16Array) => void;
  readonly #frame = new Int16Array(FRAME_SAMPLES);
  #current: Playback | undefined;
  #subscription: Disposable | undefined;
  /** Frames sent since creation. */
  framesSent = 0;

  constructor(options: PlayerOptions) {
    this.#clock = options.mediaClock;
    this.#sink = options.sink;
  }

  /** Whether a prompt is playing. */
  get playing(): boolean {
    return this.#current !== undefined;
  }

  /**
   * Plays a prompt; resolves when it ends. Starting a new prompt stops the
   * current one (which resolves `'stopped'`).
   */
  play(prompt: PromptSource, options: PlayOptions = {}): Promise<PlayResult> {
    const samples = loadPrompt(prompt);
    this.stop();
    if (options.signal?.aborted) return Promise.resolve('stopped');
    return new Promise<PlayResult>((resolve) => {
      const onAbort = (): void => {
        if (this.#current === playback) this.#finish('stopped');
      };
      const playback: Playback = {
        samples,
        position: 0,
        loop: options.loop ?? false,
        bargeIn: options.bargeIn ?? true,
        done: (result) => {
          options.signal?.removeEventListener('abort', onAbort);
          resolve(result);
        },
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#current = playback;
      this.#subscription ??= this.#clock.subscribe(() => {
        this.#tick();
      });
    });
  }

  /** Stops the current prompt (it resolves `'stopped'`). */
  stop(): void {
    if (this.#current !== undefined) this.#finish('stopped');
  }

  /**
   * The barge-in hook: ends a prompt played with `bargeIn` (it resolves
   * `'interrupted'`). Returns whether a prompt was interrupted. Wire DTMF to
   * it with `endpoint.on('dtmf', (e) => player.interrupt(e))`.
   */
  interrupt(_cause?: DtmfEvent | string): boolean {
    if (this.#current?.bargeIn !== true) return false;
    this.#finish('interrupted');
    return true;
  }

  #tick(): void {
    const p = this.#current;
    if (p === undefined) return;
    const frame = this.#frame;
    let n = 0;
    while (n < FRAME_SAMPLES) {
      const take = Math.min(FRAME_SAMPLES - n, p.samples.length - p.position);
      // Copied sample by sample: no subarray view per frame.
      for (let i = 0; i < take; i++) frame[n + i] = p.samples[p.position + i] as number;
      if (take > 0) {
        n += take;
        p.position += take;
      }
      if (p.position >= p.samples.length) {
        if (p.loop && p.samples.length > 0) p.position = 0;
        else break;
      }
    }
    if (n > 0) {
      frame.fill(0, n);
      this.framesSent++;
      this.#sink(frame);
    }
    if (!p.loop && p.position >= p.samples.length) this.#finish('completed');
  }

  #finish(result: PlayResult): void {
    const p = this.#current;
    this.#current = undefined;
    this.#subscription?.[Symbol.dispose]();
    this.#subscription = undefined;
    p?.done(result);
  }
}
