import { GroveError } from '../../errors.js';
import { isValidCollectionId } from '../../format/names.js';
import { SUMMARY_KEY, collectionMapOf, type Summary } from '../../format/summary.js';
import type { Repo } from '../../repo/repo.js';
import { fetchRemoteSummary } from '../remote-source.js';
import { getRemote, listRemotes, remoteGroup } from '../remotes.js';
import { refTable, type FinderResult, type RefPair } from './result.js';

/** ostree's: "arbitrarily chosen; lower than the others". */
const PRIORITY = 100;

/** A remote's configured `collection-id`, when it has a non-empty one. */
export function remoteCollectionId(repo: Repo, name: string): string | null {
  const id = repo.config.get(remoteGroup(name), 'collection-id');
  return id === undefined || id === '' ? null : id;
}

/**
 * The configured remote whose keys verify refs of `collectionId` from elsewhere (ostree's
 * ostree_repo_resolve_keyring_for_collection): the first remote, by name, with that collection
 * ID. Null when there is none.
 */
export function keyringRemoteFor(repo: Repo, collectionId: string): string | null {
  return listRemotes(repo).find((name) => remoteCollectionId(repo, name) === collectionId) ?? null;
}

/** Every collection–ref a summary lists, with its commit: the main list under the summary's collection ID, then the collection map. */
export function summaryCollectionRefs(s: Summary, where: string): Map<string, string> {
  const out = new Map<string, string>();
  const main = s.metadata.find(([k]) => k === SUMMARY_KEY.collectionId)?.[1];
  // Without a collection ID the main list's refs belong to no collection, and no request matches them.
  if (main?.type === 's') for (const r of s.refs) out.set(pairKey({ id: String(main.value), ref: r.name }), r.checksum);
  for (const [id, refs] of collectionMapOf(s, where)) for (const r of refs) out.set(pairKey({ id, ref: r.name }), r.checksum);
  return out;
}

export const pairKey = (p: RefPair): string => `${p.id}\0${p.ref}`;

/**
 * ostree's config finder: each configured remote with a valid collection ID whose summary lists
 * any of `refs` of that collection. A remote whose summary cannot be had (none, unreachable,
 * not verified, malformed) is passed over, as ostree passes it over.
 */
export async function configFinder(repo: Repo, refs: readonly RefPair[], opts: { cacheDir?: string }): Promise<FinderResult[]> {
  const results: FinderResult[] = [];
  for (const name of listRemotes(repo)) {
    const id = remoteCollectionId(repo, name);
    if (id === null || !isValidCollectionId(id)) continue;
    let listed: Map<string, string>;
    let url: string;
    try {
      const remote = getRemote(repo, name);
      url = remote.url;
      const { summary } = await fetchRemoteSummary(repo, remote, opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {});
      listed = summaryCollectionRefs(summary, `summary of remote ${name}`);
    } catch (e) {
      if (e instanceof GroveError) continue;
      throw e;
    }
    const found = refTable<string | null>();
    for (const r of refs) {
      const checksum = r.id === id ? listed.get(pairKey(r)) : undefined;
      if (checksum !== undefined) found.insert(r, checksum);
    }
    if (found.count === 0) continue;
    results.push({ remote: { name, url, keyringRemote: name, dynamic: false }, finder: 'config', priority: PRIORITY, refs: found, summaryLastModified: 0n });
  }
  return results;
}
