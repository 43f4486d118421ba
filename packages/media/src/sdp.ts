/**
 * SDP (RFC 4566) and the offer/answer model (RFC 3264) for audio.
 *
 * Parsing goes through `sdp-transform` (a grammar) and is then validated and
 * normalised into {@link SdpSession}: static payload types without an
 * `a=rtpmap` get their RFC 3551 encoding, directions and `rtcp-mux` become
 * plain fields, and anything malformed or out of range is refused with
 * `MEDIA_SDP_INVALID` — never a crash or a silently wrong value.
 * {@link writeSdp} writes a session back; {@link createAnswer} answers an
 * offer from local capabilities.
 *
 * @module
 */

import sdpTransform from 'sdp-transform';
import { VoxmeshError } from '@voxmesh/core';
import { MediaErrorCode } from './errors.js';
import { STATIC_PAYLOAD_TYPES, type PayloadFormat } from './codecs.js';

/** The direction of a media stream (RFC 3264 §5.1, RFC 4566 §6). */
export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** One `m=` section, normalised. */
export interface SdpMedia {
  /** `audio`, `video`, ... */
  type: string;
  /** The transport port; `0` for a rejected or disabled stream (RFC 3264 §5.1). */
  port: number;
  /** `RTP/AVP`, ... */
  protocol: string;
  /** The payload formats in order of preference. */
  formats: PayloadFormat[];
  /** The connection address (media level, else session level). */
  address: string;
  /** The stream direction. */
  direction: SdpDirection;
  /** Packetisation time in milliseconds (`a=ptime`), when given. */
  ptime?: number | undefined;
  /** Whether RTP and RTCP share the port (`a=rtcp-mux`, RFC 5761). */
  rtcpMux: boolean;
  /** The RTCP port (`a=rtcp`, RFC 3605), when given. */
  rtcpPort?: number | undefined;
}

/** A session description, normalised. */
export interface SdpSession {
  /** The `o=` line. */
  origin: { username: string; sessionId: string; sessionVersion: number; address: string };
  /** The `s=` line. @defaultValue `'-'` */
  name?: string | undefined;
  /** The media sections, in order. */
  media: SdpMedia[];
}

/** Limits applied when parsing untrusted SDP. */
const MAX_SDP_BYTES = 64 * 1024;
const MAX_MEDIA_SECTIONS = 16;
const MAX_FORMATS = 64;

function invalid(message: string, cause?: unknown): VoxmeshError {
  return new VoxmeshError(MediaErrorCode.SDP_INVALID, `Invalid SDP: ${message}`, { cause });
}

// sdp-transform's types promise more than a hostile body delivers: re-check at runtime.
function asText(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : fallback;
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
}

const ADDRESS = /^[0-9A-Za-z.:%_-]{1,255}$/;

function validPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535;
}

/**
 * Parses and validates an SDP body. Throws `MEDIA_SDP_INVALID` naming the
 * problem when the body is too large, lacks `v=0`, `o=` or a connection
 * address for an active stream, or has a port, payload type, clock rate or
 * ptime out of range.
 */
export function parseSdp(text: string): SdpSession {
  if (typeof text !== 'string') throw invalid('the body is not a string');
  if (text.length > MAX_SDP_BYTES) throw invalid(`larger than ${MAX_SDP_BYTES} bytes`);
  if (text.includes('\0')) throw invalid('contains a NUL character');
  // RFC 4566 §5: the first line is v=0.
  if (!/^v=0\r?$/m.test(text.split('\n', 1)[0] ?? '')) throw invalid('does not start with v=0');
  let raw: sdpTransform.SessionDescription;
  try {
    raw = sdpTransform.parse(text);
  } catch (error) {
    throw invalid('unparseable', error);
  }
  const origin = raw.origin as Partial<sdpTransform.SessionDescription['origin']> | undefined;
  if (origin === undefined || typeof origin.address !== 'string') throw invalid('missing o= line');
  const sessionAddress = raw.connection?.ip;
  const media = Array.isArray(raw.media) ? raw.media : [];
  if (media.length > MAX_MEDIA_SECTIONS) throw invalid(`more than ${MAX_MEDIA_SECTIONS} m= lines`);
  const sessionDirection = raw.direction;
  return {
    origin: {
      username: asText(origin.username, '-'),
      sessionId: String(origin.sessionId ?? '0'),
      sessionVersion: Number.isSafeInteger(origin.sessionVersion)
        ? Number(origin.sessionVersion)
        : 0,
      address: origin.address,
    },
    name: typeof raw.name === 'string' ? raw.name : '-',
    media: media.map((m, index) => parseMedia(m, index, sessionAddress, sessionDirection)),
  };
}

