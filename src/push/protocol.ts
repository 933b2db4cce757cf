import { GroveError } from '../errors.js';
import { isChecksum } from '../format/checksum.js';
import type { ObjectType } from '../format/objects.js';

/**
 * The push protocol between `grove push` and `grove serve --receive`, plain HTTP/1.1 beside the
 * static files a pull reads. Every request carries `Authorization: Bearer TOKEN`.
 *
 * - `GET  RECEIVE/refs` → JSON `{ "refs": { REF: CHECKSUM }, "prefixes": [..], "line": N }`:
 *   the server's refs now, and which the token may move (its line in the tokens file).
 * - `POST RECEIVE/missing`, body lines `CHECKSUM.TYPE` (at most {@link MAX_QUERY_NAMES}) →
 *   the lines of those the server lacks, in the order asked.
 * - `POST RECEIVE/objects`, body a sequence of frames `CHECKSUM.TYPE SIZE\n` + SIZE bytes:
 *   metadata objects as stored, content objects in archive form (`.filez`, what a pull
 *   fetches), a commit's detached metadata named by the commit (`.commitmeta`). The server
 *   checks each, and publishes the batch durably before it answers JSON `{ "stored": N }`. A
 *   commit is accepted only once every object it reaches is on the server.
 * - `POST RECEIVE/refs`, JSON `{ "updates": [{ "ref", "from", "to" }], "force": bool }` →
 *   JSON `{ "results": [{ "ref", "status", "server", "message"? }] }`: each ref moves from
 *   `from` (null: it must not exist) to `to` unless `force`, in order; then the summary is
 *   written again.
 *
 * A refusal is a status ≥ 400 with one line of text saying what is at fault.
 */
export const RECEIVE_PATH = '_grove/receive/v1/';

/** Names per `missing` query: 64 bytes each, so a query is at most about 1 MiB. */
export const MAX_QUERY_NAMES = 16384;
/** A frame header (`CHECKSUM.TYPE SIZE\n`) is never longer than this. */
export const MAX_FRAME_HEADER = 128;
/** Bounds a `refs` request's JSON. */
export const MAX_REFS_BODY = 1 << 20;

const TYPES: readonly ObjectType[] = ['file', 'dirtree', 'dirmeta', 'commit', 'commitmeta'];

export interface ObjectName { checksum: string; type: ObjectType }

/** Parses `CHECKSUM.TYPE`; null when it is not one. */
export function parseObjectName(s: string): ObjectName | null {
  const dot = s.indexOf('.');
  if (dot !== 64) return null;
  const checksum = s.slice(0, 64);
  const type = s.slice(65) as ObjectType;
  return isChecksum(checksum) && TYPES.includes(type) ? { checksum, type } : null;
}

export const objectName = (o: ObjectName): string => `${o.checksum}.${o.type}`;

export function frameHeader(o: ObjectName, size: number): Buffer {
  return Buffer.from(`${o.checksum}.${o.type} ${size}\n`, 'latin1');
}

/**
 * Reads a request body as a byte stream with exact lengths: frame headers, then their bytes,
 * whole or passed on in chunks. Nothing is buffered beyond what a read asks for and one chunk.
 */
export class BodyReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Buffer>;
  /** Bytes consumed so far. */
  consumed = 0;

  constructor(body: AsyncIterable<Buffer>) {
    this.it = body[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    return true;
  }

  /** The next line without its `\n`, at most `max` bytes; null at the end of the body. */
  async line(max: number, what: string): Promise<string | null> {
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl >= 0 && nl <= max) {
        const s = this.buf.subarray(0, nl).toString('latin1');
        this.take(nl + 1);
        return s;
      }
      if (this.buf.length > max) throw new GroveError('GROVE_BAD_REQUEST', `${what} is longer than ${max} bytes`);
      if (!(await this.fill())) {
        if (this.buf.length === 0) return null;
        throw new GroveError('GROVE_BAD_REQUEST', `${what} is cut short`);
      }
    }
  }

  /** Exactly `n` bytes, in one buffer. */
  async exactly(n: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of this.chunks(n, what)) parts.push(c);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  /** Exactly `n` bytes, as the chunks arrive; throws when the body ends first. */
  async *chunks(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill())) throw new GroveError('GROVE_BAD_REQUEST', `${what} is cut short: ${n - left} of ${n} bytes`);
      const c = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.take(c.length);
      left -= c.length;
      yield c;
    }
  }

  private take(n: number): void {
    this.buf = this.buf.subarray(n);
    this.consumed += n;
  }
}

/** Parses one frame header; throws naming what is wrong. */
export function parseFrameHeader(line: string): ObjectName & { size: number } {
  const m = /^(\S+) (\d{1,15})$/.exec(line);
  const name = m ? parseObjectName(m[1]!) : null;
  if (!m || !name) throw new GroveError('GROVE_BAD_REQUEST', `bad object frame header '${line.slice(0, 100)}' (want CHECKSUM.TYPE SIZE)`);
  return { ...name, size: Number(m[2]) };
}
