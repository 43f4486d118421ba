import { test } from 'vitest';
import { SipTransport, userAgentTransport } from '@voxmesh/sip';
import { MemoryNetwork, uaTransportSuite } from '@voxmesh/sip/testing';

// Every UaTransport implementation in the package runs the conformance suite.

for (const reliable of [false, true]) {
  uaTransportSuite({
    test,
    name: `MemoryNetwork (${reliable ? 'reliable' : 'datagram'})`,
    factory: () => {
      const net = new MemoryNetwork();
      const a = net.transport({ host: '10.0.0.1', port: 5060, reliable });
      const b = net.transport({ host: '10.0.0.2', port: 5060, reliable });
      return Promise.resolve({
        a,
        b,
        bTarget: { protocol: reliable ? 'TCP' : 'UDP', host: '10.0.0.2', port: 5060 },
        close: () => {
          a.close();
          b.close();
          return Promise.resolve();
        },
      });
    },
  });
}

for (const protocol of ['UDP', 'TCP'] as const) {
  uaTransportSuite({
    test,
    name: `userAgentTransport over SipTransport (${protocol})`,
    factory: async () => {
      const ta = new SipTransport({ listeners: [{ protocol, host: '127.0.0.1', port: 0 }] });
      const tb = new SipTransport({ listeners: [{ protocol, host: '127.0.0.1', port: 0 }] });
      await Promise.all([ta.start(), tb.start()]);
      const port = tb.listening[0]!.local.port;
      return {
        a: userAgentTransport(ta),
        b: userAgentTransport(tb),
        bTarget: { protocol, host: '127.0.0.1', port },
        close: async () => {
          await Promise.all([ta.stop(), tb.stop()]);
        },
      };
    },
  });
}
