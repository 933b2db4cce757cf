import fs from 'node:fs';
import { decodeCommit, type ObjectType } from '../format/objects.js';
import { isErrno } from '../errors.js';
import { objectExists, objectPath } from '../store/paths.js';
import { readObjectFile } from '../store/object-file.js';
import { MAX_METADATA_SIZE } from '../store/read-metadata.js';
import { isCommitPartial } from '../repo/partial.js';
import type { Repo } from '../repo/repo.js';
import type { Transaction } from '../repo/transaction.js';
import { changedObjects } from './tree-diff.js';

/**
 * The first object the commit in `commitBytes` reaches that `repo` lacks (counting what
 * transaction `tx` has staged), as `CHECKSUM.TYPE`; null when its tree is complete. A receiving
 * server asks this before it stores a pushed commit and before a ref moves to one: a commit is
 * visible only with everything below it, as ostree fsck expects.
 *
 * When the commit's parent is in the repository and not partial, only what differs from the
 * parent's tree is looked at: a commit is stored complete or not at all (by this check, by
 * `commit`, by a full pull), prune removes a commit with what only it reaches, so the parent's
 * objects are all there. An update touching 1% of the files costs reading the dirtrees on the
 * paths to them.
 */
export function firstMissing(repo: Repo, commitBytes: Uint8Array, where: string, tx?: Transaction): string | null {
  const stagedHas = (checksum: string, type: ObjectType): boolean => tx !== undefined && fs.existsSync(tx.stagedPath(checksum, type));
  const has = (checksum: string, type: ObjectType): boolean => objectExists(repo.objectsDir, checksum, type, repo.mode) || stagedHas(checksum, type);
  const read = (checksum: string): Uint8Array | null => {
    for (const p of [objectPath(repo.objectsDir, checksum, 'dirtree', repo.mode), ...(tx ? [tx.stagedPath(checksum, 'dirtree')] : [])]) {
      try {
        return readObjectFile(p, `dirtree ${checksum}`, MAX_METADATA_SIZE);
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
      }
    }
    return null;
  };
  const parent = decodeCommit(commitBytes, where).parent;
  let base: { bytes: Uint8Array; read: typeof read } | null = null;
  if (parent !== null && objectExists(repo.objectsDir, parent, 'commit', repo.mode) && !isCommitPartial(repo.path, parent)) {
    base = { bytes: readObjectFile(objectPath(repo.objectsDir, parent, 'commit', repo.mode), `commit ${parent}`, MAX_METADATA_SIZE), read };
  }
  for (const key of changedObjects(read, commitBytes, where, base)) {
    const dot = key.indexOf('.');
    if (!has(key.slice(0, dot), key.slice(dot + 1) as ObjectType)) return key;
  }
  return null;
}
