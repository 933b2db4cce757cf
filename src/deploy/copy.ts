import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { readXattrs, setXattrs } from '../xattr/xattrs.js';

/**
 * File-system chores of a sysroot that Node has no call for.
 */

/** Whether anything, even a dangling symlink, is at `p`. */
export function lexists(p: string): boolean {
  return fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}

/** Copies every xattr of `src` onto `dest` (SELinux labels above all), as ostree's copies do. */
export function copyXattrs(src: string, dest: string): void {
  const xattrs = readXattrs(src);
  if (xattrs.length > 0) setXattrs(dest, xattrs);
}

/**
 * Sets or clears the immutable flag (chattr +i) of a deployment's top directory, so that nothing
 * renames or adds to it by accident; ostree seals deployments the same way. File systems without
 * the flag (tmpfs before Linux 6.0, some overlays) are left as they are, as ostree leaves them.
 */
export function setImmutable(dir: string, on: boolean): void {
  const r = spawnSync('chattr', [on ? '+i' : '-i', dir], { encoding: 'utf8' });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw r.error;
  }
  if (r.status === 0) return;
  if (/not supported|Inappropriate ioctl|Invalid argument/i.test(r.stderr)) return;
  throw new GroveError('GROVE_IO', `cannot ${on ? 'set' : 'clear'} the immutable flag of ${dir}: ${r.stderr.trim()}`, { path: dir });
}

/**
 * Mode, owner, times and xattrs of `src` onto `dest`, which is of the same type as `src`. None of
 * it follows a symlink at `dest`: a link gets its owner, and keeps the mode and times Linux gives
 * every link.
 */
export function copyAttributes(src: string, dest: string, st: fs.Stats = fs.lstatSync(src)): void {
  // Owner before xattrs: chown clears security.capability.
  fs.lchownSync(dest, st.uid, st.gid);
  copyXattrs(src, dest);
  if (st.isSymbolicLink()) return;
  fs.chmodSync(dest, st.mode & 0o7777);
  fs.lutimesSync(dest, st.atime, st.mtime);
}

/** 64 KiB: /etc and devicetree files are small; a bigger buffer changes nothing measurable. */
const COPY_CHUNK = 64 << 10;

/**
 * Copies the regular file `src` to the new file `dest`. Both are opened with O_NOFOLLOW, and
 * `dest` with O_EXCL, so that a symlink swapped in at either end since it was looked at is never
 * read or written through; the attributes go through the descriptor, never the path.
 */
function copyFile(src: string, dest: string): void {
  const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const from = fs.openSync(src, O_RDONLY | O_NOFOLLOW);
  try {
    const st = fs.fstatSync(from);
    if (!st.isFile()) throw new GroveError('GROVE_IO', `cannot copy ${src}: no longer a regular file`, { path: src });
    const to = fs.openSync(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(st.size, 1)));
      for (let n; (n = fs.readSync(from, buf, 0, buf.length, null)) > 0;) {
        for (let off = 0; off < n;) off += fs.writeSync(to, buf, off, n - off);
      }
      fs.fchownSync(to, st.uid, st.gid);
      fs.fchmodSync(to, st.mode & 0o7777);
      fs.futimesSync(to, st.atime, st.mtime);
    } finally {
      fs.closeSync(to);
    }
  } finally {
    fs.closeSync(from);
  }
  copyXattrs(src, dest);
}

/**
 * Copies a file, symlink or directory tree with its attributes. Into an existing directory the
 * entries are merged, files replaced. Nothing at `dest` is followed: a symlink or file where a
 * directory goes is replaced, not written through. Sockets, fifos and devices are skipped, as
 * ostree skips them.
 */
export function copyEntry(src: string, dest: string): void {
  const st = fs.lstatSync(src);
  if (st.isDirectory()) {
    try {
      fs.mkdirSync(dest, { mode: 0o700 });
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) throw e;
      if (!fs.lstatSync(dest).isDirectory()) {
        fs.unlinkSync(dest);
        fs.mkdirSync(dest, { mode: 0o700 });
      }
    }
    copyAttributes(src, dest, st);
    for (const name of fs.readdirSync(src)) copyEntry(path.join(src, name), path.join(dest, name));
  } else if (st.isSymbolicLink()) {
    fs.rmSync(dest, { force: true });
    fs.symlinkSync(fs.readlinkSync(src), dest);
    fs.lchownSync(dest, st.uid, st.gid);
  } else if (st.isFile()) {
    // unlink, not rm: a directory in the way is an error to report, not a tree to delete.
    try {
      fs.unlinkSync(dest);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    copyFile(src, dest);
  }
}
