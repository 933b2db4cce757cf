import { GroveError } from '../../errors.js';
import { REF_KEY, SUMMARY_KEY, collectionMapOf, readBeU64, type SummaryRef } from '../../format/summary.js';
import type { Repo } from '../../repo/repo.js';
import { remotePolicy, openSource } from '../remote-source.js';
import { getRemote, type Remote } from '../remotes.js';
import { fetchedSummary } from '../sources.js';
import { configFinder, remoteCollectionId } from './config-finder.js';
import { mountFinder } from './mount-finder.js';
import { compareResults, refTable, type FinderName, type FinderResult, type RefPair } from './result.js';

export interface FindOptions {
  /** The finders to ask; default: the repository's `core.default-repo-finders`, else config and mount. */
  finders?: readonly FinderName[];
  /** Where remotes' summaries are cached (`--cache-dir`). */
  cacheDir?: string;
}

/** GDateTime ends at 9999-12-31T23:59:59Z; ostree takes a later commit timestamp for unknown. */
const LAST_GDATETIME = 253402300799n;

/**
 * The finders ostree uses by default: `core.default-repo-finders` (`;`-separated, each one of
 * config, lan, mount; an empty or unknown one is refused as ostree refuses to open the
 * repository), else config and mount.
 */
export function defaultFinders(repo: Repo): FinderName[] {
  const v = repo.config.get('core', 'default-repo-finders');
  if (v === undefined) return ['config', 'mount'];
  const list = v.split(';').filter((x, i, all) => x !== '' || i < all.length - 1);
  if (list.length === 0) throw new GroveError('GROVE_BAD_CONFIG', 'Invalid empty default-repo-finders configuration');
  for (const f of list) if (f !== 'config' && f !== 'lan' && f !== 'mount') throw new GroveError('GROVE_BAD_CONFIG', `Invalid configured repo-finder '${f}'`);
  return list as FinderName[];
}

/** The remote a result stands for, as a pull or a summary fetch needs it. */
export function resultRemote(repo: Repo, r: FinderResult): Remote {
  if (!r.remote.dynamic) return getRemote(repo, r.remote.name);
  // ostree makes it with these keys only: its keys are the keyring remote's, its summary unsigned.
  return {
    name: r.remote.name,
    url: r.remote.url,
    branches: [],
    gpgVerify: true,
    gpgVerifySummary: false,
    signVerify: [],
    signVerifySummary: false,
    options: new Map([['url', r.remote.url], ['gpg-verify', 'true'], ['gpg-verify-summary', 'false']]),
  };
}

interface CommitInfo { size: number; timestamp: bigint }

/**
 * ostree_repo_find_remotes_async: asks the finders, reads each result's summary (a result whose
 * summary cannot be had or contradicts what is known is dropped), works out the newest commit
 * any result offers for each ref (by commit timestamp; on a tie the better-ranked result), and
 * keeps, for each result, only the refs it offers at that newest commit; a result left with
 * none is dropped. Every requested ref is listed in each result, with null where it is not
 * that result's. The results come best first.
 */
