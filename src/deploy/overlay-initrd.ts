import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno, strerror } from '../errors.js';
import { tempName } from '../repo/fsutil.js';
import type { BootEntry } from './boot-entry.js';
import type { Deployment } from './deployments.js';
import { RUN_STAGED_INITRDS } from './runstate.js';

/**
 * Overlay initramfs images (`admin deploy --overlay-initrd=FILE`), kept as ostree 2022.7 keeps
 * them:
 * - the file is first staged as `/run/ostree/staged-initrds/SHA256` (the running host's /run,
 *   whatever sysroot is deployed to; mode 0600, as libostree's temporary file has);
 * - writing a deployment's boot entry puts it at `/boot/ostree/initramfs-overlays/SHA256.img`
 *   (linked from /run, or copied when /boot is another file system) unless it is there already,
 *   and, when the tree has an initramfs, lists it as one more `initrd` line after the tree's own;
 * - the deployment's overlays are those `initrd` lines (by file name), so entries rewritten
 *   later keep theirs, and cleanup deletes every image no entry lists.
 * They live outside the per-kernel directory so that deployments sharing a kernel can differ in
 * overlays, and the other way round.
 */

/** Where overlays live, relative to /boot. */
export const OVERLAYS_DIR = 'ostree/initramfs-overlays';

/** The `initrd` path of an overlay in a boot entry. */
export function overlayEntryPath(checksum: string): string {
  return `/${OVERLAYS_DIR}/${checksum}.img`;
}

/**
 * The checksums an entry's overlay `initrd` lines name, with ostree's check of each file name
 * (its length only). ostree checks them as it loads the sysroot (whose errors take its prefix).
 */
export function overlayChecksums(entry: BootEntry): string[] {
  return entry.overlayInitrds.map((p) => {
    const base = path.posix.basename(p);
    if (base.length !== 64 + '.img'.length) throw new GroveError('GROVE_BAD_SYSROOT', `Malformed overlay initrd filename: ${base}`);
    return base.slice(0, 64);
  });
}

/**
 * Copies `file` to /run/ostree/staged-initrds under its SHA-256 and returns that: what
 * `ostree_sysroot_stage_overlay_initrd` does, with its messages.
 */
export function stageOverlayInitrd(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new GroveError(isErrno(e, 'ENOENT') ? 'GROVE_NOT_FOUND' : 'GROVE_IO', `openat(${file}): ${strerror(e)}`, { path: file, cause: e });
  }
  fs.mkdirSync(RUN_STAGED_INITRDS, { recursive: true, mode: 0o755 });
  const tmp = path.join(RUN_STAGED_INITRDS, tempName('.tmp-'));
  let out: number | undefined;
  try {
    out = fs.openSync(tmp, 'wx', 0o600);
    const h = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        throw new GroveError('GROVE_IO', `Error reading from file descriptor: ${strerror(e)}`, { path: file, cause: e });
      }
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      for (let off = 0; off < n;) off += fs.writeSync(out, buf, off, n - off);
    }
    fs.closeSync(out);
    out = undefined;
    const checksum = h.digest('hex');
    fs.renameSync(tmp, path.join(RUN_STAGED_INITRDS, checksum));
    return checksum;
  } finally {
    if (out !== undefined) fs.closeSync(out);
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Puts each overlay `entry` names into `/boot/ostree/initramfs-overlays`, from its staged copy
 * in /run when it is not there yet, and rewrites the entry's overlay lines as ostree writes them.
 * `install` is how a file goes into /boot (a link, else a copy).
 */
export function installOverlays(root: string, entry: BootEntry, install: (src: string, dest: string) => void): void {
  const checksums = overlayChecksums(entry);
  if (checksums.length === 0) return;
  fs.mkdirSync(path.join(root, 'boot', OVERLAYS_DIR), { recursive: true, mode: 0o755 });
  for (const c of checksums) {
    const dest = path.join(root, 'boot', OVERLAYS_DIR, `${c}.img`);
    if (fs.existsSync(dest)) continue;
    try {
      install(path.join(RUN_STAGED_INITRDS, c), dest);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
      // ostree's words: its install_deployment_kernel prefixes what fails in it.
      throw new GroveError('GROVE_NOT_FOUND', `Installing kernel: linkat(${OVERLAYS_DIR}/${c}.img): ${strerror(e)}`, { path: dest, cause: e });
    }
  }
  entry.overlayInitrds = checksums.map(overlayEntryPath);
}

/**
 * Deletes the overlays in /boot that no boot entry of `deployments` lists (regular files only, as
 * ostree). A staged deployment has no entry yet, so its overlays do not count: ostree too deletes
 * them here and puts them back from /run when it finalizes the deployment.
 */
export function removeUnusedOverlays(root: string, deployments: readonly Deployment[]): void {
  const entries = deployments.filter((d) => !d.staged).map((d) => d.entry);
  const dir = path.join(root, 'boot', OVERLAYS_DIR);
  let found: fs.Dirent[];
  try {
    found = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  const used = new Set(entries.flatMap((e) => e.overlayInitrds.map((p) => path.posix.basename(p))));
  for (const f of found) if (f.isFile() && !used.has(f.name)) fs.rmSync(path.join(dir, f.name), { force: true });
}
