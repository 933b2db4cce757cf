import fs from 'node:fs';
import { GroveError, isErrno } from '../errors.js';
import { fileTypeName } from '../format/mode.js';
import { ReusedBuffer } from './reused-buffer.js';

/**
 * Opening an object's file without trusting what is on disk: a repository can be a copy from
 * anywhere, and an object file that is a symlink to /dev/zero or a FIFO must fail at once rather
 * than be read forever or block. O_NOFOLLOW refuses a symlink in the last component, O_NONBLOCK
 * keeps the open of a FIFO from waiting for a writer, and the fstat that follows must show a
 * regular file, whose size then bounds every read. (libuv adds O_CLOEXEC to every open.)
 */
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

export interface OpenedObject { fd: number; size: number }

/**
 * Opens `p` (an object of the store, named `where` in messages) for reading. ENOENT is left to
 * the caller (a missing object has its own error); a symlink, FIFO, device or directory is
 * GROVE_CORRUPT_OBJECT.
 */
export function openObjectFile(p: string, where: string): OpenedObject {
  let fd: number;
  try {
    fd = fs.openSync(p, OPEN_FLAGS);
  } catch (e) {
    if (isErrno(e, 'ELOOP')) throw notRegular(p, where, 'symbolic link');
    if (isErrno(e, 'EISDIR')) throw notRegular(p, where, 'directory');
    throw e;
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw notRegular(p, where, fileTypeName(st.mode));
  }
  return { fd, size: st.size };
}

function notRegular(p: string, where: string, kind: string): GroveError {
  return new GroveError('GROVE_CORRUPT_OBJECT', `${where}: ${p} is a ${kind}, not a regular file`, { path: p });
}

/**
 * Reads `length` bytes at `position` of an open object into a new buffer; fewer bytes on disk
 * than that (the file shrank, or lied about its size) is corruption naming `where`.
 */
export function readExactly(fd: number, length: number, position: number, p: string, where: string): Buffer {
  return readExactlyInto(Buffer.allocUnsafe(length), fd, position, p, where);
}

/**
 * The whole of a regular object file, at most `maxBytes` of it (more is refused, naming `what`).
 * With `scratch`, in this thread's scratch buffer, valid until the next scratch read: for a
 * caller that is done with the bytes at once (fsck hashes them), which then allocates nothing
 * per object.
 */
export function readObjectFile(p: string, where: string, maxBytes: number, opts: { scratch?: boolean } = {}): Buffer {
  const { fd, size } = openObjectFile(p, where);
  try {
    if (size > maxBytes) throw new GroveError('GROVE_TOO_LARGE', `${where} is ${size} bytes, more than the ${maxBytes} allowed`, { path: p });
    return opts.scratch ? readExactlyInto(scratch.take(size), fd, 0, p, where) : readExactly(fd, size, 0, p, where);
  } finally {
    fs.closeSync(fd);
  }
}

const scratch = new ReusedBuffer();

function readExactlyInto(buf: Buffer, fd: number, position: number, p: string, where: string): Buffer {
  for (let off = 0; off < buf.length;) {
    const n = fs.readSync(fd, buf, off, buf.length - off, position + off);
    if (n === 0) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: ${p} is shorter than its recorded size`, { path: p });
    off += n;
  }
  return buf;
}
