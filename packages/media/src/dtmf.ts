/**
 * DTMF: RFC 4733 telephone-events (send and receive) and in-band detection
 * with the Goertzel algorithm.
 *
 * ```text
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     event     |E|R| volume    |          duration             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * @module
 */

import type { DtmfEvent } from '@voxmesh/core';

/** The DTMF digits in RFC 4733 §3.2 event order (0–15). */
export const DTMF_DIGITS = '0123456789*#ABCD';

/** A decoded telephone-event payload (RFC 4733 §2.3). */
export interface TelephoneEvent {
  /** The event code (0–9, 10 = `*`, 11 = `#`, 12–15 = A–D). */
  event: number;
  /** The end bit. */
  end: boolean;
  /** Power level in −dBm0 (0–63). */
  volume: number;
  /** Duration so far, in timestamp units. */
  duration: number;
}

/** Decodes a telephone-event payload; `undefined` when shorter than 4 bytes. */
export function decodeTelephoneEvent(payload: Uint8Array): TelephoneEvent | undefined {
  if (payload.length < 4) return undefined;
  const flags = payload[1] as number;
  return {
    event: payload[0] as number,
    end: (flags & 0x80) !== 0,
    volume: flags & 0x3f,
    duration: ((payload[2] as number) << 8) | (payload[3] as number),
  };
}

/** Encodes a telephone-event payload (RFC 4733 §2.3). */
export function encodeTelephoneEvent(event: TelephoneEvent): Uint8Array {
  const duration = Math.min(0xffff, Math.max(0, Math.round(event.duration)));
  return Uint8Array.of(
    event.event & 0xff,
    (event.end ? 0x80 : 0) | (event.volume & 0x3f),
    duration >> 8,
    duration & 0xff,
  );
}

/** Options of {@link Rfc4733Receiver}. */
export interface Rfc4733ReceiverOptions {
  /**
   * The telephone-event clock rate.
   * @defaultValue `8000`
   */
  clockRate?: number | undefined;
}

/**
 * Turns telephone-event packets into one digit per key press. An event is
 * identified by its RTP timestamp (RFC 4733 §2.5.2.1: all packets of one
 * event carry the timestamp of its start), so the three redundant end
 * packets are reported once, and no duration step is assumed. An event
 * whose end packets were all lost is reported when the next one starts.
 */
export class Rfc4733Receiver {
  readonly #clockRate: number;
  #current: { timestamp: number; event: number; duration: number } | undefined;
  #lastEndedTimestamp: number | undefined;

  constructor(options: Rfc4733ReceiverOptions = {}) {
    this.#clockRate = options.clockRate ?? 8000;
  }

