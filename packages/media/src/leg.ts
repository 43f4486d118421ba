/**
 * One media leg: the sockets facing one peer, symmetric RTP latching, and
 * the leg's reception statistics and RTCP.
 *
 * Latching (symmetric RTP, RFC 4961): the peer's address in SDP is only a
 * hint — behind NAT it is often wrong — so the leg sends to the source of the
 * first valid RTP packets it receives and locks onto it. A different source
 * takes over only after `probationPackets` consecutive valid packets from it,
 * so a stray or spoofed datagram cannot hijack the stream. Once latched, the
 * socket is `connect()`ed to the peer (cheaper sends, and the kernel filters
 * other sources); after `relatchSilenceMs` without media it is disconnected
 * again so a peer that moved (a NAT rebinding) can be learned anew.
 *
 * @module
 */

import type { RemoteInfo, Socket } from 'node:dgram';
import { systemClock, type Clock } from '@voxmesh/core';
import type { PortPair } from './ports.js';
import { isRtcp, rtpPayloadOffset, rtpSequence, rtpSsrc, rtpTimestamp } from './rtp.js';
import { decodeRtcp, encodeRtcp, ntpMiddle, toNtp, type RtcpPacket } from './rtcp.js';
import { ReceiverStats, estimateMos, rttFromReport } from './stats.js';
import type { MediaLegStats } from '@voxmesh/core';

/** A transport address. */
export interface MediaAddress {
  address: string;
  port: number;
}

/** Options of {@link MediaLeg}. */
export interface MediaLegOptions {
  /** The sockets of the leg (from a {@link PortAllocator}). */
  ports: PortPair;
  /**
   * Whether RTCP is multiplexed on the RTP port (RFC 5761).
   * @defaultValue `false`
   */
  rtcpMux?: boolean | undefined;
  /**
   * Consecutive packets from a new source before the leg re-latches to it.
   * @defaultValue `5`
   */
  probationPackets?: number | undefined;
  /**
   * Whether to `connect()` the socket to the latched peer (only done for
   * ports bound from a range, see {@link PortPair.fixed}).
   * @defaultValue `true`
   */
  connect?: boolean | undefined;
  /**
   * Silence after which a connected socket is disconnected to allow re-latching.
   * @defaultValue `1000`
   */
  relatchSilenceMs?: number | undefined;
  /**
   * The RTP clock rate of the leg's audio codec.
   * @defaultValue `8000`
   */
  clockRate?: number | undefined;
  /**
   * The clock for arrival times and silence.
   * @defaultValue `systemClock`
   */
  clock?: Clock | undefined;
  /** Called for every valid RTP packet from the latched peer; `offset` is where the payload starts. */
  onRtp?: ((packet: Buffer, offset: number) => void) | undefined;
}

/** A media leg facing one peer. */
export class MediaLeg {
  readonly ports: PortPair;
  /** Our SSRC on this leg (for RTCP). */
  readonly ssrc: number = (Math.random() * 0x1_0000_0000) >>> 0;
  onRtp: ((packet: Buffer, offset: number) => void) | undefined;
  readonly #clock: Clock;
  readonly #rtcpMux: boolean;
  readonly #probation: number;
  readonly #connect: boolean;
  readonly #relatchSilenceMs: number;
  readonly #clockRate: number;
  #remote: MediaAddress | undefined;
  #remoteRtcp: MediaAddress | undefined;
  #latched = false;
  #connected = false;
  #connecting = false;
  #candidate: MediaAddress | undefined;
  #candidateCount = 0;
  #stats: ReceiverStats;
  #statsSsrc: number | undefined;
  #lastPacketAt: number | undefined;
  #rttMs: number | undefined;
  #lastSrReceived = 0;
  #lastSrReceivedAt = 0;
  #sentPackets = 0;
  #sentOctets = 0;
  #closed = false;
  /** Datagrams dropped: not RTP, or from a source other than the latched peer. */
  dropped = 0;

