import { it } from 'vitest';
import { SystemClock } from '../src/index.js';
import { callChannelSuite, SimulatedCall } from '../src/testing.js';

// The simulated call on a fake clock...
callChannelSuite({
  test: it,
  prefix: 'SimulatedCall (fake clock): ',
  factory: () => {
    const call = new SimulatedCall();
    return {
      channel: call,
      press: (digit) => call.press(digit),
      advance: (ms) => call.silence(ms),
      callerHangup: () => call.callerHangup(),
    };
  },
});

// ... and on the system clock, as a real channel would run.
callChannelSuite({
  test: it,
  prefix: 'SimulatedCall (system clock): ',
  factory: () => {
    const call = new SimulatedCall({ clock: new SystemClock() });
    return {
      channel: call,
      press: (digit) => call.press(digit),
      advance: (ms) => call.silence(ms),
      callerHangup: () => call.callerHangup(),
    };
  },
});
