import fs from 'node:fs';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { KeyFile } from '../format/keyfile.js';
import { RepoLock } from '../repo/lock.js';
import { Repo } from '../repo/repo.js';
import { WorkerPool } from '../pool/pool.js';
import { detectBootloader, requireSupported } from './bootloader.js';
import { cleanupSysroot, removeDeploymentDir, type CleanupResult } from './cleanup.js';
import { createDeployment, nextDeployments, type ListOptions } from './deploy.js';
import { isPinned, loadSysroot, sysrootRoot, type Deployment, type SysrootState } from './deployments.js';
import type { EtcChanges } from './etc-merge.js';
import { KernelArgs, procCmdlineArgs } from './kargs.js';
import { bumpMtime, validateOsName } from './sysroot.js';
import { writeDeployments } from './write-deployments.js';
import { entryFileName, writeReplacing } from './install-kernel.js';
import { fsyncDir, writeFileAtomic } from '../repo/fsutil.js';
import { stageOverlayInitrd } from './overlay-initrd.js';
import { checkLockable } from './sysroot-read.js';
import { lockFinalization, recordStaged } from './stage.js';

/**
 * The `admin` verbs that change a sysroot, each under the sysroot lock (`ostree/lock`, the file
 * ostree admin locks too) and each ending, like ostree's, with a cleanup of what the new boot
 * configuration no longer uses.
 */
export async function withSysroot<T>(sysroot: string, fn: (state: SysrootState) => Promise<T>): Promise<T> {
  const root = sysrootRoot(sysroot);
  checkLockable(root);
  // The cleanup at the end locks the repository: its lock holder (a python3 child, see
  // RepoLock) starts now, beside the sysroot lock's, rather than in the middle of the work
  // (waiting for it was 50 ms of a 600 ms deploy of minbase).
  RepoLock.prepare(path.join(root, 'ostree/repo'));
  const lock = await RepoLock.acquireOfd(path.join(root, 'ostree/lock'), 'exclusive');
  try {
    // Read under the lock: another deploy may have finished while we waited.
    return await fn(loadSysroot(root));
  } finally {
    await lock.release();
  }
}

export interface DeployOptions extends ListOptions {
  osname?: string;
  /** Kernel arguments: `--karg` (replace), `--karg-append`, `--karg-delete`. */
  karg?: string[];
  kargAppend?: string[];
  kargDelete?: string[];
  kargNone?: boolean;
  /** `--karg-proc-cmdline`: start from the running kernel's command line. */
  kargProcCmdline?: boolean;
  noMerge?: boolean;
  noPrune?: boolean;
  originFile?: string;
  /** Replaces the origin written (upgrade and switch pass the one they keep). */
  origin?: KeyFile;
  /** `--stage`: leave the boot configuration to `finalize-staged` at shutdown (booted systems only). */
  stage?: boolean;
  /** `--lock-finalization` (with `stage`): finalize-staged leaves it staged until the flag goes. */
  lockFinalization?: boolean;
  /** `--overlay-initrd`: initramfs images listed after the tree's own, in this order. */
  overlayInitrds?: string[];
}

export interface DeployResult {
  deployment: Deployment;
  etc: EtcChanges | null;
  varNotes: string[];
  /** ostree's one-line account of the boot configuration change. */
  transaction: string;
  cleanup: CleanupResult;
}

function resolveOsname(state: SysrootState, osname: string | undefined): string {
  const os = osname ?? state.booted?.osname;
  if (os === undefined) {
    throw new GroveError('GROVE_NOT_BOOTED', 'Looking for booted deployment: Not currently booted into an OSTree system and no --os= argument given');
  }
  validateOsName(os);
  if (!fs.existsSync(path.join(state.root, 'ostree/deploy', os, 'var'))) {
    throw new GroveError('GROVE_NO_STATEROOT', `stateroot ${os} does not exist in ${state.root}`, { hint: `make it with: grove admin --sysroot=${state.root} os-init ${os}` });
  }
  return os;
}

/** The deployment whose /etc and kernel arguments carry over: the booted one, else the first of the stateroot. */
export function mergeDeployment(state: SysrootState, osname: string): Deployment | null {
  if (state.booted && state.booted.osname === osname) return state.booted;
  return state.deployments.find((d) => d.osname === osname) ?? null;
}

