import fs from 'node:fs';
import { GroveError, isErrno } from '../errors.js';
import type { ObjectType } from '../format/objects.js';
import type { RepoMode } from '../repo/mode.js';
import { objectPath } from './paths.js';

/**
 * Reads a loose metadata object's bytes. Synchronous on purpose: these objects are small, and
 * commit and checkout read thousands of them, where a trip through libuv's thread pool cost more
 * than the read. Used by Repo on the main thread and by workers, which have no Repo.
 */
export function readMetadataSync(objectsDir: string, mode: RepoMode, checksum: string, type: ObjectType): Uint8Array {
  const p = objectPath(objectsDir, checksum, type, mode);
  try {
    return fs.readFileSync(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_MISSING_OBJECT', `${type} object ${checksum} is missing`, { path: p });
    throw e;
  }
}
