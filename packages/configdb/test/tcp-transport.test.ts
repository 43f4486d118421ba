import net from 'node:net';
import { MemoryLevel } from 'memory-level';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigReplica, TcpTransport } from '../src/index.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function pair(secretA: string, secretB: string) {
  const ta = new TcpTransport({
    id: 'a',
    secret: secretA,
    peers: [{ id: 'b' }],
    reconnectDelayMs: 20,
  });
  const tb = new TcpTransport({
    id: 'b',
    secret: secretB,
    peers: [{ id: 'a' }],
    reconnectDelayMs: 20,
  });
  const a = new ConfigReplica({
    id: 'a',
    db: new MemoryLevel(),
    transport: ta,
    antiEntropyIntervalMs: 50,
  });
  const b = new ConfigReplica({
    id: 'b',
    db: new MemoryLevel(),
    transport: tb,
    antiEntropyIntervalMs: 50,
  });
  cleanup.push(
    () => a.stop(),
    () => b.stop(),
  );
  await a.start();
  await b.start();
  ta.setPeerAddress('b', tb.address());
  tb.setPeerAddress('a', ta.address());
  return { a, b, ta, tb };
}

async function until(predicate: () => Promise<boolean> | boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

describe('TcpTransport', () => {
  it('replicates both ways between two replicas over loopback', async () => {
    const { a, b } = await pair('s'.repeat(32), 's'.repeat(32));
    await a.put('x', 1);
    await b.put('y', 2);
    expect(await until(async () => (await b.get('x')) === 1 && (await a.get('y')) === 2)).toBe(
      true,
    );
  });

  it('refuses a peer with the wrong secret: nothing replicates', async () => {
    const { a, b } = await pair('s'.repeat(32), 't'.repeat(32));
    await a.put('x', 1);
    // Several anti-entropy rounds and redials pass without the value arriving.
    expect(await until(async () => (await b.get('x')) === 1, 600)).toBe(false);
  });

  it('closes connections that send garbage or skip the handshake, and keeps serving', async () => {
    const { a, b, tb } = await pair('s'.repeat(32), 's'.repeat(32));
    const { port } = tb.address();
    for (const payload of [
      Buffer.from('GET / HTTP/1.1\r\n\r\n'),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
      Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('{}')]),
    ]) {
      const closed = await new Promise<boolean>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(payload));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(true));
        setTimeout(() => {
          socket.destroy();
          resolve(false);
        }, 3000);
      });
      expect(closed).toBe(true);
    }
    await a.put('after', 1);
    expect(await until(async () => (await b.get('after')) === 1)).toBe(true);
  });

  it('rejects a short secret', () => {
    expect(() => new TcpTransport({ id: 'a', secret: 'short', peers: [] })).toThrow(TypeError);
  });
});
