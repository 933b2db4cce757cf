import { GroveError } from '../errors.js';
import { glibDictOrder } from '../format/glib-dict.js';
import { encodeCommit, encodeDirMeta, encodeDirTree, Variant } from '../format/objects.js';
import { Transaction } from '../repo/transaction.js';
import type { Repo } from '../repo/repo.js';
import { signCommit, signsAnything, type SignWith } from '../sign/signatures.js';

/** The ref under which a repository with a collection ID publishes its metadata (ostree's OSTREE_REPO_METADATA_REF). */
export const REPO_METADATA_REF = 'ostree-metadata';

/**
 * The commit time ostree's `ostree_repo_write_commit` uses: `SOURCE_DATE_EPOCH` when set, else now.
 */
export function defaultCommitTime(): bigint {
  const env = process.env['SOURCE_DATE_EPOCH'];
  if (env === undefined) return BigInt(Math.floor(Date.now() / 1000));
  const m = /^\s*([+-]?\d+)/.exec(env);
  if (!m) throw new GroveError('GROVE_BAD_OPTION', 'Failed to convert SOURCE_DATE_EPOCH');
  return BigInt(m[1]!);
}

/**
 * What `ostree summary -u` commits first in a repository with a collection ID: the
 * `ostree-metadata` ref, a commit of an empty root directory (owned by root, 0755) whose
 * metadata is the summary's additional metadata plus the collection and ref bindings, its
 * parent the ref's previous commit, signed with the summary's keys. Peers that find the
 * repository through a collection (find-remotes, USB drives) read the repository's metadata
 * from it. Returns the new commit's checksum.
 */
export async function commitRepoMetadata(repo: Repo, collectionId: string, opts: { additional?: ReadonlyArray<[string, Variant]>; sign?: SignWith; timestamp?: bigint } = {}): Promise<string> {
  const parent = await repo.resolveRev(REPO_METADATA_REF, { allowMissing: true });
  const tx = await Transaction.begin(repo);
  let checksum: string;
  try {
    const rootMeta = await tx.writeMetadata('dirmeta', encodeDirMeta({ uid: 0, gid: 0, mode: 0o40755, xattrs: [] }));
    const rootTree = await tx.writeMetadata('dirtree', encodeDirTree({ files: [], dirs: [] }));
    checksum = await tx.writeMetadata('commit', encodeCommit({
      metadata: glibDictOrder<Variant>([
        ...(opts.additional ?? []),
        ['ostree.collection-binding', new Variant('s', collectionId)],
        ['ostree.ref-binding', new Variant('as', [REPO_METADATA_REF])],
      ]),
      parent,
      related: [],
      subject: '',
      body: '',
      timestamp: opts.timestamp ?? defaultCommitTime(),
      rootTree,
      rootMeta,
    }));
    tx.setRef(REPO_METADATA_REF, checksum);
    await tx.commit();
  } catch (e) {
    await tx.abort();
    throw e;
  }
  if (opts.sign && signsAnything(opts.sign)) await signCommit(repo, checksum, opts.sign);
  return checksum;
}
