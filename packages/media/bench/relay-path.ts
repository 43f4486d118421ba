// A focused micro-benchmark of the relay's per-packet JavaScript path
// (receive → latch check → statistics → rewrite → send), without the kernel:
// two MediaLegs on stand-in sockets that emit datagrams directly and count
// sends, joined by an RtpRelay. Run with
// `tsx --conditions=@voxmesh/source bench/relay-path.ts`; PACKETS (default
// 2,000,000) sets the count; BARE=1 wires the stand-in sockets straight to
// each other (no leg, no relay) to measure the harness's own share. Ends with
// one JSON line.
import { EventEmitter } from 'node:events';
import type { RemoteInfo, Socket } from 'node:dgram';
import { MediaLeg, RtpRelay, type PortPair } from '../src/index.js';

const PACKETS = Number(process.env.PACKETS ?? 2_000_000);
const BARE = process.env.BARE === '1';

class StandInSocket extends EventEmitter {
  sent = 0;
  send(_packet?: Uint8Array): void {
    this.sent++;
  }
  connect(_port: number, _address: string, callback: () => void): void {
    queueMicrotask(callback);
  }
  disconnect(): void {}
}

function pair(port: number): { ports: PortPair; socket: StandInSocket } {
  const socket = new StandInSocket();
  return {
    socket,
    ports: {
      port,
      rtcpPort: undefined,
      rtp: socket as unknown as Socket,
      rtcp: undefined,
      fixed: true,
      release: () => undefined,
    },
  };
}

const a = pair(40000);
const b = pair(40002);
let bareForwarded = 0;
const relay = BARE
  ? undefined
  : new RtpRelay({
      a: new MediaLeg({ ports: a.ports, rtcpMux: true }),
      b: new MediaLeg({ ports: b.ports, rtcpMux: true }),
      mediaA: { codec: 'PCMU', payloadType: 0, telephoneEventPayloadType: 101 },
      mediaB: { codec: 'PCMU', payloadType: 0, telephoneEventPayloadType: 101 },
    });
if (BARE) {
  a.socket.on('message', (msg: Buffer) => {
    bareForwarded++;
    b.socket.send(msg);
  });
  b.socket.on('message', (msg: Buffer) => {
    bareForwarded++;
    a.socket.send(msg);
  });
}
const forwardedSoFar = (): number =>
  relay === undefined
    ? bareForwarded
    : relay.counters('a').forwarded + relay.counters('b').forwarded;
const rinfoA: RemoteInfo = { address: '127.0.0.1', family: 'IPv4', port: 50000, size: 172 };
const rinfoB: RemoteInfo = { address: '127.0.0.1', family: 'IPv4', port: 50002, size: 172 };
const packet = Buffer.alloc(172, 0xff);
packet[0] = 0x80;
packet[1] = 0;
packet.writeUInt32BE(0x12345678, 8);

function run(count: number, startSeq: number): void {
  for (let i = 0; i < count; i++) {
    const seq = startSeq + i;
    // A fresh header per packet, as the kernel delivers a fresh buffer.
    packet[1] = 0;
    packet.writeUInt16BE(seq & 0xffff, 2);
    packet.writeUInt32BE((seq * 160) >>> 0, 4);
    packet.writeUInt32BE(0x12345678, 8);
    a.socket.emit('message', packet, rinfoA);
    packet[1] = 0;
    packet.writeUInt16BE(seq & 0xffff, 2);
    packet.writeUInt32BE((seq * 160) >>> 0, 4);
    packet.writeUInt32BE(0x87654321, 8);
    b.socket.emit('message', packet, rinfoB);
  }
}

// Latch both legs and let the (microtask) connect complete, then warm up.
run(10, 0);
await new Promise((r) => setTimeout(r, 10));
run(200_000, 10);
const half = PACKETS / 2;
const forwardedBefore = forwardedSoFar();
const sentBefore = a.socket.sent + b.socket.sent;
const cpu = process.cpuUsage();
const t0 = performance.now();
run(half, 200_010);
const wallMs = performance.now() - t0;
const used = process.cpuUsage(cpu);
const forwarded = forwardedSoFar() - forwardedBefore;
const sent = a.socket.sent + b.socket.sent - sentBefore;
if (sent !== PACKETS || forwarded !== PACKETS)
  throw new Error(`expected ${PACKETS} sends, saw ${sent} (${forwarded} forwarded)`);
console.log(
  JSON.stringify({
    path: BARE ? 'bare' : 'leg+relay',
    packets: PACKETS,
    nsPerPacket: Number(((wallMs * 1e6) / PACKETS).toFixed(1)),
    cpuNsPerPacket: Number((((used.user + used.system) * 1000) / PACKETS).toFixed(1)),
  }),
);