function parseMedia(
  m: sdpTransform.MediaDescription,
  index: number,
  sessionAddress: string | undefined,
  sessionDirection: string | undefined,
): SdpMedia {
  const where = `m= line ${index + 1}`;
  if (typeof m.type !== 'string' || !/^[a-z]+$/i.test(m.type))
    throw invalid(`${where}: bad media type`);
  if (!validPort(m.port)) throw invalid(`${where}: port out of range`);
  if (typeof m.protocol !== 'string' || m.protocol.length === 0)
    throw invalid(`${where}: no protocol`);
  const payloadList = asText(m.payloads, '').trim();
  if (payloadList === '') throw invalid(`${where}: no formats`);
  const tokens = payloadList.split(/\s+/);
  if (tokens.length > MAX_FORMATS) throw invalid(`${where}: more than ${MAX_FORMATS} formats`);
  const isRtp = m.protocol.startsWith('RTP/') || m.protocol.includes('/RTP/');
  const formats: PayloadFormat[] = [];
  if (isRtp) {
    const rtpmaps = Array.isArray(m.rtp) ? m.rtp : [];
    const fmtps = Array.isArray(m.fmtp) ? m.fmtp : [];
    for (const token of tokens) {
      // RFC 3551 §6: payload types are 0–127.
      if (!/^\d{1,3}$/.test(token) || Number(token) > 127) {
        throw invalid(`${where}: payload type '${token.slice(0, 16)}' is not 0–127`);
      }
      const pt = Number(token);
      const map = rtpmaps.find((r) => r.payload === pt);
      let format: PayloadFormat | undefined;
      if (map !== undefined) {
        const rate = Number(map.rate);
        if (!Number.isInteger(rate) || rate < 1 || rate > 1_000_000) {
          throw invalid(`${where}: a=rtpmap:${pt} has a bad clock rate`);
        }
        const channels = map.encoding === undefined ? 1 : num(map.encoding);
        if (!Number.isInteger(channels) || channels < 1 || channels > 255) {
          throw invalid(`${where}: a=rtpmap:${pt} has a bad channel count`);
        }
        format = { payloadType: pt, name: asText(map.codec, ''), clockRate: rate, channels };
      } else {
        // RFC 3264 §5.1 / RFC 3551: a static payload type needs no rtpmap.
        const known = STATIC_PAYLOAD_TYPES.get(pt);
        if (known === undefined) {
          // A dynamic type without rtpmap cannot be used; keep it unnamed so it is never matched.
          format = { payloadType: pt, name: '', clockRate: 0, channels: 1 };
        } else {
          format = { ...known };
        }
      }
      const fmtp = fmtps.find((f) => f.payload === pt);
      if (fmtp !== undefined) format.fmtp = asText(fmtp.config, '');
      formats.push(format);
    }
  } else {
    for (const token of tokens)
      formats.push({ payloadType: -1, name: token.slice(0, 64), clockRate: 0 });
  }
  const address = m.connection?.ip ?? sessionAddress;
  if (m.port !== 0 && (address === undefined || !ADDRESS.test(address))) {
    throw invalid(`${where}: no valid connection address (c=)`);
  }
  const direction = (m.direction ?? sessionDirection ?? 'sendrecv') as SdpDirection;
  let ptime: number | undefined;
  if (m.ptime !== undefined) {
    ptime = num(m.ptime);
    if (!Number.isFinite(ptime) || ptime < 1 || ptime > 1000) throw invalid(`${where}: bad ptime`);
  }
  let rtcpPort: number | undefined;
  if (m.rtcp !== undefined) {
    if (!validPort(m.rtcp.port)) throw invalid(`${where}: a=rtcp port out of range`);
    rtcpPort = m.rtcp.port;
  }
  return {
    type: m.type,
    port: m.port,
    protocol: m.protocol,
    formats,
    address: address ?? '0.0.0.0',
    direction,
    ptime,
    rtcpMux: m.rtcpMux === 'rtcp-mux',
    rtcpPort,
  };
}