function kernelArgs(opts: DeployOptions, merge: Deployment | null): string[] | null {
  if (opts.kargProcCmdline && opts.kargNone) throw new GroveError('GROVE_BAD_OPTION', "can't specify both --karg-proc-cmdline and --karg-none");
  if (opts.kargNone && opts.kargDelete?.length) throw new GroveError('GROVE_BAD_OPTION', "can't specify both --karg-none and --karg-delete");
  if (opts.noMerge && opts.kargDelete?.length) throw new GroveError('GROVE_BAD_OPTION', "can't specify both --no-merge and --karg-delete");
  let k: KernelArgs | null = null;
  if (opts.kargNone) k = new KernelArgs();
  else if (opts.kargProcCmdline) k = KernelArgs.of(procCmdlineArgs(fs.readFileSync('/proc/cmdline', 'utf8')));
  else if (merge && (opts.karg?.length || opts.kargAppend?.length || opts.kargDelete?.length)) k = KernelArgs.parse(merge.entry.get('options') ?? '');
  for (const a of opts.karg ?? []) (k ??= new KernelArgs()).replace(a);
  for (const a of opts.kargAppend ?? []) (k ??= new KernelArgs()).append(a);
  for (const a of opts.kargDelete ?? []) {
    if (!k) throw new GroveError('GROVE_BAD_OPTION', `no kernel arguments to delete '${a}' from`);
    k.delete(a);
  }
  return k && k.toArray();
}

function loadOriginFile(file: string): KeyFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new GroveError('GROVE_NOT_FOUND', `cannot read origin file ${file}: ${(e as Error).message}`, { path: file });
  }
  return parseOrigin(text, file);
}

/** An origin as ostree loads one, without G_KEY_FILE_KEEP_COMMENTS: comments and blank lines do not carry over. */
export function parseOrigin(text: string, file: string): KeyFile {
  return KeyFile.parse(text.split('\n').filter((l) => !l.startsWith('#') && l.trim() !== '').join('\n'), file);
}

/** `admin deploy`: a new deployment of `refspec` (a ref or a commit), default unless told otherwise. */
export async function deploy(sysroot: string, refspec: string, opts: DeployOptions = {}): Promise<DeployResult> {
  // The checkout's threads load while the lock is taken and the sysroot read and cleaned.
  const pool = new WorkerPool({ mainWorks: true });
  pool.start();
  try {
    return await deployLocked(sysroot, refspec, opts, pool);
  } finally {
    await pool.close();
  }
}

async function deployLocked(sysroot: string, refspec: string, opts: DeployOptions, pool: WorkerPool): Promise<DeployResult> {
  return withSysroot(sysroot, async (state) => {
    const osname = resolveOsname(state, opts.osname);
    const repo = await Repo.open(path.join(state.root, 'ostree/repo'));
    const origin = opts.origin ?? (opts.originFile ? loadOriginFile(opts.originFile) : originForRefspec(refspec));
    const checksum = await repo.resolveRev(refspec);
    if (!checksum) throw new GroveError('GROVE_NO_REF', `refspec ${refspec} not found in ${repo.path}`);
    const merge = opts.noMerge ? null : mergeDeployment(state, osname);
    const kargs = kernelArgs(opts, merge);
    // Staged in /run before anything else is checked, as ostree does (even when --stage is then refused).
    const overlayInitrds = (opts.overlayInitrds ?? []).map(stageOverlayInitrd);
    if (opts.stage) checkStage(state, opts);
    // A bootloader grove cannot configure is refused before anything is written (for a staged
    // deployment too: better now than when finalizing it at shutdown).
    requireSupported(detectBootloader(state.root), state.root);
    // Leftovers of an interrupted deploy go first, so that serials and space are not wasted on them.
    await cleanupSysroot(state, { prune: false });
    const made = await createDeployment(state, repo, { osname, checksum, origin, merge, kargs, overlayInitrds, pool, stage: opts.stage === true });
    if (opts.stage) {
      const cleanup = await recordStaged(state, made.deployment, merge, kargs, overlayInitrds);
      return { ...made, transaction: '', cleanup };
    }
    let written;
    try {
      written = await writeDeployments(state, nextDeployments(state, osname, made.deployment, merge, opts));
    } catch (e) {
      // Not in the boot configuration: the new checkout is only in the way.
      removeDeploymentDir(made.deployment.path);
      throw bootConfigError(state.root, e);
    }
    const cleanup = await cleanupSysroot(loadSysroot(state.root), { prune: opts.noPrune !== true });
    return { ...made, transaction: written.message, cleanup };
  });
}

/**
 * `--stage`, checked where ostree checks it; `--lock-finalization` makes its flag even when the
 * staging is then refused, as ostree does.
 */
function checkStage(state: SysrootState, opts: DeployOptions): void {
  if (opts.retainPending || opts.retainRollback) throw new GroveError('GROVE_BAD_OPTION', '--stage cannot currently be combined with --retain arguments');
  if (opts.notAsDefault) throw new GroveError('GROVE_BAD_OPTION', '--stage cannot currently be combined with --not-as-default');
  if (opts.lockFinalization) lockFinalization();
  if (!state.booted) throw new GroveError('GROVE_NOT_BOOTED', 'Cannot stage deployment: Not currently booted into an OSTree system');
}

/** A system error while the new boot configuration was being built; the live one is untouched. */
function bootConfigError(root: string, e: unknown): unknown {
  if (e instanceof GroveError || !(e instanceof Error) || typeof (e as NodeJS.ErrnoException).code !== 'string') return e;
  return new GroveError('GROVE_IO', `cannot write the new boot configuration of ${root} (the current one is unchanged): ${e.message}`, { cause: e });
}

