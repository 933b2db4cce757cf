import { GroveError } from '../errors.js';
import type { Commit } from '../format/objects.js';
import type { Repo } from '../repo/repo.js';

/** What a path inside a commit names. */
export type TreeEntry =
  | { kind: 'dir'; name: string; tree: string; meta: string }
  | { kind: 'file'; name: string; checksum: string };

/**
 * Follows `/a/b/c` through the commit's dirtrees. Symlinks inside the commit are not followed
 * (ostree does not either; `cat` follows a final one itself). GROVE_NOT_FOUND names the path
 * when it is absent.
 */
export async function resolvePath(repo: Repo, commit: Commit, p: string): Promise<TreeEntry> {
  const parts = p.split('/').filter((s) => s.length > 0 && s !== '.');
  let cur: TreeEntry = { kind: 'dir', name: '/', tree: commit.rootTree, meta: commit.rootMeta };
  for (const [i, part] of parts.entries()) {
    if (cur.kind !== 'dir') throw new GroveError('GROVE_NOT_FOUND', `${p}: ${parts.slice(0, i).join('/')} is not a directory`);
    const tree = await repo.loadDirTree(cur.tree);
    const d = tree.dirs.find(([n]) => n === part);
    if (d) {
      cur = { kind: 'dir', name: part, tree: d[1], meta: d[2] };
      continue;
    }
    const f = tree.files.find(([n]) => n === part);
    // ostree's words (naming the first component missing), which scripts may match.
    if (!f) throw new GroveError('GROVE_NOT_FOUND', `No such file or directory: /${parts.slice(0, i + 1).join('/')}`);
    cur = { kind: 'file', name: part, checksum: f[1] };
  }
  return cur;
}
