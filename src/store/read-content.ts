import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import { GroveError, isErrno } from '../errors.js';
import { createInflater, inflateRaw, type CompressBackend } from '../format/compress.js';
import { decodeBareUserMeta, fileHeaderPrefix, parseArchiveHeader, MAX_HEADER_SIZE, type FileHeader } from '../format/objects.js';
import { toHex } from '../format/checksum.js';
import type { Sha256Factory } from '../format/hash.js';
import { S_IFLNK, isLink, isReg } from '../format/mode.js';
import { getXattr, readXattrs } from '../xattr/xattrs.js';
import type { RepoMode } from '../repo/mode.js';
import { objectPath } from './paths.js';

/** Bytes read from disk per step when streaming content. */
export const CHUNK_SIZE = 1 << 20;

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
}

/** Opens content object `checksum`; GROVE_MISSING_OBJECT when absent. */
export async function openContent(objectsDir: string, mode: RepoMode, checksum: string, opts: ContentReadOptions = {}): Promise<ContentObject> {
  const p = objectPath(objectsDir, checksum, 'file', mode);
  const where = `file object ${checksum}`;
  try {
    switch (mode) {
      case 'archive': return await openArchive(p, where, opts.compress);
      default: return await openLoose(p, mode, where, opts.xattrs !== false);
    }
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_MISSING_OBJECT', `${where} is missing`, { path: p });
    throw e;
  }
}

