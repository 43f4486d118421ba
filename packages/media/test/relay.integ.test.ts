// Audio-verified tests with a real RTP peer (SIPp) on loopback: a tone
// played by our player goes through the relay (transcoded PCMA ↔ PCMU), is
// echoed by SIPp (-rtp_echo), comes back through the relay and is recorded;
// sox measures the recording. SIPp's RFC 2833 captures, replayed by SIPp into
// the relay, must each be reported exactly once.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DtmfEvent } from '@voxmesh/core';
import {
  createAnswer,
  InProcessMediaController,
  MediaClock,
  MediaLeg,
  PortAllocator,
  Recorder,
  RtpEndpoint,
  STATIC_PAYLOAD_TYPES,
  type AudioCodecName,
} from '@voxmesh/media';
import { runSipp, scenario, startUas } from './helpers/sipp.js';
import { peakFrequency } from './helpers/sox.js';

const PCAPS = '/usr/share/sip-tester';
const dir = mkdtempSync(join(tmpdir(), 'voxmesh-media-integ-'));
const cleanup: (() => unknown)[] = [];

beforeAll(() => {
  // The peers must be installed (CI installs them); a missing one fails the run.
  for (const bin of ['sipp', 'sox', 'soxi']) {
    expect(spawnSync('which', [bin]).status, `${bin} is not installed`).toBe(0);
  }
});

afterAll(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  rmSync(dir, { recursive: true, force: true });
});

/** Anchors a call from SIPp (offerer) to an endpoint of ours that uses `codec`. */
async function call(options: { xml: string; codec: AudioCodecName; rtpEcho?: boolean }) {
  const controller = new InProcessMediaController();
  await controller.start();
  cleanup.push(() => controller.stop());
  const uas = await startUas();
  cleanup.push(() => uas.close());
  const sipp = runSipp({
    scenarioPath: join(dir, `s-${Math.random()}.xml`),
    xml: options.xml,
    uasPort: uas.port,
    rtpEcho: options.rtpEcho,
  });
  cleanup.push(() => sipp.process.kill());
  const sippOffer = await uas.invite;
  const offer = await controller.offer({
    sessionId: 'call',
    from: 'sipp',
    to: 'a',
    sdp: sippOffer,
  });
  const ports = await new PortAllocator().allocate({ rtcp: false });
  const leg = new MediaLeg({ ports, rtcpMux: true });
  const codec = [...STATIC_PAYLOAD_TYPES.values()].find((f) => f.name === options.codec)!;
  const answer = createAnswer({
    offer: offer.sdp,
    codecs: [codec],
    address: '127.0.0.1',
    port: leg.port,
  });
  const mediaClock = new MediaClock();
  const endpoint = new RtpEndpoint({
    leg,
    mediaClock,
    codec: options.codec,
    payloadType: answer.codec.payloadType,
    telephoneEventPayloadType: answer.telephoneEvent?.payloadType,
    remote: { address: answer.remote.address, port: answer.remote.port },
  });
  cleanup.push(() => endpoint.close());
  const relayed = await controller.answer({
    sessionId: 'call',
    from: 'a',
    to: 'sipp',
    sdp: answer.sdp,
  });
  uas.answer(relayed.sdp);
  return { controller, uas, sipp, endpoint, mediaClock };
}

describe('relay with SIPp as the far end', () => {
  it('a 1 kHz tone played through the relay and echoed back by SIPp measures 1000 ± 5 Hz and 2.00 ± 0.05 s', async () => {
    const tonePath = join(dir, 'tone.wav');
    expect(
      spawnSync('sox', [
        '-n',
        '-r',
        '8000',
        '-c',
        '1',
        '-e',
        'mu-law',
        tonePath,
        'synth',
        '2',
        'sine',
        '1000',
      ]).status,
    ).toBe(0);
    const { controller, sipp, uas, endpoint, mediaClock } = await call({
      xml: scenario('  <pause milliseconds="5000"/>'),
      codec: 'PCMA',
      rtpEcho: true,
    });
    const recPath = join(dir, 'rec.wav');
    const recorder = new Recorder({
      mediaClock,
      destination: { path: recPath },
      inputs: 1,
      maxBufferMs: 400,
    });
    await recorder.start();
    endpoint.on('audio', (samples) => recorder.write(0, samples));
    const { readFileSync } = await import('node:fs');
    await expect(endpoint.play(readFileSync(tonePath))).resolves.toBe('completed');
    // Let the echo of the last frames come back.
    await new Promise((r) => setTimeout(r, 300));
    await recorder.stop();
    const stats = controller.legStats('call', 'sipp');
    expect(stats?.packetsReceived, 'SIPp echoed the tone').toBeGreaterThanOrEqual(95);

    // sox, as the independent measurement: trim the silence before and after
    // the tone (a gap inside it would count against the duration), then measure.
    const tonePart = join(dir, 'tone-part.wav');
    const trim = spawnSync('sox', [
      recPath,
      tonePart,
      'silence',
      '1',
      '0.005',
      '1%',
      'reverse',
      'silence',
      '1',
      '0.005',
      '1%',
      'reverse',
    ]);
    expect(trim.status, trim.stderr.toString()).toBe(0);
    const seconds = Number(spawnSync('soxi', ['-D', tonePart]).stdout.toString());
    console.log(`tone through the relay and SIPp: ${seconds} s`);
    expect(Math.abs(seconds - 2)).toBeLessThanOrEqual(0.05);
    const peak = peakFrequency(
      spawnSync('sox', [tonePart, '-n', 'stat', '-freq']).stderr.toString(),
    );
    console.log(`tone through the relay and SIPp: peak ${peak} Hz`);
    expect(Math.abs(peak - 1000)).toBeLessThanOrEqual(5);

    await uas.bye;
    expect(await sipp.exit, sipp.output()).toBe(0);
    await controller.teardown({ sessionId: 'call', reason: 'bye' });
  });

  it('reports each digit of SIPp’s RFC 2833 captures exactly once, at the relay and at the far endpoint', async () => {
    const names = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'pound', 'star'];
    for (const n of names)
      expect(existsSync(`${PCAPS}/dtmf_2833_${n}.pcap`), `sip-tester's dtmf_2833_${n}.pcap`).toBe(
        true,
      );
    const middle = names
      .map(
        (n) =>
          `  <nop><action><exec play_pcap_audio="${PCAPS}/dtmf_2833_${n}.pcap"/></action></nop>\n  <pause milliseconds="400"/>`,
      )
      .join('\n');
    const { controller, sipp, uas, endpoint } = await call({
      xml: scenario(middle + '\n  <pause milliseconds="500"/>'),
      codec: 'PCMU',
    });
    const atRelay: DtmfEvent[] = [];
    const atEndpoint: DtmfEvent[] = [];
    controller.on('dtmf', (_s, leg, e) => {
      if (leg === 'sipp') atRelay.push(e);
    });
    endpoint.on('dtmf', (e) => atEndpoint.push(e));
    await uas.bye;
    expect(await sipp.exit, sipp.output()).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(atRelay.map((e) => e.digit).join('')).toBe('0123456789#*');
    expect(atEndpoint.map((e) => e.digit).join('')).toBe('0123456789#*');
    // The captures hold the key for 2240 timestamp units (280 ms), in steps of 320.
    for (const e of atRelay) {
      expect(e.durationMs).toBe(280);
      expect(e.source).toBe('rfc4733');
    }
    await controller.teardown({ sessionId: 'call' });
  });
});
