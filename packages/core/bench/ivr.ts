// Simulated calls per second through a five-node IVR flow (play → menu →
// set-variable → condition → play) on a fake clock, on one core. Prints one
// JSON line: {"callsPerSecond": ..., ...}.
import { FakeClock, IvrRuntime, type IvrFlow } from '@voxmesh/core';
import { simulateCall } from '@voxmesh/core/testing';

const flow: IvrFlow = {
  id: 'bench',
  start: 'welcome',
  nodes: {
    welcome: { type: 'play', config: { prompt: 'welcome' }, outputs: { next: 'menu' } },
    menu: {
      type: 'menu',
      config: { prompt: 'menu', options: ['1', '2'], variable: 'choice' },
      outputs: { '1': 'tag', '2': 'tag' },
    },
    tag: {
      type: 'set-variable',
      config: { variables: { dept: 'dept-{{choice}}' } },
      outputs: { next: 'check' },
    },
    check: {
      type: 'condition',
      config: { variable: 'dept', operator: 'equals', value: 'dept-1' },
      outputs: { true: 'bye', false: 'bye' },
    },
    bye: { type: 'play', config: { prompt: 'bye' } },
  },
};

const clock = new FakeClock();
const runtime = new IvrRuntime({ clock });

async function oneCall(): Promise<void> {
  const { result, call } = await simulateCall({
    flow,
    runtime,
    call: { clock, promptDurationMs: 2_000 },
    script: async (c) => {
      await c.waitFor((e) => e.type === 'collect.started');
      await c.press('1');
    },
  });
  if (
    result.outcome !== 'completed' ||
    result.steps.length !== 5 ||
    call.variables.get('dept') !== 'dept-1'
  ) {
    throw new Error(`unexpected run: ${JSON.stringify(result)}`);
  }
}

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const warmUntil = performance.now() + 1_000;
while (performance.now() < warmUntil) await oneCall();

let calls = 0;
const cpuStart = process.cpuUsage();
const start = performance.now();
const end = start + seconds * 1_000;
while (performance.now() < end) {
  await oneCall();
  calls++;
}
const elapsed = performance.now() - start;
const cpu = process.cpuUsage(cpuStart);
const cpuMs = (cpu.user + cpu.system) / 1_000;
console.log(
  JSON.stringify({
    callsPerSecond: Math.round((calls / elapsed) * 1_000),
    // Per CPU second: steadier than wall time when the machine is shared.
    callsPerCpuSecond: Math.round((calls / cpuMs) * 1_000),
    calls,
    seconds: Math.round(elapsed) / 1_000,
    nodesPerCall: 5,
    node: process.version,
  }),
);
