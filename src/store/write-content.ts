import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { toHex } from '../format/checksum.js';
import { createDeflater, deflateRaw, type CompressBackend } from '../format/compress.js';
import type { Sha256Factory } from '../format/hash.js';
import { archiveHeader, encodeBareUserMeta, fileHeaderPrefix, type FileHeader } from '../format/objects.js';
import { isLink } from '../format/mode.js';
import type { RepoMode } from '../repo/mode.js';
import { tempName } from '../repo/fsutil.js';
import { setXattr, setXattrs } from '../xattr/xattrs.js';
import { contentChecksum, contentChecksumOf, openContent, readContentSync, CHUNK_SIZE } from './read-content.js';
import { objectExists, objectPath, type StoreRef } from './paths.js';
import { validateBareUserOnlyFile, validateFileHeader } from './validate.js';

/**
 * The one writer of content objects. Commit, pull, pull-local and import all store files through
 * here, trusted or not: the header is validated for the repository's mode (validate.ts), the
 * checksum is computed over what is written, and with `expected` a different checksum is
 * corruption and nothing is kept. Objects go into a transaction's staging directory under their
 * checksum only once complete; the transaction publishes them.
 *
 * Small objects use synchronous calls: this runs on worker threads, where blocking costs nothing
 * but that thread, and each async call would add a hop through libuv's thread pool (the async
 * version spent most of a 6,000-file commit waiting on those hops).
 */

/** Where a transaction's objects go, as plain data that crosses to worker threads. */
export interface StoreTarget {
  /** The repository's `objects/`, for the existence checks. */
  objectsDir: string;
  mode: RepoMode;
  /** The transaction's staging directory. */
  stagingDir: string;
  zlibLevel: number;
  compress: CompressBackend;
}

export interface Stored { checksum: string; written: boolean; bytes: number }

export interface StoreOptions {
  /** Names the object's origin in messages ("file object X from remote origin", a source path). */
  where: string;
  /** The checksum the object must have (anything fetched or imported). */
  expected?: string;
  /** The object's archive (`.filez`) bytes as they arrived: kept as they are in an archive repository. */
  archive?: Uint8Array;
  /**
   * The caller found `expected` absent from the store just before (a pull checks before it
   * fetches), so the store need not look again: one lstat per object of a pull.
   */
  checkedAbsent?: boolean;
  /** Refuse a regular file with mode bits outside 0775 whatever the repository's mode (`pull --bareuseronly-files`). */
  bareUserOnlyFiles?: boolean;
}

export function isStored(t: StoreTarget, checksum: string): boolean {
  return objectExists(t.objectsDir, checksum, 'file', t.mode);
}

function checkExpected(checksum: string, opts: StoreOptions): void {
  if (opts.expected !== undefined && checksum !== opts.expected) {
    throw new GroveError('GROVE_CORRUPT_OBJECT', `${opts.where} is corrupt: its content has checksum ${checksum}`, { expected: opts.expected, found: checksum });
  }
}

/** A content object held whole: its header and (for a regular file) its bytes. */
export function storeContent(t: StoreTarget, sha: Sha256Factory, header: FileHeader, data: Uint8Array, opts: StoreOptions): Stored {
  validateFileHeader(header, t.mode, opts.where);
  if (opts.bareUserOnlyFiles) validateBareUserOnlyFile(header, opts.expected ?? opts.where);
  const link = isLink(header.mode);
  const checksum = link ? contentChecksum(sha, header) : contentChecksum(sha, header, data);
  checkExpected(checksum, opts);
  if (!opts.checkedAbsent && isStored(t, checksum)) return { checksum, written: false, bytes: 0 };
  let written: boolean;
  if (opts.archive !== undefined && t.mode === 'archive') written = createExclusive(stagedPath(t, checksum), (fd) => writeAll(fd, opts.archive!));
  else if (link) written = writeSymlinkObject(t, checksum, header);
  else written = writeRegularObject(t, checksum, header, data);
  return { checksum, written, bytes: written && !link ? data.length : 0 };
}

