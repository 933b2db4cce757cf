import { GroveError } from '../errors.js';
import type { Transaction } from '../repo/transaction.js';
import { changedObjects } from '../store/tree-diff.js';
import type { Superblock } from './superblock.js';

/**
 * Refuses a delta whose parts yield an object its commit does not reach: every object was
 * checked against its checksum, but one that belongs to no tree of the commit has no business in
 * the repository (a hostile server filling the disk, or smuggling objects in). Walks the commit's
 * tree through what this transaction staged and what the repository had, before anything of the
 * delta is published.
 */
export function checkDeltaObjects(tx: Transaction, sb: Superblock, where: string): void {
  const listed = new Set<string>();
  for (const p of sb.parts) for (const o of p.objects) listed.add(`${o.checksum}.${o.type}`);
  if (listed.size === 0) return;
  const reached = changedObjects((t) => tx.readStagedOrStored(t, 'dirtree'), sb.commitBytes, `commit ${sb.to}`, null);
  for (const key of listed) {
    if (!reached.has(key)) {
      throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: yields ${key.replace('.', ' (')}), which commit ${sb.to} does not reach`);
    }
  }
}
