/**
 * Reception statistics of one RTP source (RFC 3550 Appendix A): sequence
 * validation with probation (A.1), loss (A.3), interarrival jitter (A.8),
 * round-trip time from reports (§6.4.1), and a MOS estimate from a
 * simplified ITU-T G.107 E-model.
 *
 * @module
 */

import type { RtcpReportBlock } from './rtcp.js';

const RTP_SEQ_MOD = 1 << 16;
/** RFC 3550 A.1 constants. */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const MIN_SEQUENTIAL = 2;

/** Options of {@link ReceiverStats}. */
export interface ReceiverStatsOptions {
  /**
   * The RTP clock rate of the payload, in Hz.
   * @defaultValue `8000`
   */
  clockRate?: number | undefined;
}

/** A snapshot of {@link ReceiverStats}. */
export interface ReceiverStatsSnapshot {
  packetsReceived: number;
  /** Expected minus received (RFC 3550 A.3); negative with duplicates. */
  packetsLost: number;
  /** Extended highest sequence number received. */
  highestSequence: number;
  /** Interarrival jitter in timestamp units (RFC 3550 A.8). */
  jitter: number;
  /** Interarrival jitter in milliseconds. */
  jitterMs: number;
}

/**
 * Tracks one incoming RTP source. Feed every packet to {@link ReceiverStats.update}
 * with its arrival time; read loss and jitter, or a report block for RTCP.
 */
export class ReceiverStats {
  readonly clockRate: number;
  #maxSeq = 0;
  #cycles = 0;
  #baseSeq = 0;
  #badSeq = RTP_SEQ_MOD + 1;
  #probation = MIN_SEQUENTIAL;
  #received = 0;
  #expectedPrior = 0;
  #receivedPrior = 0;
  #transit = 0;
  #jitter = 0;
  #started = false;
  #haveTransit = false;

  constructor(options: ReceiverStatsOptions = {}) {
    this.clockRate = options.clockRate ?? 8000;
    if (!(this.clockRate > 0)) throw new RangeError('clockRate must be positive');
  }

