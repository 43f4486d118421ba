// A minimal B2BUA application, run in its own Node process by the sip-cps
// benchmark (see ./b2bua-process.ts): a UDP transport on 127.0.0.1, a user
// agent without session timers, and a B2BUA bridging every INVITE to one uas.
// Answers IPC requests for its memory, CPU time and call counts.
//
//   argv[2]: {"uas":{"host":"127.0.0.1","port":5070},"port":0}
import { writeHeapSnapshot } from 'node:v8';
import { B2bua, SipTransport, UserAgent } from '@voxmesh/sip';

interface AppConfig {
  uas: { host: string; port: number };
  port: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as AppConfig;
if (config.uas === undefined)
  throw new TypeError('usage: b2bua-app.ts {"uas":{host,port},"port":0}');

const transport = new SipTransport({
  listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: config.port }],
});
await transport.start();
const port = transport.listening[0]!.local.port;
const ua = new UserAgent({
  transport,
  uri: `sip:b2bua@127.0.0.1:${port}`,
  sessionTimer: false,
});
const b2bua = new B2bua({ ua });
let bridges = 0;
let answered = 0;
let failed = 0;
const target = `sip:service@${config.uas.host}:${config.uas.port}`;
ua.use({
  method: 'INVITE',
  handler: ({ call }) => {
    bridges++;
    const bridge = b2bua.bridge({
      call: call!,
      targets: [{ uri: target }],
      strategy: 'sequential',
    });
    void bridge.result.then(
      (outcome) => {
        if (outcome.answered) answered++;
        else failed++;
      },
      () => failed++,
    );
    bridge.once('ended', () => bridges--);
  },
});
await ua.start();
await b2bua.start();

const gc = (globalThis as { gc?: () => void }).gc;

process.on('message', (message: { type: string; id?: number; gc?: boolean; path?: string }) => {
  if (message.type === 'heapSnapshot' && message.path !== undefined) {
    writeHeapSnapshot(message.path);
    process.send?.({ type: 'heapSnapshot', id: message.id });
  } else if (message.type === 'stats') {
    if (message.gc === true && gc) {
      gc();
      gc();
    }
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    process.send?.({
      type: 'stats',
      id: message.id,
      stats: {
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        cpuMicros: cpu.user + cpu.system,
        calls: ua.calls.length,
        bridges,
        answered,
        failed,
      },
    });
  } else if (message.type === 'stop') {
    // Exit (writing a --cpu-prof profile) even if calls still linger.
    setTimeout(() => process.exit(0), 2_000).unref();
    void (async () => {
      await b2bua.stop();
      await ua.stop();
      await transport.stop();
      process.exit(0);
    })();
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.send?.({ type: 'ready', port });
