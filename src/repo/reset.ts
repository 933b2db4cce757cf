import { GroveError } from '../errors.js';
import { listRefEntries, updateRefs } from './refs.js';
import type { Repo } from './repo.js';
import { resolveRevAsOstree } from './resolve-rev.js';

/**
 * `ostree reset REF COMMIT`: points an existing head or remote ref (`REF` or `REMOTE:REF`) at
 * any commit ostree's rev syntax names. ostree asks no more of the commit (not even that it is
 * an ancestor); grove also refuses one that is not in the store, as every ref move does, so no
 * ref names a missing commit. Returns the commit.
 */
export async function resetRef(repo: Repo, ref: string, rev: string): Promise<string> {
  const known = await listRefEntries(repo.path, { kinds: ['head', 'remote'] });
  if (!known.some((e) => e.name === ref)) throw new GroveError('GROVE_NO_REF', `Invalid ref '${ref}'`);
  const checksum = await resolveRevAsOstree(repo, rev);
  await updateRefs(repo, [[ref, checksum]]);
  return checksum;
}
