import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { writeFileAtomic, fsyncDir } from '../repo/fsutil.js';
import { setImmutable } from './copy.js';
import { loadSysroot, type Deployment } from './deployments.js';
import { parseOrigin, type DeployResult } from './operations.js';
import { unlockFlagPath, type UnlockedState } from './runstate.js';
import { bumpMtime } from './sysroot.js';

/** ostree's words when a verb needs the booted deployment. */
export const NOT_BOOTED = 'Not currently booted into an OSTree system';

export type UnlockTarget = Exclude<UnlockedState, 'none'>;

/** What ostree prints once /usr is unlocked. */
export const UNLOCK_MESSAGES: Record<UnlockTarget, string> = {
  hotfix: 'Hotfix mode enabled.  A writable overlayfs is now mounted on /usr\nfor this booted deployment.  A non-hotfixed clone has been created\nas the non-default rollback target.\n',
  development: 'Development mode enabled.  A writable overlayfs is now mounted on /usr.\nAll changes there will be discarded on reboot.\n',
  transient: 'A writable overlayfs is prepared for /usr, but is mounted read-only by default.\nAll changes there will be discarded on reboot.\n',
};

export interface UnlockOptions {
  /** Where the overlay goes: `/usr` (the running system's) unless a test mounts it elsewhere. */
  mountPoint?: string;
  /** Where development and transient overlays keep their layers (ostree: /var/tmp). */
  scratch?: string;
}

/**
 * `ostree admin unlock [--hotfix|--transient]`: an overlayfs over the booted deployment's /usr.
 * Development and transient unlocks keep their layers in /var/tmp and are gone at reboot (the
 * flag saying so lives in /run); a hotfix keeps them in the deployment (`.usr-ovl-upper`,
 * `.usr-ovl-work`, which ostree-prepare-root mounts again at boot), records `unlocked=hotfix`
 * in the origin, and first pushes an untouched copy of the deployment as the rollback target.
 */
export async function unlock(sysroot: string, target: UnlockTarget, opts: UnlockOptions = {}): Promise<DeployResult | null> {
  const state = loadSysroot(sysroot);
  if (!state.booted) throw new GroveError('GROVE_NOT_BOOTED', NOT_BOOTED);
  return unlockDeployment(sysroot, state.booted, target, opts);
}

/**
 * The unlock itself, of any deployment (what `unlock` does to the booted one; tests give a
 * scratch mount point). Returns the hotfix's clone deploy, whose lines ostree prints.
 */
export async function unlockDeployment(sysroot: string, d: Deployment, target: UnlockTarget, opts: UnlockOptions = {}): Promise<DeployResult | null> {
  if (d.unlocked !== 'none') throw new GroveError('GROVE_UNLOCKED', `Deployment is already in unlocked state: ${d.unlocked}`);
  let clone: DeployResult | null = null;
  if (target === 'hotfix') {
    // The clone is an ordinary deploy (it takes the sysroot lock itself): same commit, origin and kernel arguments, not the default.
    const { deploy } = await import('./operations.js');
    clone = await deploy(sysroot, d.checksum, {
      osname: d.osname, notAsDefault: true, kargNone: true, kargAppend: d.kargs,
      origin: parseOrigin(d.origin?.toString() ?? '', `${d.path}.origin`),
    });
  }
  const { withSysroot } = await import('./operations.js');
  await withSysroot(sysroot, async (state) => {
    setImmutable(d.path, false);
    const usrMode = fs.statSync(path.join(d.path, 'usr')).mode & 0o7777;
    const mkdirExact = (p: string) => {
      fs.mkdirSync(p, { mode: usrMode });
      fs.chmodSync(p, usrMode);
    };
    let options: string;
    let scratch: string | null = null;
    if (target === 'hotfix') {
      mkdirExact(path.join(d.path, '.usr-ovl-upper'));
      mkdirExact(path.join(d.path, '.usr-ovl-work'));
      options = 'lowerdir=usr,upperdir=.usr-ovl-upper,workdir=.usr-ovl-work';
    } else {
      scratch = fs.mkdtempSync(path.join(opts.scratch ?? '/var/tmp', 'ostree-unlock-ovl.'));
      fs.chmodSync(scratch, 0o755);
      mkdirExact(path.join(scratch, 'upper'));
      mkdirExact(path.join(scratch, 'work'));
      options = `lowerdir=usr,upperdir=${scratch}/upper,workdir=${scratch}/work`;
    }
    // Relative layer paths, resolved from the deployment's directory, as ostree mounts them.
    const args = ['-t', 'overlay', ...(target === 'transient' ? ['-r'] : []), '-o', options, 'overlay', opts.mountPoint ?? '/usr'];
    const r = spawnSync('mount', args, { cwd: d.path, encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      throw new GroveError('GROVE_IO', `Failed overlayfs mount: ${(r.error?.message ?? r.stderr).trim()}`);
    }
    if (target === 'hotfix') {
      const file = `${d.path}.origin`;
      const origin = parseOrigin(d.origin?.toString() ?? '', file);
      origin.set('origin', 'unlocked', 'hotfix');
      await writeFileAtomic(file, origin.toString(), path.dirname(file));
      await fsyncDir(path.dirname(file));
    } else {
      const flag = unlockFlagPath(d.checksum, d.deploySerial, target);
      fs.mkdirSync(path.dirname(flag), { recursive: true, mode: 0o755 });
      fs.writeFileSync(flag, scratch!);
    }
    bumpMtime(state.root);
  });
  return clone;
}
