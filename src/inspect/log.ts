import { GroveError } from '../errors.js';
import type { Repo } from '../repo/repo.js';
import { describeCommit } from './describe.js';

/** `ostree log REV`: the commit and its ancestors, newest first, until history runs out. */
export async function logText(repo: Repo, rev: string): Promise<string> {
  let csum: string | null = await repo.resolveRev(rev);
  let out = '';
  const seen = new Set<string>();
  while (csum !== null) {
    // A commit's checksum covers its parent's, so only a damaged or forged object can loop.
    if (seen.has(csum)) throw new GroveError('GROVE_CORRUPT_OBJECT', `commit ${csum} is its own ancestor`);
    seen.add(csum);
    let commit;
    try {
      commit = await repo.loadCommit(csum);
    } catch (e) {
      if (e instanceof GroveError && e.code === 'GROVE_MISSING_OBJECT' && out !== '') {
        out += '<< History beyond this commit not fetched >>\n';
        break;
      }
      throw e;
    }
    out += describeCommit(csum, commit);
    csum = commit.parent;
  }
  return out;
}
