import { describe, expect, it } from 'vitest';
import { SipStreamFramer, parseMessage, type StreamFrame } from '@voxmesh/sip';

const OPTIONS = (n: number, body = ''): string =>
  `OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK${n}\r\nMax-Forwards: 70\r\nFrom: <sip:b@h>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c${n}\r\nCSeq: ${n} OPTIONS\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

function feed(framer: SipStreamFramer, data: string, chunk: number): StreamFrame[] {
  const bytes = Buffer.from(data);
  const out: StreamFrame[] = [];
  for (let i = 0; i < bytes.length; i += chunk)
    out.push(...framer.push(bytes.subarray(i, i + chunk)));
  return out;
}

describe('SipStreamFramer (RFC 3261 §18.3, RFC 5626 §3.5.1)', () => {
  it('cuts messages at Content-Length however the bytes arrive', () => {
    const stream =
      OPTIONS(1, 'héllo') + '\r\n\r\n' + OPTIONS(2) + '\r\n' + OPTIONS(3, 'x'.repeat(300));
    for (const chunk of [1, 2, 3, 7, 64, 10_000]) {
      const frames = feed(new SipStreamFramer(), stream, chunk);
      expect(frames.map((f) => f.type)).toEqual(['message', 'ping', 'message', 'pong', 'message']);
      const messages = frames.flatMap((f) => (f.type === 'message' ? [parseMessage(f.data)] : []));
      expect(messages.map((r) => (r.ok ? r.message.callId : r.reason))).toEqual(['c1', 'c2', 'c3']);
      const first = messages[0];
      expect(first?.ok && first.message.body.toString()).toBe('héllo');
    }
  });

  it('rejects an oversized header section without waiting for its end', () => {
    const framer = new SipStreamFramer({ maxHeaderBytes: 1024 });
    const frames = framer.push(Buffer.from(`OPTIONS sip:a@h SIP/2.0\r\nX: ${'a'.repeat(2000)}`));
    expect(frames).toMatchObject([
      { type: 'error', reason: 'header section too large', status: 413 },
    ]);
    expect((frames[0] as { head: Buffer }).head.toString()).toBe('OPTIONS sip:a@h SIP/2.0\r\n');
    expect(framer.push(Buffer.from('\r\n\r\n'))).toEqual([]);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('rejects an oversized body before buffering it', () => {
    const framer = new SipStreamFramer({ maxBodyBytes: 100 });
    const frames = framer.push(
      Buffer.from(OPTIONS(1).replace('Content-Length: 0', 'Content-Length: 101')),
    );
    expect(frames).toMatchObject([{ type: 'error', reason: 'body too large', status: 413 }]);
  });

  it('rejects a Content-Length that cannot frame the stream', () => {
    const framer = new SipStreamFramer();
    const frames = framer.push(Buffer.from(OPTIONS(1).replace('Content-Length: 0', 'l: -5')));
    expect(frames).toMatchObject([{ type: 'error', status: 400 }]);
  });

  it('treats a missing Content-Length as an empty body', () => {
    const framer = new SipStreamFramer();
    const frames = framer.push(
      Buffer.from(OPTIONS(1).replace('Content-Length: 0\r\n', '') + OPTIONS(2)),
    );
    expect(frames.map((f) => f.type)).toEqual(['message', 'message']);
  });
});
