import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno, strerror } from '../errors.js';
import { CHECKSUM_RE } from '../format/checksum.js';
import { isValidRef, validateCollectionId } from '../format/names.js';
import { RepoLock } from '../repo/lock.js';
import { Repo } from '../repo/repo.js';
import type { PullTarget } from './pull.js';

/** The repository paths a mount finder looks at without a `repos.d` link (ostree's well-known ones). */
const WELL_KNOWN_REPOS = ['ostree/repo', '.ostree/repo'];
/** ostree tries `00-generated` to `99-generated`. */
const MAX_LINK_ATTEMPTS = 100;

export interface CreateUsbOptions {
  /** The repository inside the mount, relative to it unless absolute; default `.ostree/repo`. */
  destination?: string;
  /** The commit to copy for the single collection–ref (`--commit`). */
  commit?: string;
  fsync?: boolean;
}

/** Why the destination is refused: ostree reports these as usage errors of the verb. */
export class CreateUsbUsageError extends GroveError {}

/**
 * Copies collection–refs of `source` into an archive repository on a mounted volume, as
 * `ostree create-usb` does, so that the volume can be found by collection ID (find-remotes, or
 * a pull with the mount finder): the repository (created if missing) at `.ostree/repo` or
 * `destination` inside `mountPath`, the refs pulled as a mirror (refs/mirrors/ID/REF), a summary,
 * and, for a repository at a path finders do not know, a link `.ostree/repos.d/NN-generated`.
 *
 * Unlike ostree, a destination is checked to be on the mount and not the source before anything
 * is created, and a repository created here is removed again when the pull fails: nothing of a
 * failed run is left on the volume. Returns the destination as given, for the report line.
 */
