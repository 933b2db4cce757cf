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

/** Creates the missing parents of `rel` in `newEtc`, each with the attributes of the admin's. */
function ensureParents(modifiedEtc: string, newEtc: string, rel: string): void {
  const parent = path.dirname(rel);
  if (parent === '.') return;
  if (lexists(path.join(newEtc, parent))) return;
  ensureParents(modifiedEtc, newEtc, parent);
  fs.mkdirSync(path.join(newEtc, parent), { mode: 0o700 });
  copyAttributes(path.join(modifiedEtc, parent), path.join(newEtc, parent), fs.lstatSync(path.join(modifiedEtc, parent)));
}

function copyModified(modifiedEtc: string, newEtc: string, rel: string): void {
  const src = path.join(modifiedEtc, rel);
  const dest = path.join(newEtc, rel);
  const st = fs.lstatSync(src);
  ensureParents(modifiedEtc, newEtc, rel);
  const existing = lstatOrNull(dest);
  if (existing?.isDirectory()) {
    if (!st.isDirectory()) {
      throw new GroveError('GROVE_ETC_MERGE', `/etc merge: /etc/${rel} was changed locally, but the new defaults make it a directory; cannot merge`, { path: dest });
    }
    return;
  }
  if (existing) fs.unlinkSync(dest);
  copyEntry(src, dest);
}

/** Replays onto `newDeployment/etc` what the admin changed in `mergeDeployment/etc`. */
export function mergeEtc(mergeDeployment: string, newDeployment: string): EtcChanges {
  const orig = path.join(mergeDeployment, 'usr/etc');
  const modified = path.join(mergeDeployment, 'etc');
  const newEtc = path.join(newDeployment, 'etc');
  const [hasOrig, hasModified] = [lexists(orig), lexists(modified)];
  if (!hasOrig && !hasModified) return { modified: [], removed: [], added: [] };
  if (!hasOrig || !hasModified) {
    throw new GroveError('GROVE_BAD_SYSROOT', `/etc merge: ${mergeDeployment} has ${hasOrig ? 'usr/etc but no etc' : 'etc but no usr/etc'}`, { path: mergeDeployment });
  }
  if (!lexists(newEtc)) fs.mkdirSync(newEtc, { mode: 0o755 });
  const changes = diffEtc(orig, modified);
  for (const rel of changes.removed) fs.rmSync(path.join(newEtc, rel), { recursive: true, force: true });
  for (const rel of [...changes.modified, ...changes.added]) copyModified(modified, newEtc, rel);
  return changes;
}
