import fs from 'node:fs';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { syncFilesystem } from '../repo/fsutil.js';
import { crashPoint } from './crash-point.js';
import { bumpMtime } from './sysroot.js';
import { detectBootloader, repoConfig, requireSupported, ubootEnv } from './bootloader.js';
import { commitVersion, subBootVersion, type Deployment, type SysrootState } from './deployments.js';
import { buildEntry, entryFileName, writeReplacing, type EntryContext } from './install-kernel.js';
import { KernelArgs } from './kargs.js';
import { overlayChecksums } from './overlay-initrd.js';
import { removeDeploymentDir } from './cleanup.js';
import { RUN_STAGED, RUN_STAGED_LOCKED } from './runstate.js';

/**
 * Makes `next` the sysroot's list of deployments, default first, with one atomic step at the end,
 * as ostree 2022.7 does:
 * - When only the order of deployments with identical boot configurations changes, a new
 *   symlink farm `ostree/boot.N.M'` is built and `ostree/boot.N` is renamed onto it.
 * - Otherwise everything of the other boot version N' is built beside the live one (kernels,
 *   entries in `boot/loader.N'/entries`, `ostree/boot.N'.M` links, the U-Boot environment), the
 *   file systems are synced, and the rename of a prepared `boot/loader.tmp` symlink onto
 *   `boot/loader` switches the bootloader from one complete set to the other.
 * A process killed at any point before that rename leaves the old configuration untouched; after
 * it, the new one is complete. Leftovers of the other version are removed by the next cleanup.
 */
function assignBootSerials(list: Deployment[]): void {
  const seen = new Map<string, number>();
  list.forEach((d, i) => {
    const n = seen.get(d.bootChecksum) ?? 0;
    seen.set(d.bootChecksum, n + 1);
    d.bootSerial = n;
    d.index = i;
  });
}

function sameBootConfig(root: string, a: Deployment, b: Deployment): boolean {
  if (a.bootChecksum !== b.bootChecksum) return false;
  if (overlayChecksums(a.entry).join('') !== overlayChecksums(b.entry).join('')) return false;
  const ka = KernelArgs.parse(a.entry.get('options')).without('ostree').toString();
  const kb = KernelArgs.parse(b.entry.get('options')).without('ostree').toString();
  return ka === kb && commitVersion(root, a.checksum) === commitVersion(root, b.checksum);
}

/**
 * A symlink replaced by rename. The temp name is fixed: the sysroot lock admits one writer, and a
 * name left by a killed one is reused (or removed by cleanup) rather than piling up.
 */
export const LINK_TEMP_SUFFIX = '.grove-tmp';

function symlinkReplace(target: string, link: string): void {
  const tmp = `${link}${LINK_TEMP_SUFFIX}`;
  fs.rmSync(tmp, { force: true });
  fs.symlinkSync(target, tmp);
  crashPoint();
  fs.renameSync(tmp, link);
  crashPoint();
}

