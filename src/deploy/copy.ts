import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GroveError } from '../errors.js';
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

/** Mode, owner, times and xattrs of `src` onto `dest`. */
export function copyAttributes(src: string, dest: string, st: fs.Stats = fs.lstatSync(src)): void {
  copyXattrs(src, dest);
  fs.chownSync(dest, st.uid, st.gid);
  fs.chmodSync(dest, st.mode & 0o7777);
  fs.utimesSync(dest, st.atime, st.mtime);
}

/**
 * Copies a file, symlink or directory tree with its attributes. Into an existing directory the
 * entries are merged, files replaced. Sockets, fifos and devices are skipped, as ostree skips
 * them.
 */
export function copyEntry(src: string, dest: string): void {
  const st = fs.lstatSync(src);
  if (st.isDirectory()) {
    try {
      fs.mkdirSync(dest, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    copyAttributes(src, dest, st);
    for (const name of fs.readdirSync(src)) copyEntry(path.join(src, name), path.join(dest, name));
  } else if (st.isSymbolicLink()) {
    fs.rmSync(dest, { force: true });
    fs.symlinkSync(fs.readlinkSync(src), dest);
    fs.lchownSync(dest, st.uid, st.gid);
  } else if (st.isFile()) {
    fs.copyFileSync(src, dest);
    copyAttributes(src, dest, st);
  }
}
