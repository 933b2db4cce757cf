import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { copyAttributes, copyEntry, lexists } from './copy.js';

/**
 * The /etc three-way merge, as ostree 2022.7 does it. The admin's changes are the difference
 * between the old deployment's defaults (`usr/etc`) and its live `/etc`; that difference is
 * replayed onto the new deployment's `/etc`, which starts as a copy of its own defaults:
 * - a file the admin deleted is deleted (whatever the new defaults say);
 * - a file the admin changed or added is copied over, replacing the new default: the admin's
 *   version always wins, there is no line-level merge;
 * - everything the admin left alone takes the new default.
 * "Changed" compares type, content (or link target), mode and ownership; not xattrs, since
 * SELinux labels differ between /usr/etc and /etc everywhere.
 */
export interface EtcChanges { modified: string[]; removed: string[]; added: string[] }

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return null;
    throw e;
  }
}

function sameFile(a: string, sa: fs.Stats, b: string, sb: fs.Stats): boolean {
  if (sa.uid !== sb.uid || sa.gid !== sb.gid) return false;
  if (sa.isSymbolicLink()) return fs.readlinkSync(a) === fs.readlinkSync(b);
  if (sa.mode !== sb.mode) return false;
  if (sa.isFile()) return sa.size === sb.size && fs.readFileSync(a).equals(fs.readFileSync(b));
  return true;
}

function kind(st: fs.Stats): number {
  return st.mode & 0o170000;
}

/** `ostree_diff_dirs(orig, modified)`: paths relative to the two directories. */
export function diffEtc(orig: string, modified: string): EtcChanges {
  const out: EtcChanges = { modified: [], removed: [], added: [] };
  const addAll = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir)) {
      const r = path.join(rel, name);
      out.added.push(r);
      if (fs.lstatSync(path.join(dir, name)).isDirectory()) addAll(path.join(dir, name), r);
    }
  };
  const walk = (rel: string) => {
    const a = path.join(orig, rel);
    const b = path.join(modified, rel);
    const namesA = fs.readdirSync(a);
    for (const name of namesA) {
      const r = path.join(rel, name);
      const sa = fs.lstatSync(path.join(a, name));
      const sb = lstatOrNull(path.join(b, name));
      if (!sb) out.removed.push(r);
      else if (kind(sa) !== kind(sb)) out.modified.push(r);
      else {
        if (!sameFile(path.join(a, name), sa, path.join(b, name), sb)) out.modified.push(r);
        if (sa.isDirectory()) walk(r);
      }
    }
    const inA = new Set(namesA);
    for (const name of fs.readdirSync(b)) {
      if (inA.has(name)) continue;
      const r = path.join(rel, name);
      out.added.push(r);
      if (fs.lstatSync(path.join(b, name)).isDirectory()) addAll(path.join(b, name), r);
    }
  };
  walk('');
  return out;
}

/**
 * The first parent of `rel` below `root` that is not a real directory, looked at with lstat one
 * component at a time from `root` down, so that no symlink on the way is ever resolved: null when
 * every parent is a directory; `st` null when that parent is missing.
 */
function firstNonDirParent(root: string, rel: string): { rel: string; st: fs.Stats | null } | null {
  const names = rel.split(path.sep);
  let cur = '';
  for (const name of names.slice(0, -1)) {
    cur = cur === '' ? name : path.join(cur, name);
    // Every component before `cur` was just seen to be a real directory, so this resolves none.
    const st = lstatOrNull(path.join(root, cur));
    if (!st?.isDirectory()) return { rel: cur, st };
  }
  return null;
}

function typeName(st: fs.Stats): string {
  return st.isSymbolicLink() ? 'a symlink' : st.isFile() ? 'a file' : 'a special file';
}

/**
 * Checks that copying the admin's `rel` into `newEtc` stays inside it, and returns what the
 * new defaults have at `rel`. The admin's change wins over the new defaults, but not at any price:
 * - a parent that the new defaults make a symlink (or a file) is refused. Writing through the
 *   link would edit whatever it points at, outside /etc or elsewhere in it; replacing it with the
 *   admin's directory would silently undo a layout change upstream made on purpose; dropping the
 *   change would lose the admin's configuration. Only the admin can choose, as ostree makes them
 *   choose when a file newly defaults to a directory (the next case).
 * - the admin's side was walked by the diff through real directories only; one that is no longer
 *   a directory means /etc changed under the merge, and nothing is read through it either.
 */
