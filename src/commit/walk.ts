import fs, { type BigIntStats } from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno, strerror } from '../errors.js';
import { compareNames, type Xattr } from '../format/objects.js';
import { fileTypeName, isReg, isLink } from '../format/mode.js';
import { readXattrs } from '../xattr/xattrs.js';
import { applyFilters, type CommitFilters } from './filters.js';
import type { CommitItem } from './task.js';

/** A directory of the tree being committed, with its entries in ostree's (byte) order. */
export interface WalkDir {
  meta: { uid: number; gid: number; mode: number; xattrs: Xattr[] };
  /** name -> index of the file's item (hardlinked files share one). */
  files: Array<[string, number]>;
  dirs: Array<[string, WalkDir]>;
}

export interface WalkResult {
  root: WalkDir;
  /** Distinct files found (items handed to `onItem`); the items themselves are not kept. */
  itemCount: number;
  totalBytes: number;
  /** Files found (hardlinks counted each time). */
  fileCount: number;
}

/**
 * Walks `rootPath` on the main thread: lstat every entry, apply the commit filters, refuse file
 * types ostree cannot store, and list each distinct file (by device, inode and final metadata)
 * once.
 *
 * The tree may be writable by others while root commits it. A directory that someone else could
 * change (not ours, or group- or world-writable, or below one such) is therefore opened
 * (O_NOFOLLOW, checked to be the inode its parent listed) and read and lstat'ed through that
 * open directory (`/proc/self/fd/N/NAME`, Node having no openat), so a directory swapped for a
 * symlink meanwhile is never walked into. A tree only we can change is walked by path: the
 * detour through /proc cost half as much again on the walk of minbase (55 -> 85 ms). Either way
 * the workers then read each file only if it is still the inode seen here (store-files.ts). `onItem` sees each new item as it is found, so the caller can hand batches to the pool
 * while the walk goes on. The file system calls are synchronous on purpose: the walk is a long
 * run of tiny metadata calls, where a trip through libuv's thread pool per call costs more than
 * the call; workers keep hashing meanwhile.
 */
export async function walkTree(
  rootPath: string,
  filters: CommitFilters,
  opts: {
    xattrs: boolean;
    /** `fixed`: the checksum a hardlink into the repository already has (see {@link DevinoHook}). */
    onItem?: (item: CommitItem, st: BigIntStats, index: number, fixed?: string) => void | Promise<void>;
    devino?: DevinoHook;
  },
): Promise<WalkResult> {
  let itemCount = 0;
  const byInode = new Map<string, number>();
  const state = { totalBytes: 0, fileCount: 0 };

  // The root's failures in ostree's words: it opens the directory first.
  let rootStat: BigIntStats;
  try {
    rootStat = fs.lstatSync(rootPath, { bigint: true });
  } catch (e) {
    const code = isErrno(e, 'ENOENT') ? 'GROVE_NOT_FOUND' : isErrno(e, 'EACCES') ? 'GROVE_PERMISSION' : 'GROVE_NOT_DIRECTORY';
    throw new GroveError(code, `opendir(${rootPath}): ${strerror(e)}`, { path: rootPath });
  }
  if (!rootStat.isDirectory()) {
    throw new GroveError('GROVE_NOT_DIRECTORY', `opendir(${rootPath}): Not a directory`, { path: rootPath });
  }

  /**
   * `opened` is how to reach the directory: its path, or a path through its parent's open fd;
   * `trusted` says nobody but us (and root) can change it or anything above it.
   */
  const walkDir = async (abs: string, opened: string, rel: string, st: BigIntStats, trusted: boolean): Promise<WalkDir> => {
    if (trusted || PROC_FD === null) return walkOpen(abs, opened, rel, st, trusted);
    const fd = openDirectory(abs, opened, st);
    try {
      return await walkOpen(abs, `${PROC_FD}/${fd}`, rel, st, false);
    } finally {
      fs.closeSync(fd);
    }
  };

  const walkOpen = async (abs: string, here: string, rel: string, st: BigIntStats, trusted: boolean): Promise<WalkDir> => {
    const m = applyFilters(filters, rel, { uid: Number(st.uid), gid: Number(st.gid), mode: Number(st.mode) }, { dropAdd: rel !== '/' })!;
    const dir: WalkDir = { meta: { ...m, xattrs: opts.xattrs ? readXattrs(here === abs ? abs : `${here}/.`) : [] }, files: [], dirs: [] };
    let entries: string[];
    try {
      entries = fs.readdirSync(here);
    } catch (e) {
      if (isErrno(e, 'EACCES')) throw new GroveError('GROVE_PERMISSION', `cannot read directory ${abs}: permission denied`, { path: abs });
      throw e;
    }
    entries.sort(compareNames);
    for (const name of entries) {
      const childAbs = path.join(abs, name);
      const childRel = rel === '/' ? `/${name}` : `${rel}/${name}`;
      const cst = lstat(`${here}/${name}`, childAbs);
      if (cst.isDirectory()) {
        if (filters.skip.has(childRel)) {
          filters.skip.delete(childRel);
          continue;
        }
        dir.dirs.push([name, await walkDir(childAbs, here === abs ? childAbs : `${here}/${name}`, childRel, cst, trusted && onlyOurs(cst))]);
        continue;
      }
      const mode = Number(cst.mode);
      if (!isReg(mode) && !isLink(mode)) {
        throw new GroveError('GROVE_UNSUPPORTED_FILE', `cannot commit ${childAbs}: ${fileTypeName(mode)} is not supported`, {
          path: childAbs,
          hint: 'ostree trees hold only regular files, symlinks and directories; remove it or add it to --skip-list',
        });
      }
      const known = opts.devino?.lookup(cst);
      if (known?.canonical) {
        // -I: the object is taken as it is, before any rule (the skip list included), as ostree does.
        state.fileCount++;
        const idx = itemCount++;
        const item: CommitItem = { path: childAbs, id: `${cst.dev}:${cst.ino}`, uid: Number(cst.uid), gid: Number(cst.gid), mode, size: 0, readXattrs: false };
        const pending = opts.onItem?.(item, cst, idx, known.checksum);
        if (pending) await pending;
        dir.files.push([name, idx]);
        continue;
      }
      // A bare-user object keeps the file's real metadata in an xattr: that is what is committed.
      const seen = known?.meta ?? { uid: Number(cst.uid), gid: Number(cst.gid), mode };
      const fm = applyFilters(filters, childRel, { uid: seen.uid, gid: seen.gid, mode: seen.mode });
      if (fm === null) continue;
      state.fileCount++;
      if (known !== undefined && fm.uid === seen.uid && fm.gid === seen.gid && fm.mode === seen.mode) {
        const idx = itemCount++;
        const item: CommitItem = { path: childAbs, id: `${cst.dev}:${cst.ino}`, uid: fm.uid, gid: fm.gid, mode: fm.mode, size: 0, readXattrs: false };
        const pending = opts.onItem?.(item, cst, idx, known.checksum);
        if (pending) await pending;
        dir.files.push([name, idx]);
        continue;
      }
      const key = `${cst.dev}:${cst.ino}:${fm.uid}:${fm.gid}:${fm.mode}`;
      let idx = cst.nlink > 1n ? byInode.get(key) : undefined;
      if (idx === undefined) {
        idx = itemCount++;
        const size = isReg(fm.mode) ? Number(cst.size) : 0;
        const item: CommitItem = { path: childAbs, id: `${cst.dev}:${cst.ino}`, uid: fm.uid, gid: fm.gid, mode: fm.mode, size, readXattrs: opts.xattrs };
        if (known?.meta && opts.xattrs) item.xattrs = known.meta.xattrs;
        if (cst.nlink > 1n) byInode.set(key, idx);
        state.totalBytes += size;
        // The callback returns a promise only when it wants the event loop to turn (it has
        // just handed the pool a batch); otherwise the walk stays synchronous.
        const pending = opts.onItem?.(item, cst, idx);
        if (pending) await pending;
      }
      dir.files.push([name, idx]);
    }
    return dir;
  };

  const root = await walkDir(rootPath, rootPath, '/', rootStat, onlyOurs(rootStat) && ancestorsOnlyOurs(rootPath));
  return { root, itemCount, ...state };
}