/**
 * A content object whose `size` bytes arrive as a stream, never held whole: hashed as it is
 * written (converted to the repository's mode) into a temp file in the staging directory, and
 * published under its checksum once complete and checked. `adopt` is an archive (`.filez`) file
 * holding this very object (a download): in an archive repository it is checked, then linked in
 * as it is. The caller removes `adopt`.
 */
export async function storeContentStream(
  t: StoreTarget, sha: Sha256Factory, header: FileHeader, size: number, chunks: AsyncIterable<Uint8Array>, opts: StoreOptions & { adopt?: string },
): Promise<Stored> {
  validateFileHeader(header, t.mode, opts.where);
  if (opts.bareUserOnlyFiles) validateBareUserOnlyFile(header, opts.expected ?? opts.where);
  if (isLink(header.mode)) return storeContent(t, sha, header, new Uint8Array(0), opts);
  const keep = t.mode === 'archive' ? opts.archive ?? opts.adopt : undefined;
  if (keep !== undefined) {
    // Archive into archive: check the stream, then keep the bytes as they came.
    const { checksum } = await contentChecksumOf(sha, header, chunks);
    checkExpected(checksum, opts);
    if (!opts.checkedAbsent && isStored(t, checksum)) return { checksum, written: false, bytes: 0 };
    const dest = stagedPath(t, checksum);
    const written = typeof keep === 'string' ? linkIn(keep, dest) : createExclusive(dest, (fd) => writeAll(fd, keep));
    return { checksum, written, bytes: written ? size : 0 };
  }
  return writeStreamed(t, header, size, chunks, sha, opts);
}

/**
 * Content object `expected` of `source`, a repository of this one's mode on the same file system,
 * hardlinked into staging instead of copied, as ostree's local pulls import; then the linked
 * inode itself is checked as any imported object is (a valid header, this checksum), so what is
 * published is exactly what was checked. Null when it cannot be linked here (another file system,
 * too many links, not there), for the caller to copy it and say what is wrong. The caller makes
 * sure both repositories have the same owner: the two keep one inode.
 */
export async function linkContentFrom(t: StoreTarget, source: StoreRef, sha: Sha256Factory, opts: StoreOptions & { expected: string }): Promise<Stored | null> {
  if (source.mode !== t.mode) return null;
  const checksum = opts.expected;
  const dest = stagedPath(t, checksum);
  try {
    fsSync.linkSync(objectPath(source.objectsDir, checksum, 'file', source.mode), dest);
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return { checksum, written: false, bytes: 0 };
    if (isErrno(e, 'EXDEV', 'EPERM', 'EMLINK', 'ENOENT')) return null;
    throw writeError(e, dest);
  }
  try {
    const staged: StoreRef = { objectsDir: t.stagingDir, mode: t.mode };
    const check = (header: FileHeader): void => {
      validateFileHeader(header, t.mode, opts.where);
      if (opts.bareUserOnlyFiles) validateBareUserOnlyFile(header, checksum);
    };
    let actual: string;
    let bytes = 0;
    const small = readContentSync(staged, checksum, { compress: t.compress });
    if (small !== null) {
      check(small.header);
      const link = isLink(small.header.mode);
      actual = link ? contentChecksum(sha, small.header) : contentChecksum(sha, small.header, small.data);
      bytes = link ? 0 : small.data.length;
    } else {
      const obj = await openContent(staged, checksum, { compress: t.compress });
      check(obj.header);
      ({ checksum: actual, bytes } = await contentChecksumOf(sha, obj.header, obj.chunks()));
    }
    checkExpected(actual, opts);
    return { checksum, written: true, bytes };
  } catch (e) {
    fsSync.rmSync(dest, { force: true });
    throw e;
  }
}

/** Staging subdirectories already made by this thread. */
const madeDirs = new Set<string>();

function stagedPath(t: StoreTarget, checksum: string): string {
  const p = objectPath(t.stagingDir, checksum, 'file', t.mode);
  const dir = path.dirname(p);
  if (!madeDirs.has(dir)) {
    fsSync.mkdirSync(dir, { recursive: true });
    madeDirs.add(dir);
  }
  return p;
}