function checkCopy(modifiedEtc: string, newEtc: string, rel: string): fs.Stats | null {
  const src = firstNonDirParent(modifiedEtc, rel);
  if (src) throw new GroveError('GROVE_ETC_MERGE', `/etc merge: ${path.join(modifiedEtc, src.rel)} changed during the merge; cannot merge`, { path: path.join(modifiedEtc, src.rel) });
  const st = fs.lstatSync(path.join(modifiedEtc, rel));
  const dest = firstNonDirParent(newEtc, rel);
  if (dest?.st) {
    throw new GroveError('GROVE_ETC_MERGE', `/etc merge: /etc/${rel} was changed locally, but the new defaults make /etc/${dest.rel} ${typeName(dest.st)}; cannot merge`, { path: path.join(newEtc, dest.rel) });
  }
  const existing = dest ? null : lstatOrNull(path.join(newEtc, rel));
  if (existing?.isDirectory() && !st.isDirectory()) {
    throw new GroveError('GROVE_ETC_MERGE', `/etc merge: /etc/${rel} was changed locally, but the new defaults make it a directory; cannot merge`, { path: path.join(newEtc, rel) });
  }
  return existing;
}

/** Creates the missing parents of `rel` in `newEtc`, top down, each with the attributes of the admin's. */
function makeParents(modifiedEtc: string, newEtc: string, rel: string): void {
  const names = rel.split(path.sep);
  let cur = '';
  for (const name of names.slice(0, -1)) {
    cur = cur === '' ? name : path.join(cur, name);
    const st = lstatOrNull(path.join(newEtc, cur));
    if (st?.isDirectory()) continue;
    // checkCopy saw every parent a directory or missing; anything else is a bug or a race.
    if (st) throw new Error(`/etc merge: ${path.join(newEtc, cur)} became ${typeName(st)} during the merge`);
    fs.mkdirSync(path.join(newEtc, cur), { mode: 0o700 });
    copyAttributes(path.join(modifiedEtc, cur), path.join(newEtc, cur), fs.lstatSync(path.join(modifiedEtc, cur)));
  }
}

function copyModified(modifiedEtc: string, newEtc: string, rel: string): void {
  const existing = checkCopy(modifiedEtc, newEtc, rel);
  makeParents(modifiedEtc, newEtc, rel);
  const dest = path.join(newEtc, rel);
  // A directory over a directory: its changed entries come as entries of their own.
  if (existing?.isDirectory()) return;
  if (existing) fs.unlinkSync(dest);
  copyEntry(path.join(modifiedEtc, rel), dest);
}

/**
 * Removes the admin's deletion `rel` from `newEtc`. A parent that is missing or not a real
 * directory there (the new defaults made `ssh` a symlink, say) means no entry of that name is in
 * /etc: there is nothing to remove, and what the link points at is not /etc's to delete. The
 * admin asked for the file to be absent from /etc, and it is.
 */
function removeDeleted(newEtc: string, rel: string): void {
  if (firstNonDirParent(newEtc, rel)) return;
  // rm does not follow symlinks: a link at `rel` itself goes, not what it points at.
  fs.rmSync(path.join(newEtc, rel), { recursive: true, force: true });
}

/**
 * The directory at `p`, which must be one and not a symlink to one: the merge reads and writes
 * below it and nowhere else. A deployment's etc and usr/etc are real directories as ostree and
 * grove make them; a link there points the merge outside the deployment, so it is refused.
 */
function checkDir(p: string): void {
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) {
    throw new GroveError('GROVE_BAD_SYSROOT', `/etc merge: ${p} is ${typeName(st)}, not a directory`, { path: p });
  }
}

/**
 * Replays onto `newDeployment/etc` what the admin changed in `mergeDeployment/etc`. It reads
 * only below the merge deployment's etc and usr/etc, and changes only below the new etc, never
 * resolving a symlink on the way (see checkCopy and removeDeleted for what one there means).
 * Every copy is checked before anything changes, so a refusal leaves the new /etc as checked out.
 * Paths are walked with lstat, not opened relative to directory fds (Node has no openat): the
 * deployments are the sysroot's own, and whoever can race renames in them owns the system anyway.
 */
export function mergeEtc(mergeDeployment: string, newDeployment: string): EtcChanges {
  const orig = path.join(mergeDeployment, 'usr/etc');
  const modified = path.join(mergeDeployment, 'etc');
  const newEtc = path.join(newDeployment, 'etc');
  // usr first: were it a symlink, even looking for usr/etc would look outside the deployment.
  if (lexists(path.join(mergeDeployment, 'usr'))) checkDir(path.join(mergeDeployment, 'usr'));
  const [hasOrig, hasModified] = [lexists(orig), lexists(modified)];
  if (!hasOrig && !hasModified) return { modified: [], removed: [], added: [] };
  if (!hasOrig || !hasModified) {
    throw new GroveError('GROVE_BAD_SYSROOT', `/etc merge: ${mergeDeployment} has ${hasOrig ? 'usr/etc but no etc' : 'etc but no usr/etc'}`, { path: mergeDeployment });
  }
  checkDir(orig);
  checkDir(modified);
  if (!lexists(newEtc)) fs.mkdirSync(newEtc, { mode: 0o755 });
  checkDir(newEtc);
  const changes = diffEtc(orig, modified);
  const copies = [...changes.modified, ...changes.added];
  for (const rel of copies) checkCopy(modified, newEtc, rel);
  for (const rel of changes.removed) removeDeleted(newEtc, rel);
  for (const rel of copies) copyModified(modified, newEtc, rel);
  return changes;
}
