import { decodeCommit, type ObjectType } from '../format/objects.js';
import { isErrno } from '../errors.js';
import { objectExists, objectPath } from '../store/paths.js';
import { readObjectFile } from '../store/object-file.js';
import { MAX_METADATA_SIZE } from '../store/read-metadata.js';
import { isCommitPartial } from '../repo/partial.js';
import type { Repo } from '../repo/repo.js';
import type { Transaction } from '../repo/transaction.js';
import { changedObjects } from '../store/tree-diff.js';

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
  const has = (checksum: string, type: ObjectType): boolean => (tx ? tx.hasStagedOrStored(checksum, type) : objectExists(repo.objectsDir, checksum, type, repo.mode));
  const read = (checksum: string): Uint8Array | null => (tx ? tx.readStagedOrStored(checksum, 'dirtree') : readStored(repo, checksum, 'dirtree'));
  const parent = decodeCommit(commitBytes, where).parent;
  let base: { bytes: Uint8Array; read: typeof read } | null = null;
  if (parent !== null && !isCommitPartial(repo.path, parent)) {
    const bytes = readStored(repo, parent, 'commit');
    if (bytes !== null) base = { bytes, read };
  }
  for (const key of changedObjects(read, commitBytes, where, base)) {
    const dot = key.indexOf('.');
    if (!has(key.slice(0, dot), key.slice(dot + 1) as ObjectType)) return key;
  }
  return null;
}

/** A metadata object of the repository, or null when it has none. */
function readStored(repo: Repo, checksum: string, type: ObjectType): Uint8Array | null {
  try {
    return readObjectFile(objectPath(repo.objectsDir, checksum, type, repo.mode), `${type} object ${checksum}`, MAX_METADATA_SIZE);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    throw e;
  }
}