  constructor(options: MediaLegOptions) {
    this.ports = options.ports;
    this.#clock = options.clock ?? systemClock;
    this.#rtcpMux = options.rtcpMux ?? false;
    this.#probation = options.probationPackets ?? 5;
    // An ephemeral port would be lost on disconnect, so such legs never connect.
    this.#connect = (options.connect ?? true) && options.ports.fixed;
    this.#relatchSilenceMs = options.relatchSilenceMs ?? 1000;
    this.#clockRate = options.clockRate ?? 8000;
    this.#stats = new ReceiverStats({ clockRate: this.#clockRate });
    this.onRtp = options.onRtp;
    this.ports.rtp.on('message', (msg, rinfo) => {
      this.#onMessage(msg, rinfo);
    });
    this.ports.rtp.on('error', () => undefined);
    this.ports.rtcp?.on('message', (msg) => {
      this.#onRtcp(msg);
    });
    this.ports.rtcp?.on('error', () => undefined);
  }

  /** The local RTP port. */
  get port(): number {
    return this.ports.port;
  }

  /** Where RTP is sent: the latched source, else the address from SDP. */
  get remote(): MediaAddress | undefined {
    return this.#remote;
  }

  /** Whether the leg has latched onto a peer. */
  get latched(): boolean {
    return this.#latched;
  }

  /** When the last RTP packet arrived (clock monotonic ms), if any. */
  get lastPacketAt(): number | undefined {
    return this.#lastPacketAt;
  }

