/** The peak bin of `sox stat -freq` output ("freq  power" lines). */
export function peakFrequency(statOutput: string): number {
  let best = 0;
  let bestPower = -Infinity;
  for (const line of statOutput.split('\n')) {
    const m = /^\s*([\d.]+)\s+([\d.eE+-]+)\s*$/.exec(line);
    if (!m) continue;
    const power = Number(m[2]);
    if (power > bestPower) {
      bestPower = power;
      best = Number(m[1]);
    }
  }
  return best;
}
