import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import type { Repo } from '../repo/repo.js';
import { RepoLock } from '../repo/lock.js';
import { deltaRelDir, parseDeltaId } from './names.js';

/**
 * `static-delta delete DELTA`: removes the delta's directory, under the repository's exclusive lock (as
 * prune deletes deltas) so no pull sees half of it. The directory is first renamed away, so what remains is either
 * the whole delta or none of it.
 */
export async function deleteDelta(repo: Repo, id: string): Promise<void> {
  const dir = path.join(repo.path, deltaRelDir(parseDeltaId(id)));
  await RepoLock.with(repo, 'exclusive', async () => {
    try {
      fs.statSync(dir);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `Can't find delta ${id}`);
      throw e;
    }
    const doomed = path.join(repo.path, 'tmp', `deleted-delta-${process.pid}-${Date.now()}`);
    fs.renameSync(dir, doomed);
    fs.rmSync(doomed, { recursive: true, force: true });
  });
}
