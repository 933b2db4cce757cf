import { GroveError } from '../errors.js';
import { decodeCommit } from '../format/objects.js';
import type { Repo } from '../repo/repo.js';
import { dumpObject, type DumpFlags } from './show.js';

/**
 * `ostree log REV`: the commit and its ancestors, newest first, until history runs out; with
 * `raw`, each as GVariant text (`--raw`).
 */
export async function logText(repo: Repo, rev: string, flags: DumpFlags = {}): Promise<string> {
  let csum: string | null = await repo.resolveRev(rev);
  let out = '';
  const seen = new Set<string>();
  while (csum !== null) {
    // A commit's checksum covers its parent's, so only a damaged or forged object can loop.
    if (seen.has(csum)) throw new GroveError('GROVE_CORRUPT_OBJECT', `commit ${csum} is its own ancestor`);
    seen.add(csum);
    let bytes;
    try {
      bytes = await repo.readMetadata(csum, 'commit');
    } catch (e) {
      if (e instanceof GroveError && e.code === 'GROVE_MISSING_OBJECT') {
        if (out === '') throw new GroveError(e.code, `No such metadata object ${csum}.commit`, { cause: e });
        out += '<< History beyond this commit not fetched >>\n';
        break;
      }
      throw e;
    }
    out += dumpObject('commit', csum, bytes, flags);
    csum = decodeCommit(bytes, `commit ${csum}`).parent;
  }
  return out;
}
