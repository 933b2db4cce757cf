import fs from 'node:fs';
import { GroveError } from '../errors.js';
import { decodeCommit, type ObjectType } from '../format/objects.js';
import type { Repo } from '../repo/repo.js';
import type { Transaction } from '../repo/transaction.js';
import { readObjectFile } from '../store/object-file.js';
import { MAX_METADATA_SIZE } from '../store/read-metadata.js';
import type { Superblock } from './superblock.js';
import { walkDirtrees } from './walk-tree.js';

/**
 * Refuses a delta whose parts yield an object its commit does not reach: every object was
 * checked against its checksum, but one that belongs to no tree of the commit has no business in
 * the repository (a hostile server filling the disk, or smuggling objects in). Walks the commit's
 * tree through what this transaction staged and what the repository had, before anything of the
 * delta is published.
 */
export function checkDeltaObjects(repo: Repo, tx: Transaction, sb: Superblock, where: string): void {
  const listed = new Set<string>();
  for (const p of sb.parts) for (const o of p.objects) listed.add(`${o.checksum}.${o.type}`);
  if (listed.size === 0) return;
  const read = (checksum: string, type: ObjectType): Uint8Array | null => {
    for (const p of [tx.stagedPath(checksum, type), repo.objectPath(checksum, type)]) {
      if (fs.existsSync(p)) return readObjectFile(p, `${type} object ${checksum}`, MAX_METADATA_SIZE);
    }
    return null;
  };
  const reached = new Set<string>();
  const commit = decodeCommit(sb.commitBytes, `commit ${sb.to}`);
  reached.add(`${commit.rootMeta}.dirmeta`);
  walkDirtrees(commit.rootTree, (t) => {
    reached.add(`${t}.dirtree`);
    return read(t, 'dirtree');
  }, (_t, tree) => {
    for (const [, c] of tree.files) reached.add(`${c}.file`);
    for (const [, , meta] of tree.dirs) reached.add(`${meta}.dirmeta`);
  });
  for (const key of listed) {
    if (!reached.has(key)) {
      throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: yields ${key.replace('.', ' (')}), which commit ${sb.to} does not reach`);
    }
  }
}