/** A write that failed for a reason of the machine's, as one line naming the object's path. */
function writeError(e: unknown, p: string): unknown {
  if (isErrno(e, 'ENOSPC')) return new GroveError('GROVE_NO_SPACE', `no space left on device writing ${p}`, { path: p });
  if (isErrno(e, 'EDQUOT')) return new GroveError('GROVE_NO_SPACE', `disk quota exceeded writing ${p}`, { path: p });
  if (isErrno(e, 'EACCES', 'EPERM', 'EROFS')) return new GroveError('GROVE_PERMISSION', `cannot write ${p}: ${(e as NodeJS.ErrnoException).code}`, { path: p });
  if (isErrno(e, 'EIO')) return new GroveError('GROVE_IO', `I/O error writing ${p}`, { path: p });
  return e;
}

/** Bare modes: ownership, mode, xattrs and the epoch mtime, as ostree leaves its objects. */
function finishBareFile(t: StoreTarget, p: string, fd: number, header: FileHeader): void {
  switch (t.mode) {
    case 'bare':
      fsSync.fchownSync(fd, header.uid, header.gid);
      fsSync.fchmodSync(fd, header.mode & 0o7777);
      setXattrs(p, header.xattrs);
      break;
    case 'bare-user':
      // The object keeps read permission for its owner whatever the file's mode (ostree#907).
      fsSync.fchmodSync(fd, (header.mode & 0o775) | 0o400);
      setXattr(p, 'user.ostreemeta', encodeBareUserMeta(header));
      break;
    case 'bare-user-only':
      fsSync.fchmodSync(fd, header.mode & 0o7777);
      break;
    default:
      return;
  }
  fsSync.futimesSync(fd, 0, 0);
}

/**
 * Creates the staged object `dest` exclusively and lets `fill` write it; false when another
 * thread of this transaction is writing the same object. Nothing reads the staging directory
 * before every task of the transaction has finished, so no one sees a half-made object; a fill
 * that fails removes what it began.
 */
function createExclusive(dest: string, fill: (fd: number) => void): boolean {
  let fd: number;
  try {
    fd = fsSync.openSync(dest, 'wx', 0o644);
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return false;
    throw writeError(e, dest);
  }
  try {
    fill(fd);
  } catch (e) {
    fsSync.closeSync(fd);
    fsSync.rmSync(dest, { force: true });
    throw writeError(e, dest);
  }
  fsSync.closeSync(fd);
  return true;
}

function writeAll(fd: number, data: Uint8Array): void {
  for (let off = 0; off < data.length;) off += fsSync.writeSync(fd, data, off, data.length - off);
}

function writeRegularObject(t: StoreTarget, checksum: string, header: FileHeader, data: Uint8Array): boolean {
  const dest = stagedPath(t, checksum);
  if (t.mode === 'archive') {
    const head = archiveHeader(header, BigInt(data.length));
    const body = deflateRaw(data, t.zlibLevel, t.compress);
    return createExclusive(dest, (fd) => {
      writeAll(fd, head);
      writeAll(fd, body);
    });
  }
  return createExclusive(dest, (fd) => {
    writeAll(fd, data);
    finishBareFile(t, dest, fd, header);
  });
}

/** Links the complete file `tmp` in as `dest` unless that exists already; false then. */
function linkIn(tmp: string, dest: string): boolean {
  try {
    fsSync.linkSync(tmp, dest);
    return true;
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return false;
    throw writeError(e, dest);
  }
}

