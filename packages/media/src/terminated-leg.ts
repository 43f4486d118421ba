/**
 * {@link TerminatedLeg}: a leg of a media session where the media plane is
 * the peer — it plays prompts, records, and detects DTMF (RFC 4733, or
 * in-band when no telephone-event was negotiated). The
 * {@link InProcessMediaController} uses it for the terminated legs of core's
 * `TerminatingMediaController`; it is built on {@link RtpEndpoint} (DTMF
 * detection, G.711) and its {@link Player}, paced by one shared
 * {@link MediaClock}. Recordings follow the sender's RTP timestamps (gaps
 * filled with silence), so a busy event loop does not change their length.
 *
 * ```text
 *   attach(media) ──► endpoint (player, DTMF detection, audio for the recorder)
 *   play():   idle ──► playing ──end──► completed | digit ► interrupted | stopPlay ► stopped | close ► hangup
 *   record(): [beep] ──► recording ──► max-duration | silence | finish-key | stopped | hangup
 *   detach(): play and record stop; the leg's packets go to the relay
 * ```
 *
 * @module
 */

import { stat, readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import {
  ErrorCode,
  VoxmeshError,
  type DtmfEvent,
  type MediaPlayResult,
  type MediaPrompt,
  type MediaRecordResult,
} from '@voxmesh/core';
import type { AudioCodecName } from './codecs.js';
import { RtpEndpoint } from './endpoint.js';
import { encodeAlaw, encodeUlaw } from './g711.js';
import type { MediaLeg } from './leg.js';
import type { MediaClock } from './media-clock.js';
import { loadPrompt } from './player.js';
import { rtpTimestamp } from './rtp.js';
import { wavHeader, type WavEncoding } from './wav.js';

/** What a terminated leg negotiated. */
export interface TerminatedLegMedia {
  /** The audio codec. */
  codec: AudioCodecName;
  /** Its payload type. */
  payloadType: number;
  /** The telephone-event payload type, when negotiated. */
  telephoneEventPayloadType?: number | undefined;
  /**
   * Whether media may be sent to the peer (RFC 3264 §6.1: not when it put
   * us on hold with `sendonly`/`inactive`, or gave the hold address). Prompts
   * still run their course while it is `false`, silently.
   * @defaultValue `true`
   */
  sends?: boolean | undefined;
}

/** Options of {@link TerminatedLeg}. */
export interface TerminatedLegOptions {
  /** The leg's sockets. */
  leg: MediaLeg;
  /** The shared clock that paces playing and recording. */
  mediaClock: MediaClock;
  /** Receives every digit from the leg (before it interrupts a prompt or ends a recording). */
  onDtmf: (event: DtmfEvent) => void;
}

/** Options of {@link TerminatedLeg.play}. */
export interface TerminatedLegPlayOptions {
  /** `'any'`: a digit, or voice (above {@link SILENCE_RMS} for {@link VOICE_BARGE_IN_MS}). @defaultValue `'none'` */
  bargeIn?: 'none' | 'dtmf' | 'any' | undefined;
  /** @defaultValue every key */
  bargeInKeys?: string | undefined;
  /** @defaultValue `1` */
  loop?: number | 'forever' | undefined;
}

/** Options of {@link TerminatedLeg.record}. */
export interface TerminatedLegRecordOptions {
  /** Where the WAV goes; ended when the recording ends. */
  sink: Writable;
  /** @defaultValue `120000` */
  maxDurationMs?: number | undefined;
  /** @defaultValue no silence detection */
  silenceTimeoutMs?: number | undefined;
  /** @defaultValue none */
  finishOnKey?: string | undefined;
  /** @defaultValue `false` */
  beep?: boolean | undefined;
  /** @defaultValue `'pcm16'` */
  encoding?: WavEncoding | undefined;
}

/**
 * Frames whose RMS level is at or below this count as silence (about
 * −41 dBFS: line noise, comfort noise and G.711 idle patterns stay under it).
 */
export const SILENCE_RMS = 300;

/** How long a caller must speak to barge in on a prompt played with `bargeIn: 'any'`, in milliseconds. */
export const VOICE_BARGE_IN_MS = 100;

/** The longest tone or silence prompt, in milliseconds. */
const MAX_SYNTH_MS = 600_000;

/** Samples of a sine tone at 8 kHz (about −12 dBFS). */
export function toneSamples(hz: number, durationMs: number): Int16Array {
  const n = Math.round((durationMs * 8000) / 1000);
  const out = new Int16Array(n);
  const w = (2 * Math.PI * hz) / 8000;
  for (let i = 0; i < n; i++) out[i] = Math.round(8000 * Math.sin(w * i));
  return out;
}

const BEEP = toneSamples(1000, 250);

interface CachedPrompt {
  mtimeMs: number;
  size: number;
  samples: Int16Array;
}

/** Decoded prompt files by path, checked against the file's size and mtime. */
export class PromptCache {
  readonly #entries = new Map<string, CachedPrompt>();
  readonly #max: number;

  constructor(options: { maxEntries?: number | undefined } = {}) {
    this.#max = options.maxEntries ?? 256;
  }

  /** Reads and decodes a WAV prompt (8 kHz mono), from the cache when unchanged. */
  async load(path: string): Promise<Int16Array> {
    let info: { mtimeMs: number; size: number };
    try {
      info = await stat(path);
    } catch (error) {
      throw new VoxmeshError(ErrorCode.NOT_FOUND, `Prompt file not found: ${path}`, {
        cause: error,
      });
    }
    const cached = this.#entries.get(path);
    if (cached !== undefined && cached.mtimeMs === info.mtimeMs && cached.size === info.size) {
      // Most recently used last.
      this.#entries.delete(path);
      this.#entries.set(path, cached);
      return cached.samples;
    }
    const samples = loadPrompt(new Uint8Array(await readFile(path)));
    this.#entries.delete(path);
    this.#entries.set(path, { mtimeMs: info.mtimeMs, size: info.size, samples });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    return samples;
  }
}

function badPrompt(message: string): VoxmeshError {
  return new VoxmeshError(ErrorCode.INVALID_INPUT, `Invalid prompt: ${message}`);
}

/**
 * Turns prompts into one stream of samples: files through `cache`, tones
 * and silence synthesised. Throws `INVALID_INPUT` for a malformed prompt,
 * `NOT_FOUND` for a missing file and `MEDIA_WAV_INVALID` for a file that is
 * not an 8 kHz WAV.
 */
export async function promptSamples(
  prompts: readonly MediaPrompt[],
  cache: PromptCache,
): Promise<Int16Array> {
  if (!Array.isArray(prompts)) throw badPrompt('prompts must be an array');
  if (prompts.length > 1000) throw badPrompt('more than 1000 prompts');
  const parts: Int16Array[] = [];
  for (const prompt of prompts as readonly unknown[]) {
    if (typeof prompt !== 'object' || prompt === null) throw badPrompt('not an object');
    const p = prompt as Record<string, unknown>;
    if (typeof p.file === 'string') {
      if (p.file === '') throw badPrompt('empty file path');
      parts.push(await cache.load(p.file));
    } else if (typeof p.toneHz === 'number') {
      const ms = p.durationMs;
      if (!(p.toneHz > 0 && p.toneHz < 4000))
        throw badPrompt(`toneHz ${p.toneHz} not in (0, 4000)`);
      if (typeof ms !== 'number' || !(ms >= 0 && ms <= MAX_SYNTH_MS))
        throw badPrompt(`durationMs must be 0–${MAX_SYNTH_MS}`);
      parts.push(toneSamples(p.toneHz, ms));
    } else if (typeof p.silenceMs === 'number') {
      const ms = p.silenceMs;
      if (!(ms >= 0 && ms <= MAX_SYNTH_MS)) throw badPrompt(`silenceMs must be 0–${MAX_SYNTH_MS}`);
      parts.push(new Int16Array(Math.round((ms * 8000) / 1000)));
    } else {
      throw badPrompt('needs file, toneHz with durationMs, or silenceMs');
    }
  }
  if (parts.length === 1) return parts[0] as Int16Array;
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface ActivePlay {
  bargeIn: 'none' | 'dtmf' | 'any';
  keys: string | undefined;
  /** Samples of voice heard in a row (for `'any'`). */
  voiced: number;
  reason: MediaPlayResult['reason'] | undefined;
  digit: string | undefined;
  endpoint: RtpEndpoint;
}

/** A leg where media terminates: see the module documentation. */
export class TerminatedLeg {
  readonly leg: MediaLeg;
  readonly #mediaClock: MediaClock;
  readonly #onDtmf: (event: DtmfEvent) => void;
  #endpoint: RtpEndpoint | undefined;
  #media: TerminatedLegMedia | undefined;
  #play: ActivePlay | undefined;
  #recording: LegRecording | undefined;
  #packetTimestamp = 0;
  #closed = false;

  constructor(options: TerminatedLegOptions) {
    this.leg = options.leg;
    this.#mediaClock = options.mediaClock;
    this.#onDtmf = options.onDtmf;
    // What the endpoint sends passes here, so a peer that holds us hears nothing;
    // once the leg is relayed, everything passes.
    const send = this.leg.send.bind(this.leg);
    this.leg.send = (packet) => {
      if (this.#endpoint === undefined || this.#media?.sends !== false) send(packet);
    };
  }

  /** What was negotiated, once it was. */
  get media(): TerminatedLegMedia | undefined {
    return this.#media;
  }

  /** Whether the leg plays and records (negotiated and not handed to the relay). */
  get attached(): boolean {
    return this.#endpoint !== undefined;
  }

  /**
   * Starts (or restarts, after a re-negotiation or a relay hand-over ended)
   * terminating media with `media`. A prompt playing on an earlier endpoint
   * stops (`stopped`); a recording continues.
   */
  attach(media: TerminatedLegMedia): void {
    if (this.#closed) return;
    const same =
      this.#endpoint !== undefined &&
      this.#media !== undefined &&
      this.#media.codec === media.codec &&
      this.#media.payloadType === media.payloadType &&
      this.#media.telephoneEventPayloadType === media.telephoneEventPayloadType;
    this.#media = media;
    if (same) return;
    this.#stopPlay('stopped');
    const endpoint = new RtpEndpoint({
      leg: this.leg,
      mediaClock: this.#mediaClock,
      codec: media.codec,
      payloadType: media.payloadType,
      telephoneEventPayloadType: media.telephoneEventPayloadType,
    });
    endpoint.on('dtmf', (event) => {
      this.#digit(event);
    });
    endpoint.on('audio', (samples) => {
      this.#recording?.write(samples, this.#packetTimestamp);
      this.#voice(samples);
    });
    // The recording follows the sender's timeline: note each packet's RTP timestamp.
    const deliver = this.leg.onRtp;
    this.leg.onRtp = (packet, offset) => {
      this.#packetTimestamp = rtpTimestamp(packet);
      deliver?.(packet, offset);
    };
    this.#endpoint = endpoint;
  }

  /** Hands the leg's packets over to a relay: play and record stop (`stopped`). */
  detach(): void {
    this.#stopPlay('stopped');
    this.#recording?.stop('stopped');
    this.#endpoint?.player.stop();
    this.#endpoint = undefined;
  }

  /**
   * Plays samples to the peer. A play in progress stops (`stopped`). The
   * play takes the leg at once, so a stop that comes while `samples` (a
   * function, e.g. loading files) is still pending ends it too.
   */
  async play(
    source: Int16Array | (() => Promise<Int16Array>),
    options: TerminatedLegPlayOptions = {},
  ): Promise<MediaPlayResult> {
    const endpoint = this.#requireEndpoint();
    const loop = options.loop ?? 1;
    if (loop !== 'forever' && !(Number.isInteger(loop) && loop >= 0)) {
      throw badPrompt(`loop must be an integer ≥ 0 or 'forever', got ${String(loop)}`);
    }
    this.#stopPlay('stopped');
    const active: ActivePlay = {
      bargeIn: options.bargeIn ?? 'none',
      keys: options.bargeInKeys,
      voiced: 0,
      reason: undefined,
      digit: undefined,
      endpoint,
    };
    this.#play = active;
    let before: number;
    try {
      const samples = typeof source === 'function' ? await source() : source;
      before = endpoint.player.framesSent;
      if (active.reason !== undefined) {
        // Stopped while the prompt was being loaded.
      } else if (loop === 'forever') {
        await endpoint.play({ samples }, { loop: samples.length > 0, bargeIn: true });
      } else {
        for (let i = 0; i < loop && active.reason === undefined; i++) {
          const result = await endpoint.play({ samples }, { bargeIn: true });
          if (result !== 'completed') break;
        }
      }
    } finally {
      if (this.#play === active) this.#play = undefined;
    }
    const playedMs = (endpoint.player.framesSent - before) * 20;
    return active.reason === 'interrupted'
      ? { reason: 'interrupted', playedMs, digit: active.digit }
      : { reason: active.reason ?? 'completed', playedMs };
  }

  /** Stops the current play (`stopped`). */
  stopPlay(): void {
    this.#stopPlay('stopped');
  }

  /**
   * Records the peer into `options.sink` as a WAV file; resolves when the
   * recording ended. A recording in progress stops (`stopped`).
   */
  async record(options: TerminatedLegRecordOptions): Promise<MediaRecordResult> {
    this.#requireEndpoint();
    const maxDurationMs = options.maxDurationMs ?? 120_000;
    if (!(maxDurationMs > 0)) throw badPrompt('maxDurationMs must be > 0');
    if (options.silenceTimeoutMs !== undefined && !(options.silenceTimeoutMs > 0))
      throw badPrompt('silenceTimeoutMs must be > 0');
    if (options.finishOnKey !== undefined && !/^[0-9*#A-D]*$/.test(options.finishOnKey))
      throw badPrompt(`finishOnKey must be DTMF keys, got '${options.finishOnKey}'`);
    this.#recording?.stop('stopped');
    const recording = new LegRecording({
      mediaClock: this.#mediaClock,
      sink: options.sink,
      encoding: options.encoding ?? 'pcm16',
      maxDurationMs,
      silenceTimeoutMs: options.silenceTimeoutMs,
      finishOnKey: options.finishOnKey ?? '',
    });
    this.#recording = recording;
    try {
      if (options.beep === true) {
        const beep = await this.play(BEEP);
        if (beep.reason === 'hangup') recording.stop('hangup');
      }
      if (this.#closed) recording.stop('hangup');
      return await recording.run();
    } finally {
      if (this.#recording === recording) this.#recording = undefined;
    }
  }

  /** Stops the current recording (`stopped`). */
  stopRecord(): void {
    this.#recording?.stop('stopped');
  }

  /** Ends everything with `hangup` (the leg is being torn down; its sockets are closed by the owner). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopPlay('hangup');
    this.#recording?.stop('hangup');
    this.#endpoint?.player.stop();
    this.#endpoint = undefined;
  }

  #requireEndpoint(): RtpEndpoint {
    if (this.#endpoint === undefined) {
      throw new VoxmeshError(
        ErrorCode.INVALID_STATE,
        this.#closed
          ? 'The leg has ended'
          : this.#media === undefined
            ? 'The leg has not negotiated media yet'
            : 'The leg is relayed to another leg, not terminated',
      );
    }
    return this.#endpoint;
  }

  #stopPlay(reason: 'stopped' | 'hangup'): void {
    const active = this.#play;
    if (active === undefined) return;
    active.reason ??= reason;
    active.endpoint.player.stop();
  }

  /** Voice barge-in: a caller speaking over a prompt played with `bargeIn: 'any'`. */
  #voice(samples: Int16Array): void {
    const active = this.#play;
    if (active?.bargeIn !== 'any' || active.reason !== undefined) return;
    active.voiced = isSilent(samples) ? 0 : active.voiced + samples.length;
    if (active.voiced >= VOICE_BARGE_IN_MS * 8) {
      active.reason = 'interrupted';
      active.endpoint.player.interrupt('voice');
    }
  }

  #digit(event: DtmfEvent): void {
    this.#onDtmf(event);
    const active = this.#play;
    if (
      active !== undefined &&
      active.reason === undefined &&
      active.bargeIn !== 'none' &&
      (active.keys === undefined || active.keys.includes(event.digit))
    ) {
      active.reason = 'interrupted';
      active.digit = event.digit;
      active.endpoint.player.interrupt(event);
    }
    this.#recording?.digit(event.digit);
  }
}

interface LegRecordingOptions {
  mediaClock: MediaClock;
  sink: Writable;
  encoding: WavEncoding;
  maxDurationMs: number;
  silenceTimeoutMs: number | undefined;
  finishOnKey: string;
}

/** The largest timestamp gap filled with silence (a longer jump is a new stream, not loss). */
const MAX_GAP_SAMPLES = 8000 * 10;

/**
 * One recording, written as the packets come, on the sender's timeline: a
 * gap in the RTP timestamps (loss, or a phone that stops sending in
 * silence) is filled with silence, a late or repeated packet is dropped, so
 * a stall of the event loop neither stretches nor shortens the recording.
 * Silent audio is held back until voice follows, so a recording ended by
 * silence leaves its trailing silence out. The shared media clock watches
 * the time: a peer that stops sending altogether counts as silence, and the
 * recording ends at the latest a second after `maxDurationMs` of wall time.
 */
class LegRecording {
  readonly #options: LegRecordingOptions;
  readonly #maxSamples: number;
  readonly #silenceSamples: number | undefined;
  readonly #held: Int16Array[] = [];
  #heldSamples = 0;
  #reason: MediaRecordResult['reason'] | undefined;
  #wake: (() => void) | undefined;
  #started = false;
  #nextTs: number | undefined;
  #samples = 0;
  #written = 0;
  #bytes = 0;
  #ticks = 0;
  #lastPacketTick = 0;
  #tick: Disposable | undefined;

  constructor(options: LegRecordingOptions) {
    this.#options = options;
    this.#maxSamples = Math.max(1, Math.round((options.maxDurationMs * 8000) / 1000));
    this.#silenceSamples =
      options.silenceTimeoutMs === undefined
        ? undefined
        : Math.max(1, Math.round((options.silenceTimeoutMs * 8000) / 1000));
  }

  /** Audio of one packet with its RTP timestamp. */
  write(samples: Int16Array, timestamp: number): void {
    if (!this.#started || this.#reason !== undefined) return;
    this.#lastPacketTick = this.#ticks;
    if (this.#nextTs !== undefined) {
      const gap = (timestamp - this.#nextTs) | 0;
      // A late or repeated packet: its time was already written.
      if (gap < 0 && gap > -MAX_GAP_SAMPLES) return;
      if (gap > 0 && gap <= MAX_GAP_SAMPLES) this.#push(new Int16Array(gap));
    }
    this.#nextTs = (timestamp + samples.length) >>> 0;
    this.#push(samples);
  }

  digit(digit: string): void {
    if (this.#options.finishOnKey.includes(digit)) this.stop('finish-key');
  }

  stop(reason: MediaRecordResult['reason']): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#wake?.();
  }

  async run(): Promise<MediaRecordResult> {
    const sink = this.#options.sink;
    let failure: unknown;
    const onError = (error: unknown): void => {
      failure ??= error;
      this.stop('stopped');
    };
    sink.on('error', onError);
    try {
      if (this.#reason === undefined) {
        this.#out(wavHeader({ encoding: this.#options.encoding }));
        this.#started = true;
        const period = this.#options.mediaClock.periodMs;
        this.#tick = this.#options.mediaClock.subscribe(() => {
          this.#ticks++;
          const quietMs = (this.#ticks - this.#lastPacketTick) * period;
          if (this.#silenceSamples !== undefined && quietMs * 8 >= this.#silenceSamples)
            this.stop('silence');
          else if (this.#ticks * period >= this.#options.maxDurationMs + 1000)
            this.stop('max-duration');
        });
        if (this.#reason === undefined) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
        }
      }
      this.#tick?.[Symbol.dispose]();
      // Trailing silence is left out only when silence ended the recording.
      if (this.#reason !== 'silence') this.#flushHeld();
      await new Promise<void>((resolve) => {
        sink.end(() => {
          resolve();
        });
        if (sink.writableFinished || sink.destroyed) resolve();
      });
    } finally {
      this.#tick?.[Symbol.dispose]();
      sink.off('error', onError);
    }
    if (failure !== undefined)
      throw failure instanceof Error
        ? failure
        : new Error('The recording sink failed', { cause: failure });
    return {
      reason: this.#reason ?? 'stopped',
      durationMs: Math.round((this.#written * 1000) / 8000),
      bytes: this.#bytes,
    };
  }

  #push(input: Int16Array): void {
    let samples = input;
    const room = this.#maxSamples - this.#samples;
    if (samples.length > room) samples = samples.subarray(0, room);
    this.#samples += samples.length;
    if (this.#silenceSamples === undefined) {
      this.#emit(samples);
    } else if (isSilent(samples)) {
      this.#held.push(Int16Array.from(samples));
      this.#heldSamples += samples.length;
      if (this.#heldSamples >= this.#silenceSamples) this.stop('silence');
    } else {
      this.#flushHeld();
      this.#emit(samples);
    }
    if (this.#samples >= this.#maxSamples) this.stop('max-duration');
  }

  #flushHeld(): void {
    for (const held of this.#held.splice(0)) this.#emit(held);
    this.#heldSamples = 0;
  }

  #emit(samples: Int16Array): void {
    if (samples.length === 0) return;
    this.#written += samples.length;
    const encoding = this.#options.encoding;
    let bytes: Uint8Array;
    if (encoding === 'ulaw') bytes = encodeUlaw(samples);
    else if (encoding === 'alaw') bytes = encodeAlaw(samples);
    else {
      const buf = Buffer.allocUnsafe(samples.length * 2);
      for (let i = 0; i < samples.length; i++) buf.writeInt16LE(samples[i] as number, i * 2);
      bytes = buf;
    }
    this.#out(bytes);
  }

  #out(bytes: Uint8Array): void {
    this.#bytes += bytes.length;
    // A slow sink buffers in memory (bounded by maxDurationMs); writing never blocks the media clock.
    this.#options.sink.write(bytes);
  }
}

/** Whether audio is silence: RMS level at or below {@link SILENCE_RMS}. */
function isSilent(samples: Int16Array): boolean {
  if (samples.length === 0) return true;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i] as number;
    sum += v * v;
  }
  return Math.sqrt(sum / samples.length) <= SILENCE_RMS;
}