export async function findRemotes(repo: Repo, refs: readonly RefPair[], opts: FindOptions = {}): Promise<FinderResult[]> {
  const finders = opts.finders ?? defaultFinders(repo);
  let results: Array<FinderResult | null> = [];
  // lan: grove has no Avahi; ostree skips it too when the Avahi daemon is not running.
  if (finders.includes('config')) results.push(...await configFinder(repo, refs, opts));
  if (finders.includes('mount')) results.push(...await mountFinder(repo, refs));
  results.sort((a, b) => compareResults(a!, b!));
  if (results.length === 0) return [];

  const commits = new Map<string, CommitInfo>();
  // table[j][i]: the commit result i gives for refs[j] (kept even when result i is dropped later, as in ostree).
  const table = refs.map(() => new Array<string | null>(results.length).fill(null));
  for (const [i, result] of results.entries()) {
    const remote = resultRemote(repo, result!);
    let summary;
    try {
      const source = await openSource(repo, remote, {}, opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {});
      try {
        summary = (await fetchedSummary(source, remotePolicy(repo, remote)))?.summary;
      } finally {
        source.close();
      }
      if (summary === undefined) throw new GroveError('GROVE_NO_SUMMARY', `remote ${remote.name} has no summary`);
    } catch (e) {
      if (!(e instanceof GroveError)) throw e;
      results[i] = null;
      continue;
    }
    const lists: Array<[string, SummaryRef[]]> = [];
    const main = summary.metadata.find(([k]) => k === SUMMARY_KEY.collectionId)?.[1];
    if (main?.type === 's') lists.push([String(main.value), summary.refs]);
    let map: Array<[string, SummaryRef[]]>;
    try {
      map = collectionMapOf(summary, `summary of ${remote.name}`);
    } catch (e) {
      if (!(e instanceof GroveError)) throw e;
      results[i] = null;
      continue;
    }
    // A made-up remote offers only its keyring remote's collection from the map.
    for (const [id, list] of map) if (!result!.remote.dynamic || remoteCollectionId(repo, result!.remote.keyringRemote) === id) lists.push([id, list]);
    let valid = true;
    for (const [id, list] of lists) {
      if (!(valid = await takeRefs(repo, refs, id, list, commits, table, i))) break;
    }
    if (!valid) {
      results[i] = null;
      continue;
    }
    result!.summaryLastModified = readBeU64(summary.metadata, SUMMARY_KEY.lastModified) ?? 0n;
  }

  for (const info of commits.values()) {
    if (info.timestamp === 0n) {
      // ostree would fetch the commit to learn its timestamp; summaries list it since 2017.
      throw new GroveError('GROVE_BAD_SUMMARY', 'a summary gives no timestamp for a commit it lists, and grove does not fetch commits to learn them');
    }
  }

  const latest = refs.map((_, j) => {
    let best: string | null = null;
    for (const c of table[j]!) if (c !== null && (best === null || commits.get(c)!.timestamp > commits.get(best)!.timestamp)) best = c;
    return best;
  });
  const out: FinderResult[] = [];
  for (const [i, result] of results.entries()) {
    if (result === null) continue;
    const validated = refTable<string | null>();
    let newest = 0;
    refs.forEach((r, j) => {
      const c = table[j]![i] === latest[j] ? latest[j]! : null;
      if (c !== null) newest++;
      validated.insert(r, c);
    });
    if (newest === 0) continue;
    result.refs = validated;
    out.push(result);
  }
  return out.sort(compareResults);
}

/**
 * find_remotes_process_refs: records, for each requested ref in `list` (collection `id`), the
 * commit result `i` gives for it, and what is known of that commit (its size, and its timestamp
 * from this repository's copy, else from the summary). False when the summary contradicts what
 * another result's said of the same commit.
 */
async function takeRefs(repo: Repo, refs: readonly RefPair[], id: string, list: readonly SummaryRef[], commits: Map<string, CommitInfo>, table: Array<Array<string | null>>, i: number): Promise<boolean> {
  for (const r of list) {
    const j = refs.findIndex((x) => x.id === id && x.ref === r.name);
    if (j < 0) continue;
    let stamp = readBeU64(r.metadata, REF_KEY.timestamp) ?? 0n;
    if (stamp > LAST_GDATETIME) stamp = 0n;
    let info = commits.get(r.checksum);
    if (info === undefined) {
      info = { size: r.commitSize, timestamp: await localTimestamp(repo, r.checksum) };
      commits.set(r.checksum, info);
    }
    if (info.timestamp === 0n) info.timestamp = stamp;
    else if (stamp !== 0n && stamp !== info.timestamp) return false;
    if (r.commitSize !== info.size) return false;
    table[j]![i] = r.checksum;
  }
  return true;
}

async function localTimestamp(repo: Repo, checksum: string): Promise<bigint> {
  try {
    return (await repo.loadCommit(checksum)).timestamp;
  } catch (e) {
    if (e instanceof GroveError) return 0n;
    throw e;
  }
}
