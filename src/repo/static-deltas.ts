import fs from 'node:fs';
import path from 'node:path';
import { deltaFromDirNames } from '../delta/names.js';
import { dirEntriesInOrder } from './fsutil.js';
import { objectExists } from '../store/paths.js';
import type { Repo } from './repo.js';

/**
 * Static deltas as ostree lays them out: `deltas/XX/REST[-TO]/superblock`, where the two
 * directory levels, put together, are the delta's name: `TO` or `FROM-TO`, each checksum in
 * ostree's modified base64 (43 characters, `_` for `/`; see delta/names.ts).
 */
export interface StaticDelta { from: string | null; to: string; dir: string }

/**
 * Every static delta with a superblock, as `ostree_repo_list_static_delta_names` finds them: in
 * the order the directories are read (ostree prints them so), skipping names that are no delta.
 */
export function listStaticDeltas(repo: Repo): StaticDelta[] {
  const base = path.join(repo.path, 'deltas');
  const out: StaticDelta[] = [];
  for (const d1 of subdirs(base)) {
    for (const d2 of subdirs(path.join(base, d1))) {
      const dir = path.join(base, d1, d2);
      if (fs.lstatSync(path.join(dir, 'superblock'), { throwIfNoEntry: false }) === undefined) continue;
      const name = deltaFromDirNames(d1, d2);
      if (name !== null) out.push({ ...name, dir });
    }
  }
  return out;
}

/**
 * Deletes the deltas that lead to `commit`, or, with null, those whose target commit is not in
 * the store (what every prune does after deleting objects).
 */
export function pruneStaticDeltas(repo: Repo, commit: string | null): void {
  for (const delta of listStaticDeltas(repo)) {
    if (commit !== null ? delta.to !== commit : objectExists(repo.objectsDir, delta.to, 'commit', repo.mode)) continue;
    fs.rmSync(delta.dir, { recursive: true, force: true });
  }
}

/** Subdirectories in the order the file system lists them. */
function subdirs(dir: string): string[] {
  return dirEntriesInOrder(dir).filter((e) => e.isDirectory()).map((e) => e.name);
}