/** Builds `ostree/boot.V.SUB`, the links from boot entries' `ostree=` paths to deployments. */
function createBootLinks(root: string, v: number, sub: number, list: Deployment[]): void {
  const dir = path.join(root, `ostree/boot.${v}.${sub}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const d of list) {
    const parent = path.join(dir, d.osname, d.bootChecksum);
    fs.mkdirSync(parent, { recursive: true, mode: 0o755 });
    symlinkReplace(`../../../deploy/${d.osname}/deploy/${d.checksum}.${d.deploySerial}`, path.join(parent, String(d.bootSerial)));
  }
}

/** The sysroot's filesystem, then /boot's (the same one, often: syncfs of it again costs little). */
async function syncAll(root: string): Promise<void> {
  await syncFilesystem(root, path.join(root, 'boot'));
}

/** `changed` false: the list was already this. `message` is the line ostree prints for the same transaction. */
export interface WriteResult { newBootVersion: boolean; changed: boolean; message: string }

function transactionLine(atomic: boolean, swapped: boolean, v: number, sub: number, change: number): string {
  return `${atomic ? 'Transaction complete' : 'Bootloader updated'}; bootconfig swap: ${swapped ? 'yes' : 'no'}; bootversion: boot.${v}.${sub}, deployment count change: ${change}`;
}

/**
 * A staged deployment has no boot entry: it stays staged only while it heads the new list (as
 * ostree keeps it); anywhere else, or absent, it is dropped with its state in /run, so that
 * nothing finalizes it at shutdown. Returns the list to write, without it.
 */
function settleStaged(state: SysrootState, next: Deployment[]): { next: Deployment[]; removed: boolean } {
  const staged = state.staged;
  if (!staged) return { next, removed: false };
  const removed = next[0] !== staged;
  if (removed) {
    fs.rmSync(RUN_STAGED, { force: true });
    crashPoint();
    removeDeploymentDir(staged.path);
    fs.rmSync(RUN_STAGED_LOCKED, { force: true });
    crashPoint();
  }
  return { next: next.filter((d) => d !== staged), removed };
}

export async function writeDeployments(state: SysrootState, wanted: Deployment[]): Promise<WriteResult> {
  const { root } = state;
  const current = state.deployments.filter((d) => d !== state.staged);
  const { next, removed: removedStaged } = settleStaged(state, wanted);
  assignBootSerials(next);
  let requiresNew = next.length !== current.length;
  let noop = !requiresNew;
  if (!requiresNew) {
    for (let i = 0; i < next.length; i++) {
      if (!sameBootConfig(root, current[i]!, next[i]!)) {
        requiresNew = true;
        noop = false;
        break;
      }
      if (current[i]!.path !== next[i]!.path) noop = false;
    }
  }
  if (noop) {
    if (removedStaged) bumpMtime(root);
    return { newBootVersion: false, changed: removedStaged, message: '' };
  }
  for (const d of next) {
    if (!fs.existsSync(d.path)) throw new GroveError('GROVE_BAD_SYSROOT', `deployment ${d.path} does not exist`, { path: d.path });
  }
  if (state.booted && !next.some((d) => d.path === state.booted!.path)) {
    throw new GroveError('GROVE_BOOTED', `cannot remove the booted deployment ${state.booted.checksum}.${state.booted.deploySerial}`);
  }

  if (!requiresNew) {
    const sub = 1 - state.subBootVersion;
    createBootLinks(root, state.bootVersion, sub, next);
    await syncAll(root);
    crashPoint();
    symlinkReplace(`boot.${state.bootVersion}.${sub}`, path.join(root, `ostree/boot.${state.bootVersion}`));
    bumpMtime(root);
    return { newBootVersion: false, changed: true, message: transactionLine(true, false, state.bootVersion, sub, next.length - current.length) };
  }

  const config = repoConfig(root);
  const loader = detectBootloader(root, config);
  requireSupported(loader, root);
  const v = 1 - state.bootVersion;
  const entries = path.join(root, `boot/loader.${v}/entries`);
  fs.rmSync(entries, { recursive: true, force: true });
  fs.mkdirSync(entries, { recursive: true, mode: 0o755 });
  crashPoint();
  const ctx: EntryContext = {
    root, bootVersion: v, count: next.length,
    showOsname: next.some((d) => d.osname !== next[0]!.osname),
    blsAppend: blsAppendPairs(config, root),
  };
  for (const d of next) {
    const entry = buildEntry(ctx, d);
    writeReplacing(path.join(entries, entryFileName(next.length, d)), entry.serialize());
    d.entry = entry;
    crashPoint();
  }
  const sub = 1 - subBootVersion(root, v);
  createBootLinks(root, v, sub, next);
  symlinkReplace(`boot.${v}.${sub}`, path.join(root, `ostree/boot.${v}`));
  if (loader === 'uboot') writeReplacing(path.join(root, `boot/loader.${v}/uEnv.txt`), ubootEnv(root, v));
  crashPoint();
  try {
    fs.symlinkSync('.', path.join(root, 'boot/boot'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  symlinkReplace(`loader.${v}`, path.join(root, 'boot/loader.tmp'));
  await syncAll(root);
  crashPoint();
  fs.renameSync(path.join(root, 'boot/loader.tmp'), path.join(root, 'boot/loader'));
  crashPoint();
  const fd = fs.openSync(path.join(root, 'boot'), 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  bumpMtime(root);
  // ostree counts a bootloader without its own configuration as not atomic; U-Boot's is.
  return { newBootVersion: true, changed: true, message: transactionLine(loader === 'uboot', true, v, sub, next.length - current.length) };
}

/** `sysroot.bls-append-except-default=key1=value1;key2=value2`. */
function blsAppendPairs(config: ReturnType<typeof repoConfig>, root: string): Array<[string, string]> {
  const raw = config.getList('sysroot', 'bls-append-except-default');
  if (!raw) return [];
  return raw.filter((s) => s !== '').map((kv) => {
    const eq = kv.indexOf('=');
    if (eq < 0) throw new GroveError('GROVE_BAD_CONFIG', `${root}/ostree/repo/config: bls-append-except-default must be key1=value1;key2=value2…`);
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  });
}
