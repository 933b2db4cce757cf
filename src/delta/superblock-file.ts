import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { deltaRelDir, parseDeltaId } from './names.js';

/**
 * The superblock that `static-delta show` and `verify` name: a delta name (`TO` or
 * `FROM-TO`), read from the repository's deltas, or with a `/` in it the path of a superblock
 * file. A missing one fails as ostree's openat does, naming the path as ostree gave it.
 */
export function readSuperblockFile(repoPath: string, id: string): Buffer {
  const rel = id.includes('/') ? id : path.join(deltaRelDir(parseDeltaId(id)), 'superblock');
  return readOrFail(id.includes('/') ? id : path.join(repoPath, rel), `openat(${rel})`);
}

/** A file's bytes; a missing file fails with `what` and the system's words. */
export function readOrFail(p: string, what: string): Buffer {
  try {
    return fs.readFileSync(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NO_PATH', `${what}: No such file or directory`, { path: p });
    throw e;
  }
}
