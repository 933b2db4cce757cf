import fs from 'node:fs';
import path from 'node:path';
import { checkoutTree } from '../checkout/checkout.js';
import { GroveError, isErrno } from '../errors.js';
import { KeyFile } from '../format/keyfile.js';
import { BootEntry } from './boot-entry.js';
import { lexists, setImmutable } from './copy.js';
import { crashPoint } from './crash-point.js';
import { deploymentDir, isPinned, parseDeploymentName, type Deployment, type SysrootState } from './deployments.js';
import { mergeEtc, type EtcChanges } from './etc-merge.js';
import { KernelArgs } from './kargs.js';
import { bootChecksumInputs, findKernel, hashFiles, type HashFilesTask, type KernelLayout } from './kernel.js';
import { removeDeploymentDir } from './cleanup.js';
import { overlayEntryPath } from './overlay-initrd.js';
import type { Repo } from '../repo/repo.js';
import { WorkerPool } from '../pool/pool.js';
import { writeReplacing } from './install-kernel.js';

/**
 * Checks a commit out as a new deployment of stateroot `osname`, ready to boot but not yet in
 * the boot configuration (see write-deployments.ts for that step), as ostree 2022.7's
 * `ostree_sysroot_deploy_tree` prepares it:
 * 1. a hardlink checkout at `ostree/deploy/OS/deploy/CHECKSUM.SERIAL`, the serial one more than
 *    any other checkout of the same commit in that stateroot;
 * 2. its kernel found and its boot checksum computed (a tree without one is refused);
 * 3. `/etc` made a real copy of `usr/etc` (a tree that ships `/etc` has it moved to `usr/etc`
 *    first), then the admin's changes to the merge deployment's `/etc` replayed onto it;
 * 4. kernel arguments from the options, else the merge deployment's; overlay initrds only from
 *    the options (a merge deployment's do not carry over);
 * 5. the `.origin` file written and the directory made immutable.
 * Anything failing on the way removes the half-made directory: the sysroot is as before.
 * A staged deployment (`stage`) stops after the kernel arguments of the options and the origin:
 * the merge and the seal are {@link finalizeDeployment}'s, at shutdown, as in ostree's split of
 * `sysroot_initialize_deployment` and `sysroot_finalize_deployment`.
 */
export interface NewDeploymentOptions {
  osname: string;
  checksum: string;
  origin: KeyFile | null;
  merge: Deployment | null;
  /** Replaces the kernel arguments; null keeps the merge deployment's. */
  kargs: string[] | null;
  /** Checksums of overlay initrds staged for it (stageOverlayInitrd), in the order given. */
  overlayInitrds?: string[];
  /** A pool already started (its threads take a few hundred ms to load), else one of its own. */
  pool?: WorkerPool;
  /** Prepare it for `finalize-staged`: no /etc merge, no kernel arguments from the merge deployment, no seal. */
  stage?: boolean;
}

export interface NewDeployment { deployment: Deployment; etc: EtcChanges | null; varNotes: string[] }

function allocateSerial(root: string, osname: string, checksum: string): number {
  let serial = 0;
  let names: string[] = [];
  try {
    names = fs.readdirSync(path.join(root, 'ostree/deploy', osname, 'deploy'));
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  for (const n of names) {
    const d = parseDeploymentName(n);
    if (d?.checksum === checksum) serial = Math.max(serial, d.serial + 1);
  }
  return serial;
}

async function prepareEtc(repo: Repo, checksum: string, dir: string, pool: WorkerPool): Promise<void> {
  const etc = path.join(dir, 'etc');
  const usrEtc = path.join(dir, 'usr/etc');
  if (lexists(etc)) {
    if (lexists(usrEtc)) throw new GroveError('GROVE_BAD_TREE', `commit ${checksum} contains both /etc and /usr/etc`);
    fs.renameSync(etc, usrEtc);
    // The copy below reads the commit's /etc, not the renamed checkout.
    await checkoutTree(repo, checksum, etc, { subpath: '/etc', forceCopy: true, pool });
    return;
  }
  if (lexists(usrEtc)) await checkoutTree(repo, checksum, etc, { subpath: '/usr/etc', forceCopy: true, pool });
}

export async function createDeployment(state: SysrootState, repo: Repo, opts: NewDeploymentOptions): Promise<NewDeployment> {
  const { root } = state;
  const serial = allocateSerial(root, opts.osname, opts.checksum);
  const dir = deploymentDir(root, opts.osname, opts.checksum, serial);
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o775 });
  removeDeploymentDir(dir);
  crashPoint();
  const pool = opts.pool ?? new WorkerPool({ mainWorks: true });
  let bootcsum: Promise<string> | null = null;
  try {
    // The sysroot's repository is ours to index: the next deploy of mostly the same trees (an
    // upgrade) reads their listings instead of every dirtree and an lstat per file.
    await checkoutTree(repo, opts.checksum, dir, { pool, createIndex: true });
    crashPoint();
    const layout = findKernel(dir, opts.checksum, { hash: false });
    bootcsum = bootChecksum(layout, pool);
    await prepareEtc(repo, opts.checksum, dir, pool);
    crashPoint();
    const varNotes = lexists(path.join(dir, 'var')) ? fs.readdirSync(path.join(dir, 'var')) : [];

    const entry = new BootEntry();
    if (opts.kargs !== null) entry.set('options', KernelArgs.of(opts.kargs).toString());
    entry.overlayInitrds = (opts.overlayInitrds ?? []).map(overlayEntryPath);
    const deployment: Deployment = {
      index: -1, osname: opts.osname, checksum: opts.checksum, deploySerial: serial, bootChecksum: '', bootSerial: -1,
      origin: opts.origin, kargs: opts.kargs ?? [], entry, path: dir, unlocked: 'none', staged: opts.stage === true,
    };
    let etc: EtcChanges | null = null;
    if (opts.stage) writeOrigin(deployment);
    else etc = finalizeDeployment(state, deployment, opts.merge);
    deployment.bootChecksum = await bootcsum;
    return { deployment, etc, varNotes };
  } catch (e) {
    // Nothing may still read the directory while it goes.
    await bootcsum?.catch(() => undefined);
    removeDeploymentDir(dir);
    if (isErrno(e, 'ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM')) {
      throw new GroveError('GROVE_IO', `cannot deploy commit ${opts.checksum} into ${dir}: ${(e as Error).message}`, { path: dir, cause: e });
    }
    throw e;
  } finally {
    if (!opts.pool) await pool.close();
  }
}

