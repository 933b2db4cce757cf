import fs from 'node:fs';
import path from 'node:path';
import { isErrno } from '../errors.js';
import type { ObjectType } from '../format/objects.js';
import { listRefs } from './refs.js';
import { RepoLock } from './lock.js';
import type { Repo } from './repo.js';
import { objectExists } from '../store/paths.js';

/**
 * Deletes the objects no kept commit reaches, as `ostree prune --refs-only` does: the kept
 * commits are every ref's commit, its ancestors up to `depth` generations (-1: all), and the
 * extra `commits` given (a sysroot's deployments). An object a partial commit lacks is simply not
 * there to keep. Runs under the repository's exclusive lock, so no transaction is writing
 * objects that a commit about to land would reach.
 */
export interface PruneResult { total: number; pruned: number; freedBytes: number }

export async function pruneRepo(repo: Repo, opts: { depth?: number; commits?: string[] } = {}): Promise<PruneResult> {
  const lock = await RepoLock.acquire(repo.path, 'exclusive');
  try {
    const keep = await reachable(repo, opts.depth ?? -1, opts.commits ?? []);
    const result: PruneResult = { total: 0, pruned: 0, freedBytes: 0 };
    for await (const o of repo.looseObjects()) {
      result.total++;
      // commitmeta (detached signatures) lives and dies with its commit.
      const key = o.type === 'commitmeta' ? `${o.checksum}.commit` : `${o.checksum}.${o.type}`;
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

async function reachable(repo: Repo, depth: number, extra: string[]): Promise<Set<string>> {
  const keep = new Set<string>();
  const has = (c: string, t: ObjectType) => objectExists(repo.objectsDir, c, t, repo.mode);
  const trees: Array<[string, string]> = [];
  const visitCommit = async (checksum: string, generations: number) => {
    for (let c: string | null = checksum, left = generations; c !== null; left--) {
      if (keep.has(`${c}.commit`) || !has(c, 'commit')) return;
      keep.add(`${c}.commit`);
      const commit = await repo.loadCommit(c);
      trees.push([commit.rootTree, commit.rootMeta]);
      if (left === 0) return;
      c = commit.parent;
    }
  };
  for (const checksum of new Set([...(await listRefs(repo.path, { remotes: true })).values(), ...extra])) await visitCommit(checksum, depth);
  while (trees.length > 0) {
    const [tree, meta] = trees.pop()!;
    keep.add(`${meta}.dirmeta`);
    if (keep.has(`${tree}.dirtree`)) continue;
    keep.add(`${tree}.dirtree`);
    if (!has(tree, 'dirtree')) continue;
    const t = await repo.loadDirTree(tree);
    for (const [, file] of t.files) keep.add(`${file}.file`);
    for (const [, sub, subMeta] of t.dirs) trees.push([sub, subMeta]);
  }
  return keep;
}