export async function createUsb(source: Repo, mountPath: string, refs: ReadonlyArray<{ collectionId: string; ref: string }>, opts: CreateUsbOptions = {}): Promise<string> {
  let mountStat: fsSync.Stats;
  try {
    // Following symlinks, as ostree opens it (an automounted path may be one).
    mountStat = fsSync.statSync(mountPath);
    if (!mountStat.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NO_PATH', `opendir(${mountPath}): No such file or directory`, { path: mountPath });
    if (isErrno(e, 'ENOTDIR')) throw new GroveError('GROVE_NO_PATH', `opendir(${mountPath}): Not a directory`, { path: mountPath });
    if (isErrno(e)) throw new GroveError('GROVE_IO', `opendir(${mountPath}): ${strerror(e)}`, { path: mountPath, cause: e });
    throw e;
  }
  for (const r of refs) {
    validateCollectionId(r.collectionId);
    if (!isValidRef(r.ref)) throw new GroveError('GROVE_BAD_REF', `Invalid ref name ${r.ref}`);
  }
  // ostree takes it unchecked and aborts on an assertion when it is not 64 hex digits.
  if (opts.commit !== undefined && !CHECKSUM_RE.test(opts.commit)) throw new GroveError('GROVE_BAD_OPTION', `--commit: '${opts.commit}' is not a commit checksum`);
  const destRel = opts.destination ?? '.ostree/repo';
  const dest = path.resolve(mountPath, destRel);

  // A directory made now has the device of its parent, so the deepest existing one tells
  // whether the repository would be on the mount.
  const existing = deepestExisting(dest);
  if (existing.stat.dev !== mountStat.dev) throw new CreateUsbUsageError('GROVE_USAGE', '--destination-repo must be a descendent of MOUNT-PATH');
  const sourceStat = fsSync.statSync(source.path);
  if (existing.path === dest && existing.stat.ino === sourceStat.ino && existing.stat.dev === sourceStat.dev) {
    throw new CreateUsbUsageError('GROVE_USAGE', '--destination-repo must not be the source repository');
  }

  // The topmost directory this run makes, or what it adds to an existing directory that holds
  // no repository yet: removed again if the copy fails.
  const created = existing.path === dest ? null : firstBelow(existing.path, dest);
  const hadRepo = fsSync.existsSync(path.join(dest, 'objects'));
  const before = created === null && !hadRepo ? new Set(fsSync.readdirSync(dest)) : null;
  try {
    await fs.mkdir(dest, { recursive: true, mode: 0o755 });
    // As ostree's create: an existing repository (one with objects/) is used as it is.
    const repo = hadRepo ? await Repo.open(dest) : await Repo.init(dest, { mode: 'archive' });
    const targets: PullTarget[] = refs.map((r) => ({ from: opts.commit ?? r.ref, to: null, collection: { id: r.collectionId, ref: r.ref } }));
    const [{ pullInto }, { LocalSource }, { regenerateSummary }] = await Promise.all([import('./pull.js'), import('./sources.js'), import('./summary.js')]);
    const src = await LocalSource.open(source.path);
    try {
      await pullInto(repo, src, targets, { fsync: opts.fsync !== false });
    } finally {
      src.close();
    }
    await regenerateSummary(repo);
  } catch (e) {
    // The pull may have started the lock holder, which creates .lock when it is up.
    await RepoLock.settle(dest);
    const rm = (p: string) => fs.rm(p, { recursive: true, force: true });
    if (created !== null) await rm(created);
    if (before !== null) for (const name of fsSync.readdirSync(dest)) if (!before.has(name)) await rm(path.join(dest, name));
    throw e;
  }
  if (!WELL_KNOWN_REPOS.includes(destRel)) await linkRepo(mountPath, destRel, fsSync.statSync(dest).ino);
  return destRel;
}

/**
 * `.ostree/repos.d/NN-generated` -> `../../DEST`, unless an entry of repos.d is the repository
 * itself. As in ostree, an entry is compared by its own inode, so an existing link to the
 * repository does not count and each run adds one.
 */
async function linkRepo(mountPath: string, destRel: string, destIno: number): Promise<void> {
  const reposD = path.join(mountPath, '.ostree', 'repos.d');
  await fs.mkdir(reposD, { recursive: true, mode: 0o755 });
  for (const name of await fs.readdir(reposD)) {
    if (fsSync.lstatSync(path.join(reposD, name)).ino === destIno) return;
  }
  const target = buildFilename('..', '..', destRel);
  for (let i = 0; i < MAX_LINK_ATTEMPTS; i++) {
    const link = path.join(reposD, `${String(i).padStart(2, '0')}-generated`);
    try {
      await fs.symlink(target, link);
      return;
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) throw new GroveError('GROVE_IO', `symlinkat(.ostree/repos.d/${path.basename(link)} → ${target}): ${strerror(e)}`, { cause: e });
    }
  }
  throw new GroveError('GROVE_IO', 'Could not find an unused symlink name for the repository');
}

/**
 * GLib's `g_build_filename`: the elements joined by one `/`, the separators where they meet
 * collapsed, nothing else normalized (`.` and `..` stay), so the link reads as ostree writes it.
 */
function buildFilename(...parts: string[]): string {
  const kept = parts.filter((p) => p !== '');
  return kept.map((p, i) => {
    let q = p;
    if (i > 0) q = q.replace(/^\/+/, '');
    if (i < kept.length - 1) q = q.replace(/\/+$/, '');
    return q;
  }).filter((q, i) => q !== '' || i === 0).join('/');
}

function deepestExisting(p: string): { path: string; stat: fsSync.Stats } {
  for (let cur = p; ; cur = path.dirname(cur)) {
    const st = fsSync.statSync(cur, { throwIfNoEntry: false });
    if (st !== undefined) return { path: cur, stat: st };
    if (path.dirname(cur) === cur) throw new Error(`deepestExisting: nothing of ${p} exists`);
  }
}

/** The child of `ancestor` on the way to `p`. */
function firstBelow(ancestor: string, p: string): string {
  const rel = path.relative(ancestor, p).split(path.sep)[0]!;
  return path.join(ancestor, rel);
}
