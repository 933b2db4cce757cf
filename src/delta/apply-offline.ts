import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { Transaction } from '../repo/transaction.js';
import type { Repo } from '../repo/repo.js';
import { applyPart, checkPartVersions, deltaDetachedMetadata, inlinePart, partsNeeded, storeSink } from './apply-part.js';
import { checkDeltaObjects } from './check-objects.js';
import { decodeSuperblock, type Superblock } from './superblock.js';
import { carriesSignatures, verifySuperblock } from './signed-superblock.js';
import type { SignEngine } from '../sign/engines.js';

/**
 * `static-delta apply-offline PATH`: imports the objects of a delta from a directory (or a
 * superblock file next to its parts) into `repo`, in one transaction, as ostree 2022.7's
 * `ostree_repo_static_delta_execute_offline` does: the to-commit (with its detached metadata,
 * if the delta carries it) first, then each part whose objects are not all here, checked against
 * its checksum before any of it is read. A delta with fallback objects cannot be applied
 * offline. Nothing is published unless every part applied: a failure leaves the repository as
 * it was.
 */
export interface ApplyOfflineOptions {
  fsync?: boolean;
  /**
   * How a signed delta is checked, as ostree does: with `engine` against `keys` (null: its
   * default keys); no engine (none asked for, or its default keys are missing) applies it
   * unchecked unless `required` (the repository's core.sign-verify-deltas). An unsigned delta
   * is applied as it is.
   */
  signatures?: { engine: SignEngine | null; keys: string[] | null; required: boolean };
}

export async function applyOffline(repo: Repo, location: string, opts: ApplyOfflineOptions = {}): Promise<Superblock> {
  const { dir, file } = locate(location);
  const where = path.join(dir, file);
  const bytes = readFile(where, `openat(${file})`);
  const check = opts.signatures;
  if (check && carriesSignatures(bytes, `static delta ${where}`)) {
    if (check.required && check.engine === null) throw new GroveError('GROVE_BAD_SIGNATURE', 'Key is mandatory to check delta signature');
    if (check.engine !== null) verifySuperblock(bytes, check.engine, check.keys, `static delta ${where}`);
  }
  const sb = decodeSuperblock(bytes, `static delta ${where}`);
  if (sb.from !== null && !(await repo.hasObject(sb.from, 'commit'))) {
    throw new GroveError('GROVE_MISSING_OBJECT', `Commit ${sb.from}, which is the delta source, is not in repository`);
  }
  if (sb.fallbacks.length > 0) throw new GroveError('GROVE_BAD_DELTA', 'Cannot execute delta offline: contains nonempty http fallback entries');
  // ostree checks each part's version before it looks at its objects, so every part's here.
  checkPartVersions(sb.parts);
  const tx = await Transaction.begin(repo, { fsync: opts.fsync !== false });
  try {
    if (!(await repo.hasObject(sb.to, 'commit'))) {
      const detached = deltaDetachedMetadata(sb, sb);
      if (detached !== null) await tx.stageDetachedMetadata(sb.to, detached);
      await tx.writeMetadata('commit', sb.commitBytes, { expected: sb.to, where: `commit ${sb.to} of static delta ${where}` });
    }
    const sink = await storeSink(repo, tx, 'the delta');
    for (const { entry, index: i } of partsNeeded(sb, (c, t) => tx.hasStagedOrStored(c, t))) {
      const inline = inlinePart(sb, sb, i);
      // An inline part is covered by the superblock, as in ostree: its checksum is not checked again.
      const bytes = inline ?? readFile(path.join(dir, String(i)), `Opening deltapart '${i}'`);
      try {
        await applyPart(entry, bytes, inline !== null, sink, `static delta part ${i} of ${where}`);
      } catch (e) {
        if (e instanceof GroveError) throw new GroveError(e.code, `Executing delta part ${i}: ${e.message}`, { cause: e });
        throw e;
      }
    }
    checkDeltaObjects(tx, sb, `static delta ${where}`);
    await tx.commit();
  } catch (e) {
    await tx.abort();
    throw e;
  }
  return sb;
}

/** The delta's directory and superblock file name, as ostree reads PATH. */
function locate(location: string): { dir: string; file: string } {
  try {
    if (fs.statSync(location).isDirectory()) return { dir: location, file: 'superblock' };
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NO_PATH', 'openat(O_DIRECTORY): No such file or directory', { path: location });
    throw e;
  }
  return { dir: path.dirname(location), file: path.basename(location) };
}

function readFile(p: string, prefix: string): Buffer {
  try {
    const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      if (!fs.fstatSync(fd).isFile()) throw new GroveError('GROVE_BAD_DELTA', `${prefix}: not a regular file`, { path: p });
      return fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NO_PATH', `${prefix}: No such file or directory`, { path: p });
    if (isErrno(e, 'ELOOP')) throw new GroveError('GROVE_BAD_DELTA', `${prefix}: is a symbolic link`, { path: p });
    throw e;
  }
}