  #initSeq(seq: number): void {
    // RFC 3550 A.1 init_seq().
    this.#baseSeq = seq;
    this.#maxSeq = seq;
    this.#badSeq = RTP_SEQ_MOD + 1;
    this.#cycles = 0;
    this.#received = 0;
    this.#receivedPrior = 0;
    this.#expectedPrior = 0;
  }

  /**
   * Records a packet. `arrivalMs` is the arrival time in milliseconds (any
   * monotonic origin). Returns `false` when the packet was judged invalid
   * (still in probation, or a large jump awaiting confirmation).
   */
  update(seq: number, timestamp: number, arrivalMs: number): boolean {
    if (!this.#started) {
      this.#started = true;
      this.#initSeq(seq);
      this.#maxSeq = seq - 1;
      this.#probation = MIN_SEQUENTIAL;
    }
    // RFC 3550 A.1 update_seq().
    const udelta = (seq - this.#maxSeq + RTP_SEQ_MOD) % RTP_SEQ_MOD;
    if (this.#probation > 0) {
      // The source is valid only after MIN_SEQUENTIAL packets in sequence.
      if (seq === (this.#maxSeq + 1) % RTP_SEQ_MOD) {
        this.#probation--;
        this.#maxSeq = seq;
        if (this.#probation === 0) {
          this.#initSeq(seq);
          this.#received++;
          this.#jitterUpdate(timestamp, arrivalMs);
          return true;
        }
      } else {
        this.#probation = MIN_SEQUENTIAL - 1;
        this.#maxSeq = seq;
      }
      return false;
    } else if (udelta < MAX_DROPOUT) {
      // In order, with permissible gap.
      if (seq < this.#maxSeq) this.#cycles += RTP_SEQ_MOD;
      this.#maxSeq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      // A very large jump: accept it only if the next packet follows it (restart).
      if (seq === this.#badSeq) {
        this.#initSeq(seq);
        this.#haveTransit = false;
      } else {
        this.#badSeq = (seq + 1) & (RTP_SEQ_MOD - 1);
        return false;
      }
    }
    // Otherwise a duplicate or reordered packet: counted, max not moved.
    this.#received++;
    this.#jitterUpdate(timestamp, arrivalMs);
    return true;
  }

  #jitterUpdate(timestamp: number, arrivalMs: number): void {
    // RFC 3550 A.8: J += (|D| - J) / 16, in timestamp units.
    const arrival = (arrivalMs * this.clockRate) / 1000;
    const transit = arrival - timestamp;
    if (this.#haveTransit) {
      let d = transit - this.#transit;
      // Timestamps wrap at 2^32.
      if (d > 0x80000000) d -= 0x100000000;
      else if (d < -0x80000000) d += 0x100000000;
      this.#jitter += (Math.abs(d) - this.#jitter) / 16;
    }
    this.#transit = transit;
    this.#haveTransit = true;
  }

  /** Packets received from the source (after probation). */
  get packetsReceived(): number {
    return this.#received;
  }

  /** The extended highest sequence number received. */
  get extendedMax(): number {
    return this.#cycles + this.#maxSeq;
  }

  /** Packets expected (RFC 3550 A.3). */
  get packetsExpected(): number {
    return this.#received === 0 ? 0 : this.extendedMax - this.#baseSeq + 1;
  }

  /** Cumulative packets lost (RFC 3550 A.3). */
  get packetsLost(): number {
    return this.packetsExpected - this.#received;
  }

  /** Interarrival jitter in timestamp units. */
  get jitter(): number {
    return this.#jitter;
  }

  /** A snapshot of the figures. */
  snapshot(): ReceiverStatsSnapshot {
    return {
      packetsReceived: this.#received,
      packetsLost: this.packetsLost,
      highestSequence: this.extendedMax,
      jitter: this.#jitter,
      jitterMs: (this.#jitter * 1000) / this.clockRate,
    };
  }

  /**
   * A reception report block for this source (RFC 3550 §6.4.1); computes the
   * fraction lost since the previous call (A.3).
   */
  reportBlock(ssrc: number, lastSr = 0, delaySinceLastSr = 0): RtcpReportBlock {
    const expected = this.packetsExpected;
    const expectedInterval = expected - this.#expectedPrior;
    const receivedInterval = this.#received - this.#receivedPrior;
    this.#expectedPrior = expected;
    this.#receivedPrior = this.#received;
    const lostInterval = expectedInterval - receivedInterval;
    const fraction =
      expectedInterval === 0 || lostInterval <= 0
        ? 0
        : Math.min(255, Math.floor((lostInterval << 8) / expectedInterval));
    // Cumulative loss is clamped to the 24-bit signed range.
    const lost = Math.max(-0x800000, Math.min(0x7fffff, this.packetsLost));
    return {
      ssrc,
      fractionLost: fraction,
      packetsLost: lost,
      highestSequence: this.extendedMax >>> 0,
      jitter: Math.floor(this.#jitter) >>> 0,
      lastSr,
      delaySinceLastSr,
    };
  }
}

/**
 * Round-trip time from a report block (RFC 3550 §6.4.1): `A - LSR - DLSR`,
 * where `A` is the arrival time of the report as the middle 32 bits of an NTP
 * timestamp. Returns milliseconds, or `undefined` when the block carries no
 * LSR.
 */
export function rttFromReport(
  block: RtcpReportBlock,
  arrivalNtpMiddle: number,
): number | undefined {
  if (block.lastSr === 0) return undefined;
  const rtt = (arrivalNtpMiddle - block.lastSr - block.delaySinceLastSr) >>> 0;
  // A negative result (clock trouble) wraps to a huge value: discard it.
  if (rtt > 0x7fffffff) return undefined;
  return (rtt / 65536) * 1000;
}

/** Inputs of {@link estimateMos}. */
export interface MosInput {
  /** Packet loss in percent (0–100). */
  lossPercent: number;
  /**
   * One-way mouth-to-ear delay in milliseconds.
   * @defaultValue `0`
   */
  delayMs?: number | undefined;
  /**
   * Codec equipment impairment factor Ie (G.113 Appendix I).
   * @defaultValue `0` (G.711)
   */
  ie?: number | undefined;
  /**
   * Packet-loss robustness factor Bpl (G.113 Appendix I).
   * @defaultValue `25.1` (G.711 with packet loss concealment)
   */
  bpl?: number | undefined;
}

/**
 * A MOS estimate (1–4.5) from a simplified ITU-T G.107 E-model:
 * `R = 93.2 − Id − Ie,eff` with random loss (BurstR = 1), then the G.107
 * Annex B mapping from R to MOS. Clean G.711 gives 4.41, 1 % loss 4.33.
 */
export function estimateMos(input: MosInput): number {
  const ppl = Math.max(0, Math.min(100, input.lossPercent));
  const d = Math.max(0, input.delayMs ?? 0);
  const ie = input.ie ?? 0;
  const bpl = input.bpl ?? 25.1;
  // G.107 §3.6: Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl / BurstR + Bpl).
  const ieEff = ie + ((95 - ie) * ppl) / (ppl + bpl);
  // Simplified delay impairment (Cole & Rosenbluth): Id = 0.024 d + 0.11 (d − 177.3) H(d − 177.3).
  const id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0);
  const r = 93.2 - id - ieEff;
  // G.107 Annex B (B-4).
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  const mos = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
  return Math.max(1, Math.min(4.5, mos));
}
