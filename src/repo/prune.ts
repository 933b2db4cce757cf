import fs from 'node:fs';
import path from 'node:path';
import { isErrno } from '../errors.js';
import { ALL_REF_KINDS, listRefEntries } from './refs.js';
import { RepoLock } from './lock.js';
import type { Repo } from './repo.js';
import { objectExists } from '../store/paths.js';
import { objectKey, traverse } from '../store/traverse.js';
import { isCommitPartial } from './partial.js';

/**
 * Deletes the objects no kept commit reaches, as `ostree prune --refs-only` does: the kept
 * commits are every ref's commit, its ancestors up to `depth` generations (-1: all), and the
 * extra `commits` given (a sysroot's deployments). An object a partial commit lacks is simply not
 * there to keep. Runs under the repository's exclusive lock, so no transaction is writing
 * objects that a commit about to land would reach.
 */
export interface PruneResult { total: number; pruned: number; freedBytes: number }

export async function pruneRepo(repo: Repo, opts: { depth?: number; commits?: string[] } = {}): Promise<PruneResult> {
  const lock = await RepoLock.acquire(repo, 'exclusive');
  try {
    const keep = await reachable(repo, opts.depth ?? -1, opts.commits ?? []);
    const result: PruneResult = { total: 0, pruned: 0, freedBytes: 0 };
    for await (const o of repo.looseObjects()) {
      result.total++;
      // commitmeta (detached signatures) lives and dies with its commit.
      const key = objectKey(o.checksum, o.type === 'commitmeta' ? 'commit' : o.type);
      if (keep.has(key)) continue;
      const p = repo.objectPath(o.checksum, o.type);
      try {
        const st = fs.lstatSync(p);
        fs.unlinkSync(p);
        result.pruned++;
        result.freedBytes += st.size;
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
      }
      if (o.type === 'commit') fs.rmSync(path.join(repo.path, 'state', `${o.checksum}.commitpartial`), { force: true });
    }
    return result;
  } finally {
    await lock.release();
  }
}

/**
 * What the kept commits reach, by the store's one traversal. Refs whose commit is not here keep
 * nothing; below a partial commit, what is missing is simply not kept. Anything else the walk
 * cannot read stops the prune before it deletes a thing.
 */
async function reachable(repo: Repo, depth: number, extra: string[]): Promise<Set<string>> {
  // Every kind of ref keeps its commit: heads, remotes and mirrors, as ostree's prune.
  const refs = await listRefEntries(repo.path, { kinds: ALL_REF_KINDS });
  const roots = [...new Set([...refs.map((r) => r.checksum), ...extra])].filter((c) => objectExists(repo.objectsDir, c, 'commit', repo.mode));
  return traverse(repo, roots, { depth, mayLack: (c) => isCommitPartial(repo.path, c) });
}
