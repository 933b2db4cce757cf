import { glibDictOrder } from '../format/glib-dict.js';
import { Variant } from '../format/gvariant.js';
import type { Repo } from '../repo/repo.js';
import { RepoLock } from '../repo/lock.js';
import { globalKeyrings } from '../net/remote-keys.js';
import { GPG_KEY, GPG_TYPE } from './gpg.js';
import { signatureKeys } from './gpg-keys.js';
import { readDetached, signaturesOf, writeDetached } from './signatures.js';

/**
 * `ostree gpg-sign --delete COMMIT KEY-ID…`: removes the commit's GPG signatures made by any of
 * the keys, and returns how many went. As in ostree, a signature and a key ID are matched
 * through the global keyrings (`$OSTREE_GPG_HOME`, else /usr/share/ostree/trusted.gpg.d; never
 * `--gpg-homedir`): a signature whose key is not there is kept. A commit without GPG signatures
 * is left untouched; otherwise its detached metadata is rewritten, in GVariantDict order.
 */
export async function deleteGpgSignatures(repo: Repo, commit: string, keyIds: readonly string[]): Promise<number> {
  return RepoLock.with(repo, 'shared', async () => {
    const detached = await readDetached(repo, commit);
    const entry = detached?.find(([k]) => k === GPG_KEY);
    if (detached === null || entry === undefined || entry[1].type !== GPG_TYPE) return 0;
    const sigs = signaturesOf(detached, GPG_KEY);
    const data = await repo.readMetadata(commit, 'commit');
    const { signers, named } = await signatureKeys(data, sigs, globalKeyrings(), keyIds);
    // Each key ID deletes the first signature its key made, as ostree's look-up returns one index.
    const doomed = new Set<number>();
    for (const fpr of named) {
      if (fpr === null) continue;
      const i = signers.indexOf(fpr);
      if (i >= 0) doomed.add(i);
    }
    const kept = sigs.filter((_s, i) => !doomed.has(i));
    // The dict is replayed with the signatures' slot, then the entry dropped when none is left.
    const ordered = glibDictOrder<Variant>(detached.map(([k, v]) => [k, k === GPG_KEY ? new Variant(GPG_TYPE, kept) : v]));
    await writeDetached(repo, commit, kept.length === 0 ? ordered.filter(([k]) => k !== GPG_KEY) : ordered);
    return doomed.size;
  });
}
