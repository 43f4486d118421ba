// TLS between replicas, with a self-signed certificate made by the openssl
// binary (CI installs it); the test fails if openssl is missing.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { MemoryLevel } from 'memory-level';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigReplica, TcpTransport } from '../src/index.js';
import { tempDir } from './helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function until(predicate: () => Promise<boolean> | boolean, ms = 20_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

describe('TcpTransport over TLS', () => {
  it('replicates over TLS (self-signed certificate from openssl)', async () => {
    const dir = tempDir('configdb-tls-');
    cleanup.push(() => Promise.resolve(dir.remove()));
    const key = join(dir.path, 'key.pem');
    const cert = join(dir.path, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        key,
        '-out',
        cert,
        '-subj',
        '/CN=configdb-test',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const tlsOptions = {
      server: { key: readFileSync(key), cert: readFileSync(cert) },
      client: { ca: readFileSync(cert) },
    };
    const secret = 's'.repeat(32);
    const ta = new TcpTransport({ id: 'a', secret, peers: [{ id: 'b' }], tls: tlsOptions });
    const tb = new TcpTransport({ id: 'b', secret, peers: [{ id: 'a' }], tls: tlsOptions });
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
    await a.put('over-tls', true);
    expect(await until(async () => (await b.get('over-tls')) === true)).toBe(true);
    // A plain-TCP client cannot talk to a TLS listener.
    const plain = await new Promise<boolean>((resolve) => {
      const socket = net.connect(tb.address(), () =>
        socket.write(Buffer.from([0, 0, 0, 2, 123, 125])),
      );
      socket.on('error', () => resolve(true));
      socket.on('close', () => resolve(true));
      setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 5000);
    });
    expect(plain).toBe(true);
  });
});
