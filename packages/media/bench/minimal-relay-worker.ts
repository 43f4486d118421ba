// The floor of bench:media-relay (RELAY_WORKER=minimal): the least a Node
// `dgram` relay can do per packet — two sockets per call, each connect()ed to
// the first source it hears, every datagram sent on unchanged. Same IPC
// protocol as relay-worker.ts, so the harness measures both the same way.
import { createSocket, type Socket } from 'node:dgram';

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
process.on('message', (raw: unknown) => {
  const message = raw as SetupMessage | { type: 'teardown' } | { type: 'mark' } | { type: 'exit' };
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
    } else if (message.type === 'teardown') {
      const cpu = process.cpuUsage(mark);
      for (const socket of sockets) socket.close();
      sockets = [];
      nextPort = 40000;
      process.send?.({ type: 'done', cpuUserUs: cpu.user, cpuSystemUs: cpu.system });
    } else {
      process.exit(0);
    }
  })();
});
process.send?.({ type: 'started' });
