import { expect, it } from 'vitest';

// Pins the runtime exports of @voxmesh/core: removing or renaming one is a
// breaking change and must fail here first.
it('exports exactly the public API of @voxmesh/core', async () => {
  const api = await import('@voxmesh/core');
  expect(Object.keys(api).sort()).toEqual([
    'AbortError',
    'ErrorCode',
    'FakeClock',
    'Metrics',
    'Service',
    'ServiceGroup',
    'SystemClock',
    'TimeoutError',
    'TypedEventEmitter',
    'VoxmeshError',
    'abortable',
    'anySignal',
    'createLogger',
    'onAbort',
    'onceEvent',
    'silentLogger',
    'systemClock',
    'throwIfAborted',
    'timeoutSignal',
  ]);
});

it('exports exactly the public API of @voxmesh/core/testing', async () => {
  const api = await import('@voxmesh/core/testing');
  expect(Object.keys(api).sort()).toEqual(['FakeClock']);
});
