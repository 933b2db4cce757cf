import path from 'node:path';
import { dirEntriesInOrder } from '../repo/fsutil.js';
import { checksumFromB64 } from './names.js';

/**
 * The commits that have a delta index (`delta-indexes/XX/REST.index`, the name the commit's
 * checksum in modified base64), as `ostree_repo_list_static_delta_indexes` lists them: in
 * directory order, only two-character directories and regular files of the right length.
 */
export function listDeltaIndexes(repoPath: string): string[] {
  const base = path.join(repoPath, 'delta-indexes');
  const out: string[] = [];
  for (const d of dirEntriesInOrder(base)) {
    if (!d.isDirectory() || d.name.length !== 2) continue;
    for (const f of dirEntriesInOrder(path.join(base, d.name))) {
      if (!f.isFile() || f.name.length !== 41 + '.index'.length || !f.name.endsWith('.index')) continue;
      const c = checksumFromB64(d.name + f.name.slice(0, 41));
      if (c !== null) out.push(c);
    }
  }
  return out;
}
