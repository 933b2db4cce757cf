import { GroveError, isErrno } from '../errors.js';
import { toHex } from '../format/checksum.js';
import { sha256 } from '../format/hash.js';
import type { ObjectType } from '../format/objects.js';
import { readObjectFile } from './object-file.js';
import { objectPath, type StoreRef } from './paths.js';

/** ostree's limit on a metadata object (OSTREE_MAX_METADATA_SIZE); anything larger is hostile. */
export const MAX_METADATA_SIZE = 10 << 20;

/**
 * Reads a loose metadata object's bytes: a regular file (never through a symlink, never a FIFO)
 * of at most MAX_METADATA_SIZE bytes. With `verify`, its SHA-256 must be its name (fsck, and
 * anything read from a repository that is not ours).
 *
 * Synchronous on purpose: these objects are small, and commit and checkout read thousands of
 * them, where a trip through libuv's thread pool cost more than the read. Used on the main
 * thread and by workers alike.
 */
export function readMetadataSync(store: StoreRef, checksum: string, type: ObjectType, opts: { verify?: boolean } = {}): Uint8Array {
  const p = objectPath(store.objectsDir, checksum, type, store.mode);
  const where = `${type} object ${checksum}`;
  let bytes: Uint8Array;
  try {
    bytes = readObjectFile(p, where, MAX_METADATA_SIZE);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_MISSING_OBJECT', `${where} is missing`, { path: p });
    throw e;
  }
  if (opts.verify) {
    const actual = toHex(sha256(bytes));
    if (actual !== checksum) {
      throw new GroveError('GROVE_CORRUPT_OBJECT', `${where} is corrupt (checksum mismatch: its bytes have checksum ${actual})`, { path: p, expected: checksum, found: actual });
    }
  }
  return bytes;
}
