// bench:storage — FileHandler streaming throughput against a bare node:http
// server streaming the same file, and ranged-GET latency. Ends with one JSON
// line: { throughputRatio, rangeP99Ms, ... }.
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FileHandler, FsBlobStore } from '@voxmesh/storage';

const FILE_MIB = Number(process.env.BENCH_FILE_MIB ?? 64);
const SIZE = FILE_MIB * 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const RANGE_REQUESTS = Number(process.env.BENCH_RANGE_REQUESTS ?? 1000);
const RANGE_BYTES = 64 * 1024;

function* pattern(): Generator<Buffer> {
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff;
  for (let left = SIZE; left > 0; left -= chunk.length)
    yield chunk.subarray(0, Math.min(left, chunk.length));
}

function fetchAll(
  url: string,
  agent: Agent,
  headers: Record<string, string> = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent, headers }, (res: IncomingMessage) => {
      if (res.statusCode !== 200 && res.statusCode !== 206) {
        reject(new Error(`HTTP ${res.statusCode} for ${url}`));
        res.resume();
        return;
      }
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.byteLength));
      res.on('end', () => resolve(bytes));
      res.on('error', reject);
    }).on('error', reject);
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

const root = mkdtempSync(join(tmpdir(), 'voxmesh-bench-storage-'));
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const store = new FsBlobStore({ root, fsync: false });
const handler = new FileHandler({
  store,
  secret: 'benchmark secret, at least 32 bytes long',
  maxUploadBytes: SIZE,
});
const bare = createServer((_req, res) => {
  // The baseline: the same bytes of the same file, straight from disk to the socket.
  res.writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': String(SIZE) });
  createReadStream(store.pathOf('t/bench.wav'), {
    start: 0,
    end: SIZE - 1,
    highWaterMark: 65_536,
  }).pipe(res);
});
try {
  await store.put('t/bench.wav', Readable.from(pattern()), { contentType: 'audio/wav' });
  await handler.start();
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/bench.wav`;
  const handlerUrl = handler.signUrl({ tenant: 't', key: 'bench.wav', expiresInMs: 3_600_000 });

  // Warm up both paths, then alternate rounds so both see the same machine load.
  await fetchAll(bareUrl, agent);
  await fetchAll(handlerUrl, agent);
  const bareRates: number[] = [];
  const handlerRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [url, rates] of [
      [bareUrl, bareRates],
      [handlerUrl, handlerRates],
    ] as const) {
      const started = performance.now();
      const bytes = await fetchAll(url, agent);
      if (bytes !== SIZE) throw new Error(`got ${bytes} bytes, expected ${SIZE}`);
      rates.push(bytes / 1024 / 1024 / ((performance.now() - started) / 1000));
    }
  }

  // Ranged GETs: 64 KiB at random offsets; every tenth one a suffix range.
  const latencies: number[] = [];
  for (let i = 0; i < RANGE_REQUESTS; i++) {
    const start = Math.floor(Math.random() * (SIZE - RANGE_BYTES));
    const range =
      i % 10 === 9 ? `bytes=-${RANGE_BYTES}` : `bytes=${start}-${start + RANGE_BYTES - 1}`;
    const began = performance.now();
    const bytes = await fetchAll(handlerUrl, agent, { Range: range });
    latencies.push(performance.now() - began);
    if (bytes !== RANGE_BYTES) throw new Error(`range ${range}: got ${bytes} bytes`);
  }

  const handlerMBps = median(handlerRates);
  const bareMBps = median(bareRates);
  console.error(
    `FileHandler ${handlerMBps.toFixed(0)} MiB/s vs bare node:http ${bareMBps.toFixed(0)} MiB/s (${FILE_MIB} MiB, median of ${ROUNDS}); ` +
      `${RANGE_REQUESTS} ranged GETs of 64 KiB: p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`,
  );
  console.log(
    JSON.stringify({
      throughputRatio: round2(handlerMBps / bareMBps),
      rangeP99Ms: round2(percentile(latencies, 99)),
      rangeP50Ms: round2(percentile(latencies, 50)),
      fileHandlerMiBps: Math.round(handlerMBps),
      bareMiBps: Math.round(bareMBps),
      fileMiB: FILE_MIB,
      rounds: ROUNDS,
      rangeRequests: RANGE_REQUESTS,
      rangeBytes: RANGE_BYTES,
    }),
  );
} finally {
  agent.destroy();
  await handler.stop();
  bare.closeAllConnections();
  await new Promise<void>((resolve) => bare.close(() => resolve()));
  rmSync(root, { recursive: true, force: true });
}
