import fs from 'node:fs';
import path from 'node:path';
import { encode } from '../format/gvariant.js';
import { glibDictOrder } from '../format/glib-dict.js';
import { sha256 } from '../format/hash.js';
import { Variant } from '../format/objects.js';
import { SUMMARY_KEY } from '../format/summary.js';
import { tempName } from '../repo/fsutil.js';
import type { Repo } from '../repo/repo.js';
import { listStaticDeltas } from '../repo/static-deltas.js';
import { listDeltaIndexes } from './indexes.js';
import { checksumToB64, deltaId } from './names.js';

/**
 * Rewrites the delta indexes (`delta-indexes/XX/REST.index`) as ostree 2022.7's
 * `ostree_repo_static_delta_reindex` does, which `summary -u` runs: for each commit some delta
 * leads to, an `a{sv}` whose one key `ostree.static-deltas` maps each such delta's name to the
 * SHA-256 of its superblock (the summary's format); an index whose commit no delta leads to any
 * more is removed. With `to`, only that commit's index. An index whose bytes would not change
 * is not rewritten. Clients that see `ostree.summary.indexed-deltas` (every summary ostree and
 * grove write) look deltas up here, not in the summary.
 */
export function reindexDeltas(repo: Repo, to?: string): void {
  const byTo = new Map<string, Array<string | null> | null>();
  if (to === undefined) for (const c of listDeltaIndexes(repo.path)) byTo.set(c, null);
  else byTo.set(to, null);
  for (const d of listStaticDeltas(repo)) {
    if (to !== undefined && d.to !== to) continue;
    const froms = byTo.get(d.to) ?? [];
    froms.push(d.from);
    byTo.set(d.to, froms);
  }
  const dirs = new Map(listStaticDeltas(repo).map((d) => [deltaId(d), d.dir]));
  for (const [commit, froms] of byTo) {
    const b64 = checksumToB64(commit);
    const file = path.join(repo.path, 'delta-indexes', b64.slice(0, 2), `${b64.slice(2)}.index`);
    if (froms === null) {
      fs.rmSync(file, { force: true });
      continue;
    }
    // ostree sorts the sources first (its sort compares pointers, so in practice any order); by name here.
    froms.sort((x, y) => (x === null ? -1 : y === null ? 1 : Buffer.compare(Buffer.from(x), Buffer.from(y))));
    const entries = froms.map((from): [string, Variant] => {
      const id = deltaId({ from, to: commit });
      return [id, new Variant('ay', sha256(fs.readFileSync(path.join(dirs.get(id)!, 'superblock'))))];
    });
    const bytes = encode('a{sv}', [[SUMMARY_KEY.staticDeltas, new Variant('a{sv}', glibDictOrder(entries))]]);
    const old = fs.existsSync(file) ? fs.readFileSync(file) : null;
    if (old !== null && old.equals(Buffer.from(bytes))) continue;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    const tmp = path.join(path.dirname(file), tempName('.grove-index-'));
    fs.writeFileSync(tmp, bytes, { mode: 0o644 });
    fs.renameSync(tmp, file);
  }
}
