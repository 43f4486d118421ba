// The system under test of bench:media-relay: an InProcessMediaController in
// its own process (pinned to one core by the parent), driven over IPC.
import { InProcessMediaController, PortAllocator } from '../src/index.js';

interface SetupMessage {
  type: 'setup';
  calls: number;
  peerA: number;
  peerB: number;
}

const controller = new InProcessMediaController({
  ports: new PortAllocator({ address: '127.0.0.1', minPort: 40000, maxPort: 59999 }),
  statsIntervalMs: 60_000,
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
process.on('message', (raw: unknown) => {
  const message = raw as SetupMessage | { type: 'teardown' } | { type: 'mark' } | { type: 'exit' };
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
    } else if (message.type === 'teardown') {
      const cpu = process.cpuUsage(mark);
      for (let i = 0; i < next; i++) await controller.teardown({ sessionId: `c${i}` });
      next = 0;
      process.send?.({ type: 'done', cpuUserUs: cpu.user, cpuSystemUs: cpu.system });
    } else {
      await controller.stop();
      process.exit(0);
    }
  })();
});
process.send?.({ type: 'started' });
