import fs from 'node:fs';
import { GroveError, isErrno, strerror } from '../errors.js';
import type { DirMeta } from '../format/objects.js';
import type { Overwrite, UnfinishedDir } from './task.js';
import { setXattrs } from '../xattr/xattrs.js';

/**
 * Directory creation and finishing for a checkout, shared by the main thread (the directories it
 * keeps for itself) and the workers (whole subtrees). Synchronous: each is one or two system
 * calls, and a promise round trip per directory cost more than the call.
 */

/**
 * Creates `dir` with mode 0700 (so its children can be placed whatever its final mode) and, in
 * system mode, its xattrs. Returns true when it already existed, which only union modes allow.
 */
export function makeDir(dir: string, meta: DirMeta | null, overwrite: Overwrite, userMode: boolean): boolean {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    // A destination that exists, or whose parent does not: ostree's words (`mkdirat: File
    // exists`), which scripts match on.
    if (isErrno(e, 'EEXIST')) {
      if (overwrite === 'none') throw new GroveError('GROVE_EXISTS', `mkdirat: ${strerror(e)}`, { path: dir, subject: dir });
      if (!fs.lstatSync(dir).isDirectory()) throw new GroveError('GROVE_EXISTS', `${dir} exists and is not a directory`, { path: dir });
      return true;
    }
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `mkdirat: ${strerror(e)}`, { path: dir, subject: dir });
    // A full disk or a refusal names the directory: where ostree's words would not.
    if (isErrno(e, 'EACCES')) throw new GroveError('GROVE_PERMISSION', `permission denied creating ${dir}`, { path: dir });
    if (isErrno(e, 'ENOSPC')) throw new GroveError('GROVE_NO_SPACE', `no space left on device creating ${dir}`, { path: dir });
    throw e;
  }
  if (meta !== null && !userMode && meta.xattrs.length > 0) setXattrs(dir, meta.xattrs);
  return false;
}

/**
 * Gives a created directory its final owner, mode and time, once everything inside it is placed
 * (a read-only directory would refuse its children otherwise).
 */
export function finishDir(d: UnfinishedDir, opts: { userMode: boolean; forceCopy: boolean; bareUserOnly: boolean }): void {
  const mode = opts.bareUserOnly ? d.meta.mode & 0o775 : d.meta.mode & 0o7777;
  if (!opts.userMode) fs.chownSync(d.dir, d.meta.uid, d.meta.gid);
  fs.chmodSync(d.dir, mode);
  // A constant mtime makes every checkout of a commit identical, as ostree does (not for -C).
  if (!opts.forceCopy) fs.utimesSync(d.dir, 0, 0);
}
