// A minimal SIP UAS on loopback, just enough for SIPp's UAC scenarios to set
// up a call whose SDP answer the test controls (RFC 3261 §8.2.6 responses:
// Via, From, To with a tag, Call-ID and CSeq copied from the request).
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';

export interface Uas {
  port: number;
  /** Resolves with the SDP of the first INVITE. */
  invite: Promise<string>;
  /** Resolves when a BYE was answered. */
  bye: Promise<void>;
  /** Sets the answer SDP; the 200 OK is sent once it is set. */
  answer(sdp: string): void;
  close(): void;
}

export async function startUas(): Promise<Uas> {
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let resolveInvite!: (sdp: string) => void;
  let resolveBye!: () => void;
  const invite = new Promise<string>((r) => (resolveInvite = r));
  const bye = new Promise<void>((r) => (resolveBye = r));
  let answerSdp: string | undefined;
  let pendingInvite: { msg: string; port: number; address: string } | undefined;
  const respond = (
    request: string,
    status: string,
    port: number,
    address: string,
    body = '',
  ): void => {
    const head = request.split('\r\n\r\n')[0]!.split('\r\n');
    const pick = (name: string) =>
      head.filter((l) => l.toLowerCase().startsWith(name.toLowerCase() + ':'));
    const to = pick('To')[0] ?? 'To: <sip:x@127.0.0.1>';
    const lines = [
      `SIP/2.0 ${status}`,
      ...pick('Via'),
      ...pick('From'),
      /;tag=/.test(to) ? to : `${to};tag=voxmesh-test`,
      ...pick('Call-ID'),
      ...pick('CSeq'),
      `Contact: <sip:media@127.0.0.1:${socket.address().port}>`,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    socket.send(lines.join('\r\n'), port, address);
  };
  const sendOk = (): void => {
    if (pendingInvite && answerSdp !== undefined) {
      respond(pendingInvite.msg, '200 OK', pendingInvite.port, pendingInvite.address, answerSdp);
    }
  };
  socket.on('message', (buf, rinfo) => {
    const msg = buf.toString();
    const method = msg.split(' ', 1)[0];
    if (method === 'INVITE') {
      pendingInvite = { msg, port: rinfo.port, address: rinfo.address };
      respond(msg, '100 Trying', rinfo.port, rinfo.address);
      resolveInvite(msg.split('\r\n\r\n').slice(1).join('\r\n\r\n'));
      sendOk();
    } else if (method === 'BYE') {
      respond(msg, '200 OK', rinfo.port, rinfo.address);
      resolveBye();
    }
  });
  return {
    port: socket.address().port,
    invite,
    bye,
    answer(sdp) {
      answerSdp = sdp;
      sendOk();
    },
    close() {
      socket.close();
    },
  };
}

/** A SIPp UAC scenario: INVITE with PCMU + telephone-event, ACK, `middle`, BYE. */
export function scenario(middle: string): string {
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="voxmesh media test">
  <send retrans="500"><![CDATA[
INVITE sip:media@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:media@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
]]></send>
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:media@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
${middle}
  <send retrans="500"><![CDATA[
BYE sip:media@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
</scenario>
`;
}

export interface SippRun {
  process: ChildProcess;
  /** Resolves with the exit code. */
  exit: Promise<number | null>;
  output: () => string;
}

/** Runs SIPp (one call) against the UAS; SIP and media ports are random high ports. */
export function runSipp(options: {
  scenarioPath: string;
  xml: string;
  uasPort: number;
  rtpEcho?: boolean;
}): SippRun {
  writeFileSync(options.scenarioPath, options.xml);
  const base = 30000 + Math.floor(Math.random() * 15000) * 2;
  const args = [
    '-sf',
    options.scenarioPath,
    '-m',
    '1',
    '-i',
    '127.0.0.1',
    '-p',
    String(base),
    '-mi',
    '127.0.0.1',
    '-mp',
    String(base + 2),
    '-nostdin',
    '-timeout',
    '40s',
    '-timeout_error',
    ...(options.rtpEcho ? ['-rtp_echo'] : []),
    `127.0.0.1:${options.uasPort}`,
  ];
  let out = '';
  const child = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => {
    child.on('error', (e) => {
      out += String(e);
      resolve(-1);
    });
    child.on('exit', (code) => resolve(code));
  });
  return { process: child, exit, output: () => out.slice(-4000) };
}
