/**
 * Cutting a byte stream (TCP, TLS) into SIP messages (RFC 3261 §18.3) and
 * recognising RFC 5626 §3.5.1 keep-alives between them.
 *
 * ```text
 * ┌──────────── header section ────────────┐┌─ Content-Length bytes ─┐
 * INVITE … SIP/2.0\r\n … Content-Length: 129\r\n\r\n v=0 …                \r\n\r\n (ping)  \r\n (pong)
 * ```
 *
 * @module
 */

/** Options of {@link SipStreamFramer}. */
export interface SipStreamFramerOptions {
  /**
   * The largest header section (start line and headers, up to the empty
   * line) accepted, in bytes.
   * @defaultValue `32768`
   */
  maxHeaderBytes?: number | undefined;
  /**
   * The largest body accepted, in bytes.
   * @defaultValue `65536`
   */
  maxBodyBytes?: number | undefined;
}

/** What {@link SipStreamFramer.push} found in the stream. */
export type StreamFrame =
  /** One complete message (header section and body), to pass to `parseMessage`. */
  | { readonly type: 'message'; readonly data: Buffer }
  /** A double CRLF between messages: a keep-alive ping to answer with one CRLF (RFC 5626 §3.5.1). */
  | { readonly type: 'ping' }
  /**
   * A single CRLF between messages: the pong answering our ping (RFC 5626 §3.5.1).
   * It is reported once the next bytes show it is not half of a ping; a
   * keep-alive sender should count any received bytes as a sign of life.
   */
  | { readonly type: 'pong' }
  /**
   * The stream cannot be framed any more (a limit was exceeded or the
   * Content-Length is unusable): close the connection. `status` is the
   * response to send first when the peer deserves one (413 or 400).
   */
  | {
      readonly type: 'error';
      readonly reason: string;
      readonly status: 400 | 413;
      /** The header lines read so far (whole lines only), to build that response from. */
      readonly head: Buffer;
    };

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH_RE = /(?:^|\n)[ \t]*(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/i;

/**
 * Incremental framer for one connection. Feed it every chunk read from the
 * socket; it returns the frames completed so far. After an `error` frame it
 * returns nothing more.
 */
export class SipStreamFramer {
  readonly #maxHeaderBytes: number;
  readonly #maxBodyBytes: number;
  #buf: Buffer = Buffer.alloc(0);
  #scanFrom = 0;
  #bodyNeeded = -1;
  #headerEnd = 0;
  #failed = false;

  constructor(options: SipStreamFramerOptions = {}) {
    this.#maxHeaderBytes = options.maxHeaderBytes ?? 32768;
    this.#maxBodyBytes = options.maxBodyBytes ?? 65536;
  }

  /** The number of bytes held while waiting for the rest of a message. */
  get bufferedBytes(): number {
    return this.#buf.length;
  }

  /** Adds a chunk and returns the frames it completed. */
  push(chunk: Buffer): StreamFrame[] {
    if (this.#failed) return [];
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const frames: StreamFrame[] = [];
    for (;;) {
      const frame = this.#next();
      if (frame === undefined) break;
      frames.push(frame);
      if (frame.type === 'error') {
        this.#failed = true;
        this.#buf = Buffer.alloc(0);
        break;
      }
    }
    return frames;
  }

  #next(): StreamFrame | undefined {
    const buf = this.#buf;
    if (this.#bodyNeeded < 0) {
      // Between messages: CRLF keep-alives (RFC 5626 §3.5.1; RFC 3261 §7.5 lets CRLFs precede a message).
      if (buf.length >= 2 && buf[0] === 0x0d && buf[1] === 0x0a) {
        if (buf.length >= 4 && buf[2] === 0x0d && buf[3] === 0x0a) {
          this.#consume(4);
          return { type: 'ping' };
        }
        // A lone CRLF may be half of a ping split across reads: decide once more bytes arrive.
        if (buf.length === 2 || (buf.length === 3 && buf[2] === 0x0d)) return undefined;
        if (buf[2] !== 0x0d || buf[3] !== 0x0a) {
          this.#consume(2);
          return { type: 'pong' };
        }
        return undefined;
      }
      if (buf.length > 0 && buf[0] === 0x0a) {
        this.#consume(1);
        return { type: 'pong' };
      }
      const end = buf.indexOf(CRLFCRLF, this.#scanFrom);
      if (end < 0) {
        if (buf.length > this.#maxHeaderBytes) {
          return this.#error('header section too large', 413, this.#maxHeaderBytes);
        }
        this.#scanFrom = Math.max(0, buf.length - 3);
        return undefined;
      }
      if (end + 4 > this.#maxHeaderBytes) {
        return this.#error('header section too large', 413, this.#maxHeaderBytes);
      }
      // RFC 3261 §18.3: on a stream, Content-Length delimits the body (absent means 0 here).
      const head = buf.toString('latin1', 0, end + 2);
      const match = CONTENT_LENGTH_RE.exec(head);
      let length = 0;
      if (match !== null) {
        const text = (match[1] as string).trim();
        if (!/^[0-9]{1,10}$/.test(text)) {
          return this.#error('invalid Content-Length on a stream', 400, end + 2);
        }
        length = Number(text);
      }
      if (length > this.#maxBodyBytes) {
        return this.#error('body too large', 413, end + 2);
      }
      this.#headerEnd = end + 4;
      this.#bodyNeeded = length;
    }
    const total = this.#headerEnd + this.#bodyNeeded;
    if (buf.length < total) return undefined;
    const data = buf.subarray(0, total);
    this.#consume(total);
    this.#bodyNeeded = -1;
    return { type: 'message', data };
  }

  #error(reason: string, status: 400 | 413, upTo: number): StreamFrame {
    // Keep whole lines only, so the start line and the first headers can still be read.
    const slice = this.#buf.subarray(0, Math.min(upTo, this.#buf.length));
    const lastLine = slice.lastIndexOf('\r\n');
    const head = Buffer.from(slice.subarray(0, lastLine < 0 ? 0 : lastLine + 2));
    return { type: 'error', reason, status, head };
  }

  #consume(bytes: number): void {
    this.#buf = this.#buf.subarray(bytes);
    if (this.#buf.length === 0) this.#buf = Buffer.alloc(0);
    this.#scanFrom = 0;
  }
}