  /**
   * Feeds one packet; returns the digits completed by it (usually none or
   * one; two when an unfinished event is superseded and the new one ends
   * in the same packet).
   */
  push(timestamp: number, payload: Uint8Array): DtmfEvent[] {
    const te = decodeTelephoneEvent(payload);
    if (te === undefined || te.event > 15) return [];
    const out: DtmfEvent[] = [];
    if (timestamp === this.#lastEndedTimestamp) return out; // a retransmitted end packet
    if (this.#current !== undefined && this.#current.timestamp !== timestamp) {
      // A new event started before the old one's end arrived: report the old one.
      const old = this.#emit(this.#current.event, this.#current.duration);
      if (old) out.push(old);
      this.#current = undefined;
    }
    this.#current ??= { timestamp, event: te.event, duration: 0 };
    this.#current.duration = Math.max(this.#current.duration, te.duration);
    if (te.end) {
      const done = this.#emit(this.#current.event, this.#current.duration);
      if (done) out.push(done);
      this.#lastEndedTimestamp = timestamp;
      this.#current = undefined;
    }
    return out;
  }

  /** Reports an event still in progress (e.g. when the stream ends). */
  flush(): DtmfEvent[] {
    const c = this.#current;
    this.#current = undefined;
    if (c === undefined) return [];
    this.#lastEndedTimestamp = c.timestamp;
    const e = this.#emit(c.event, c.duration);
    return e ? [e] : [];
  }

  #emit(event: number, duration: number): DtmfEvent | undefined {
    const digit = DTMF_DIGITS[event];
    if (digit === undefined) return undefined;
    return {
      digit,
      durationMs: Math.round((duration * 1000) / this.#clockRate),
      source: 'rfc4733',
    };
  }
}

/** One packet of an RFC 4733 digit, as {@link telephoneEventPackets} plans it. */
export interface TelephoneEventPacket {
  /** Milliseconds after the start of the digit at which to send it. */
  atMs: number;
  /** The payload. */
  payload: Uint8Array;
  /** The marker bit: set on the first packet of the event (RFC 4733 §2.5.1.3). */
  marker: boolean;
}

/** Options of {@link telephoneEventPackets}. */
export interface TelephoneEventPacketsOptions {
  /** The digit (`0`–`9`, `*`, `#`, `A`–`D`). */
  digit: string;
  /**
   * How long the key is held, in milliseconds.
   * @defaultValue `100`
   */
  durationMs?: number | undefined;
  /**
   * Packet interval in milliseconds.
   * @defaultValue `20`
   */
  ptimeMs?: number | undefined;
  /**
   * Power level in −dBm0.
   * @defaultValue `10`
   */
  volume?: number | undefined;
  /**
   * The clock rate of the event.
   * @defaultValue `8000`
   */
  clockRate?: number | undefined;
}

/**
 * The packets that send one digit (RFC 4733 §2.5.1): one every `ptimeMs`
 * with a growing duration, the first with the marker bit, then the final
 * packet sent three times with the end bit (§2.5.1.4). All share the
 * timestamp of the start of the event.
 */
export function telephoneEventPackets(
  options: TelephoneEventPacketsOptions,
): TelephoneEventPacket[] {
  const event = DTMF_DIGITS.indexOf(options.digit.toUpperCase());
  if (options.digit.length !== 1 || event < 0)
    throw new TypeError(`Not a DTMF digit: '${options.digit}'`);
  const durationMs = options.durationMs ?? 100;
  const ptime = options.ptimeMs ?? 20;
  const rate = options.clockRate ?? 8000;
  const volume = options.volume ?? 10;
  if (!(durationMs > 0) || !(ptime > 0))
    throw new RangeError('durationMs and ptimeMs must be positive');
  const packets: TelephoneEventPacket[] = [];
  const steps = Math.max(1, Math.round(durationMs / ptime));
  for (let i = 1; i < steps; i++) {
    packets.push({
      atMs: (i - 1) * ptime,
      marker: i === 1,
      payload: encodeTelephoneEvent({
        event,
        end: false,
        volume,
        duration: (i * ptime * rate) / 1000,
      }),
    });
  }
  const final = encodeTelephoneEvent({
    event,
    end: true,
    volume,
    duration: (steps * ptime * rate) / 1000,
  });
  for (let r = 0; r < 3; r++) {
    packets.push({ atMs: (steps - 1 + r) * ptime, marker: steps === 1 && r === 0, payload: final });
  }
  return packets;
}

const ROWS = [697, 770, 852, 941];
const COLS = [1209, 1336, 1477, 1633];
const KEYPAD = ['123A', '456B', '789C', '*0#D'];

/** Options of {@link GoertzelDetector}. */
export interface GoertzelDetectorOptions {
  /**
   * The sample rate of the audio fed in.
   * @defaultValue `8000`
   */
  sampleRate?: number | undefined;
  /**
   * Consecutive 20 ms blocks a digit must be present to count (and absent to end).
   * @defaultValue `2`
   */
  minBlocks?: number | undefined;
}

/**
 * In-band DTMF detection: the Goertzel algorithm evaluates the eight DTMF
 * frequencies over 20 ms blocks; a digit needs one strong row and one strong
 * column tone holding most of the block's energy, a twist within limits,
 * and presence over `minBlocks` blocks. Speech rarely meets all of these.
 */
export class GoertzelDetector {
  readonly #rate: number;
  readonly #block: number;
  readonly #minBlocks: number;
  readonly #coeffs: Float64Array;
  readonly #buffer: Float64Array;
  readonly #power = new Float64Array(8);
  #filled = 0;
  #candidate: string | undefined;
  #candidateBlocks = 0;
  #active: string | undefined;
  #activeBlocks = 0;
  #silentBlocks = 0;

