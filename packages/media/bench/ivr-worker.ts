// The system under test of bench:media-ivr: N RtpEndpoints in one process
// (pinned to one core by the parent), each playing a looping prompt and
// running in-band DTMF detection on what it receives, all paced by one
// shared MediaClock.
import { MediaClock, MediaLeg, PortAllocator, RtpEndpoint } from '../src/index.js';
import { loopStats } from './loop-stats.js';

const mediaClock = new MediaClock();
// Ports from a range, as in production: a leg then connect()s its socket to
// the peer it latched onto (cheaper sends than to an address each time).
const allocator = new PortAllocator({ address: '127.0.0.1', minPort: 40000, maxPort: 59999 });
const stats = loopStats();
let endpoints: RtpEndpoint[] = [];
let digits = 0;
let lateAtMark = 0;
let framesAtMark = 0;
let ticks = 0;
let cpuMark = process.cpuUsage();
let tickSub: Disposable | undefined;

// A 3 s prompt: a slow sweep, so the detector sees changing audio.
const prompt = Int16Array.from({ length: 24000 }, (_, i) => {
  const f = 300 + (i / 24000) * 2000;
  return Math.round(6000 * Math.sin((2 * Math.PI * f * i) / 8000));
});

process.on('message', (raw: unknown) => {
  const m = raw as { type: string; legs?: number; peer?: number };
  void (async () => {
    if (m.type === 'setup') {
      const ports: number[] = [];
      for (let i = 0; i < (m.legs ?? 0); i++) {
        const leg = new MediaLeg({
          ports: await allocator.allocate({ rtcp: false }),
          rtcpMux: true,
        });
        const endpoint = new RtpEndpoint({
          leg,
          mediaClock,
          codec: 'PCMU',
          payloadType: 0,
          remote: { address: '127.0.0.1', port: m.peer ?? 0 },
        });
        endpoint.on('dtmf', () => digits++);
        void endpoint.play({ samples: prompt }, { loop: true });
        endpoints.push(endpoint);
        ports.push(leg.port);
      }
      tickSub = mediaClock.subscribe(() => ticks++);
      process.send?.({ type: 'ready', ports });
    } else if (m.type === 'mark') {
      lateAtMark = mediaClock.lateTicks;
      framesAtMark = endpoints.reduce((n, e) => n + e.player.framesSent, 0);
      ticks = 0;
      digits = 0;
      cpuMark = process.cpuUsage();
      stats.start();
    } else if (m.type === 'teardown') {
      const cpu = process.cpuUsage(cpuMark);
      const late = mediaClock.lateTicks - lateAtMark;
      const frames = endpoints.reduce((n, e) => n + e.player.framesSent, 0) - framesAtMark;
      const result = {
        type: 'done',
        lateTicks: late,
        frames,
        ticks,
        digits,
        cpuUs: cpu.user + cpu.system,
        ...stats.stop(),
      };
      for (const e of endpoints) e.close();
      endpoints = [];
      tickSub?.[Symbol.dispose]();
      process.send?.(result);
    } else if (m.type === 'exit') {
      process.exit(0);
    }
  })();
});
// Exit with the harness (never linger as a real-time process).
process.on('disconnect', () => process.exit(1));
process.send?.({ type: 'started' });
