import fs from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { compareNames, type Xattr } from '../format/objects.js';
import { fileTypeName, isDir, isLink, isReg } from '../format/mode.js';
import { readXattrs } from '../xattr/xattrs.js';
import { applyFilters, type CommitFilters } from './filters.js';
import type { CommitItem } from '../pool/protocol.js';

/** A directory of the tree being committed, with its entries in ostree's (byte) order. */
export interface WalkDir {
  meta: { uid: number; gid: number; mode: number; xattrs: Xattr[] };
  /** name -> index into the walk's items (hardlinked files share one). */
  files: Array<[string, number]>;
  dirs: Array<[string, WalkDir]>;
}

export interface WalkResult {
  root: WalkDir;
  items: CommitItem[];
  totalBytes: number;
  /** Files found (hardlinks counted each time). */
  fileCount: number;
}

/**
 * Walks `rootPath` on the main thread: lstat every entry, apply the commit filters, refuse file
 * types ostree cannot store, and list each distinct file (by device, inode and final metadata)
 * once for the pool. Nothing is read or written here beyond metadata and directory xattrs.
 */
export async function walkTree(rootPath: string, filters: CommitFilters, opts: { xattrs: boolean }): Promise<WalkResult> {
  const items: CommitItem[] = [];
  const byInode = new Map<string, number>();
  const state = { totalBytes: 0, fileCount: 0 };

  const rootStat = await lstatOrThrow(rootPath);
  if (!rootStat.isDirectory()) {
    throw new GroveError('GROVE_NOT_DIRECTORY', `${rootPath} is not a directory`, { path: rootPath });
  }

  async function walkDir(abs: string, rel: string, st: Stats): Promise<WalkDir> {
    const m = applyFilters(filters, rel, { uid: st.uid, gid: st.gid, mode: st.mode })!;
    const dir: WalkDir = { meta: { ...m, xattrs: opts.xattrs ? readXattrs(abs) : [] }, files: [], dirs: [] };
    let entries;
    try {
      entries = await fs.readdir(abs);
    } catch (e) {
      if (isErrno(e, 'EACCES')) throw new GroveError('GROVE_PERMISSION', `cannot read directory ${abs}: permission denied`, { path: abs });
      throw e;
    }
    entries.sort(compareNames);
    for (const name of entries) {
      const childAbs = path.join(abs, name);
      const childRel = rel === '/' ? `/${name}` : `${rel}/${name}`;
      const cst = await lstatOrThrow(childAbs);
      if (cst.isDirectory()) {
        if (filters.skip.has(childRel)) {
          applyFilters(filters, childRel, cst);
          continue;
        }
        dir.dirs.push([name, await walkDir(childAbs, childRel, cst)]);
        continue;
      }
      if (!isReg(cst.mode) && !isLink(cst.mode)) {
        throw new GroveError('GROVE_UNSUPPORTED_FILE', `cannot commit ${childAbs}: ${fileTypeName(cst.mode)} is not supported`, {
          path: childAbs,
          hint: 'ostree trees hold only regular files, symlinks and directories; remove it or add it to --skip-list',
        });
      }
      const fm = applyFilters(filters, childRel, { uid: cst.uid, gid: cst.gid, mode: cst.mode });
      if (fm === null) continue;
      state.fileCount++;
      const key = `${cst.dev}:${cst.ino}:${fm.uid}:${fm.gid}:${fm.mode}`;
      let idx = byInode.get(key);
      if (idx === undefined) {
        idx = items.length;
        items.push({ path: childAbs, uid: fm.uid, gid: fm.gid, mode: fm.mode, size: isReg(fm.mode) ? cst.size : 0, readXattrs: opts.xattrs });
        if (cst.nlink > 1) byInode.set(key, idx);
        if (isReg(fm.mode)) state.totalBytes += cst.size;
      }
      dir.files.push([name, idx]);
    }
    return dir;
  }

  const root = await walkDir(rootPath, '/', rootStat);
  if (!isDir(root.meta.mode)) throw new Error('root lost its directory bit');
  return { root, items, ...state };
}

async function lstatOrThrow(p: string): Promise<Stats> {
  try {
    return await fs.lstat(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `${p} does not exist`, { path: p });
    if (isErrno(e, 'EACCES')) throw new GroveError('GROVE_PERMISSION', `cannot stat ${p}: permission denied`, { path: p });
    throw e;
  }
}