const EUID = BigInt(process.geteuid?.() ?? -1);

/**
 * Whether only we (and root) can change the directory's entries: ours, and not writable by its
 * group or by others. (Root can change anything; a tree root does not guard against is not one
 * grove can guard either.)
 */
function onlyOurs(st: BigIntStats): boolean {
  return (st.uid === EUID || st.uid === 0n) && (st.mode & 0o022n) === 0n;
}

/** {@link onlyOurs} for every directory above `p`: a swap there would redirect every path below. */
function ancestorsOnlyOurs(p: string): boolean {
  let dir = path.dirname(path.resolve(p));
  for (;;) {
    const st = fs.lstatSync(dir, { bigint: true });
    // A sticky world-writable directory (/tmp) lets others add entries, but not rename ours.
    if (!(st.isDirectory() && (onlyOurs(st) || (st.mode & 0o1000n) !== 0n))) return false;
    const up = path.dirname(dir);
    if (up === dir) return true;
    dir = up;
  }
}

/**
 * `--link-checkout-speedup`: files that are hardlinks to objects of the repository (a checkout)
 * are known by device and inode. `canonical` (-I) takes the object as it is; otherwise the
 * object's checksum is used when the commit rules leave its metadata as it is, and in a
 * bare-user repository that metadata is the object's recorded one (`meta`).
 */
export interface DevinoHook {
  lookup(st: BigIntStats): { checksum: string; canonical: boolean; meta?: { uid: number; gid: number; mode: number; xattrs: Xattr[] } } | undefined;
}

/** Where this process's open file descriptors can be named as paths, or null without /proc. */
const PROC_FD = fs.existsSync('/proc/self/fd') ? '/proc/self/fd' : null;

/** `st` of the entry at `p` (reached as `at`), as one-line errors naming `p`. */
function lstat(at: string, p: string = at): BigIntStats {
  try {
    return fs.lstatSync(at, { bigint: true });
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `${p} does not exist`, { path: p });
    if (isErrno(e, 'EACCES')) throw new GroveError('GROVE_PERMISSION', `cannot stat ${p}: permission denied`, { path: p });
    throw e;
  }
}

/** Opens the directory `abs` (reached as `at`) that was seen as `st`, or fails if it is another one now. */
function openDirectory(abs: string, at: string, st: BigIntStats): number {
  let fd: number;
  try {
    fd = fs.openSync(at, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    if (isErrno(e, 'ELOOP', 'ENOTDIR')) throw changedDir(abs);
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `${abs} disappeared during the commit`, { path: abs });
    if (isErrno(e, 'EACCES')) throw new GroveError('GROVE_PERMISSION', `cannot read directory ${abs}: permission denied`, { path: abs });
    throw e;
  }
  const now = fs.fstatSync(fd, { bigint: true });
  if (now.dev !== st.dev || now.ino !== st.ino) {
    fs.closeSync(fd);
    throw changedDir(abs);
  }
  return fd;
}

function changedDir(abs: string): GroveError {
  return new GroveError('GROVE_CHANGED', `${abs} was replaced while it was being committed`, { path: abs, hint: 'commit a tree nobody else is changing' });
}
