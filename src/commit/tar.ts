import fs from 'node:fs';
import zlib from 'node:zlib';
import { GroveError, isErrno } from '../errors.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG } from '../format/mode.js';

/**
 * A reader of tar archives for `commit --tree=tar=FILE`: ustar, pax (path, linkpath, size,
 * uid, gid and `SCHILY.xattr.` records) and GNU (long names, base-256 numbers) headers, plain
 * or gzip-compressed, from a file or standard input. Entries come out in archive order, each
 * with its content as a stream the caller reads before asking for the next entry.
 *
 * The bytes are untrusted: every header's checksum is verified, sizes are bounded by what the
 * stream holds, and names are returned raw for the caller to validate.
 */

export interface TarEntry {
  path: string;
  /** The target of a hardlink entry (type 1), or null. */
  hardlink: string | null;
  /** The target of a symlink. */
  symlink: string;
  /** Type bits and permission bits, as libarchive reports them (a hardlink entry is a regular file). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  xattrs: Array<[string, Uint8Array]>;
}

const BLOCK = 512;

/** Buffered sequential reads from an async byte stream. */
class Reader {
  private buf = Buffer.alloc(0);
  private done = false;
  private readonly it: AsyncIterator<Buffer>;
  constructor(stream: AsyncIterable<Buffer>) {
    this.it = stream[Symbol.asyncIterator]();
  }

  /** Up to `n` bytes (fewer only at the end of the stream). */
  async read(n: number): Promise<Buffer> {
    if (this.buf.length < n && !this.done) {
      const parts: Buffer[] = [this.buf];
      let len = this.buf.length;
      while (len < n && !this.done) {
        const r = await this.it.next();
        if (r.done) this.done = true;
        else {
          parts.push(r.value as Buffer);
          len += r.value.length;
        }
      }
      this.buf = Buffer.concat(parts, len);
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(out.length);
    return out;
  }

  /** Exactly `n` bytes or a truncation error. */
  async exact(n: number, where: string): Promise<Buffer> {
    const b = await this.read(n);
    if (b.length !== n) throw new GroveError('GROVE_BAD_ARCHIVE', `${where}: truncated tar archive`);
    return b;
  }
}

/** Opens `file` ('-' for standard input), decompressing gzip; other compressions are refused. */
async function openStream(file: string): Promise<AsyncIterable<Buffer>> {
  const raw: fs.ReadStream | NodeJS.ReadStream = file === '-' ? process.stdin : fs.createReadStream(file);
  if (file !== '-') {
    await new Promise<void>((resolve, reject) => {
      (raw as fs.ReadStream).once('open', () => resolve()).once('error', (e) => {
        if (isErrno(e, 'ENOENT')) reject(new GroveError('GROVE_NOT_FOUND', `archive_read_open_filename: Failed to open '${file}'`, { path: file }));
        else reject(e);
      });
    });
  }
  const reader = new Reader(raw as AsyncIterable<Buffer>);
  const head = await reader.read(6);
  const rest = (async function* () {
    if (head.length > 0) yield head;
    for (;;) {
      const b = await reader.read(1 << 16);
      if (b.length === 0) return;
      yield b;
    }
  })();
  if (head[0] === 0x1f && head[1] === 0x8b) return gunzip(rest);
  const magic = head.toString('latin1');
  if (magic.startsWith('BZh') || magic.startsWith('\xfd7zXZ') || (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd)) {
    throw new GroveError('GROVE_UNSUPPORTED', `--tree=tar=${file}: grove reads plain and gzip-compressed tar archives only`);
  }
  return rest;
}

function gunzip(src: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const z = zlib.createGunzip();
  (async () => {
    try {
      for await (const b of src) if (!z.write(b)) await new Promise((r) => z.once('drain', r));
      z.end();
    } catch (e) {
      z.destroy(e as Error);
    }
  })();
  return z;
}

function field(h: Buffer, off: number, len: number): string {
  const b = h.subarray(off, off + len);
  const nul = b.indexOf(0);
  return (nul < 0 ? b : b.subarray(0, nul)).toString('utf8');
}

function num(h: Buffer, off: number, len: number, where: string): number {
  const b = h.subarray(off, off + len);
  if ((b[0]! & 0x80) !== 0) {
    // GNU base-256: big-endian two's complement after the marker bit.
    let v = BigInt(b[0]! & 0x7f);
    for (let i = 1; i < b.length; i++) v = (v << 8n) | BigInt(b[i]!);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GroveError('GROVE_BAD_ARCHIVE', `${where}: number out of range in tar header`);
    return Number(v);
  }
  const s = b.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new GroveError('GROVE_BAD_ARCHIVE', `${where}: bad number '${s}' in tar header`);
  return Number.parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  const s = h.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim();
  return /^[0-7]+$/.test(s) && Number.parseInt(s, 8) === sum;
}

/** Pax records `LEN KEY=VALUE\n`, values as raw bytes (xattr values are binary). */
function parsePax(data: Buffer, where: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let off = 0; off < data.length;) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number.parseInt(data.subarray(off, sp).toString('latin1'), 10);
    if (!Number.isInteger(len) || len <= 0 || off + len > data.length) throw new GroveError('GROVE_BAD_ARCHIVE', `${where}: bad pax header`);
    const rec = data.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out.set(rec.subarray(0, eq).toString('utf8'), rec.subarray(eq + 1));
    off += len;
  }
  return out;
}