function writeSymlinkObject(t: StoreTarget, checksum: string, header: FileHeader): boolean {
  const dest = stagedPath(t, checksum);
  switch (t.mode) {
    case 'archive':
      return createExclusive(dest, (fd) => writeAll(fd, archiveHeader(header, 0n)));
    case 'bare-user':
      // bare-user keeps symlinks as regular files holding the target and a NUL, as ostree
      // writes them (an unprivileged user cannot put user.* xattrs on a symlink).
      return createExclusive(dest, (fd) => {
        writeAll(fd, Buffer.from(`${header.symlinkTarget}\0`));
        setXattr(dest, 'user.ostreemeta', encodeBareUserMeta(header));
        fsSync.futimesSync(fd, 0, 0);
      });
    default: {
      const tmp = path.join(t.stagingDir, tempName('tmp-'));
      try {
        fsSync.symlinkSync(header.symlinkTarget, tmp);
        if (t.mode === 'bare') {
          fsSync.lchownSync(tmp, header.uid, header.gid);
          setXattrs(tmp, header.xattrs);
        }
        fsSync.renameSync(tmp, dest);
      } catch (e) {
        fsSync.rmSync(tmp, { force: true });
        throw writeError(e, dest);
      }
      return true;
    }
  }
}

const ZERO_CHUNK = Buffer.alloc(CHUNK_SIZE);

/**
 * Hashes and writes one content object whose bytes arrive as a stream (`size` of them), without
 * holding it whole: into a temp file in the staging directory, published under its checksum once
 * complete. A stream of another length is corruption when `expected` is set (the source lied),
 * else a change under our feet (GROVE_CHANGED: a file being committed shrank or grew).
 */
async function writeStreamed(t: StoreTarget, header: FileHeader, size: number, chunks: AsyncIterable<Uint8Array>, sha: Sha256Factory, opts: StoreOptions): Promise<Stored> {
  const tmp = path.join(t.stagingDir, tempName('tmp-'));
  let out: fs.FileHandle;
  try {
    out = await fs.open(tmp, 'wx', 0o644);
  } catch (e) {
    throw writeError(e, tmp);
  }
  let endsInHole = false;
  let pos = 0;
  const h = sha();
  const lengthError = (n: string) => new GroveError(opts.expected ? 'GROVE_CORRUPT_OBJECT' : 'GROVE_CHANGED', `${opts.where}: ${n} bytes where ${size} were announced`, { path: opts.where, expected: String(size), found: n });
  try {
    h.update(fileHeaderPrefix(header));
    const deflater = t.mode === 'archive' ? createDeflater(t.zlibLevel) : null;
    if (deflater) await out.write(archiveHeader(header, BigInt(size)));
    for await (const chunk of chunks) {
      h.update(chunk);
      pos += chunk.length;
      if (pos > size) throw lengthError(`more than ${size}`);
      if (deflater) {
        // push() resolves once the codec has consumed the chunk, so the producer may reuse its
        // buffer without a copy (copying each chunk made a 4 GiB archive commit take 22 s, not 11 s).
        for (const c of await deflater.push(chunk, pos >= size)) await out.write(c);
      } else if (chunk.length === CHUNK_SIZE && ZERO_CHUNK.equals(chunk)) {
        // A whole zero chunk becomes a hole in the object (sparse disk images stay sparse);
        // readers see the same bytes. The size is set once the last chunk is in.
        endsInHole = true;
      } else {
        for (let off = 0; off < chunk.length;) off += (await out.write(chunk, off, chunk.length - off, pos - chunk.length + off)).bytesWritten;
        endsInHole = false;
      }
    }
    if (pos !== size) throw lengthError(String(pos));
    if (endsInHole) await out.truncate(size);
    if (deflater && size === 0) for (const c of await deflater.push(new Uint8Array(0), true)) await out.write(c);
    if (t.mode !== 'archive') finishBareFile(t, tmp, out.fd, header);
  } catch (e) {
    await out.close();
    await fs.rm(tmp, { force: true });
    throw writeError(e, tmp);
  }
  await out.close();
  try {
    const checksum = toHex(h.digest());
    checkExpected(checksum, opts);
    if (!opts.checkedAbsent && isStored(t, checksum)) return { checksum, written: false, bytes: 0 };
    const written = linkIn(tmp, stagedPath(t, checksum));
    return { checksum, written, bytes: written ? size : 0 };
  } finally {
    await fs.rm(tmp, { force: true });
  }
}
