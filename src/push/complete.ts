import { decodeCommit } from '../format/objects.js';
import { objectExists, objectPath } from '../store/paths.js';
import { readObjectFile } from '../store/object-file.js';
import { MAX_METADATA_SIZE } from '../store/read-metadata.js';
import { walkDirtrees } from '../delta/walk-tree.js';
import type { Repo } from '../repo/repo.js';
import { isErrno } from '../errors.js';

/**
 * The first object the commit in `commitBytes` reaches that `repo` lacks, as `CHECKSUM.TYPE`;
 * null when its tree is complete there. A receiving server asks this before it stores a pushed
 * commit and again before a ref moves to one (a prune may have run in between): a commit is
 * visible only with everything below it, as ostree fsck expects.
 */
export function firstMissing(repo: Repo, commitBytes: Uint8Array, where: string): string | null {
  const commit = decodeCommit(commitBytes, where);
  const has = (checksum: string, type: 'file' | 'dirmeta'): boolean => objectExists(repo.objectsDir, checksum, type, repo.mode);
  if (!has(commit.rootMeta, 'dirmeta')) return `${commit.rootMeta}.dirmeta`;
  let missing: string | null = null;
  walkDirtrees(commit.rootTree, (t) => {
    if (missing !== null) return null;
    try {
      return readObjectFile(objectPath(repo.objectsDir, t, 'dirtree', repo.mode), `dirtree ${t}`, MAX_METADATA_SIZE);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
      missing = `${t}.dirtree`;
      return null;
    }
  }, (_t, tree) => {
    if (missing !== null) return;
    for (const [, c] of tree.files) {
      if (!has(c, 'file')) {
        missing = `${c}.file`;
        return;
      }
    }
    for (const [, , meta] of tree.dirs) {
      if (!has(meta, 'dirmeta')) {
        missing = `${meta}.dirmeta`;
        return;
      }
    }
  });
  return missing;
}