const TYPE_MODE: Record<string, number> = { '0': S_IFREG, '\0': S_IFREG, '7': S_IFREG, '1': S_IFREG, '2': S_IFLNK, '3': S_IFCHR, '4': S_IFBLK, '5': S_IFDIR, '6': S_IFIFO };

/**
 * The entries of the archive at `file`. `body` must be consumed (or skipped with `skip`)
 * before the next entry is asked for.
 */
export async function* readTar(file: string): AsyncGenerator<{ entry: TarEntry; body: () => AsyncGenerator<Buffer>; skip: () => Promise<void> }> {
  const where = file === '-' ? 'standard input' : file;
  const r = new Reader(await openStream(file));
  let global = new Map<string, Buffer>();
  let local = new Map<string, Buffer>();
  let longName: string | null = null;
  let longLink: string | null = null;
  for (;;) {
    const h = await r.read(BLOCK);
    if (h.length === 0) return;
    if (h.length < BLOCK) throw new GroveError('GROVE_BAD_ARCHIVE', `${where}: truncated tar archive`);
    if (h.every((b) => b === 0)) return;
    if (!checksumOk(h)) throw new GroveError('GROVE_BAD_ARCHIVE', `${where}: damaged tar header (checksum mismatch)`);
    const type = String.fromCharCode(h[156]!);
    const size = num(h, 124, 12, where);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size > 16 << 20) throw new GroveError('GROVE_BAD_ARCHIVE', `${where}: tar extension header of ${size} bytes`);
      const data = (await r.exact(padded, where)).subarray(0, size);
      if (type === 'x') local = parsePax(data, where);
      else if (type === 'g') global = new Map([...global, ...parsePax(data, where)]);
      else if (type === 'L') longName = field(data, 0, data.length);
      else longLink = field(data, 0, data.length);
      continue;
    }
    const pax = new Map([...global, ...local]);
    local = new Map();
    const magic = h.subarray(257, 263).toString('latin1');
    const prefix = magic.startsWith('ustar') && magic !== 'ustar ' ? field(h, 345, 155) : '';
    let path = longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    let link = longLink ?? field(h, 157, 100);
    longName = null;
    longLink = null;
    if (pax.has('path')) path = pax.get('path')!.toString('utf8');
    if (pax.has('linkpath')) link = pax.get('linkpath')!.toString('utf8');
    const typeMode = TYPE_MODE[type] ?? S_IFREG;
    const dataSize = pax.has('size') ? Number(pax.get('size')!.toString('latin1')) : size;
    if (!Number.isSafeInteger(dataSize) || dataSize < 0) throw new GroveError('GROVE_BAD_ARCHIVE', `${where}: bad size in tar header of ${path}`);
    const xattrs: Array<[string, Uint8Array]> = [];
    for (const [k, v] of pax) if (k.startsWith('SCHILY.xattr.')) xattrs.push([k.slice('SCHILY.xattr.'.length), new Uint8Array(v)]);
    const entry: TarEntry = {
      path,
      hardlink: type === '1' ? link : null,
      symlink: type === '2' ? link : '',
      mode: typeMode | (num(h, 100, 8, where) & 0o7777),
      uid: pax.has('uid') ? Number(pax.get('uid')!.toString('latin1')) : num(h, 108, 8, where),
      gid: pax.has('gid') ? Number(pax.get('gid')!.toString('latin1')) : num(h, 116, 8, where),
      size: type === '0' || type === '\0' || type === '7' || type === '1' ? dataSize : 0,
      xattrs,
    };
    const total = Math.ceil(dataSize / BLOCK) * BLOCK;
    /** Bytes of this entry's data and padding taken from the stream so far. */
    let taken = 0;
    const body = async function* (): AsyncGenerator<Buffer> {
      while (taken < dataSize) {
        const b = await r.exact(Math.min(dataSize - taken, 1 << 20), where);
        taken += b.length;
        yield b;
      }
    };
    // Whatever the reader left of the data, and the padding, is read past before the next header.
    const skip = async (): Promise<void> => {
      while (taken < total) taken += (await r.exact(Math.min(total - taken, 1 << 20), where)).length;
    };
    yield { entry, body, skip };
    await skip();
  }
}
