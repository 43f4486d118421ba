import { expect, it } from 'vitest';

// Pins the runtime exports of @voxmesh/media: removing or renaming one is a
// breaking change and must fail here first.
it('exports exactly the public API of @voxmesh/media', async () => {
  const api = await import('@voxmesh/media');
  expect(Object.keys(api).sort()).toEqual([
    'ALAW_TO_LINEAR',
    'ALAW_TO_ULAW',
    'MediaErrorCode',
    'RTP_HEADER_LENGTH',
    'ReceiverStats',
    'RtcpPacketType',
    'STATIC_PAYLOAD_TYPES',
    'ULAW_TO_ALAW',
    'ULAW_TO_LINEAR',
    'alawToUlaw',
    'answerDirection',
    'bytesPerSample',
    'createAnswer',
    'decodeAlaw',
    'decodeAudio',
    'decodeL16',
    'decodeRtcp',
    'decodeRtp',
    'decodeUlaw',
    'decodeWav',
    'encodeAlaw',
    'encodeAudio',
    'encodeL16',
    'encodeRtcp',
    'encodeRtp',
    'encodeUlaw',
    'estimateMos',
    'isAudioCodec',
    'isHold',
    'isRtcp',
    'isTelephoneEvent',
    'ntpMiddle',
    'parseSdp',
    'readWav',
    'rtpMarker',
    'rtpPayloadLength',
    'rtpPayloadOffset',
    'rtpPayloadType',
    'rtpSequence',
    'rtpSsrc',
    'rtpTimestamp',
    'rttFromReport',
    'sameCodec',
    'setRtpMarker',
    'setRtpPayloadType',
    'setRtpSequence',
    'setRtpSsrc',
    'setRtpTimestamp',
    'toNtp',
    'ulawToAlaw',
    'wavHeader',
    'writeSdp',
  ]);
});

it('exports exactly the public API of @voxmesh/media/testing', async () => {
  const api = await import('@voxmesh/media/testing');
  expect(Object.keys(api).sort()).toEqual([]);
});
