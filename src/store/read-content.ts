import fs from 'node:fs';
import { GroveError, isErrno } from '../errors.js';
import { createInflater, inflateRaw, InflateOverflow, type CompressBackend } from '../format/compress.js';
import { decodeBareUserMeta, fileHeaderPrefix, parseArchiveHeader, MAX_HEADER_SIZE, type FileHeader } from '../format/objects.js';
import { toHex } from '../format/checksum.js';
import type { Sha256Factory } from '../format/hash.js';
import { S_IFLNK, fileTypeName, isLink, isReg } from '../format/mode.js';
import { getXattr, readXattrs } from '../xattr/xattrs.js';
import type { RepoMode } from '../repo/mode.js';
import { openObjectFile, readExactly, readObjectFile } from './object-file.js';
import { objectPath, type StoreRef } from './paths.js';

/** Bytes read from disk per step when streaming content. */
export const CHUNK_SIZE = 1 << 20;

/**
 * Compressed bytes handed to the inflater at a time. Deflate expands at most about 1032:1, so
 * one slice yields at most ~64 MiB, which bounds the memory of inflating any object, honest or
 * hostile (a 2 MB bomb fed whole produced 1-2 GB before the size check could see it). Slices
 * of 64 KiB cost a codec round trip per 64 KiB, a few milliseconds per 100 MB of deflate.
 */
const INFLATE_SLICE = 64 << 10;

/**
 * A content object opened for reading, in any repository mode: its header (what the checksum
 * covers besides the bytes) and its uncompressed bytes as a stream.
 */
export interface ContentObject {
  header: FileHeader;
  /** Uncompressed size of a regular file; 0 for a symlink. */
  size: number;
  /** The object's path on disk. */
  path: string;
  /** Yields the file's bytes in order (nothing for a symlink). Call at most once. */
  chunks(): AsyncGenerator<Uint8Array>;
}

export interface ContentReadOptions {
  /** Read xattrs of bare objects (they cost syscalls; checkout in user mode does not need them). */
  xattrs?: boolean;
  compress?: CompressBackend;
  /**
   * {@link readContentSync} only: read the object file into this thread's scratch buffer (see
   * readObjectFile), so a bare object's bytes are valid only until the next such read.
   */
  scratch?: boolean;
}

function missing(where: string, p: string): GroveError {
  return new GroveError('GROVE_MISSING_OBJECT', `${where} is missing`, { path: p });
}

/** The inflated bytes passed the size the header announced (`n`). */
function overflowError(where: string, n: number, p?: string): GroveError {
  return new GroveError('GROVE_CORRUPT_OBJECT', `${where}: inflates past its recorded size ${n}`, { path: p, expected: String(n), found: `more than ${n} bytes` });
}

function corrupt(where: string, message: string, p?: string, cause?: unknown): GroveError {
  return new GroveError('GROVE_CORRUPT_OBJECT', `${where}: ${message}`, { ...(p !== undefined && { path: p }), ...(cause !== undefined && { cause }) });
}

/** Opens content object `checksum`; GROVE_MISSING_OBJECT when absent. */
export async function openContent(store: StoreRef, checksum: string, opts: ContentReadOptions = {}): Promise<ContentObject> {
  const { mode } = store;
  const p = objectPath(store.objectsDir, checksum, 'file', mode);
  const where = `file object ${checksum}`;
  try {
    return mode === 'archive' ? openArchive(p, where, opts.compress) : openLoose(p, mode, where, opts.xattrs !== false);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw missing(where, p);
    throw e;
  }
}

/**
 * `length` bytes of the regular file `p` from `start`, CHUNK_SIZE at a time. The file is opened
 * again (O_NOFOLLOW, and it must still be a regular file of at least `start + length` bytes), so
 * nothing swapped in since it was first looked at is read.
 */
