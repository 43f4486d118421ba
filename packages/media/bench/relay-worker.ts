// The system under test of bench:media-relay: an InProcessMediaController in
// its own process (pinned to one core by the parent), driven over IPC.
import { InProcessMediaController, PortAllocator } from '../src/index.js';
import { loopStats } from './loop-stats.js';

interface SetupMessage {
  type: 'setup';
  calls: number;
  peerA: number;
  peerB: number;
}

// STATS_INTERVAL_MS (from the parent's environment): the controller's RTCP
// and statistics period; the default is the controller's own.
const statsIntervalMs = process.env.STATS_INTERVAL_MS
  ? Number(process.env.STATS_INTERVAL_MS)
  : undefined;
const controller = new InProcessMediaController({
  ports: new PortAllocator({
    address: '127.0.0.1',
    minPort: 40000,
    maxPort: 59999,
    socketBufferBytes: process.env.RELAY_SOCKET_BUFFER
      ? Number(process.env.RELAY_SOCKET_BUFFER)
      : undefined,
  }),
  statsIntervalMs,
  mediaTimeoutMs: 600_000,
});
await controller.start();

const sdp = (port: number) =>
  [
    'v=0',
    'o=bench 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=rtcp-mux',
    'a=sendrecv',
    '',
  ].join('\r\n');

const portOf = (text: string): number => Number(/m=audio (\d+)/.exec(text)?.[1]);

let next = 0;
let mark = process.cpuUsage();
const stats = loopStats();

process.on('message', (raw: unknown) => {
  const message = raw as
    SetupMessage | { type: 'teardown' } | { type: 'mark' } | { type: 'sample' } | { type: 'exit' };
  void (async () => {
    if (message.type === 'setup') {
      const ports: [number, number][] = [];
      for (let i = 0; i < message.calls; i++) {
        const id = `c${next++}`;
        const offer = await controller.offer({
          sessionId: id,
          from: 'a',
          to: 'b',
          sdp: sdp(message.peerA),
        });
        const answer = await controller.answer({
          sessionId: id,
          from: 'b',
          to: 'a',
          sdp: sdp(message.peerB),
        });
        // Packets from peer A go to the port in the answer; from peer B to the port in the offer.
        ports.push([portOf(answer.sdp), portOf(offer.sdp)]);
      }
      process.send?.({ type: 'ready', ports });
    } else if (message.type === 'mark') {
      mark = process.cpuUsage();
      stats.start();
    } else if (message.type === 'sample') {
      const cpu = process.cpuUsage(mark);
      process.send?.({
        type: 'sample',
        cpuUs: cpu.user + cpu.system,
        rssMb: Math.round(process.memoryUsage.rss() / 1e6),
        ...stats.stop(),
      });
    } else if (message.type === 'teardown') {
      for (let i = 0; i < next; i++) await controller.teardown({ sessionId: `c${i}` });
      next = 0;
      process.send?.({ type: 'done' });
    } else {
      await controller.stop();
      process.exit(0);
    }
  })();
});
// Exit with the harness (never linger as a real-time process).
process.on('disconnect', () => process.exit(1));
process.send?.({ type: 'started' });
