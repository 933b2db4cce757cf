import type { Variant } from '../format/objects.js';
import { signsAnything, type SignWith } from '../sign/sign-with.js';
import type { Repo } from '../repo/repo.js';

/**
 * What `summary -u` does, for it and for a receiving server after refs move: with a collection
 * ID, a new repository-metadata commit first (ostree's `ostree-metadata` ref); then the summary
 * from the refs as they are now; then its signatures, when keys are given.
 */
export async function publishSummary(repo: Repo, opts: { additional?: Array<[string, Variant]>; sign?: SignWith } = {}): Promise<void> {
  const additional = opts.additional ?? [];
  const sign = opts.sign ?? {};
  const signing = signsAnything(sign);
  const collectionId = repo.collectionId;
  if (collectionId !== null) await (await import('./repo-metadata.js')).commitRepoMetadata(repo, collectionId, { additional, sign });
  await (await import('./summary.js')).regenerateSummary(repo, { additional });
  if (signing) await (await import('../sign/signatures.js')).signSummary(repo, sign);
}