export function originForRefspec(refspec: string): KeyFile {
  const k = new KeyFile();
  k.set('origin', 'refspec', refspec);
  return k;
}

/** The deployment at `index`, refused in ostree_admin_get_indexed_deployment's words. */
function indexed(state: SysrootState, index: number): Deployment {
  if (!Number.isInteger(index) || index < 0) throw new GroveError('GROVE_BAD_INDEX', `Invalid index ${index}`);
  if (index >= state.deployments.length) {
    throw new GroveError('GROVE_BAD_INDEX', `Out of range deployment index ${index}, expected < ${state.deployments.length}`);
  }
  return state.deployments[index]!;
}

/**
 * `admin undeploy INDEX`. `cleanedFirst`: ostree's write of the new list cleans up (and reports
 * what it freed) before the deletion is reported; when the list on disk did not change (only a
 * staged deployment went), its final cleanup does, after.
 */
export async function undeploy(sysroot: string, index: number): Promise<{ removed: Deployment; transaction: string; cleanup: CleanupResult; cleanedFirst: boolean }> {
  return withSysroot(sysroot, async (state) => {
    const target = indexed(state, index);
    if (state.booted && target.path === state.booted.path) throw new GroveError('GROVE_BOOTED', `Cannot undeploy currently booted deployment ${index}`);
    const written = await writeDeployments(state, state.deployments.filter((d) => d !== target)).catch((e: unknown) => { throw bootConfigError(state.root, e); });
    const cleanup = await cleanupSysroot(loadSysroot(state.root), { prune: true });
    return { removed: target, transaction: written.message, cleanup, cleanedFirst: written.message !== '' };
  });
}

/** `admin set-default INDEX`: that deployment first, the others in their order. */
export async function setDefault(sysroot: string, index: number): Promise<{ deployment: Deployment; changed: boolean; transaction: string }> {
  return withSysroot(sysroot, async (state) => {
    const target = indexed(state, index);
    if (index === 0) return { deployment: target, changed: false, transaction: '' };
    const written = await writeDeployments(state, [target, ...state.deployments.filter((d) => d !== target)]).catch((e: unknown) => { throw bootConfigError(state.root, e); });
    await cleanupSysroot(loadSysroot(state.root), { prune: true });
    return { deployment: target, changed: true, transaction: written.message };
  });
}

/** `admin cleanup`. */
export async function cleanup(sysroot: string): Promise<CleanupResult> {
  return withSysroot(sysroot, (state) => cleanupSysroot(state, { prune: true }));
}

/**
 * `admin kargs edit-in-place --append-if-missing=ARG`: rewrites the entries of the live boot
 * version in place (each by rename), as ostree 2022.7 does; no new boot version is made.
 */
export async function kargsEditInPlace(sysroot: string, appendIfMissing: string[]): Promise<void> {
  await withSysroot(sysroot, async (state) => {
    if (state.deployments.length === 0) throw new GroveError('GROVE_NO_DEPLOYMENT', `${state.root} has no deployments`);
    for (const d of state.deployments) {
      const k = KernelArgs.parse(d.entry.get('options'));
      for (const a of appendIfMissing) k.appendIfMissing(a);
      const entry = d.entry.clone();
      entry.set('options', k.toString());
      writeReplacing(path.join(state.root, `boot/loader.${state.bootVersion}/entries`, entryFileName(state.deployments.length, d)), entry.serialize());
    }
  });
}

/**
 * `admin pin INDEX…` / `--unpin`: a pinned deployment is kept by every later deploy. The mark is
 * `pinned=true` in the `[libostree-transient]` group of its origin file, rewritten by rename.
 * Returns ostree's line for each index.
 */
export async function pin(sysroot: string, indexes: string[], unpin = false): Promise<string[]> {
  return withSysroot(sysroot, async (state) => {
    const lines: string[] = [];
    for (const arg of indexes) {
      if (!/^\d+$/.test(arg)) throw new GroveError('GROVE_BAD_OPTION', `invalid index: ${arg}`);
      const d = indexed(state, Number(arg));
      const pinned = isPinned(d);
      if (pinned === !unpin) {
        lines.push(`Deployment ${arg} is already ${pinned ? 'pinned' : 'unpinned'}`);
        continue;
      }
      if (d.staged) throw new GroveError('GROVE_STAGED', 'Cannot pin staged deployment');
      const file = `${d.path}.origin`;
      const origin = d.origin ? parseOrigin(d.origin.toString(), file) : new KeyFile();
      if (unpin) origin.remove('libostree-transient', 'pinned');
      else origin.setBoolean('libostree-transient', 'pinned', true);
      await writeFileAtomic(file, origin.toString(), path.dirname(file));
      await fsyncDir(path.dirname(file));
      bumpMtime(state.root);
      d.origin = origin;
      lines.push(`Deployment ${arg} is now ${unpin ? 'unpinned' : 'pinned'}`);
    }
    return lines;
  });
}
