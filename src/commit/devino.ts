import fs, { type BigIntStats } from 'node:fs';
import path from 'node:path';
import { isErrno } from '../errors.js';
import { decodeBareUserMeta } from '../format/objects.js';
import type { Repo } from '../repo/repo.js';
import { getXattr } from '../xattr/xattrs.js';
import type { DevinoHook } from './walk.js';

/**
 * `--link-checkout-speedup` (and `-I`, which implies it): ostree scans the repository's loose
 * content objects once and then recognises files of the tree that are hardlinks to them, as a
 * hardlink checkout leaves them, by device and inode. Only the bare modes hardlink objects
 * (grove keeps no uncompressed cache for archive repositories), so an archive repository has no
 * such files.
 *
 * The scan costs a readdir of every object directory and an lstat per object, as in ostree.
 */
export function scanDevino(repo: Repo, canonical: boolean): DevinoHook {
  const byDevIno = new Map<string, string>();
  if (repo.mode !== 'archive') {
    let dirs: string[] = [];
    try {
      dirs = fs.readdirSync(repo.objectsDir);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    for (const d of dirs) {
      if (!/^[0-9a-f]{2}$/.test(d)) continue;
      const dir = path.join(repo.objectsDir, d);
      for (const n of fs.readdirSync(dir)) {
        if (!n.endsWith('.file') || n.length !== 62 + '.file'.length) continue;
        const st = fs.lstatSync(path.join(dir, n), { bigint: true, throwIfNoEntry: false });
        if (st === undefined || (!st.isFile() && !st.isSymbolicLink())) continue;
        byDevIno.set(`${st.dev}:${st.ino}`, d + n.slice(0, 62));
      }
    }
  }
  return {
    lookup(st: BigIntStats) {
      if (byDevIno.size === 0) return undefined;
      const checksum = byDevIno.get(`${st.dev}:${st.ino}`);
      if (checksum === undefined) return undefined;
      if (canonical || repo.mode !== 'bare-user') return { checksum, canonical };
      const p = repo.objectPath(checksum, 'file');
      const raw = getXattr(p, 'user.ostreemeta');
      if (raw === null) return undefined;
      return { checksum, canonical, meta: decodeBareUserMeta(raw, `file object ${checksum}`) };
    },
  };
}