/**
 * What makes a prepared deployment bootable, as ostree's `sysroot_finalize_deployment`: the
 * merge deployment's kernel arguments when it has none of its own, its /etc changes replayed,
 * `/etc/.updated` and `/var/.updated` removed (so that systemd's ConditionNeedsUpdate units run
 * at the next boot), the origin (re)written and the directory sealed. A staged deployment gets
 * this at shutdown, from `finalize-staged`.
 */
export function finalizeDeployment(state: SysrootState, d: Deployment, merge: Deployment | null): EtcChanges | null {
  const options = d.entry.get('options') ?? merge?.entry.get('options');
  if (options !== undefined) d.entry.set('options', options);
  d.kargs = KernelArgs.parse(options).without('ostree').toArray();
  const etc = merge ? mergeEtc(merge.path, d.path) : null;
  crashPoint();
  fs.rmSync(path.join(d.path, 'etc/.updated'), { force: true });
  fs.rmSync(path.join(varOf(state, d.osname), '.updated'), { force: true });
  writeOrigin(d);
  setImmutable(d.path, true);
  crashPoint();
  return etc;
}

/**
 * A stateroot's /var: on a system booted into that stateroot, the running /var (which may be a
 * file system of its own, leaving the stateroot's directory an empty mount point), else the
 * stateroot's directory, as ostree's get_var_dfd chooses.
 */
function varOf(state: SysrootState, osname: string): string {
  return state.booted?.osname === osname ? '/var' : path.join(state.root, 'ostree/deploy', osname, 'var');
}

/**
 * The `.origin` beside the deployment, replaced whole by rename (finalize-staged rewrites one
 * that exists). Not fsynced, as ostree writes it (GLNX_FILE_REPLACE_NODATASYNC): the sysroot is
 * synced before the boot configuration names the deployment.
 */
function writeOrigin(d: Deployment): void {
  if (!d.origin) return;
  writeReplacing(`${d.path}.origin`, d.origin.toString());
  crashPoint();
}

/**
 * The boot checksum: the legacy layout's is in its file names; the modules layout's is hashed
 * on a pool thread while this one copies /etc and merges it (38 MB of kernel and initramfs took
 * 30 ms of this thread), or here when the pool has no threads. The promise never rejects
 * unwatched: the caller awaits it on every path.
 */
function bootChecksum(layout: KernelLayout, pool: WorkerPool): Promise<string> {
  if (layout.bootcsum !== '') return Promise.resolve(layout.bootcsum);
  const files = bootChecksumInputs(layout);
  const task: HashFilesTask = { kind: 'hash-files', files };
  const p = pool.threads > 0 ? pool.run<string>(task) : Promise.resolve().then(() => hashFiles(files));
  p.catch(() => undefined);
  return p;
}

/**
 * Where the new deployment goes in the list and which others stay, as ostree's
 * `simple_write_deployment` decides with no booted system: it goes first (or right after the
 * merge deployment with `notAsDefault`); kept are the merge deployment, pinned ones, other
 * stateroots', and with `retain` all; `retainPending`/`retainRollback` keep those before/after
 * the crossover (the booted deployment, else the merge one).
 */
export interface ListOptions { retain?: boolean; retainPending?: boolean; retainRollback?: boolean; notAsDefault?: boolean }

export function nextDeployments(state: SysrootState, osname: string, added: Deployment, merge: Deployment | null, opts: ListOptions): Deployment[] {
  const booted = state.booted;
  let retain = opts.retain === true;
  if (!booted && !merge && (opts.retainPending || opts.retainRollback)) retain = true;
  const out: Deployment[] = [];
  let added_ = false;
  if (!opts.notAsDefault) {
    out.push(added);
    added_ = true;
  }
  let beforeBooted = true;
  let beforeMerge = true;
  for (const d of state.deployments) {
    const isBooted = booted !== null && d.path === booted.path;
    const isMerge = merge !== null && d.path === merge.path;
    if (isBooted) beforeBooted = false;
    if (isMerge) beforeMerge = false;
    const passed = booted ? !beforeBooted : !beforeMerge;
    if (retain || isPinned(d) || d.osname !== osname || (opts.retainPending && !passed) || isBooted || isMerge || (opts.retainRollback && passed)) out.push(d);
    if (!added_ && passed) {
      out.push(added);
      added_ = true;
    }
  }
  if (!added_) out.push(added);
  return out;
}