/** Writes a session description (CRLF line ends, RFC 4566 §5). */
export function writeSdp(session: SdpSession): string {
  const o = session.origin;
  const ipVer = (address: string): string => (address.includes(':') ? 'IP6' : 'IP4');
  const lines = [
    'v=0',
    `o=${o.username} ${o.sessionId} ${o.sessionVersion} IN ${ipVer(o.address)} ${o.address}`,
    `s=${session.name ?? '-'}`,
  ];
  const first = session.media[0];
  if (first !== undefined) lines.push(`c=IN ${ipVer(first.address)} ${first.address}`);
  lines.push('t=0 0');
  for (const m of session.media) {
    const rtp = m.formats.every((f) => f.payloadType >= 0);
    const list = m.formats.map((f) => (rtp ? String(f.payloadType) : f.name)).join(' ');
    lines.push(`m=${m.type} ${m.port} ${m.protocol} ${list}`);
    if (m.address !== first?.address) lines.push(`c=IN ${ipVer(m.address)} ${m.address}`);
    if (rtp) {
      for (const f of m.formats) {
        if (f.name === '') continue;
        const ch = (f.channels ?? 1) > 1 ? `/${f.channels}` : '';
        lines.push(`a=rtpmap:${f.payloadType} ${f.name}/${f.clockRate}${ch}`);
        if (f.fmtp !== undefined) lines.push(`a=fmtp:${f.payloadType} ${f.fmtp}`);
      }
    }
    if (m.ptime !== undefined) lines.push(`a=ptime:${m.ptime}`);
    if (m.rtcpPort !== undefined && !m.rtcpMux) lines.push(`a=rtcp:${m.rtcpPort}`);
    if (m.rtcpMux) lines.push('a=rtcp-mux');
    lines.push(`a=${m.direction}`);
  }
  return lines.join('\r\n') + '\r\n';
}

/** Whether two formats are the same codec (name case-insensitively, clock rate, channels). */
export function sameCodec(a: PayloadFormat, b: PayloadFormat): boolean {
  return (
    a.name !== '' &&
    a.name.toLowerCase() === b.name.toLowerCase() &&
    a.clockRate === b.clockRate &&
    (a.channels ?? 1) === (b.channels ?? 1)
  );
}

/** Whether a format is RFC 4733 telephone-event. */
export function isTelephoneEvent(format: PayloadFormat): boolean {
  return format.name.toLowerCase() === 'telephone-event';
}

/** The direction an answerer uses for an offered one (RFC 3264 §6.1). */
export function answerDirection(
  offered: SdpDirection,
  local: SdpDirection = 'sendrecv',
): SdpDirection {
  const send =
    (offered === 'sendrecv' || offered === 'recvonly') &&
    (local === 'sendrecv' || local === 'sendonly');
  const recv =
    (offered === 'sendrecv' || offered === 'sendonly') &&
    (local === 'sendrecv' || local === 'recvonly');
  return send && recv ? 'sendrecv' : send ? 'sendonly' : recv ? 'recvonly' : 'inactive';
}

/** Whether a stream is on hold: not sending both ways, or the RFC 2543 hold address. */
export function isHold(media: SdpMedia): boolean {
  return media.direction !== 'sendrecv' || media.address === '0.0.0.0' || media.address === '::';
}

