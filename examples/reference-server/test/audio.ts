// Measuring audio in the tests.

/** The strongest frequency (Goertzel scan, 5 Hz steps) of a stretch of samples. */
export function peakFrequency(
  samples: Int16Array,
  sampleRate: number,
  fromHz = 200,
  toHz = 3000,
): number {
  let best = 0;
  let bestPower = -1;
  for (let f = fromHz; f <= toHz; f += 5) {
    const k = 2 * Math.cos((2 * Math.PI * f) / sampleRate);
    let s1 = 0;
    let s2 = 0;
    for (const x of samples) {
      const s0 = x + k * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - k * s1 * s2;
    if (power > bestPower) {
      bestPower = power;
      best = f;
    }
  }
  return best;
}
