import fs from 'node:fs';
import path from 'node:path';
import { GroveError } from '../errors.js';
import type { KeyFile } from '../format/keyfile.js';
import { BootEntry } from './boot-entry.js';
import { KernelArgs } from './kargs.js';
import { commitMetaValue, decodeCommit } from '../format/objects.js';
import { readMetadataSync } from '../store/read-metadata.js';
import { objectExists } from '../store/paths.js';
import { overlayChecksums, overlayEntryPath } from './overlay-initrd.js';
import { readStaged, rootIsOstreeBooted, unlockedState, type UnlockedState } from './runstate.js';
import {
  bootVersion, checkSysrootRepo, loading, openSysroot, parseBootLink, readBootEntries, readOrigin, resolveBootLink, subBootVersion,
} from './sysroot-read.js';

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
  /** Whether /usr is unlocked, and how (`ostree admin unlock`). */
  unlocked: UnlockedState;
  /** A staged deployment: checked out, finalized into the boot configuration at shutdown. */
  staged: boolean;
}

/** Everything `ostree_sysroot_load` learns: which boot version is live and what it boots. */
export interface SysrootState {
  root: string;
  bootVersion: number;
  subBootVersion: number;
  /** Default first; a staged deployment before them all. */
  deployments: Deployment[];
  /** The deployment the running system booted, when the sysroot is `/` and one is. */
  booted: Deployment | null;
  /** The staged deployment, which is also `deployments[0]`; only a booted system has one. */
  staged: Deployment | null;
}

export { bootVersion, readBootEntries, subBootVersion } from './sysroot-read.js';

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

/** The absolute path of a sysroot, opened as ostree opens it; `opendir(PATH): …` otherwise. */
export function sysrootRoot(sysroot: string): string {
  return openSysroot(sysroot);
}

/** Reads the sysroot as ostree does; an error naming the file at fault for anything inconsistent. */
export function loadSysroot(sysroot: string): SysrootState {
  const root = openSysroot(sysroot);
  return loading(() => loadFrom(root));
}

function loadFrom(root: string): SysrootState {
  checkSysrootRepo(root);
  const v = bootVersion(root);
  const sub = subBootVersion(root, v);
  const deployments: Deployment[] = readBootEntries(root, v).map(({ entry }, index) => {
    const b = parseBootLink(entry);
    const { checksum, serial, origin } = resolveBootLink(root, b);
    overlayChecksums(entry);
    return {
      index, osname: b.osname, checksum, deploySerial: serial, bootChecksum: b.bootChecksum, bootSerial: b.bootSerial,
      origin, kargs: KernelArgs.parse(entry.get('options')).without('ostree').toArray(), entry, path: deploymentDir(root, b.osname, checksum, serial),
      unlocked: unlockedState(checksum, serial, origin), staged: false,
    };
  });
  const isBooted = rootIsOstreeBooted(root);
  const booted = isBooted ? findBooted(deployments) : null;
  if (isBooted && !booted) {
    throw new GroveError('GROVE_BAD_SYSROOT', fs.existsSync(path.join(root, 'boot/loader'))
      ? 'Unexpected state: /run/ostree-booted found and in / sysroot, but bootloader entry not found'
      : 'Unexpected state: /run/ostree-booted found, but no /boot/loader directory');
  }
  // As in ostree, only a booted system has a staged deployment; it comes first.
  const staged = isBooted ? stagedDeployment(root) : null;
  if (staged) {
    deployments.unshift(staged);
    deployments.forEach((d, i) => { d.index = i; });
  }
  return { root, bootVersion: v, subBootVersion: sub, deployments, booted, staged };
}

/** The deployment /run/ostree/staged-deployment names, as ostree loads it (its kernel arguments, its origin). */
function stagedDeployment(root: string): Deployment | null {
  let s;
  try {
    s = readStaged();
  } catch (e) {
    if (e instanceof GroveError) throw new GroveError('GROVE_BAD_SYSROOT', e.message.startsWith('Loading staged') ? e.message : `Loading staged deployment: ${e.message}`);
    throw e;
  }
  if (!s) return null;
  const dir = deploymentDir(root, s.target.osname, s.target.checksum, s.target.serial);
  const origin = readOrigin(root, s.target.osname, s.target.checksum, s.target.serial);
  const entry = new BootEntry();
  if (s.kargs) entry.set('options', s.kargs.join(' '));
  entry.overlayInitrds = (s.overlayInitrds ?? []).map(overlayEntryPath);
  return {
    index: 0, osname: s.target.osname, checksum: s.target.checksum, deploySerial: s.target.serial, bootChecksum: s.target.bootChecksum,
    bootSerial: -1, origin, kargs: s.kargs ?? [], entry, path: dir,
    unlocked: unlockedState(s.target.checksum, s.target.serial, origin), staged: true,
  };
}

/**
 * On a booted system, the deployment whose directory is the running root (same device and
 * inode), as ostree decides it. Such a deployment is never removed.
 */
function findBooted(deployments: Deployment[]): Deployment | null {
  const rootStat = fs.statSync('/');
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

/**
 * ostree's pending and rollback deployments of the booted stateroot: the first deployment of
 * that stateroot before the booted one, and the first after it. None when nothing is booted.
 */
export function pendingAndRollback(state: SysrootState, osname?: string): { pending: Deployment | null; rollback: Deployment | null } {
  let pending: Deployment | null = null;
  let rollback: Deployment | null = null;
  if (!state.booted) return { pending, rollback };
  const os = osname ?? state.booted.osname;
  let foundBooted = false;
  for (const d of state.deployments) {
    if (d.osname !== os) continue;
    if (d === state.booted) foundBooted = true;
    else if (!foundBooted && !pending) pending = d;
    else if (foundBooted && !rollback) rollback = d;
  }
  return { pending, rollback };
}

export function listDeployments(sysroot: string): Deployment[] {
  return loadSysroot(sysroot).deployments;
}

/** A string in the metadata of a commit in the sysroot's repository (`version`, `ostree.source-title`), if it has one. */
export function commitMetaString(root: string, checksum: string, key: string): string | undefined {
  const objects = path.join(root, 'ostree/repo/objects');
  if (!objectExists(objects, checksum, 'commit', 'bare')) return undefined;
  const v = commitMetaValue(decodeCommit(readMetadataSync({ objectsDir: objects, mode: 'bare' }, checksum, 'commit')), key);
  return v?.type === 's' ? (v.value as string) : undefined;
}

/** The `version` metadata of a commit in the sysroot's repository, if it has one. */
export function commitVersion(root: string, checksum: string): string | undefined {
  return commitMetaString(root, checksum, 'version');
}
