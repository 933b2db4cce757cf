import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno, strerror } from '../errors.js';
import { toHex } from '../format/checksum.js';
import { sha256Factory } from '../format/hash.js';
import { encodeDirMeta, fileHeaderPrefix, type FileHeader, type Xattr } from '../format/objects.js';
import { isDir, isLink, isReg } from '../format/mode.js';
import { readXattrs } from '../xattr/xattrs.js';

/**
 * The checksum ostree gives a path on disk, as `ostree checksum` prints it and `ostree diff`
 * compares it: a directory's is the checksum of its dirmeta (owner, mode, xattrs); anything else
 * is a content object's (header with owner, full mode, symlink target and xattrs, then a regular
 * file's bytes). Timestamps never count.
 */
export interface LocalChecksumOptions {
  /** Include the path's xattrs (default true). */
  xattrs?: boolean;
  /** Owner recorded in place of the file's own (`ostree diff --owner-uid/--owner-gid`). */
  uid?: number;
  gid?: number;
  /**
   * Whose words a failure is told in: ostree reaches a path through GIO (`Error when getting
   * information for file “/ABS/PATH”: …`, the default) or, for `checksum --ignore-xattrs`,
   * through libglnx (`fstatat(PATH): …`).
   */
  errors?: 'gio' | 'glnx';
}

/** Stats `p` without following a symlink; failures in the words `errors` picks. */
export function lstatLikeOstree(p: string, errors: 'gio' | 'glnx' = 'gio'): fs.Stats {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    throw pathError(e, errors === 'gio' ? `Error when getting information for file \u201c${path.resolve(p)}\u201d` : `fstatat(${p})`);
  }
}

export async function checksumPath(p: string, opts: LocalChecksumOptions = {}): Promise<string> {
  return checksumStat(p, lstatLikeOstree(p, opts.errors), opts);
}

/** {@link checksumPath} of a path already stat'ed (a walk has the stat in hand). */
export async function checksumStat(p: string, st: fs.Stats, opts: LocalChecksumOptions = {}): Promise<string> {
  const errors = opts.errors ?? 'gio';
  const xattrs: Xattr[] = opts.xattrs === false ? [] : readXattrs(p);
  const uid = opts.uid ?? st.uid;
  const gid = opts.gid ?? st.gid;
  const sha = await sha256Factory();
  const h = sha();
  if (isDir(st.mode)) {
    h.update(encodeDirMeta({ uid, gid, mode: st.mode, xattrs }));
    return toHex(h.digest());
  }
  const header: FileHeader = { uid, gid, mode: st.mode, rdev: 0, symlinkTarget: isLink(st.mode) ? fs.readlinkSync(p) : '', xattrs };
  h.update(fileHeaderPrefix(header));
  if (isReg(st.mode)) {
    let fd: number;
    try {
      fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      throw pathError(e, errors === 'gio' ? `Error opening file \u201c${path.resolve(p)}\u201d` : `openat(${p})`);
    }
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  }
  return toHex(h.digest());
}

function pathError(e: unknown, prefix: string): unknown {
  if (!(e as NodeJS.ErrnoException)?.code) return e;
  return new GroveError(isErrno(e, 'ENOENT') ? 'GROVE_NOT_FOUND' : 'GROVE_IO', `${prefix}: ${strerror(e)}`, { cause: e });
}
