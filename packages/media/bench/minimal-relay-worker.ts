// The floor of bench:media-relay (RELAY_WORKER=minimal): the least a Node
// `dgram` relay can do per packet — two sockets per call, each connect()ed to
// the first source it hears, every datagram sent on unchanged. Same IPC
// protocol as relay-worker.ts, so the harness measures both the same way.
import { createSocket, type Socket } from 'node:dgram';
import { loopStats } from './loop-stats.js';

interface SetupMessage {
  type: 'setup';
  calls: number;
}

let sockets: Socket[] = [];
let nextPort = 40000;

function bindSocket(): Promise<Socket> {
  const socket = createSocket({
    type: 'udp4',
    recvBufferSize: 1024 * 1024,
    sendBufferSize: 1024 * 1024,
  });
  socket.on('error', () => undefined);
  return new Promise((resolve) => {
    socket.bind(nextPort, '127.0.0.1', () => resolve(socket));
    nextPort += 2;
  });
}

function pipe(from: Socket, to: Socket): void {
  let latched = false;
  let connected = false;
  from.on('message', (msg, rinfo) => {
    if (!latched) {
      latched = true;
      from.connect(rinfo.port, rinfo.address, () => {
        connected = true;
      });
    }
    if (connected) to.send(msg);
  });
}

let mark = process.cpuUsage();
const stats = loopStats();
process.on('message', (raw: unknown) => {
  const message = raw as
    SetupMessage | { type: 'teardown' } | { type: 'mark' } | { type: 'sample' } | { type: 'exit' };
  void (async () => {
    if (message.type === 'setup') {
      const ports: [number, number][] = [];
      for (let i = 0; i < message.calls; i++) {
        const a = await bindSocket();
        const b = await bindSocket();
        sockets.push(a, b);
        pipe(a, b);
        pipe(b, a);
        ports.push([a.address().port, b.address().port]);
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
      for (const socket of sockets) socket.close();
      sockets = [];
      nextPort = 40000;
      process.send?.({ type: 'done' });
    } else {
      process.exit(0);
    }
  })();
});
process.on('disconnect', () => process.exit(1));
process.send?.({ type: 'started' });
