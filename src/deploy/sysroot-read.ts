import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno, strerror } from '../errors.js';
import { KeyFile, KeyFileError } from '../format/keyfile.js';
import { BootEntry, compareEntries } from './boot-entry.js';

/**
 * The reads ostree_sysroot_load makes, in its order and with its errors, so that a broken
 * sysroot fails in ostree's words. Everything met while loading carries ostree's prefix
 * `loading sysroot: ` (see {@link loading}); only the sysroot directory itself, opened before
 * the load, does not.
 */

const bad = (message: string): GroveError => new GroveError('GROVE_BAD_SYSROOT', message);

/** A failed system call (any errno): each call below fails in ostree's words whatever its errno. */
const isSysError = (e: unknown): e is NodeJS.ErrnoException => e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === 'string';

/**
 * An errno failure of `call` as libglnx words it (`opendir(ostree/repo): No such file or
 * directory`); a failed read(2) of an opened file is the errno text alone, as glnx_fd_readall's.
 */
function sysFail(call: string, e: unknown): never {
  if (isSysError(e)) throw bad(e.syscall === 'read' ? strerror(e) : `${call}: ${strerror(e)}`);
  throw e;
}

/** Runs `fn`, putting `prefix: ` before the message of any error a user can cause (GLNX_AUTO_PREFIX_ERROR). */
export function prefixed<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof GroveError) throw new GroveError(e.code, `${prefix}: ${e.message}`, { path: e.path, cause: e });
    throw e;
  }
}

/** `loading sysroot: …` around `fn`, as ostree_sysroot_load prefixes what it meets. */
export const loading = <T>(fn: () => T): T => prefixed('loading sysroot', fn);

/** The absolute sysroot path, opened as a directory first as ostree_sysroot_initialize does (no prefix). */
export function openSysroot(sysroot: string): string {
  const root = path.resolve(sysroot);
  try {
    fs.closeSync(fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
  } catch (e) {
    if (isSysError(e)) throw new GroveError('GROVE_NOT_SYSROOT', `opendir(${root}): ${strerror(e)}`, { path: root });
    throw e;
  }
  return root;
}

/**
 * What the write verbs meet before the load: ostree locks `ostree/lock`, created in `ostree/`,
 * and a missing `ostree/` fails with the bare errno text.
 */
export function checkLockable(root: string): void {
  const dir = path.join(root, 'ostree');
  let st;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    if (isSysError(e)) throw new GroveError('GROVE_NOT_SYSROOT', strerror(e), { path: dir });
    throw e;
  }
  if (!st.isDirectory()) throw new GroveError('GROVE_NOT_SYSROOT', 'Not a directory', { path: dir });
}

function openDir(p: string, shown: string): void {
  try {
    fs.closeSync(fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
  } catch (e) {
    sysFail(`opendir(${shown})`, e);
  }
}

/**
 * The sysroot's repository, checked as ostree_repo_open checks it (the directory, `objects/`,
 * the config and its version and mode), then `ostree/deploy`. Nothing is kept: the verbs open
 * the repository themselves when they need it.
 */
export function checkSysrootRepo(root: string): void {
  const repo = path.join(root, 'ostree/repo');
  openDir(repo, 'ostree/repo');
  prefixed('opening repo', () => {
    openDir(path.join(repo, 'objects'), 'objects');
    let text: string;
    try {
      text = fs.readFileSync(path.join(repo, 'config'), 'utf8');
    } catch (e) {
      sysFail('openat(config)', e);
    }
    let config: KeyFile;
    try {
      config = KeyFile.parse(text, path.join(repo, 'config'));
    } catch (e) {
      if (e instanceof KeyFileError) throw bad(`Couldn't parse config file: ${e.glib}`);
      throw e;
    }
    const version = config.get('core', 'repo_version');
    if (version === undefined) throw bad('Key file does not have key \u201crepo_version\u201d in group \u201ccore\u201d');
    if (version !== '1') throw bad(`Invalid repository version '${version}'`);
    const mode = config.get('core', 'mode') ?? 'bare';
    if (!['bare', 'bare-user', 'bare-user-only', 'archive', 'archive-z2'].includes(mode)) throw bad(`Invalid mode '${mode}' in repository configuration`);
  });
  try {
    fs.statSync(path.join(root, 'ostree/deploy'));
  } catch (e) {
    sysFail('fstatat(ostree/deploy)', e);
  }
}

function lstatOrNull(p: string, shown: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    sysFail(`fstatat(${shown})`, e);
  }
}

function readlink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch (e) {
    sysFail('readlinkat', e);
  }
}

/** The live boot version (0 or 1) from the `boot/loader` symlink; 0 when there is none. */
export function bootVersion(root: string): number {
  const st = lstatOrNull(path.join(root, 'boot/loader'), 'boot/loader');
  if (st === null) return 0;
  if (!st.isSymbolicLink()) throw bad('Not a symbolic link: boot/loader');
  const t = readlink(path.join(root, 'boot/loader'));
  if (t === 'loader.0' || t === 'loader.1') return Number(t.slice(-1));
  throw bad(`Invalid target '${t}' in boot/loader`);
}

