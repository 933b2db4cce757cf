import { GroveError } from '../errors.js';
import type { Repo } from '../repo/repo.js';
import { describeCommit } from './describe.js';

/** `ostree log REV`: the commit and its ancestors, newest first, until history runs out. */
export async function logText(repo: Repo, rev: string): Promise<string> {
  let csum: string | null = await repo.resolveRev(rev);
  let out = '';
  while (csum !== null) {
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
