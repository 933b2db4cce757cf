import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { cleanupSysroot, removeDeploymentDir, type CleanupResult } from './cleanup.js';
import { finalizeDeployment, nextDeployments } from './deploy.js';
import { loadSysroot, sysrootRoot, type Deployment, type SysrootState } from './deployments.js';
import type { EtcChanges } from './etc-merge.js';
import { readStaged, encodeStaged, RUN_OSTREE_BOOTED, RUN_STAGED, RUN_STAGED_LOCKED, type DeploymentRef } from './runstate.js';
import { writeReplacing } from './install-kernel.js';
import { bumpMtime } from './sysroot.js';
import { writeDeployments } from './write-deployments.js';

/**
 * Staged deployments, as ostree 2022.7 makes and finalizes them on a booted system:
 * - `admin deploy --stage` (and `upgrade --stage`) check the new deployment out and prepare its
 *   /etc, write its origin, and leave the rest in `/run/ostree/staged-deployment`: the target,
 *   the merge deployment, the kernel arguments and overlay initrds asked for. The boot
 *   configuration is not touched.
 * - `admin finalize-staged`, run by ostree-finalize-staged.service at shutdown, merges the
 *   running system's /etc into it (so changes made after staging carry over), seals it, and
 *   writes the boot configuration with it first. A failure is also written to
 *   `/boot/ostree/finalize-failure.stamp`, for `admin boot-complete` to report at the next boot.
 * /run is the running system's (a tmpfs): a reboot without finalization forgets the staging, and
 * the next cleanup removes the unused checkout.
 */

/** The file ostree-boot-complete.service reads, relative to the sysroot. */
export const FINALIZE_FAILURE_STAMP = 'boot/ostree/finalize-failure.stamp';

const refOf = (d: Deployment): DeploymentRef => ({ checksum: d.checksum, serial: d.deploySerial, osname: d.osname, bootChecksum: d.bootChecksum });

/** `--lock-finalization`: the flag that keeps finalize-staged from acting, made before staging (ostree: to avoid races). */
export function lockFinalization(): void {
  fs.mkdirSync(path.dirname(RUN_STAGED_LOCKED), { recursive: true, mode: 0o755 });
  try {
    fs.closeSync(fs.openSync(RUN_STAGED_LOCKED, fs.constants.O_CREAT | fs.constants.O_WRONLY | fs.constants.O_NOCTTY, 0o640));
  } catch (e) {
    throw new GroveError('GROVE_IO', `touch(${RUN_STAGED_LOCKED}): ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Records `made` (checked out with `stage`) as the staged deployment and drops the one staged
 * before, then runs ostree's prepare-cleanup (no prune: the boot configuration did not change).
 * The state file is replaced by rename, so finalize-staged reads the old one or the new one.
 */
export async function recordStaged(state: SysrootState, made: Deployment, merge: Deployment | null, kargs: string[] | null, overlayInitrds: string[]): Promise<CleanupResult> {
  const bytes = encodeStaged({ target: refOf(made), merge: merge && refOf(merge), kargs, overlayInitrds: overlayInitrds.length > 0 ? overlayInitrds : null });
  try {
    fs.mkdirSync(path.dirname(RUN_STAGED), { recursive: true, mode: 0o755 });
    writeReplacing(RUN_STAGED, bytes);
  } catch (e) {
    removeDeploymentDir(made.path);
    throw new GroveError('GROVE_IO', `cannot write ${RUN_STAGED}: ${(e as Error).message}`, { cause: e });
  }
  if (state.staged && state.staged.path !== made.path) removeDeploymentDir(state.staged.path);
  bumpMtime(state.root);
  return cleanupSysroot(loadSysroot(state.root), { prune: false });
}

export interface FinalizeResult { deployment: Deployment; etc: EtcChanges | null; transaction: string }

/**
 * `admin finalize-staged`: nothing unless booted, nothing staged, or finalization locked;
 * otherwise the staged deployment becomes the default, as ostree's
 * `_ostree_sysroot_finalize_staged`. The state file goes first: interrupted half way, the next
 * boot is the old configuration and the half-finalized checkout is cleanup's.
 */
export async function finalizeStaged(sysroot: string): Promise<FinalizeResult | null> {
  if (!fs.existsSync(RUN_OSTREE_BOOTED)) return null;
  const { withSysroot } = await import('./operations.js');
  return withSysroot(sysroot, async (state) => {
    try {
      return await finalizeLocked(state);
    } catch (e) {
      recordFailure(state.root, e);
      throw e;
    }
  });
}

async function finalizeLocked(state: SysrootState): Promise<FinalizeResult | null> {
  const staged = state.staged;
  if (!staged || fs.existsSync(RUN_STAGED_LOCKED)) return null;
  const stub = readStaged()?.merge ?? null;
  let merge: Deployment | null = null;
  if (stub) {
    merge = state.deployments.find((d) => d !== staged && d.osname === stub.osname && d.checksum === stub.checksum && d.deploySerial === stub.serial) ?? null;
    if (!merge) throw new GroveError('GROVE_BAD_SYSROOT', `Failed to find merge deployment ${stub.checksum}.${stub.serial} for staged`);
  }
  fs.unlinkSync(RUN_STAGED);
  const etc = finalizeDeployment(state, staged, merge);
  staged.staged = false;
  const rest: SysrootState = { ...state, deployments: state.deployments.filter((d) => d !== staged), staged: null };
  const written = await writeDeployments(rest, nextDeployments(rest, staged.osname, staged, merge, {}));
  // ostree's prepare-cleanup only: no prune at shutdown.
  await cleanupSysroot(loadSysroot(state.root), { prune: false });
  return { deployment: staged, etc, transaction: written.message };
}

function recordFailure(root: string, e: unknown): void {
  const file = path.join(root, FINALIZE_FAILURE_STAMP);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    fs.writeFileSync(file, e instanceof Error ? e.message : String(e));
  } catch (w) {
    process.stderr.write(`Failed to write ${path.join('/', FINALIZE_FAILURE_STAMP)}: ${(w as Error).message}\n`);
  }
}

/**
 * `admin finalize-staged --hold`: keeps /boot open until SIGTERM (the unit's stop, at shutdown)
 * so that an automounted /boot stays mounted until finalization.
 */
export function holdBoot(sysroot: string): Promise<never> | null {
  if (!fs.existsSync(RUN_OSTREE_BOOTED)) return null;
  const root = sysrootRoot(sysroot);
  loadSysroot(root);
  const fd = fs.openSync(path.join(root, 'boot'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  // A timer keeps the process alive; SIGTERM ends it (Node's default action) with /boot closed.
  return new Promise(() => { setInterval(() => fd, 1 << 30); });
}

/**
 * `admin boot-complete`: at boot, a finalization that failed at the last shutdown is reported
 * (once: the log is removed) as an error.
 */
export function bootComplete(sysroot: string): void {
  if (!fs.existsSync(RUN_OSTREE_BOOTED)) return;
  const root = sysrootRoot(sysroot);
  loadSysroot(root);
  const file = path.join(root, FINALIZE_FAILURE_STAMP);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw new GroveError('GROVE_IO', `Reading from ${path.join('/', FINALIZE_FAILURE_STAMP)}: ${(e as Error).message}`, { cause: e });
  }
  fs.rmSync(file, { force: true });
  throw new GroveError('GROVE_FINALIZE_FAILED', `ostree-finalize-staged.service failed on previous boot: ${text}`);
}