/** The sub-version (0 or 1) of boot version `v`, from where `ostree/boot.V` points. */
export function subBootVersion(root: string, v: number): number {
  const rel = `ostree/boot.${v}`;
  if (lstatOrNull(path.join(root, rel), rel) === null) return 0;
  const t = readlink(path.join(root, rel));
  if (t.endsWith('.0')) return 0;
  if (t.endsWith('.1')) return 1;
  throw bad(`Invalid target '${t}' in ${rel}`);
}

/** UTF-8 text, or ostree's `Invalid UTF-8` (it reads these files with glnx_fd_readall_utf8). */
function utf8(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw bad('Invalid UTF-8');
  return text;
}

/**
 * The `ostree-*.conf` entries of boot version `v`, default first. As ostree, every name in the
 * directory is stat'ed (following symlinks) in directory order, and only regular files count.
 */
export function readBootEntries(root: string, v: number): Array<{ file: string; entry: BootEntry }> {
  const dir = path.join(root, `boot/loader.${v}/entries`);
  let d: fs.Dir;
  try {
    d = fs.opendirSync(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return [];
    sysFail('opendirat', e);
  }
  const out: Array<{ file: string; entry: BootEntry }> = [];
  try {
    for (let de = d.readSync(); de !== null; de = d.readSync()) {
      const file = path.join(dir, de.name);
      let st;
      try {
        st = fs.statSync(file);
      } catch (e) {
        sysFail(`fstatat(${de.name})`, e);
      }
      if (!de.name.startsWith('ostree-') || !de.name.endsWith('.conf') || !st.isFile()) continue;
      const entry = prefixed(`Parsing ${de.name}`, () => {
        let bytes: Buffer;
        try {
          bytes = fs.readFileSync(file);
        } catch (e) {
          sysFail(`openat(${de.name})`, e);
        }
        return BootEntry.parse(utf8(bytes));
      });
      out.push({ file, entry });
    }
  } finally {
    d.closeSync();
  }
  return out.sort((a, b) => compareEntries(a.entry, b.entry));
}

/** What an entry's `ostree=` argument names: `/ostree/boot.V/OS/BOOTCSUM/SERIAL`. */
export interface BootLink { link: string; osname: string; bootChecksum: string; bootSerial: number }

/** The first `ostree=` among the entry's space-separated options, parsed as ostree parses it. */
export function parseBootLink(entry: BootEntry): BootLink {
  const arg = (entry.get('options') ?? '').split(' ').find((o) => o.startsWith('ostree='))?.slice('ostree='.length);
  if (arg === undefined) throw bad('No ostree= kernel argument found');
  // ostree's own pattern, whose unescaped `.` matches any character.
  const m = /^\/ostree\/boot.([01])\/([^/]+)\/([^/]+)\/([0-9]+)$/.exec(arg);
  if (!m) throw bad(`Invalid ostree= argument '${arg}', expected ostree=/ostree/boot.BOOTVERSION/OSNAME/BOOTCSUM/TREESERIAL`);
  return { link: arg, osname: m[2]!, bootChecksum: m[3]!, bootSerial: Number(m[4]) };
}

/**
 * The deployment a boot link resolves to (`CHECKSUM.SERIAL`, which must be a directory) and its
 * origin keyfile, or null without one; errors read `Parsing deployment LINK in stateroot 'OS': …`.
 */
export function resolveBootLink(root: string, b: BootLink): { checksum: string; serial: number; origin: KeyFile | null } {
  return prefixed(`Parsing deployment ${b.link} in stateroot '${b.osname}'`, () => {
    const rel = b.link.slice(1);
    const target = readlink(path.join(root, rel));
    const name = path.basename(target);
    const m = /^([0-9a-f]+)\.([0-9]+)$/.exec(name);
    if (!m) throw bad(`Invalid deploy name '${name}', expected CHECKSUM.TREESERIAL`);
    openDir(path.join(root, rel), rel);
    const checksum = m[1]!;
    const serial = Number(m[2]);
    return { checksum, serial, origin: readOrigin(root, b.osname, checksum, serial) };
  });
}

/** A deployment's `.origin` as ostree's load_origin reads it; null when there is none. */
export function readOrigin(root: string, osname: string, checksum: string, serial: number): KeyFile | null {
  const rel = `ostree/deploy/${osname}/deploy/${checksum}.${serial}.origin`;
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path.join(root, rel));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    sysFail(`openat(${rel})`, e);
  }
  const text = utf8(bytes);
  try {
    return KeyFile.parse(text, path.join(root, rel));
  } catch (e) {
    if (e instanceof KeyFileError) throw bad(`Parsing ${rel}: ${e.glib}`);
    throw e;
  }
}
