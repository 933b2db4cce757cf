import fs from 'node:fs';
import path from 'node:path';
import { encode } from '../format/gvariant.js';
import { glibDictOrder } from '../format/glib-dict.js';
import { sha256 } from '../format/hash.js';
import { Variant } from '../format/objects.js';
import { SUMMARY_KEY } from '../format/summary.js';
import { writeFileAtomic } from '../repo/fsutil.js';
import type { Repo } from '../repo/repo.js';
import { listStaticDeltas } from '../repo/static-deltas.js';
import { listDeltaIndexes } from './indexes.js';
import { deltaId, deltaIndexRelPath } from './names.js';

/** A static delta with its name and the SHA-256 of its superblock: what the summary and the indexes list. */
export interface DeltaDigest { from: string | null; to: string; id: string; digest: Uint8Array }

/** Every static delta's digest, in the order the repository lists them (each superblock read once). */
export function superblockDigests(repo: Repo): DeltaDigest[] {
  return listStaticDeltas(repo).map((d) => ({ from: d.from, to: d.to, id: deltaId(d), digest: sha256(fs.readFileSync(path.join(d.dir, 'superblock'))) }));
}

/**
 * Rewrites the delta indexes (`delta-indexes/XX/REST.index`) as ostree 2022.7's
 * `ostree_repo_static_delta_reindex` does, which `summary -u` runs, after setting
 * `core.indexed-deltas=true` in the config: for each commit some delta
 * leads to, an `a{sv}` whose one key `ostree.static-deltas` maps each such delta's name to the
 * SHA-256 of its superblock (the summary's format); an index whose commit no delta leads to any
 * more is removed. With `to`, only that commit's index. An index whose bytes would not change
 * is not rewritten; `digests`, when the caller has them already (summary -u lists them too).
 * Clients that see `ostree.summary.indexed-deltas` (every summary ostree and
 * grove write) look deltas up here, not in the summary.
 */
export async function reindexDeltas(repo: Repo, to?: string, digests: readonly DeltaDigest[] = superblockDigests(repo)): Promise<void> {
  // Recorded first, as ostree does, so that pull clients know to fetch indexes, not the summary's list.
  if (repo.config.getBoolean('core', 'indexed-deltas') !== true) {
    repo.config.set('core', 'indexed-deltas', 'true');
    await repo.saveConfig();
  }
  const byTo = new Map<string, DeltaDigest[] | null>();
  if (to === undefined) for (const c of listDeltaIndexes(repo.path)) byTo.set(c, null);
  else byTo.set(to, null);
  for (const d of digests) {
    if (to !== undefined && d.to !== to) continue;
    const list = byTo.get(d.to) ?? [];
    list.push(d);
    byTo.set(d.to, list);
  }
  for (const [commit, list] of byTo) {
    const file = path.join(repo.path, deltaIndexRelPath(commit));
    if (list === null) {
      fs.rmSync(file, { force: true });
      continue;
    }
    // ostree sorts the sources first (its sort compares pointers, so in practice any order); by name here.
    const byFrom = [...list].sort((x, y) => (x.from === null ? -1 : y.from === null ? 1 : Buffer.compare(Buffer.from(x.from), Buffer.from(y.from))));
    const entries = byFrom.map((d): [string, Variant] => [d.id, new Variant('ay', d.digest)]);
    const bytes = encode('a{sv}', [[SUMMARY_KEY.staticDeltas, new Variant('a{sv}', glibDictOrder(entries))]]);
    const old = fs.existsSync(file) ? fs.readFileSync(file) : null;
    if (old !== null && old.equals(Buffer.from(bytes))) continue;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    await writeFileAtomic(file, bytes, repo.tmpDir);
  }
}
