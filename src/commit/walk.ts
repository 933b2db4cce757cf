import fs, { type BigIntStats } from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { compareNames, type Xattr } from '../format/objects.js';
import { fileTypeName, isReg, isLink } from '../format/mode.js';
import { readXattrs } from '../xattr/xattrs.js';
import { applyFilters, type CommitFilters } from './filters.js';
import type { CommitItem } from '../pool/protocol.js';

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
 * once. `onItem` sees each new item as it is found, so the caller can hand batches to the pool
 * while the walk goes on. The file system calls are synchronous on purpose: the walk is a long
 * run of tiny metadata calls, where a trip through libuv's thread pool per call costs more than
 * the call; workers keep hashing meanwhile.
 */
export async function walkTree(
  rootPath: string,
  filters: CommitFilters,
  opts: { xattrs: boolean; onItem?: (item: CommitItem, st: BigIntStats, index: number) => void | Promise<void> },
): Promise<WalkResult> {
  let itemCount = 0;
  const byInode = new Map<string, number>();
  const state = { totalBytes: 0, fileCount: 0 };

  const rootStat = lstat(rootPath);
  if (!rootStat.isDirectory()) {
    throw new GroveError('GROVE_NOT_DIRECTORY', `${rootPath} is not a directory`, { path: rootPath });
  }

  const walkDir = async (abs: string, rel: string, st: BigIntStats): Promise<WalkDir> => {
    const m = applyFilters(filters, rel, { uid: Number(st.uid), gid: Number(st.gid), mode: Number(st.mode) })!;
    const dir: WalkDir = { meta: { ...m, xattrs: opts.xattrs ? readXattrs(abs) : [] }, files: [], dirs: [] };
    let entries: string[];
    try {
      entries = fs.readdirSync(abs);
    } catch (e) {
      if (isErrno(e, 'EACCES')) throw new GroveError('GROVE_PERMISSION', `cannot read directory ${abs}: permission denied`, { path: abs });
      throw e;
    }
    entries.sort(compareNames);
    for (const name of entries) {
      const childAbs = path.join(abs, name);
      const childRel = rel === '/' ? `/${name}` : `${rel}/${name}`;
      const cst = lstat(childAbs);
      if (cst.isDirectory()) {
        if (filters.skip.has(childRel)) {
          filters.skip.delete(childRel);
          continue;
        }
        dir.dirs.push([name, await walkDir(childAbs, childRel, cst)]);
        continue;
      }
      const mode = Number(cst.mode);
      if (!isReg(mode) && !isLink(mode)) {
        throw new GroveError('GROVE_UNSUPPORTED_FILE', `cannot commit ${childAbs}: ${fileTypeName(mode)} is not supported`, {
          path: childAbs,
          hint: 'ostree trees hold only regular files, symlinks and directories; remove it or add it to --skip-list',
        });
      }
      const fm = applyFilters(filters, childRel, { uid: Number(cst.uid), gid: Number(cst.gid), mode });
      if (fm === null) continue;
      state.fileCount++;
      const key = `${cst.dev}:${cst.ino}:${fm.uid}:${fm.gid}:${fm.mode}`;
      let idx = cst.nlink > 1n ? byInode.get(key) : undefined;
      if (idx === undefined) {
        idx = itemCount++;
        const size = isReg(fm.mode) ? Number(cst.size) : 0;
        const item: CommitItem = { path: childAbs, uid: fm.uid, gid: fm.gid, mode: fm.mode, size, readXattrs: opts.xattrs };
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

  const root = await walkDir(rootPath, '/', rootStat);
  return { root, itemCount, ...state };
}

function lstat(p: string): BigIntStats {
  try {
    return fs.lstatSync(p, { bigint: true });
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `${p} does not exist`, { path: p });
    if (isErrno(e, 'EACCES')) throw new GroveError('GROVE_PERMISSION', `cannot stat ${p}: permission denied`, { path: p });
    throw e;
  }
}
