import fs from 'node:fs';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { KeyFile } from '../format/keyfile.js';
import type { Repo } from '../repo/repo.js';

/**
 * The checks `pull-local --require-static-deltas` makes before it opens the source, in ostree
 * 2022.7's order: deltas cannot go into an archive repository, and without a summary (which
 * lists deltas or says they are indexed) the source must say in its config that it indexes its
 * deltas — else ostree fails at once, even for a source that does not exist.
 */
export function precheckRequiredStaticDeltas(repo: Repo, sourcePath: string): void {
  if (repo.mode === 'archive') throw new GroveError('GROVE_BAD_OPTION', "Can't use static deltas in an archive repo");
  if (fs.existsSync(path.join(sourcePath, 'summary'))) return;
  let indexed = false;
  try {
    indexed = KeyFile.parse(fs.readFileSync(path.join(sourcePath, 'config'), 'utf8'), `${sourcePath}/config`).getBoolean('core', 'indexed-deltas') === true;
  } catch {
    // No readable config: no index; the pull names any other problem.
  }
  if (!indexed) throw new GroveError('GROVE_NO_DELTAS', 'Fetch configured to require static deltas, but no summary deltas or delta index found');
}
