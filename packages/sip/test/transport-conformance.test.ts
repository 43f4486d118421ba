import { describe, it } from 'vitest';
import { SipTransport, type TransportProtocol } from '@voxmesh/sip';
import { transportLayerSuite } from '@voxmesh/sip/testing';

// Our socket transport layer, on loopback, runs the suite every implementation runs.
for (const protocol of ['UDP', 'TCP', 'WS'] as TransportProtocol[]) {
  describe(`SipTransport over ${protocol}`, () => {
    transportLayerSuite({
      test: it,
      name: `SipTransport/${protocol}`,
      factory: async () => {
        const server = new SipTransport({ listeners: [{ protocol, host: '127.0.0.1', port: 0 }] });
        const client = new SipTransport({
          listeners: [{ protocol: 'UDP', host: '127.0.0.1', port: 0 }],
        });
        await server.start();
        await client.start();
        const port = server.listening[0]?.local.port as number;
        return {
          client,
          server,
          serverTarget: { protocol, host: '127.0.0.1', port },
          close: async () => {
            await client.stop();
            await server.stop();
          },
        };
      },
    });
  });
}
