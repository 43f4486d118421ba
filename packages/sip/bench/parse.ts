/**
 * Parse throughput of @voxmesh/sip over a realistic message mix, on one core,
 * measured against the npm `sip` package and sip.js in the same run.
 *
 * Each parser gets the same wire bytes (Buffers, as a socket delivers them)
 * and must make the fields a stack reads on every message available: top Via
 * branch, From tag, To tag, Call-ID and CSeq. Ends with one JSON line.
 *
 * Run: npm run bench:sip-parse   (BENCH_SECONDS=<n> of measuring per parser, default 4)
 */
import { createRequire } from 'node:module';
import { Core } from 'sip.js';
import { parseMessage } from '@voxmesh/sip';

const require = createRequire(import.meta.url);
const npmSip = require('sip') as { parse(text: string): NpmSipMessage | undefined };

interface NpmSipMessage {
  headers: {
    via: { params: { branch?: string } }[];
    from: { params: { tag?: string } };
    to: { params: { tag?: string } };
    'call-id': string;
    cseq: { seq: number; method: string };
  };
}

const sdp = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=sendrecv',
  '',
].join('\r\n');

function msg(lines: string[], body = ''): Buffer {
  return Buffer.from(
    `${lines.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

const dialog = [
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9a8c2d;rport',
  'Max-Forwards: 70',
  'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  'To: <sip:bob@biloxi.example.com>',
  'Call-ID: 3848276298220188511@atlanta.example.com',
];
const answered = dialog.map((l) => (l.startsWith('To:') ? `${l};tag=8321234356` : l));

// One two-leg call's worth of traffic plus registration and keep-alive OPTIONS.
const mix: Buffer[] = [
  msg(
    [
      'INVITE sip:bob@biloxi.example.com SIP/2.0',
      ...dialog,
      'CSeq: 1 INVITE',
      'Contact: <sip:alice@192.0.2.10:5060;transport=udp>',
      'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY',
      'Supported: replaces, timer, 100rel',
      'User-Agent: Voxmesh-bench/1.0',
      'Content-Type: application/sdp',
    ],
    sdp,
  ),
  msg(['SIP/2.0 100 Trying', ...dialog.filter((l) => !l.startsWith('Max')), 'CSeq: 1 INVITE']),
  msg([
    'SIP/2.0 180 Ringing',
    ...answered.filter((l) => !l.startsWith('Max')),
    'CSeq: 1 INVITE',
    'Contact: <sip:bob@192.0.2.20:5060>',
  ]),
  msg(
    [
      'SIP/2.0 200 OK',
      ...answered.filter((l) => !l.startsWith('Max')),
      'CSeq: 1 INVITE',
      'Contact: <sip:bob@192.0.2.20:5060>',
      'Record-Route: <sip:proxy.example.com;lr>',
      'Content-Type: application/sdp',
    ],
    sdp,
  ),
  msg([
    'ACK sip:bob@192.0.2.20:5060 SIP/2.0',
    ...answered,
    'CSeq: 1 ACK',
    'Route: <sip:proxy.example.com;lr>',
  ]),
  msg([
    'BYE sip:bob@192.0.2.20:5060 SIP/2.0',
    ...answered,
    'CSeq: 2 BYE',
    'Route: <sip:proxy.example.com;lr>',
  ]),
  msg(['SIP/2.0 200 OK', ...answered.filter((l) => !l.startsWith('Max')), 'CSeq: 2 BYE']),
  msg([
    'REGISTER sip:biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKnashds7;rport',
    'Max-Forwards: 70',
    'From: <sip:bob@biloxi.example.com>;tag=a73kszlfl',
    'To: <sip:bob@biloxi.example.com>',
    'Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.30',
    'CSeq: 2 REGISTER',
    'Contact: <sip:bob@192.0.2.30:5060>;expires=3600',
    'Authorization: Digest username="bob", realm="biloxi.example.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:biloxi.example.com", response="245f23415f11432b3434341c022", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b"',
    'Expires: 3600',
  ]),
  msg([
    'SIP/2.0 401 Unauthorized',
    'Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKnashds7;rport=5060;received=192.0.2.30',
    'From: <sip:bob@biloxi.example.com>;tag=a73kszlfl',
    'To: <sip:bob@biloxi.example.com>;tag=1410948204',
    'Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.30',
    'CSeq: 1 REGISTER',
    'WWW-Authenticate: Digest realm="biloxi.example.com", qop="auth", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", opaque="", stale=FALSE, algorithm=MD5',
  ]),
  msg([
    'OPTIONS sip:carrier.example.net SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.40:5060;branch=z9hG4bKhjhs8ass877',
    'Max-Forwards: 70',
    'From: <sip:pbx@example.com>;tag=1928301774',
    'To: <sip:carrier.example.net>',
    'Call-ID: a84b4c76e66710',
    'CSeq: 63104 OPTIONS',
    'Accept: application/sdp',
  ]),
];

type Parse = (buf: Buffer) => unknown;

const parsers: Record<string, Parse> = {
  voxmesh: (buf) => {
    const r = parseMessage(buf);
    if (!r.ok) throw new Error(`voxmesh rejected a bench message: ${r.reason}`);
    const m = r.message;
    return [m.topVia?.branch, m.from?.tag, m.to?.tag, m.callId, m.cseq?.seq];
  },
  npmSip: (buf) => {
    const m = npmSip.parse(buf.toString('utf8'));
    if (m === undefined) throw new Error('npm sip rejected a bench message');
    const h = m.headers;
    return [h.via[0]?.params.branch, h.from.params.tag, h.to.params.tag, h['call-id'], h.cseq.seq];
  },
};

const sipJsLoggers = new Core.LoggerFactory();
sipJsLoggers.builtinEnabled = false;
const sipJsLogger = sipJsLoggers.getLogger('bench');
parsers.sipJs = (buf) => {
  const m = Core.Parser.parseMessage(buf.toString('utf8'), sipJsLogger);
  if (m === undefined) throw new Error('sip.js rejected a bench message');
  const via = m.via as { branch?: string } | undefined;
  return [via?.branch, m.fromTag, m.toTag, m.callId, m.cseq];
};

/** Parses for `ms` milliseconds; returns [messages, elapsed ms]. */
function burst(parse: Parse, ms: number): [number, number] {
  let count = 0;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 100; i++) {
      if (parse(mix[count % mix.length] as Buffer) === undefined) throw new Error('unreachable');
      count++;
    }
    now = performance.now();
  }
  return [count, now - start];
}

// The machine is shared: interleave short bursts of each parser so that load
// changes hit all of them alike, and report messages over time spent.
const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const sliceMs = 100;
for (const parse of Object.values(parsers)) {
  for (const m of mix) parse(m); // every parser reads every message
  burst(parse, 300); // warm-up
}
const totals: Record<string, [number, number]> = {};
const slices = Math.max(1, Math.round((seconds * 1000) / sliceMs));
for (let s = 0; s < slices; s++) {
  for (const [name, parse] of Object.entries(parsers)) {
    // sip.js is ~100x slower: give it every 4th slice so the run stays short.
    if (name === 'sipJs' && s % 4 !== 0) continue;
    const [count, ms] = burst(parse, sliceMs);
    const total = (totals[name] ??= [0, 0]);
    total[0] += count;
    total[1] += ms;
  }
}
const best: Record<string, number> = {};
for (const [name, [count, ms]] of Object.entries(totals)) {
  best[name] = (count / ms) * 1000;
  console.error(`${name.padEnd(8)} ${Math.round(best[name]).toLocaleString('en')} messages/s`);
}
const messagesPerSecond = Math.round(best.voxmesh ?? 0);
console.log(
  JSON.stringify({
    messagesPerSecond,
    npmSipMessagesPerSecond: Math.round(best.npmSip ?? 0),
    sipJsMessagesPerSecond: Math.round(best.sipJs ?? 0),
    ratioVsNpmSip: Number((messagesPerSecond / (best.npmSip ?? 1)).toFixed(2)),
    ratioVsSipJs: Number((messagesPerSecond / (best.sipJs ?? 1)).toFixed(1)),
    mixSize: mix.length,
    meanMessageBytes: Math.round(mix.reduce((s, b) => s + b.length, 0) / mix.length),
    goalMessagesPerSecond: 100_000,
    node: process.version,
  }),
);
