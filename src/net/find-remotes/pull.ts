import { GroveError } from '../../errors.js';
import type { Repo } from '../../repo/repo.js';
import { pullInto, type PullTarget } from '../pull.js';
import { openSource, remotePolicy } from '../remote-source.js';
import { resultRemote } from './find.js';
import { refTable, type FinderResult, type RefPair } from './result.js';

export interface PullResultsOptions {
  /** `--mirror`: write each ref as its collection ref (refs/mirrors/ID/REF), not under the remote. */
  mirror?: boolean;
  fsync?: boolean;
}

/**
 * ostree_repo_pull_from_remotes_async: the results in order, each pulled for the refs it gives
 * that no earlier result has delivered, at the commit it gives. Commits must carry a valid GPG
 * signature by the keys of the result's keyring remote, whatever the remote's own config says
 * (ostree verifies them unconditionally here); summaries are not verified. A result that fails
 * is passed over for the next; a ref none could deliver fails the whole, naming every such ref.
 * Refs no result gives are not pulled and not counted as failures, as in ostree.
 */
export async function pullFromResults(repo: Repo, results: readonly FinderResult[], opts: PullResultsOptions = {}): Promise<void> {
  // Iterated, like ostree's, in hash-table order for the message.
  const pulled = refTable<boolean>();
  for (const result of results) {
    const wanted: Array<[RefPair, string]> = [];
    for (const [ref, checksum] of result.refs.entries()) if (checksum !== null && pulled.get(ref) !== true) wanted.push([ref, checksum]);
    if (wanted.length === 0) continue;
    const configured = resultRemote(repo, result);
    const remote = { ...configured, gpgVerify: true, gpgVerifySummary: false, signVerify: [], signVerifySummary: false };
    // The keys are those of the keyring remote (a made-up remote has no gpgkeypath of its own).
    const policy = remotePolicy(repo, { ...remote, name: result.remote.keyringRemote, options: result.remote.dynamic ? new Map() : remote.options });
    const targets: PullTarget[] = wanted.map(([r, checksum]) => ({
      from: checksum,
      to: opts.mirror ? null : `${result.remote.keyringRemote}:${r.ref}`,
      collection: { id: r.id, ref: r.ref },
    }));
    let ok = true;
    try {
      const source = await openSource(repo, remote, {});
      try {
        await pullInto(repo, source, targets, { policy, fsync: opts.fsync !== false });
      } finally {
        source.close();
      }
    } catch (e) {
      if (!(e instanceof GroveError)) throw e;
      ok = false;
    }
    for (const [r] of wanted) pulled.insert(r, ok);
  }
  const failed = [...pulled.entries()].filter(([, ok]) => !ok).map(([r]) => `(${r.id}, ${r.ref})`);
  if (failed.length > 0) throw new GroveError('GROVE_PULL_FAILED', `Failed to pull some refs from the remotes: ${failed.join(', ')}`);
}
