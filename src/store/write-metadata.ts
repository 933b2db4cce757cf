import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { toHex } from '../format/checksum.js';
import { sha256 } from '../format/hash.js';
import type { ObjectType } from '../format/objects.js';
import type { RepoMode } from '../repo/mode.js';
import { objectPath } from './paths.js';
import { MAX_METADATA_SIZE } from './read-metadata.js';
import { validateMetadata } from './validate.js';

/**
 * The one writer of metadata objects (dirtree, dirmeta, commit, and a commit's detached
 * metadata), for commits, pulls, imports and signatures alike: the bytes must be a valid object
 * of their type (validate.ts) and at most ostree's metadata limit, and with `expected` their
 * checksum must be it. The object is written into a transaction's staging directory, which the
 * transaction publishes.
 *
 * Synchronous: a commit writes thousands of these tiny objects from the main thread, and an
 * async round trip per call cost more than the calls themselves.
 */
export interface MetadataWrite {
  /** Names the object's origin in messages. */
  where?: string;
  /** The checksum the bytes must have (anything fetched or imported). */
  expected?: string;
}

/** Checks `bytes` as a `type` object and returns its checksum; nothing is written. */
export function checkMetadata(type: ObjectType, bytes: Uint8Array, opts: MetadataWrite): string {
  const checksum = toHex(sha256(bytes));
  const where = opts.where ?? `${type} object ${checksum}`;
  if (bytes.length > MAX_METADATA_SIZE) throw new GroveError('GROVE_TOO_LARGE', `${where} is ${bytes.length} bytes, more than the ${MAX_METADATA_SIZE} allowed`);
  if (opts.expected !== undefined && checksum !== opts.expected) {
    throw new GroveError('GROVE_CORRUPT_OBJECT', `${where} is corrupt: its bytes have checksum ${checksum}`, { expected: opts.expected, found: checksum });
  }
  validateMetadata(type, bytes, where);
  return checksum;
}

/**
 * Writes checked metadata `bytes` as object `name` (its checksum; for commitmeta, its commit's)
 * into `stagingDir`, replacing what is there (detached metadata is rewritable).
 */
export function stageMetadata(stagingDir: string, mode: RepoMode, name: string, type: ObjectType, bytes: Uint8Array, madeDirs: Set<string>): void {
  const dest = objectPath(stagingDir, name, type, mode);
  const dir = path.dirname(dest);
  try {
    if (!madeDirs.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      madeDirs.add(dir);
    }
    fs.writeFileSync(dest, bytes, { mode: 0o644 });
  } catch (e) {
    if (isErrno(e, 'ENOSPC', 'EDQUOT')) throw new GroveError('GROVE_NO_SPACE', `no space left on device writing ${dest}`, { path: dest });
    throw e;
  }
}
