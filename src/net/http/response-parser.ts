/**
 * An incremental parser of HTTP/1.x responses (RFC 9112), fed the bytes of a connection as they
 * arrive in whatever pieces. It knows the three ways a body ends: Content-Length, chunked
 * transfer coding, and the connection closing. Anything it does not understand is an error,
 * never a guess: a misread length would make the next response's bytes part of this body.
 */

export interface ResponseHead {
  status: number;
  /** "1.0" or "1.1". */
  version: string;
  /** Field names lower-cased; repeated fields joined with ", " (Set-Cookie is not expected). */
  headers: Map<string, string>;
}

export interface ResponseEvents {
  head(head: ResponseHead): void;
  body(chunk: Buffer): void;
  /** The body is complete; `keepAlive` says whether the connection may carry another request. */
  end(keepAlive: boolean): void;
}

export class HttpParseError extends Error {}

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close' | 'done';

/** Status line and header fields together may not exceed this. */
export const MAX_HEAD_BYTES = 64 << 10;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

export class ResponseParser {
  private state: State = 'head';
  private pending: Buffer | null = null;
  private remaining = 0;
  private keepAlive = false;

  /** `headRequest`: the response to a HEAD request has no body whatever its headers say. */
  constructor(private readonly on: ResponseEvents, private readonly headRequest = false) {}

  get finished(): boolean {
    return this.state === 'done';
  }

  /** True once any byte of the response has arrived. */
  get started(): boolean {
    return this.state !== 'head' || this.pending !== null;
  }

  /**
   * Takes the next bytes of the connection. Returns the bytes past the end of the response
   * (empty when none): a server that sends more than it was asked for.
   */
  feed(chunk: Buffer): Buffer {
    let buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    while (buf.length > 0 && this.state !== 'done') buf = this.step(buf);
    return buf;
  }

  /** The connection closed: ends a close-delimited body, or throws if the response is incomplete. */
  eof(): void {
    if (this.state === 'until-close') {
      this.state = 'done';
      this.on.end(false);
      return;
    }
    if (this.state === 'done') return;
    if (this.state === 'head' && this.pending === null) throw new HttpParseError('connection closed before a response');
    throw new HttpParseError(this.state === 'head' ? 'connection closed in the response headers' : 'connection closed before the end of the body');
  }

  /** Consumes from `buf`, returns what is left for the next step. */
  private step(buf: Buffer): Buffer {
    switch (this.state) {
      case 'head': {
        const end = buf.indexOf(HEAD_END);
        if (end < 0) {
          if (buf.length > MAX_HEAD_BYTES) throw new HttpParseError(`response headers longer than ${MAX_HEAD_BYTES} bytes`);
          this.pending = buf;
          return Buffer.alloc(0);
        }
        if (end > MAX_HEAD_BYTES) throw new HttpParseError(`response headers longer than ${MAX_HEAD_BYTES} bytes`);
        this.startBody(parseHead(buf.toString('latin1', 0, end)));
        return buf.subarray(end + 4);
      }
      case 'length': {
        const n = Math.min(this.remaining, buf.length);
        this.on.body(buf.subarray(0, n));
        this.remaining -= n;
        if (this.remaining === 0) this.finish(this.keepAlive);
        return buf.subarray(n);
      }
      case 'chunk-size': {
        const eol = buf.indexOf(CRLF);
        if (eol < 0) {
          if (buf.length > 1024) throw new HttpParseError('chunk size line too long');
          this.pending = buf;
          return Buffer.alloc(0);
        }
        const line = buf.toString('latin1', 0, eol);
        const m = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(line);
        if (!m) throw new HttpParseError(`bad chunk size line '${printable(line)}'`);
        this.remaining = parseInt(m[1]!, 16);
        this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
        return buf.subarray(eol + 2);
      }
      case 'chunk-data': {
        const n = Math.min(this.remaining, buf.length);
        this.on.body(buf.subarray(0, n));
        this.remaining -= n;
        if (this.remaining === 0) this.state = 'chunk-crlf';
        return buf.subarray(n);
      }
      case 'chunk-crlf': {
        if (buf.length < 2) {
          this.pending = buf;
          return Buffer.alloc(0);
        }
        if (buf[0] !== 0x0d || buf[1] !== 0x0a) throw new HttpParseError('chunk not followed by CRLF');
        this.state = 'chunk-size';
        return buf.subarray(2);
      }
      case 'trailers': {
        // Trailer fields, then an empty line; their content is ignored.
        const eol = buf.indexOf(CRLF);
        if (eol < 0) {
          if (buf.length > MAX_HEAD_BYTES) throw new HttpParseError('trailer section too long');
          this.pending = buf;
          return Buffer.alloc(0);
        }
        if (eol === 0) this.finish(this.keepAlive);
        return buf.subarray(eol + 2);
      }
      case 'until-close':
        this.on.body(buf);
        return Buffer.alloc(0);
      case 'done':
        return buf;
    }
  }

  private startBody(head: ResponseHead): void {
    const connection = (head.headers.get('connection') ?? '').toLowerCase().split(',').map((s) => s.trim());
    this.keepAlive = head.version === '1.1' ? !connection.includes('close') : connection.includes('keep-alive');
    if (head.status >= 100 && head.status < 200) {
      // Informational (100 Continue, 103 Early Hints): the real response follows.
      if (head.status === 101) throw new HttpParseError('server switched protocols');
      return;
    }
    this.on.head(head);
    if (this.headRequest || head.status === 204 || head.status === 304) return this.finish(this.keepAlive);
    const te = head.headers.get('transfer-encoding');
    if (te !== undefined) {
      // RFC 9112 §6.3: chunked must be the last coding; a Content-Length beside it is ignored.
      const codings = te.toLowerCase().split(',').map((s) => s.trim());
      if (codings[codings.length - 1] !== 'chunked' || codings.length > 1) throw new HttpParseError(`unsupported Transfer-Encoding '${printable(te)}'`);
      this.state = 'chunk-size';
      return;
    }
    const cl = head.headers.get('content-length');
    if (cl !== undefined) {
      // Repeated fields arrive joined; all must agree (RFC 9110 §8.6).
      const values = new Set(cl.split(',').map((s) => s.trim()));
      const v = values.size === 1 ? [...values][0]! : '';
      if (!/^\d{1,15}$/.test(v)) throw new HttpParseError(`bad Content-Length '${printable(cl)}'`);
      this.remaining = Number(v);
      if (this.remaining === 0) return this.finish(this.keepAlive);
      this.state = 'length';
      return;
    }
    this.keepAlive = false;
    this.state = 'until-close';
  }

  private finish(keepAlive: boolean): void {
    this.state = 'done';
    this.on.end(keepAlive);
  }
}

function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0]!);
  if (!m) throw new HttpParseError(`not an HTTP/1.x status line: '${printable(lines[0]!.slice(0, 80))}'`);
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    // Obsolete line folding (a line starting with space) and names with spaces are refused.
    if (colon <= 0 || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(line.slice(0, colon))) throw new HttpParseError(`bad header line '${printable(line.slice(0, 80))}'`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers.get(name);
    headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
  }
  return { status: Number(m[2]), version: `1.${m[1]}`, headers };
}

/** Text from the network as it can be put in a one-line message. */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}
