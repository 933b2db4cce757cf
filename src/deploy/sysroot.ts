import fs from 'node:fs/promises';
import { utimesSync } from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { Repo } from '../repo/repo.js';
import { loadSysroot } from './deployments.js';
import { openSysroot } from './sysroot-read.js';

/**
 * A sysroot as ostree lays it out: the physical root holds `boot/`, `ostree/repo` (a bare
 * repository), and `ostree/deploy/OS/` per stateroot, each with a shared `var/` and, later,
 * its deployments. These are the first steps, `init-fs` and `os-init`, made exactly as
 * ostree 2022.7 makes them so that either tool can manage the result.
 */

/** mkdir -p with an exact mode for the directories it creates (the umask does not apply). */
async function mkdirMode(p: string, mode: number): Promise<void> {
  try {
    await fs.mkdir(p, { mode });
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return;
    if (isErrno(e, 'ENOENT')) {
      await mkdirMode(path.dirname(p), 0o755);
      await fs.mkdir(p, { mode });
    } else throw e;
  }
  await fs.chmod(p, mode);
}

/**
 * `ostree admin init-fs DIR`: the top-level directories of a physical root (only `boot` with
 * `modern`), then `ostree/repo` (bare) and `ostree/deploy`. Existing directories are kept.
 */
export async function initFs(sysroot: string, opts: { modern?: boolean } = {}): Promise<void> {
  // ostree opens the directory first, and fails in libglnx's words: `opendir(PATH): …`.
  const root = openSysroot(sysroot);
  await mkdirMode(path.join(root, 'boot'), 0o755);
  if (!opts.modern) {
    for (const d of ['dev', 'home', 'proc', 'run', 'sys']) await mkdirMode(path.join(root, d), 0o755);
    await mkdirMode(path.join(root, 'root'), 0o700);
    await mkdirMode(path.join(root, 'tmp'), 0o1777);
  }
  await ensureInitialized(root);
}

/** `ostree/repo` (bare) and `ostree/deploy`. */
export async function ensureInitialized(root: string): Promise<Repo> {
  await mkdirMode(path.join(root, 'ostree/repo'), 0o755);
  await mkdirMode(path.join(root, 'ostree/deploy'), 0o755);
  return Repo.init(path.join(root, 'ostree/repo'), { mode: 'bare' });
}

/** A stateroot (OS) name: one path component. */
export function validateOsName(os: string): string {
  if (os === '' || os === '.' || os === '..' || os.includes('/') || os.includes('\0')) {
    throw new GroveError('GROVE_BAD_OPTION', `invalid stateroot name '${os}'`, { hint: 'a stateroot is one directory name, such as debian' });
  }
  return os;
}

/**
 * `ostree admin os-init OS`: `ostree/deploy/OS/var` with the /var skeleton ostree seeds (tmp,
 * lib, log, and run and lock pointing into /run). An existing stateroot is an error, as in
 * ostree.
 */
export async function initOs(sysroot: string, os: string): Promise<string> {
  validateOsName(os);
  // ostree loads the sysroot first: a broken one fails in its `loading sysroot:` words.
  const root = loadSysroot(sysroot).root;
  const deployRoot = path.join(root, 'ostree/deploy');
  const dir = path.join(deployRoot, os);
  try {
    await fs.mkdir(dir, { mode: 0o755 });
  } catch (e) {
    if (isErrno(e, 'EEXIST')) throw new GroveError('GROVE_EXISTS', `stateroot ${os} already exists in ${root}`, { path: dir });
    throw e;
  }
  await fs.mkdir(path.join(dir, 'var'), { mode: 0o755 });
  await mkdirMode(path.join(dir, 'var/tmp'), 0o1777);
  await fs.mkdir(path.join(dir, 'var/lib'), { mode: 0o755 });
  await fs.mkdir(path.join(dir, 'var/log'), { mode: 0o755 });
  await fs.symlink('../run', path.join(dir, 'var/run'));
  await fs.symlink('../run/lock', path.join(dir, 'var/lock'));
  bumpMtime(root);
  return dir;
}

/** ostree touches `ostree/deploy` after each change to a sysroot so that watchers notice. */
export function bumpMtime(root: string): void {
  const now = new Date();
  utimesSync(path.join(root, 'ostree/deploy'), now, now);
}
