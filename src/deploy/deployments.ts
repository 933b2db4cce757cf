import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { KeyFile } from '../format/keyfile.js';
import { BootEntry, compareEntries } from './boot-entry.js';
import { KernelArgs } from './kargs.js';
import { commitMetaValue, decodeCommit } from '../format/objects.js';
import { readMetadataSync } from '../store/read-metadata.js';
import { objectExists } from '../store/paths.js';

/**
 * The deployments of a sysroot, read the way ostree reads them: the live boot version is where
 * `boot/loader` points (`loader.0` or `loader.1`); each Boot Loader Specification entry there
 * names, in its `ostree=` kernel argument, a `/ostree/boot.N/OS/BOOTCSUM/SERIAL` link, which the
 * current sub-version `ostree/boot.N.M` resolves to `ostree/deploy/OS/deploy/CHECKSUM.SERIAL`.
 * Entries are ordered by their `version` field, highest first: the first is the default.
 */
export interface Deployment {
  index: number;
  osname: string;
  checksum: string;
  deploySerial: number;
  bootChecksum: string;
  bootSerial: number;
  /** The deployment's `.origin` keyfile, or null when it has none. */
  origin: KeyFile | null;
  /** The kernel arguments of its boot entry, without `ostree=`. */
  kargs: string[];
  /** Its boot entry as read (title, version, options, linux, initrd, ...). */
  entry: BootEntry;
  /** The checked-out tree. */
  path: string;
}

/** Everything `ostree_sysroot_load` learns: which boot version is live and what it boots. */
export interface SysrootState {
  root: string;
  bootVersion: number;
  subBootVersion: number;
  /** Default first. */
  deployments: Deployment[];
  /** The deployment the running system booted, when the sysroot is `/` and one is. */
  booted: Deployment | null;
}

function readlinkOrNull(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'EINVAL')) return null;
    throw e;
  }
}

/** The live boot version (0 or 1) from the `boot/loader` symlink; 0 when there is none. */
export function bootVersion(root: string): number {
  const t = readlinkOrNull(path.join(root, 'boot/loader'));
  if (t === null) return 0;
  const m = /^loader\.([01])$/.exec(t);
  if (!m) throw new GroveError('GROVE_BAD_SYSROOT', `${root}/boot/loader points to '${t}', not loader.0 or loader.1`);
  return Number(m[1]);
}

/** The sub-version (0 or 1) of boot version `v`, from `ostree/boot.V`. */
export function subBootVersion(root: string, v: number): number {
  const t = readlinkOrNull(path.join(root, `ostree/boot.${v}`));
  if (t === null) return 0;
  const m = new RegExp(`^boot\\.${v}\\.([01])$`).exec(t);
  if (!m) throw new GroveError('GROVE_BAD_SYSROOT', `${root}/ostree/boot.${v} points to '${t}'`);
  return Number(m[1]);
}

/** The `ostree-*.conf` entries of boot version `v`, default first. */
export function readBootEntries(root: string, v: number): Array<{ file: string; entry: BootEntry }> {
  const dir = path.join(root, `boot/loader.${v}/entries`);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.startsWith('ostree-') && n.endsWith('.conf') && fs.statSync(path.join(dir, n)).isFile());
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return [];
    throw e;
  }
  return names
    .map((n) => ({ file: path.join(dir, n), entry: BootEntry.parse(fs.readFileSync(path.join(dir, n), 'utf8')) }))
    .sort((a, b) => compareEntries(a.entry, b.entry));
}

/** `CHECKSUM.SERIAL`, the name of a deployment's directory; null for anything else. */
export function parseDeploymentName(name: string): { checksum: string; serial: number } | null {
  const m = /^([0-9a-f]{64})\.(\d+)$/.exec(name);
  return m ? { checksum: m[1]!, serial: Number(m[2]) } : null;
}

/** Pinned deployments (`ostree admin pin`) survive every later deploy. */
export function isPinned(d: Deployment): boolean {
  return d.origin?.get('libostree-transient', 'pinned') === 'true';
}

export function deploymentDir(root: string, osname: string, checksum: string, serial: number): string {
  return path.join(root, 'ostree/deploy', osname, 'deploy', `${checksum}.${serial}`);
}