  /**
   * Sets the peer's address from SDP. It is used until a packet latches the
   * leg; a null address (hold, `0.0.0.0`) leaves the leg without a target.
   */
  setRemote(rtp: MediaAddress | undefined, rtcp?: MediaAddress): void {
    if (this.#latched) return;
    const hold =
      rtp === undefined || rtp.address === '0.0.0.0' || rtp.address === '::' || rtp.port === 0;
    this.#remote = hold ? undefined : rtp;
    this.#remoteRtcp = hold
      ? undefined
      : (rtcp ?? (this.#rtcpMux ? rtp : { address: rtp.address, port: rtp.port + 1 }));
  }

  /** Sends an RTP packet to the peer; dropped when there is no target yet. */
  send(packet: Uint8Array): void {
    if (this.#closed) return;
    this.#sentPackets++;
    this.#sentOctets += packet.length - 12;
    if (this.#connected) {
      this.ports.rtp.send(packet);
    } else if (this.#remote !== undefined && !this.#connecting) {
      this.ports.rtp.send(packet, this.#remote.port, this.#remote.address);
    }
  }

  #onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#rtcpMux && isRtcp(msg)) {
      this.#onRtcp(msg);
      return;
    }
    const offset = rtpPayloadOffset(msg);
    if (offset < 0) {
      this.dropped++;
      return;
    }
    if (!this.#accept(rinfo)) {
      this.dropped++;
      return;
    }
    const now = this.#clock.monotonic();
    this.#lastPacketAt = now;
    const ssrc = rtpSsrc(msg);
    if (ssrc !== this.#statsSsrc) {
      this.#statsSsrc = ssrc;
      this.#stats = new ReceiverStats({ clockRate: this.#clockRate });
    }
    this.#stats.update(rtpSequence(msg), rtpTimestamp(msg), now);
    this.onRtp?.(msg, offset);
  }

  #accept(rinfo: RemoteInfo): boolean {
    const r = this.#remote;
    if (this.#latched && r !== undefined && r.port === rinfo.port && r.address === rinfo.address)
      return true;
    if (!this.#latched) {
      this.#latch(rinfo);
      return true;
    }
    // A latched leg hears from a new source: it takes over after probation.
    const c = this.#candidate;
    if (c !== undefined && c.port === rinfo.port && c.address === rinfo.address)
      this.#candidateCount++;
    else {
      this.#candidate = { address: rinfo.address, port: rinfo.port };
      this.#candidateCount = 1;
    }
    if (this.#candidateCount >= this.#probation) {
      this.#latch(rinfo);
      return true;
    }
    return false;
  }

  #latch(rinfo: RemoteInfo): void {
    this.#latched = true;
    this.#candidate = undefined;
    this.#candidateCount = 0;
    this.#remote = { address: rinfo.address, port: rinfo.port };
    if (this.#rtcpMux) this.#remoteRtcp = this.#remote;
    if (this.#connect && !this.#connected && !this.#connecting) {
      this.#connecting = true;
      const target = this.#remote;
      try {
        this.ports.rtp.connect(target.port, target.address, () => {
          this.#connecting = false;
          if (this.#closed) return;
          this.#connected = true;
        });
      } catch {
        this.#connecting = false;
      }
    }
  }

  /**
   * Periodic housekeeping (called about once a second by the owner):
   * disconnects a silent connected socket so the leg can re-latch.
   */
  maintain(): void {
    if (!this.#connected || this.#closed) return;
    const last = this.#lastPacketAt ?? 0;
    if (this.#clock.monotonic() - last >= this.#relatchSilenceMs) {
      try {
        this.ports.rtp.disconnect();
      } catch {
        // Not connected after all.
      }
      this.#connected = false;
      this.#latched = false;
    }
  }

  #onRtcp(msg: Buffer): void {
    let packets: RtcpPacket[];
    try {
      packets = decodeRtcp(msg);
    } catch {
      this.dropped++;
      return;
    }
    const now = this.#clock.now();
    const [sec, frac] = toNtp(now);
    for (const p of packets) {
      if (p.type === 'sr') {
        this.#lastSrReceived = ntpMiddle(p.ntpSeconds, p.ntpFraction);
        this.#lastSrReceivedAt = this.#clock.monotonic();
      }
      if (p.type === 'sr' || p.type === 'rr') {
        for (const block of p.reports) {
          if (block.ssrc !== this.ssrc) continue;
          const rtt = rttFromReport(block, ntpMiddle(sec, frac));
          if (rtt !== undefined) this.#rttMs = rtt;
        }
      }
    }
  }

  /** Sends an RTCP compound packet (SR + SDES) to the peer (RFC 3550 §6.1). */
  sendRtcp(cname: string): void {
    if (this.#closed || this.#remoteRtcp === undefined) return;
    const now = this.#clock.now();
    const [sec, frac] = toNtp(now);
    const reports =
      this.#statsSsrc === undefined
        ? []
        : [
            this.#stats.reportBlock(
              this.#statsSsrc,
              this.#lastSrReceived,
              this.#lastSrReceived === 0
                ? 0
                : Math.round(((this.#clock.monotonic() - this.#lastSrReceivedAt) / 1000) * 65536),
            ),
          ];
    const packet = encodeRtcp([
      {
        type: 'sr',
        ssrc: this.ssrc,
        ntpSeconds: sec,
        ntpFraction: frac,
        rtpTimestamp: Math.floor((now * this.#clockRate) / 1000) >>> 0,
        packetCount: this.#sentPackets >>> 0,
        octetCount: this.#sentOctets >>> 0,
        reports,
      },
      { type: 'sdes', chunks: [{ ssrc: this.ssrc, items: [{ type: 1, text: cname }] }] },
    ]);
    const socket: Socket =
      this.#rtcpMux || this.ports.rtcp === undefined ? this.ports.rtp : this.ports.rtcp;
    if (socket === this.ports.rtp && this.#connected) socket.send(packet);
    else socket.send(packet, this.#remoteRtcp.port, this.#remoteRtcp.address);
  }

  /** Quality figures of what this leg received. */
  stats(): MediaLegStats {
    const s = this.#stats.snapshot();
    const expected = s.packetsReceived + Math.max(0, s.packetsLost);
    const lossPercent = expected === 0 ? 0 : (Math.max(0, s.packetsLost) / expected) * 100;
    return {
      packetsReceived: s.packetsReceived,
      packetsLost: s.packetsLost,
      jitterMs: s.jitterMs,
      rttMs: this.#rttMs,
      mos:
        s.packetsReceived === 0
          ? undefined
          : estimateMos({ lossPercent, delayMs: (this.#rttMs ?? 0) / 2 + s.jitterMs * 2 }),
    };
  }

  /**
   * Closes the sockets. When the peer's RTCP address is known, a receiver
   * report and BYE go out first (RFC 3550 §6.6: a BYE is sent in a compound
   * packet that starts with a report, §6.1).
   */
  close(reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const target = this.#remoteRtcp;
    if (target === undefined) {
      this.ports.release();
      return;
    }
    const bye = encodeRtcp([
      { type: 'rr', ssrc: this.ssrc, reports: [] },
      { type: 'bye', ssrcs: [this.ssrc], reason: reason?.slice(0, 255) },
    ]);
    const socket: Socket =
      this.#rtcpMux || this.ports.rtcp === undefined ? this.ports.rtp : this.ports.rtcp;
    // The sockets close (and the ports return to the pool) once the BYE is out.
    const release = (): void => {
      this.ports.release();
    };
    try {
      if (socket === this.ports.rtp && this.#connected) socket.send(bye, release);
      else socket.send(bye, target.port, target.address, release);
    } catch {
      release();
    }
  }
}