  constructor(options: GoertzelDetectorOptions = {}) {
    this.#rate = options.sampleRate ?? 8000;
    this.#block = Math.round(this.#rate / 50);
    this.#minBlocks = options.minBlocks ?? 2;
    this.#coeffs = Float64Array.from(
      [...ROWS, ...COLS],
      (f) => 2 * Math.cos((2 * Math.PI * f) / this.#rate),
    );
    this.#buffer = new Float64Array(this.#block);
  }

  /** Feeds samples; returns the digits that ended within them. */
  push(samples: Int16Array): DtmfEvent[] {
    const out: DtmfEvent[] = [];
    for (let i = 0; i < samples.length; i++) {
      this.#buffer[this.#filled++] = samples[i] as number;
      if (this.#filled === this.#block) {
        this.#filled = 0;
        const e = this.#step(this.#analyse());
        if (e) out.push(e);
      }
    }
    return out;
  }

  /** Ends a digit still held (e.g. when the stream stops). */
  flush(): DtmfEvent[] {
    if (this.#active === undefined) return [];
    const e = this.#finish();
    return [e];
  }

  #analyse(): string | undefined {
    const n = this.#block;
    const x = this.#buffer;
    let energy = 0;
    for (let i = 0; i < n; i++) energy += (x[i] as number) * (x[i] as number);
    // Below about −45 dBFS: silence.
    if (energy / n < 2000) return undefined;
    const power = this.#power;
    for (let k = 0; k < 8; k++) {
      const c = this.#coeffs[k] as number;
      let s1 = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        const s0 = (x[i] as number) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      power[k] = s1 * s1 + s2 * s2 - c * s1 * s2;
    }
    // The strongest row (0–3) and column (4–7) tone, and the runner-up of each group.
    let row = 0;
    for (let k = 1; k < 4; k++) if ((power[k] as number) > (power[row] as number)) row = k;
    let col = 4;
    for (let k = 5; k < 8; k++) if ((power[k] as number) > (power[col] as number)) col = k;
    let rowSecond = 0;
    let colSecond = 0;
    for (let k = 0; k < 4; k++) if (k !== row) rowSecond = Math.max(rowSecond, power[k] as number);
    for (let k = 4; k < 8; k++) if (k !== col) colSecond = Math.max(colSecond, power[k] as number);
    const rowPower = power[row] as number;
    const colPower = power[col] as number;
    col -= 4;
    // A pure tone of amplitude A gives power (A·n/2)² against block energy n·A²/2:
    // the ratio is n/2. Two equal tones: n/4 each. Demand a large share of that.
    const share = (rowPower + colPower) / (energy * (n / 2));
    if (share < 0.6) return undefined;
    // Twist: row and column within 8 dB of each other.
    const twist = rowPower / colPower;
    if (twist > 6.3 || twist < 1 / 6.3) return undefined;
    // Each tone stands well clear of the others in its group.
    if (rowSecond * 10 > rowPower || colSecond * 10 > colPower) return undefined;
    return (KEYPAD[row] as string)[col];
  }

  #step(digit: string | undefined): DtmfEvent | undefined {
    if (this.#active !== undefined) {
      if (digit === this.#active) {
        this.#activeBlocks++;
        this.#silentBlocks = 0;
        return undefined;
      }
      this.#silentBlocks++;
      if (this.#silentBlocks >= this.#minBlocks) return this.#finish();
      return undefined;
    }
    if (digit !== undefined && digit === this.#candidate) {
      this.#candidateBlocks++;
    } else {
      this.#candidate = digit;
      this.#candidateBlocks = digit === undefined ? 0 : 1;
    }
    if (this.#candidate !== undefined && this.#candidateBlocks >= this.#minBlocks) {
      this.#active = this.#candidate;
      this.#activeBlocks = this.#candidateBlocks;
      this.#silentBlocks = 0;
      this.#candidate = undefined;
      this.#candidateBlocks = 0;
    }
    return undefined;
  }

  #finish(): DtmfEvent {
    const digit = this.#active as string;
    const durationMs = this.#activeBlocks * 20;
    this.#active = undefined;
    this.#activeBlocks = 0;
    this.#silentBlocks = 0;
    return { digit, durationMs, source: 'inband' };
  }
}
