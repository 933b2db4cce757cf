import fs from 'node:fs';
import { GroveError, isErrno } from '../errors.js';
import type { Sha256Factory } from '../format/hash.js';
import type { FileHeader } from '../format/objects.js';
import { isLink } from '../format/mode.js';
import { CHUNK_SIZE } from '../store/read-content.js';
import { storeContent, storeContentStream } from '../store/write-content.js';
import { ReusedBuffer } from '../store/reused-buffer.js';
import { readXattrs } from '../xattr/xattrs.js';
import type { CommitItem, WriteContentResult, WriteContentTask } from './task.js';

/** Files up to this size are read whole; larger ones are streamed in CHUNK_SIZE pieces. */
export const WHOLE_FILE_LIMIT = 4 << 20;

type Ctx = WriteContentTask['ctx'];

/**
 * Worker side of a commit: read each file of the batch and store it as a content object (the
 * store hashes it and writes it unless the repository has it).
 *
 * The tree being committed may be writable by someone else while root commits it, so a file is
 * read only if it is still the inode the walk saw: opened without following a symlink (one
 * swapped in after the walk would otherwise be read through, leaking whatever it points at),
 * without blocking on a FIFO, and checked by device and inode. Anything else is GROVE_CHANGED.
 */
export async function writeContentBatch(task: WriteContentTask, sha: Sha256Factory): Promise<WriteContentResult> {
  const result: WriteContentResult = { checksums: [], links: [], written: 0, bytesWritten: 0 };
  for (const item of task.items) {
    let r;
    if (isLink(item.mode)) {
      const target = readSymlink(item);
      r = storeContent(task.ctx, sha, header(item, target), new Uint8Array(0), { where: item.path });
      result.links.push([result.checksums.length, target]);
    } else {
      r = await storeFile(task.ctx, item, sha);
    }
    result.checksums.push(r.checksum);
    if (r.written) {
      result.written++;
      result.bytesWritten += r.bytes;
    }
  }
  return result;
}

function header(item: CommitItem, symlinkTarget = ''): FileHeader {
  return { uid: item.uid, gid: item.gid, mode: item.mode, rdev: 0, symlinkTarget, xattrs: item.xattrs ?? (item.readXattrs ? readXattrs(item.path) : []) };
}

function changed(item: CommitItem, what: string): GroveError {
  return new GroveError('GROVE_CHANGED', `${item.path} ${what} while it was being committed`, { path: item.path, hint: 'commit a tree nobody else is changing' });
}

/** A failed read of the tree, as one line naming the file. */
function readError(e: unknown, p: string): unknown {
  if (isErrno(e, 'EACCES', 'EPERM')) return new GroveError('GROVE_PERMISSION', `cannot read ${p}: permission denied`, { path: p });
  if (isErrno(e, 'ENOENT', 'ENOTDIR')) return new GroveError('GROVE_NOT_FOUND', `${p} disappeared during the commit`, { path: p });
  if (isErrno(e, 'EIO')) return new GroveError('GROVE_IO', `I/O error reading ${p}`, { path: p });
  return e;
}

/** The target of the symlink the walk saw, or GROVE_CHANGED. */
function readSymlink(item: CommitItem): string {
  try {
    const target = fs.readlinkSync(item.path);
    const st = fs.lstatSync(item.path, { bigint: true });
    if (!st.isSymbolicLink() || `${st.dev}:${st.ino}` !== item.id) throw changed(item, 'was replaced');
    return target;
  } catch (e) {
    if (isErrno(e, 'EINVAL')) throw changed(item, 'stopped being a symlink');
    throw readError(e, item.path);
  }
}

/** Opens the file the walk saw, or fails: see {@link writeContentBatch}. Returns the fd and its size now. */
function openSeen(item: CommitItem): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(item.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    if (isErrno(e, 'ELOOP')) throw changed(item, 'was replaced by a symlink');
    throw readError(e, item.path);
  }
  const st = fs.fstatSync(fd, { bigint: true });
  if (!st.isFile() || `${st.dev}:${st.ino}` !== item.id) {
    fs.closeSync(fd);
    throw changed(item, 'was replaced');
  }
  return { fd, size: Number(st.size) };
}

async function storeFile(ctx: Ctx, item: CommitItem, sha: Sha256Factory) {
  const { fd, size } = openSeen(item);
  try {
    if (size <= WHOLE_FILE_LIMIT) {
      const data = readAll(fd, size, item);
      return storeContent(ctx, sha, header(item), data, { where: item.path });
    }
    return await storeContentStream(ctx, sha, header(item), size, readChunks(fd, size, item), { where: item.path });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * One buffer per thread for whole-file reads, grown to the largest file read (at most
 * WHOLE_FILE_LIMIT + 1): a file is read and stored in one synchronous run, so the store is done
 * with the bytes before anything else on the thread reads into the buffer again.
 * A new buffer per file left the garbage collector behind the workers: committing /usr (5 GB,
 * 117k files) peaked at 486-496 MB of RSS that way, 429-439 MB with this one.
 */
const readBuffer = new ReusedBuffer();

/**
 * The file's `size` bytes, in the thread's read buffer (valid until the next call); fewer (it
 * shrank) is GROVE_CHANGED, as is more (it grew).
 */
function readAll(fd: number, size: number, item: CommitItem): Buffer {
  const buf = readBuffer.take(size + 1);
  let off = 0;
  try {
    for (let n; off <= size && (n = fs.readSync(fd, buf, off, size + 1 - off, off)) > 0;) off += n;
  } catch (e) {
    throw readError(e, item.path);
  }
  if (off !== size) throw changed(item, off < size ? 'shrank' : 'grew');
  return buf.subarray(0, size);
}

/**
 * The bytes of an open file in CHUNK_SIZE pieces, through one reused buffer: the consumer is
 * done with a chunk before it asks for the next.
 */
async function* readChunks(fd: number, size: number, item: CommitItem): AsyncGenerator<Uint8Array> {
  const buf = Buffer.allocUnsafe(CHUNK_SIZE);
  for (let pos = 0; pos < size;) {
    const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, Math.min(CHUNK_SIZE, size - pos), pos, (e, got) => (e ? reject(readError(e, item.path)) : resolve(got))));
    if (n === 0) throw changed(item, 'shrank');
    pos += n;
    yield buf.subarray(0, n);
  }
}
