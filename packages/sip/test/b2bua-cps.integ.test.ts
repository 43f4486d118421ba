// The harness of bench:sip-cps, run small: SIPp uac → system under test →
// SIPp uas at a low fixed rate, for the B2BUA app in its own Node process and
// for the Kamailio reference proxy. A broken harness, app or Kamailio
// configuration fails here rather than in a benchmark run. CI installs SIPp
// and Kamailio; a missing binary fails these tests.
import { afterAll, expect, it } from 'vitest';
import { runStep } from '../bench/cps-step.js';
import { forkB2buaApp } from './helpers/b2bua-process.js';
import { KAMAILIO, startKamailio } from './helpers/kamailio.js';
import { freePort, requireBinary, startPeer, stopAllPeers, waitForBound } from './helpers/peers.js';

const SIPP = '/usr/bin/sipp';

afterAll(async () => {
  await stopAllPeers();
});

async function startUas() {
  const port = await freePort();
  const peer = startPeer(SIPP, ['-sn', 'uas', '-i', '127.0.0.1', '-p', String(port), '-nostdin']);
  await waitForBound('UDP', port, { exited: peer.exited });
  return { port, peer };
}

it('SIPp and Kamailio are installed', () => {
  expect(requireBinary(SIPP)).toMatch(/SIPp v3/);
  expect(requireBinary(KAMAILIO, ['-v'])).toMatch(/kamailio 5\./);
});

it('the B2BUA app, in its own process, bridges every call of a step and ends with none left', async () => {
  const uas = await startUas();
  const app = await forkB2buaApp({ uas: { host: '127.0.0.1', port: uas.port } });
  try {
    const step = await runStep({
      target: { host: '127.0.0.1', port: app.port },
      rate: 20,
      calls: 40,
      holdMs: 200,
    });
    expect(step, JSON.stringify(step)).toMatchObject({ passed: true, successful: 40, failed: 0 });
    expect(step.setupP99Ms).toBeGreaterThanOrEqual(0);
    expect(step.setupP99Ms).toBeLessThan(5_000);
    const deadline = Date.now() + 20_000;
    let stats = await app.stats();
    while ((stats.calls > 0 || stats.bridges > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await app.stats();
    }
    expect(stats).toMatchObject({ answered: 40, failed: 0, calls: 0, bridges: 0 });
    expect(stats.rssBytes).toBeGreaterThan(0);
    expect(stats.cpuMicros).toBeGreaterThan(0);
  } finally {
    await app.stop();
    await uas.peer.stop();
  }
});

it('Kamailio, configured as the reference stateful proxy, relays every call of a step', async () => {
  const uas = await startUas();
  const kamailio = await startKamailio({ next: { host: '127.0.0.1', port: uas.port } });
  try {
    const step = await runStep({
      target: { host: '127.0.0.1', port: kamailio.port },
      rate: 20,
      calls: 40,
      holdMs: 200,
    });
    expect(step, JSON.stringify(step) + kamailio.peer.output()).toMatchObject({
      passed: true,
      successful: 40,
      failed: 0,
    });
  } finally {
    await kamailio.stop();
    await uas.peer.stop();
  }
});
