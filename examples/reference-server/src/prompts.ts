/**
 * The demo prompts. There is no text-to-speech here, so each prompt is a
 * short pattern of tones with its own frequencies — a caller (or a test)
 * tells them apart by ear or by measuring the frequency. They are written as
 * 8 kHz, 16-bit mono WAV files through storage when the demo tenant is
 * seeded.
 *
 * @module
 */

import { wavHeader } from '@voxmesh/media';

/** One segment of a prompt: a tone (`hz` > 0) or silence (`hz` = 0). */
export interface ToneSegment {
  hz: number;
  ms: number;
}

/** The demo prompts: id → what they stand for and their tone pattern. */
export const DEMO_PROMPTS: Readonly<
  Record<string, { meaning: string; segments: readonly ToneSegment[] }>
> = {
  'ivr-menu': {
    meaning: 'Welcome. Press 1 for 1001, 2 for 1002, 9 for voicemail. (three rising beeps)',
    segments: [
      { hz: 440, ms: 250 },
      { hz: 0, ms: 100 },
      { hz: 660, ms: 250 },
      { hz: 0, ms: 100 },
      { hz: 880, ms: 250 },
    ],
  },
  'ivr-invalid': {
    meaning: 'That was not a valid choice. (two low beeps)',
    segments: [
      { hz: 300, ms: 200 },
      { hz: 0, ms: 100 },
      { hz: 300, ms: 200 },
    ],
  },
  'ivr-goodbye': {
    meaning: 'Goodbye. (three falling beeps)',
    segments: [
      { hz: 880, ms: 150 },
      { hz: 0, ms: 50 },
      { hz: 660, ms: 150 },
      { hz: 0, ms: 50 },
      { hz: 440, ms: 150 },
    ],
  },
  'voicemail-greeting': {
    meaning: 'Please leave a message after the tone. (a 1.2 s 520 Hz tone)',
    segments: [{ hz: 520, ms: 1200 }],
  },
};

/** Renders tone segments as an 8 kHz, 16-bit mono PCM WAV file. */
export function renderToneWav(segments: readonly ToneSegment[], sampleRate = 8000): Buffer {
  const total = segments.reduce((n, s) => n + Math.round((s.ms * sampleRate) / 1000), 0);
  const data = Buffer.alloc(total * 2);
  let offset = 0;
  for (const segment of segments) {
    const n = Math.round((segment.ms * sampleRate) / 1000);
    const ramp = Math.min(40, Math.floor(n / 4)); // 5 ms fade in and out: no clicks
    for (let i = 0; i < n; i++) {
      let v = 0;
      if (segment.hz > 0) {
        const envelope = Math.min(1, i / Math.max(1, ramp), (n - 1 - i) / Math.max(1, ramp));
        v = Math.round(
          0.5 * 32767 * envelope * Math.sin((2 * Math.PI * segment.hz * i) / sampleRate),
        );
      }
      data.writeInt16LE(v, offset);
      offset += 2;
    }
  }
  return Buffer.concat([
    wavHeader({ encoding: 'pcm16', sampleRate, dataBytes: data.length }),
    data,
  ]);
}

/** The storage key of a tenant's prompt. */
export function promptKey(tenantId: string, promptId: string): string {
  return `${tenantId}/prompts/${promptId}.wav`;
}