async function* fileChunks(p: string, start: number, length: number): AsyncGenerator<Uint8Array> {
  const fh = await fs.open(p, 'r');
  try {
    let pos = start;
    const end = start + length;
    while (pos < end) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK_SIZE, end - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) throw new GroveError('GROVE_CORRUPT_OBJECT', `${p} is shorter than its recorded size`, { path: p });
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** Opens an archive-format (`.filez`) object at `p`, wherever it is (the store, or a download). */
export async function openArchive(p: string, where: string, compress?: CompressBackend): Promise<ContentObject> {
  const fh = await fs.open(p, 'r');
  let fileSize: number;
  let head: Uint8Array;
  try {
    fileSize = (await fh.stat()).size;
    const first = Buffer.alloc(8);
    await fh.read(first, 0, 8, 0);
    const len = first.readUInt32BE(0);
    if (len > MAX_HEADER_SIZE || 8 + len > fileSize) {
      throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: archive header length ${len} exceeds the object`, { path: p });
    }
    head = Buffer.alloc(8 + len);
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  const { header, size, dataOffset } = parseArchiveHeader(head, where);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: absurd size ${size}`, { path: p });
  const n = Number(size);
  return {
    header,
    size: isReg(header.mode) ? n : 0,
    path: p,
    chunks: isReg(header.mode) ? () => inflateStream(fileChunks(p, dataOffset, fileSize - dataOffset), n, where, p, compress) : empty,
  };
}

/**
 * The uncompressed bytes of an archive object's deflate stream, checked against the size its
 * header announces: a stream that inflates to more, to less, or is not deflate at all is
 * corruption naming `where`.
 */
export async function* inflateStream(compressed: AsyncIterable<Uint8Array>, n: number, where: string, p?: string, compress?: CompressBackend): AsyncGenerator<Uint8Array> {
  const inflater = createInflater(compress);
  const fail = (msg: string, cause?: unknown) => new GroveError('GROVE_CORRUPT_OBJECT', `${where}: ${msg}`, { ...(p !== undefined && { path: p }), ...(cause !== undefined && { cause }) });
  let produced = 0;
  let fed = false;
  for await (const c of compressed) {
    fed = true;
    let outs: Uint8Array[];
    try {
      outs = await inflater.push(c, false);
    } catch (e) {
      throw fail(`bad deflate data (${(e as Error).message})`, e);
    }
    for (const out of outs) {
      produced += out.length;
      if (produced > n) throw fail(`inflates past its recorded size ${n}`);
      yield out;
    }
  }
  if (!fed && n > 0) throw fail('no compressed data');
  let tail: Uint8Array[];
  try {
    tail = await inflater.push(new Uint8Array(0), true);
  } catch (e) {
    throw fail(`bad deflate data (${(e as Error).message})`, e);
  }
  for (const out of tail) {
    produced += out.length;
    if (produced > n) throw fail(`inflates past its recorded size ${n}`);
    yield out;
  }
  if (produced !== n) throw fail(`inflated to ${produced} bytes, header says ${n}`);
}

/**
 * The header of a loose (non-archive) object. bare-user keeps it in `user.ostreemeta` and stores a
 * symlink as a file holding the target (ostree writes a NUL after it; its absence is tolerated);
 * bare and bare-user-only keep it in the file's own stat, xattrs and link target.
 */
function looseHeader(p: string, mode: RepoMode, st: fsSync.Stats, where: string, withXattrs: boolean): FileHeader {
  if (mode === 'bare-user') {
    const meta = getXattr(p, 'user.ostreemeta');
    if (meta === null) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: no user.ostreemeta xattr`, { path: p });
    const m = decodeBareUserMeta(meta, where);
    let target = '';
    if (isLink(m.mode)) {
      target = fsSync.readFileSync(p, 'utf8');
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
    symlinkTarget: link ? fsSync.readlinkSync(p) : '',
    xattrs: userOnly || !withXattrs ? [] : readXattrs(p),
  };
}

async function openLoose(p: string, mode: RepoMode, where: string, withXattrs: boolean): Promise<ContentObject> {
  const st = await fs.lstat(p);
  const header = looseHeader(p, mode, st, where, withXattrs);
  const reg = isReg(header.mode);
  return { header, size: reg ? st.size : 0, path: p, chunks: reg ? () => fileChunks(p, 0, st.size) : empty };
}

async function* empty(): AsyncGenerator<Uint8Array> { /* a symlink has no bytes */ }

/** Objects up to this size are read whole by {@link readContentSync}. */
export const SMALL_OBJECT_LIMIT = 4 << 20;

/**
 * Reads a small content object whole, in synchronous calls — for worker threads, where that is
 * several times cheaper per object than the streaming path. Returns null when the object is
 * larger than SMALL_OBJECT_LIMIT (stream it with {@link openContent} instead).
 */
export function readContentSync(objectsDir: string, mode: RepoMode, checksum: string, opts: ContentReadOptions = {}): { header: FileHeader; data: Uint8Array; path: string } | null {
  const p = objectPath(objectsDir, checksum, 'file', mode);
  const where = `file object ${checksum}`;
  const st = fsSync.lstatSync(p, { throwIfNoEntry: false });
  if (st === undefined) throw new GroveError('GROVE_MISSING_OBJECT', `${where} is missing`, { path: p });
  if (st.size > SMALL_OBJECT_LIMIT) return null;
  switch (mode) {
    case 'archive': {
      const o = inflateArchiveObject(fsSync.readFileSync(p), where, { maxInflated: SMALL_OBJECT_LIMIT * 16, compress: opts.compress, path: p });
      return o.data === null ? null : { header: o.header, data: o.data, path: p };
    }
    default: {
      const header = looseHeader(p, mode, st, where, opts.xattrs !== false);
      return { header, data: isReg(header.mode) ? fsSync.readFileSync(p) : new Uint8Array(0), path: p };
    }
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
  const at = opts.path === undefined ? {} : { path: opts.path };
  if (!isReg(header.mode)) return { header, size: 0, dataOffset, data: new Uint8Array(0) };
  if (size > BigInt(opts.maxInflated)) return { header, size: Number(size), dataOffset, data: null };
  let data: Uint8Array;
  try {
    data = inflateRaw(bytes.subarray(dataOffset), Number(size), opts.compress);
  } catch (e) {
    throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: bad deflate data (${(e as Error).message})`, { ...at, cause: e });
  }
  if (data.length !== Number(size)) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: inflated to ${data.length} bytes, header says ${size}`, at);
  return { header, size: Number(size), dataOffset, data };
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