/** The absolute path of a sysroot, checked to be one; an error naming it otherwise. */
export function sysrootRoot(sysroot: string): string {
  const root = path.resolve(sysroot);
  if (!fs.existsSync(root)) throw new GroveError('GROVE_NOT_FOUND', `sysroot ${root} does not exist`, { path: root });
  if (!fs.existsSync(path.join(root, 'ostree/deploy'))) {
    throw new GroveError('GROVE_NOT_SYSROOT', `${root} is not an ostree sysroot (no ostree/deploy)`, { hint: `make one with: grove admin init-fs ${sysroot}` });
  }
  return root;
}

/** Reads the sysroot as ostree does; an error naming the file at fault for anything inconsistent. */
export function loadSysroot(sysroot: string): SysrootState {
  const root = sysrootRoot(sysroot);
  const v = bootVersion(root);
  const sub = subBootVersion(root, v);
  const deployments = readBootEntries(root, v).map(({ file, entry }, index) => {
    const options = KernelArgs.parse(entry.get('options'));
    const arg = options.lastValue('ostree');
    const m = typeof arg === 'string' && /^\/ostree\/boot\.[01]\/([^/]+)\/([0-9a-f]{64})\/(\d+)$/.exec(arg);
    if (!m) throw new GroveError('GROVE_BAD_SYSROOT', `${file}: no valid ostree= kernel argument`);
    const [, osname, bootChecksum, bootSerial] = m as unknown as [string, string, string, string];
    const link = path.join(root, `ostree/boot.${v}.${sub}`, osname, bootChecksum, bootSerial);
    const target = readlinkOrNull(link);
    const t = target && /(?:^|\/)deploy\/([^/]+)\/deploy\/([0-9a-f]{64})\.(\d+)$/.exec(target);
    if (!t) throw new GroveError('GROVE_BAD_SYSROOT', `${link} does not point to a deployment`);
    const [, os2, checksum, deploySerial] = t as unknown as [string, string, string, string];
    const dir = deploymentDir(root, os2, checksum, Number(deploySerial));
    let origin: KeyFile | null = null;
    try {
      origin = KeyFile.parse(fs.readFileSync(`${dir}.origin`, 'utf8'), `${dir}.origin`);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    return {
      index, osname: os2, checksum, deploySerial: Number(deploySerial), bootChecksum, bootSerial: Number(bootSerial),
      origin, kargs: options.without('ostree').toArray(), entry, path: dir,
    };
  });
  return { root, bootVersion: v, subBootVersion: sub, deployments, booted: findBooted(root, deployments) };
}

/**
 * Only a sysroot at `/` can have a booted deployment: the one whose directory is the running
 * root (same device and inode), as ostree decides it. Such a deployment is never removed.
 */
function findBooted(root: string, deployments: Deployment[]): Deployment | null {
  if (root !== '/') return null;
  let rootStat: fs.Stats;
  try {
    rootStat = fs.statSync('/');
  } catch {
    return null;
  }
  for (const d of deployments) {
    try {
      const st = fs.statSync(d.path);
      if (st.dev === rootStat.dev && st.ino === rootStat.ino) return d;
    } catch {
      // A missing deployment directory is reported by whoever needs it.
    }
  }
  return null;
}

export function listDeployments(sysroot: string): Deployment[] {
  return loadSysroot(sysroot).deployments;
}

/** The `version` metadata of a commit in the sysroot's repository, if it has one. */
export function commitVersion(root: string, checksum: string): string | undefined {
  const objects = path.join(root, 'ostree/repo/objects');
  if (!objectExists(objects, checksum, 'commit', 'bare')) return undefined;
  const v = commitMetaValue(decodeCommit(readMetadataSync({ objectsDir: objects, mode: 'bare' }, checksum, 'commit')), 'version');
  return v?.type === 's' ? (v.value as string) : undefined;
}

/** What `ostree admin status` prints: the booted deployment marked `*`. */
export function describeStatus(sysroot: string, deployments: Deployment[], booted: Deployment | null = null): string {
  if (deployments.length === 0) return 'No deployments.\n';
  const root = path.resolve(sysroot);
  let out = '';
  for (const d of deployments) {
    out += `${d === booted ? '*' : ' '} ${d.osname} ${d.checksum}.${d.deploySerial}\n`;
    const version = commitVersion(root, d.checksum);
    if (version !== undefined) out += `    Version: ${version}\n`;
    if (isPinned(d)) out += '    Pinned: yes\n';
    if (d.origin === null) out += '    origin: none\n';
    else {
      const refspec = d.origin.get('origin', 'refspec');
      out += refspec === undefined ? '    origin: <unknown origin type>\n' : `    origin refspec: ${refspec}\n`;
    }
  }
  return out;
}