/** Options of {@link createAnswer}. */
export interface CreateAnswerOptions {
  /** The offer received (SDP text or a parsed session). */
  offer: string | SdpSession;
  /**
   * Codecs this side can receive and send, in order of preference; payload
   * types here are ignored (the answer uses the offer's numbers, RFC 3264 §6.1).
   */
  codecs: readonly PayloadFormat[];
  /**
   * Whether to accept RFC 4733 telephone-event when offered.
   * @defaultValue `true`
   */
  telephoneEvent?: boolean | undefined;
  /** The local media address written into the answer. */
  address: string;
  /** The local RTP port of the (first) accepted audio stream. */
  port: number;
  /**
   * The local RTCP port when not multiplexed.
   * @defaultValue `port + 1`
   */
  rtcpPort?: number | undefined;
  /**
   * Whether rtcp-mux is accepted when offered (RFC 5761 §5.1.1).
   * @defaultValue `true`
   */
  rtcpMux?: boolean | undefined;
  /**
   * The local direction (e.g. `'sendonly'` to hold).
   * @defaultValue `'sendrecv'`
   */
  direction?: SdpDirection | undefined;
  /** The `o=` line of the answer. @defaultValue a fresh origin at `address` */
  origin?: SdpSession['origin'] | undefined;
}

/** An answer and what it agreed. */
export interface SdpAnswer {
  /** The answer as SDP text. */
  sdp: string;
  /** The answer as a session. */
  session: SdpSession;
  /** The index of the accepted audio `m=` line in the offer. */
  mediaIndex: number;
  /** The codec both sides will use (the offer's payload type). */
  codec: PayloadFormat;
  /** telephone-event as offered, when accepted. */
  telephoneEvent?: PayloadFormat | undefined;
  /** The offerer's media as parsed (address, port, rtcp-mux, direction). */
  remote: SdpMedia;
}

/**
 * Answers an offer (RFC 3264 §6): accepts the first audio stream that shares
 * a codec with `codecs` (in the offerer's order of preference), rejects every
 * other stream with port 0, and mirrors direction, ptime and rtcp-mux. Throws
 * `MEDIA_SDP_INVALID` for a malformed offer and `MEDIA_SDP_NO_COMMON_CODEC`
 * when no audio stream can be accepted.
 */
export function createAnswer(options: CreateAnswerOptions): SdpAnswer {
  const offer = typeof options.offer === 'string' ? parseSdp(options.offer) : options.offer;
  const acceptTe = options.telephoneEvent ?? true;
  const muxOk = options.rtcpMux ?? true;
  let accepted: SdpAnswer | undefined;
  const media: SdpMedia[] = offer.media.map((m, index) => {
    // RFC 3264 §6: a rejected stream keeps its formats and gets port 0.
    const rejected: SdpMedia = {
      ...m,
      port: 0,
      rtcpPort: undefined,
      rtcpMux: false,
      address: options.address,
    };
    if (
      accepted !== undefined ||
      m.type !== 'audio' ||
      m.port === 0 ||
      !/^RTP\/AVPF?$/.test(m.protocol)
    ) {
      return rejected;
    }
    const codec = m.formats.find((f) => options.codecs.some((c) => sameCodec(c, f)));
    if (codec === undefined) return rejected;
    const te = acceptTe
      ? m.formats.find((f) => isTelephoneEvent(f) && f.clockRate === codec.clockRate)
      : undefined;
    const rtcpMux = m.rtcpMux && muxOk;
    const answer: SdpMedia = {
      type: 'audio',
      port: options.port,
      protocol: m.protocol,
      formats: te ? [codec, te] : [codec],
      address: options.address,
      direction: answerDirection(m.direction, options.direction),
      ptime: m.ptime ?? 20,
      rtcpMux,
      rtcpPort: rtcpMux ? undefined : (options.rtcpPort ?? options.port + 1),
    };
    accepted = { sdp: '', session: offer, mediaIndex: index, codec, telephoneEvent: te, remote: m };
    return answer;
  });
  if (accepted === undefined) {
    throw new VoxmeshError(
      MediaErrorCode.SDP_NO_COMMON_CODEC,
      `No audio stream of the offer shares a codec with ${options.codecs.map((c) => c.name).join(', ')}`,
    );
  }
  const session: SdpSession = {
    origin: options.origin ?? {
      username: '-',
      sessionId: String(Math.floor(Math.random() * 1e12)),
      sessionVersion: 1,
      address: options.address,
    },
    name: '-',
    media,
  };
  return { ...accepted, session, sdp: writeSdp(session) };
}
