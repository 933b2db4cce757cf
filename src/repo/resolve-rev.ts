import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { CHECKSUM_RE, checksumStringProblem } from '../format/checksum.js';
import { decodeCommit } from '../format/objects.js';
import { objectPath } from '../store/paths.js';
import { readMetadataSync } from '../store/read-metadata.js';
import type { Repo } from './repo.js';

/**
 * Revisions resolved exactly as libostree's `ostree_repo_resolve_rev` resolves them, failing
 * with its messages word for word: the verbs a script runs in place of `ostree` (reset, prune,
 * diff) print these, and a script may match on them. The order is ostree's: a full checksum
 * stands for itself (whether or not it is here); then a unique beginning of a commit checksum;
 * then `REV^`, the parent; then `REMOTE:REF`, or a plain REF looked up in refs/heads, then
 * refs/remotes/REF, then each remote's refs. Mirror refs are not consulted, as in ostree.
 */

const FRAGMENT = '[A-Za-z0-9_][-._A-Za-z0-9]*';
const REFSPEC_RE = new RegExp(`^(?:(${FRAGMENT}):)?((?:${FRAGMENT}/)*${FRAGMENT})$`);

const fail = (message: string): GroveError => new GroveError('GROVE_NO_REF', message);

export async function resolveRevAsOstree(repo: Repo, rev: string): Promise<string> {
  if (CHECKSUM_RE.test(rev)) return rev;
  const partial = commitWithPrefix(repo, rev);
  if (partial !== null) return partial;
  if (rev.endsWith('^')) {
    const child = await resolveRevAsOstree(repo, rev.slice(0, -1));
    const parent = loadCommitAsOstree(repo, child).parent;
    if (parent === null) throw fail(`Commit ${child} has no parent`);
    return parent;
  }
  const m = REFSPEC_RE.exec(rev);
  if (!m) throw fail(`Invalid refspec ${rev}`);
  const remote = m[1] ?? null;
  const ref = m[2]!;
  const refs = path.join(repo.path, 'refs');
  const candidates = remote !== null
    ? [path.join(refs, 'remotes', remote, ref)]
    : [path.join(refs, 'heads', ref), path.join(refs, 'remotes', ref), ...remoteDirs(refs).map((d) => path.join(d, ref))];
  for (const file of candidates) {
    const text = readRefFile(file);
    if (text !== null) return validateRev(text.replace(/\s+$/, ''));
  }
  throw fail(`Refspec '${remote === null ? '' : `${remote}:`}${ref}' not found`);
}

/** A commit as `ostree_repo_load_variant` loads it: a missing one is ostree's one-line error. */
export function loadCommitAsOstree(repo: Repo, checksum: string): ReturnType<typeof decodeCommit> {
  if (!fs.existsSync(objectPath(repo.objectsDir, checksum, 'commit', repo.mode))) {
    throw new GroveError('GROVE_MISSING_OBJECT', `No such metadata object ${checksum}.commit`);
  }
  return decodeCommit(readMetadataSync(repo, checksum, 'commit'), `commit ${checksum}`);
}

/**
 * ostree tries a string of at most 64 lowercase hex digits (the empty one too) as the beginning
 * of a commit checksum before anything else.
 */
function commitWithPrefix(repo: Repo, prefix: string): string | null {
  if (!/^[0-9a-f]{0,63}$/.test(prefix)) return null;
  const dirs = prefix.length >= 2 ? [prefix.slice(0, 2)] : readdirOrEmpty(repo.objectsDir).filter((d) => /^[0-9a-f]{2}$/.test(d) && d.startsWith(prefix));
  const found: string[] = [];
  for (const d of dirs) {
    for (const n of readdirOrEmpty(path.join(repo.objectsDir, d))) {
      if (/^[0-9a-f]{62}\.commit$/.test(n) && (d + n).startsWith(prefix)) found.push(d + n.slice(0, 62));
    }
  }
  if (found.length > 1) throw fail(`Refspec ${prefix} not unique`);
  return found[0] ?? null;
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
    throw e;
  }
}

function remoteDirs(refs: string): string[] {
  const base = path.join(refs, 'remotes');
  return readdirOrEmpty(base).map((n) => path.join(base, n)).filter((d) => fs.statSync(d, { throwIfNoEntry: false })?.isDirectory() === true);
}

function readRefFile(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR', 'EISDIR')) return null;
    throw e;
  }
}

/** ostree's check of what a ref file holds, with its two messages. */
function validateRev(text: string): string {
  const problem = checksumStringProblem(text);
  if (problem !== null) throw fail(problem);
  return text;
}
