/**
 * `@voxmesh/media`: the media plane — RTP/RTCP, SDP offer/answer (RFC 3264),
 * a relay with latching and PCMU↔PCMA transcoding, G.711 and L16, a prompt
 * player and recorder paced by one shared media clock, DTMF (RFC 4733 and
 * in-band), quality statistics, and {@link InProcessMediaController}, the
 * in-process implementation of core's `MediaController`.
 *
 * @packageDocumentation
 */

export { MediaErrorCode } from './errors.js';

export {
  RTP_HEADER_LENGTH,
  rtpPayloadOffset,
  rtpPayloadLength,
  rtpPayloadType,
  setRtpPayloadType,
  rtpMarker,
  setRtpMarker,
  rtpSequence,
  setRtpSequence,
  rtpTimestamp,
  setRtpTimestamp,
  rtpSsrc,
  setRtpSsrc,
  isRtcp,
  decodeRtp,
  encodeRtp,
} from './rtp.js';
export type { RtpPacket, RtpExtension } from './rtp.js';

export { RtcpPacketType, decodeRtcp, encodeRtcp, toNtp, ntpMiddle } from './rtcp.js';
export type {
  RtcpPacket,
  RtcpReportBlock,
  RtcpSenderReport,
  RtcpReceiverReport,
  RtcpSourceDescription,
  RtcpSdesChunk,
  RtcpSdesItem,
  RtcpBye,
  RtcpUnknown,
} from './rtcp.js';

export { ReceiverStats, rttFromReport, estimateMos } from './stats.js';
export type { ReceiverStatsOptions, ReceiverStatsSnapshot, MosInput } from './stats.js';

export {
  ULAW_TO_LINEAR,
  ALAW_TO_LINEAR,
  ULAW_TO_ALAW,
  ALAW_TO_ULAW,
  encodeUlaw,
  decodeUlaw,
  encodeAlaw,
  decodeAlaw,
  ulawToAlaw,
  alawToUlaw,
  encodeL16,
  decodeL16,
} from './g711.js';

export {
  STATIC_PAYLOAD_TYPES,
  encodeAudio,
  decodeAudio,
  bytesPerSample,
  isAudioCodec,
} from './codecs.js';
export type { AudioCodecName, PayloadFormat } from './codecs.js';

export { readWav, decodeWav, wavHeader } from './wav.js';
export type { WavInfo, WavEncoding, WavHeaderOptions } from './wav.js';

export {
  parseSdp,
  writeSdp,
  createAnswer,
  sameCodec,
  isTelephoneEvent,
  answerDirection,
  isHold,
} from './sdp.js';
export type { SdpSession, SdpMedia, SdpDirection, CreateAnswerOptions, SdpAnswer } from './sdp.js';

export { PortAllocator } from './ports.js';
export type { PortAllocatorOptions, AllocateOptions, PortPair } from './ports.js';

export {
  DTMF_DIGITS,
  decodeTelephoneEvent,
  encodeTelephoneEvent,
  Rfc4733Receiver,
  telephoneEventPackets,
  GoertzelDetector,
} from './dtmf.js';
export type {
  TelephoneEvent,
  Rfc4733ReceiverOptions,
  TelephoneEventPacket,
  TelephoneEventPacketsOptions,
  GoertzelDetectorOptions,
} from './dtmf.js';

export { MediaClock } from './media-clock.js';
export type { MediaClockOptions, MediaClockListener } from './media-clock.js';

export { MediaLeg } from './leg.js';
export type { MediaLegOptions, MediaAddress } from './leg.js';

export { RtpRelay } from './relay.js';
export type { RelayLegMedia, RelayTap, RelayCallbacks, RelayDirectionCounters } from './relay.js';

export { InProcessMediaController } from './controller.js';
export type { InProcessMediaControllerOptions } from './controller.js';

export { Player, loadPrompt, FRAME_SAMPLES } from './player.js';
export type { PlayerOptions, PlayOptions, PlayResult, PromptSource } from './player.js';

export { Recorder } from './recorder.js';
export type { RecorderOptions, RecordingSummary } from './recorder.js';

export { RtpEndpoint } from './endpoint.js';
export type { RtpEndpointOptions, RtpEndpointEvents } from './endpoint.js';

export {
  TerminatedLeg,
  PromptCache,
  promptSamples,
  toneSamples,
  SILENCE_RMS,
  VOICE_BARGE_IN_MS,
} from './terminated-leg.js';
export type {
  TerminatedLegOptions,
  TerminatedLegMedia,
  TerminatedLegPlayOptions,
  TerminatedLegRecordOptions,
} from './terminated-leg.js';