async function* fileChunks(p: string, where: string, start: number, length: number): AsyncGenerator<Uint8Array> {
  const { fd, size } = openObjectFile(p, where);
  try {
    if (size < start + length) throw corrupt(where, `${p} is shorter than its recorded size`, p);
    for (let pos = start, end = start + length; pos < end;) {
      const n = Math.min(CHUNK_SIZE, end - pos);
      const buf = await readAt(fd, n, pos, p, where);
      pos += n;
      yield buf;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function readAt(fd: number, length: number, position: number, p: string, where: string): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  return new Promise((resolve, reject) => {
    const step = (off: number) => {
      fs.read(fd, buf, off, length - off, position + off, (e, n) => {
        if (e) return reject(e);
        if (n === 0) return reject(corrupt(where, `${p} is shorter than its recorded size`, p));
        if (off + n === length) return resolve(buf);
        step(off + n);
      });
    };
    step(0);
  });
}

/** Opens an archive-format (`.filez`) object at `p`, wherever it is (the store, or a download). */
export function openArchive(p: string, where: string, compress?: CompressBackend): ContentObject {
  const { fd, size: fileSize } = openObjectFile(p, where);
  let head: Uint8Array;
  try {
    if (fileSize < 8) throw corrupt(where, 'truncated archive header', p);
    const len = readExactly(fd, 8, 0, p, where).readUInt32BE(0);
    if (len > MAX_HEADER_SIZE || 8 + len > fileSize) throw corrupt(where, `archive header length ${len} exceeds the object`, p);
    head = readExactly(fd, 8 + len, 0, p, where);
  } finally {
    fs.closeSync(fd);
  }
  const { header, size, dataOffset } = parseArchiveHeader(head, where);
  const n = checkedSize(size, where, p);
  return {
    header,
    size: isReg(header.mode) ? n : 0,
    path: p,
    chunks: isReg(header.mode) ? () => inflateStream(fileChunks(p, where, dataOffset, fileSize - dataOffset), n, where, p, compress) : empty,
  };
}

function checkedSize(size: bigint, where: string, p?: string): number {
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(where, `absurd size ${size}`, p);
  return Number(size);
}

/**
 * The uncompressed bytes of an archive object's deflate stream, checked against the size its
 * header announces: a stream that inflates to more, to less, or is not deflate at all is
 * corruption naming `where`. The announced size bounds the work from the first byte: the
 * inflater stops as soon as it has produced more, and is fed INFLATE_SLICE bytes at a time.
 */
export async function* inflateStream(compressed: AsyncIterable<Uint8Array>, n: number, where: string, p?: string, compress?: CompressBackend): AsyncGenerator<Uint8Array> {
  const inflater = createInflater(compress, { maxOutput: n });
  let produced = 0;
  let fed = false;
  const take = async function* (input: Uint8Array, final: boolean): AsyncGenerator<Uint8Array> {
    let outs: Uint8Array[];
    try {
      outs = await inflater.push(input, final);
    } catch (e) {
      if (inflater.overflowed) throw overflowError(where, n, p);
      throw corrupt(where, `bad deflate data (${(e as Error).message})`, p, e);
    }
    for (const out of outs) {
      produced += out.length;
      if (produced > n) throw overflowError(where, n, p);
      yield out;
    }
  };
  for await (const c of compressed) {
    fed = true;
    for (let off = 0; off < c.length; off += INFLATE_SLICE) yield* take(c.subarray(off, Math.min(c.length, off + INFLATE_SLICE)), false);
  }
  if (!fed && n > 0) throw corrupt(where, 'no compressed data', p);
  yield* take(new Uint8Array(0), true);
  if (produced !== n) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: inflated to ${produced} bytes, header says ${n}`, { ...(p !== undefined && { path: p }), expected: String(n), found: String(produced) });
}

/**
 * What a loose (non-archive) object's file must be: bare-user stores every object, symlinks
 * included, as a regular file (the header lives in `user.ostreemeta`); bare and bare-user-only
 * store a symlink object as a symlink. Anything else (a FIFO, a device, a directory, a symlink
 * where a file belongs) is corruption.
 */
function checkLooseType(st: fs.Stats, mode: RepoMode, p: string, where: string): void {
  if (st.isFile() || (st.isSymbolicLink() && mode !== 'bare-user')) return;
  throw corrupt(where, `${p} is a ${fileTypeName(st.mode)}, not a regular file${mode === 'bare-user' ? '' : ' or symlink'}`, p);
}

/**
 * The header of a loose (non-archive) object. bare-user keeps it in `user.ostreemeta` and stores a
 * symlink as a file holding the target (ostree writes a NUL after it; its absence is tolerated);
 * bare and bare-user-only keep it in the file's own stat, xattrs and link target.
 */
function looseHeader(p: string, mode: RepoMode, st: fs.Stats, where: string, withXattrs: boolean): FileHeader {
  checkLooseType(st, mode, p, where);
  if (mode === 'bare-user') {
    const meta = getXattr(p, 'user.ostreemeta');
    if (meta === null) throw corrupt(where, 'no user.ostreemeta xattr', p);
    const m = decodeBareUserMeta(meta, where);
    let target = '';
    if (isLink(m.mode)) {
      // A target is at most PATH_MAX bytes, and ostree writes a NUL after it.
      target = readObjectFile(p, where, 4097).toString('utf8');
      if (target.endsWith('\0')) target = target.slice(0, -1);
    }
    return { uid: m.uid, gid: m.gid, mode: m.mode, rdev: 0, symlinkTarget: target, xattrs: m.xattrs };
  }
  const userOnly = mode === 'bare-user-only';
  const link = st.isSymbolicLink();
  return {
    uid: userOnly ? 0 : st.uid,
    gid: userOnly ? 0 : st.gid,
    mode: link ? S_IFLNK | 0o777 : st.mode,
    rdev: 0,
    symlinkTarget: link ? fs.readlinkSync(p) : '',
    xattrs: userOnly || !withXattrs ? [] : readXattrs(p),
  };
}

function openLoose(p: string, mode: RepoMode, where: string, withXattrs: boolean): ContentObject {
  const st = fs.lstatSync(p);
  const header = looseHeader(p, mode, st, where, withXattrs);
  const reg = isReg(header.mode);
  return { header, size: reg ? st.size : 0, path: p, chunks: reg ? () => fileChunks(p, where, 0, st.size) : empty };
}

async function* empty(): AsyncGenerator<Uint8Array> { /* a symlink has no bytes */ }

/** Objects up to this size are read whole by {@link readContentSync}. */
export const SMALL_OBJECT_LIMIT = 4 << 20;

/**
 * Reads a small content object whole, in synchronous calls — for worker threads, where that is
 * several times cheaper per object than the streaming path. Returns null when the object is
 * larger than SMALL_OBJECT_LIMIT on disk, or inflates to more than 16 times that (stream it with
 * {@link openContent} instead).
 */
export function readContentSync(store: StoreRef, checksum: string, opts: ContentReadOptions = {}): { header: FileHeader; data: Uint8Array; path: string } | null {
  const { mode } = store;
  const p = objectPath(store.objectsDir, checksum, 'file', mode);
  const where = `file object ${checksum}`;
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (st === undefined) throw missing(where, p);
  if (st.size > SMALL_OBJECT_LIMIT) return null;
  try {
    if (mode === 'archive') {
      const o = inflateArchiveObject(readObjectFile(p, where, SMALL_OBJECT_LIMIT, { scratch: opts.scratch === true }), where, { maxInflated: SMALL_OBJECT_LIMIT * 16, compress: opts.compress, path: p });
      return o.data === null ? null : { header: o.header, data: o.data, path: p };
    }
    const header = looseHeader(p, mode, st, where, opts.xattrs !== false);
    return { header, data: isReg(header.mode) ? readObjectFile(p, where, SMALL_OBJECT_LIMIT, { scratch: opts.scratch === true }) : new Uint8Array(0), path: p };
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw missing(where, p);
    throw e;
  }
}

/**
 * An archive (`.filez`) object held whole in memory: its header, announced size, where its
 * deflate stream starts, and its inflated bytes, checked against the size — or null bytes for a
 * regular file announcing more than `maxInflated` (highly compressed: stream it instead).
 */
export function inflateArchiveObject(
  bytes: Uint8Array, where: string, opts: { maxInflated: number; compress?: CompressBackend | undefined; path?: string },
): { header: FileHeader; size: number; dataOffset: number; data: Uint8Array | null } {
  const { header, size, dataOffset } = parseArchiveHeader(bytes, where);
  if (!isReg(header.mode)) return { header, size: 0, dataOffset, data: new Uint8Array(0) };
  const n = checkedSize(size, where, opts.path);
  if (n > opts.maxInflated) return { header, size: n, dataOffset, data: null };
  let data: Uint8Array;
  try {
    data = inflateRaw(bytes.subarray(dataOffset), n, opts.compress);
  } catch (e) {
    if (e instanceof InflateOverflow) throw overflowError(where, n, opts.path);
    throw corrupt(where, `bad deflate data (${(e as Error).message})`, opts.path, e);
  }
  if (data.length !== n) {
    throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: inflated to ${data.length} bytes, header says ${n}`, { ...(opts.path !== undefined && { path: opts.path }), expected: String(n), found: String(data.length) });
  }
  return { header, size: n, dataOffset, data };
}

/** A content object's checksum: SHA-256 over its framed header, then its bytes. */
export function contentChecksum(sha: Sha256Factory, header: FileHeader, data?: Uint8Array): string {
  const h = sha();
  h.update(fileHeaderPrefix(header));
  if (data !== undefined) h.update(data);
  return toHex(h.digest());
}

/** {@link contentChecksum} over bytes that arrive as a stream. */
export async function contentChecksumOf(sha: Sha256Factory, header: FileHeader, chunks: AsyncIterable<Uint8Array>): Promise<{ checksum: string; bytes: number }> {
  const h = sha();
  h.update(fileHeaderPrefix(header));
  let bytes = 0;
  for await (const c of chunks) {
    h.update(c);
    bytes += c.length;
  }
  return { checksum: toHex(h.digest()), bytes };
}
