import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { tempName } from '../repo/fsutil.js';
import { BootEntry } from './boot-entry.js';
import { copyEntry, lexists } from './copy.js';
import { crashPoint } from './crash-point.js';
import { commitVersion, type Deployment } from './deployments.js';
import { KernelArgs } from './kargs.js';
import { findKernel } from './kernel.js';
import { parseOsRelease } from './os-release.js';
import { installOverlays } from './overlay-initrd.js';

/**
 * Makes one deployment bootable under boot version `bootVersion`: its kernel, initramfs and
 * device tree in `/boot/ostree/OS-BOOTCSUM/` (hardlinked from the deployment, or copied when
 * /boot is another file system), and its entry `boot/loader.N/entries/ostree-V-OS.conf`, with
 * the fields ostree 2022.7 writes for the same deployment.
 */
export interface EntryContext {
  root: string;
  bootVersion: number;
  /** How many deployments the new list holds. */
  count: number;
  /** Several stateroots among them: titles then name theirs. */
  showOsname: boolean;
  /** `sysroot.bls-append-except-default` pairs, for every entry but the default. */
  blsAppend: Array<[string, string]>;
}

/**
 * A hardlink (atomic) when /boot shares the file system, else a copy under a temp name linked
 * into place: a copy interrupted half-way is never visible under the final name, where a later
 * deploy would take it for complete.
 */
function installIntoBoot(src: string, dest: string): void {
  try {
    fs.linkSync(src, dest);
    return;
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return;
    if (!isErrno(e, 'EXDEV', 'EMLINK', 'EPERM')) throw e;
  }
  const st = fs.statSync(src);
  const tmp = path.join(path.dirname(dest), tempName('.tmp-'));
  try {
    fs.copyFileSync(src, tmp);
    fs.chownSync(tmp, st.uid, st.gid);
    fs.chmodSync(tmp, st.mode & 0o7777);
    const fd = fs.openSync(tmp, 'r');
    try {
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.linkSync(tmp, dest);
  } catch (e) {
    if (!isErrno(e, 'EEXIST')) throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function readOsRelease(deployment: string): Map<string, string> {
  for (const rel of ['usr/lib/os-release', 'etc/os-release']) {
    try {
      return parseOsRelease(fs.readFileSync(path.join(deployment, rel), 'utf8'));
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
  }
  throw new GroveError('GROVE_BAD_TREE', `${deployment} has neither usr/lib/os-release nor etc/os-release, which name the boot entry`, { path: deployment });
}

/** The entry a deployment gets at `d.index` of the new list; the caller writes it. */
export function buildEntry(ctx: EntryContext, d: Deployment): BootEntry {
  const layout = findKernel(d.path, d.checksum, { hash: false });
  const bootcsumRel = `ostree/${d.osname}-${d.bootChecksum}`;
  const bootcsumDir = path.join(ctx.root, 'boot', bootcsumRel);
  fs.mkdirSync(bootcsumDir, { recursive: true, mode: 0o775 });
  const install = (src: string, dest: string) => {
    if (!lexists(path.join(bootcsumDir, dest))) installIntoBoot(path.join(layout.dir, src), path.join(bootcsumDir, dest));
  };
  install(layout.kernel.src, layout.kernel.dest);
  crashPoint();
  if (layout.initramfs) install(layout.initramfs.src, layout.initramfs.dest);
  crashPoint();
  if (layout.devicetree?.dest) install(layout.devicetree.src, layout.devicetree.dest);
  else if (layout.devicetree) copyEntry(path.join(layout.dir, layout.devicetree.src), path.join(bootcsumDir, layout.devicetree.src));
  if (layout.hmac) install(layout.hmac.src, layout.hmac.dest);
  const entry = d.entry.clone();
  // Installed whether or not the tree has an initramfs to lay them over, as ostree does; the
  // entry lists them only when it has one, and cleanup then deletes what no entry lists.
  installOverlays(ctx.root, entry, installIntoBoot);
  crashPoint();

  const osRelease = readOsRelease(d.path);
  const name = osRelease.get('PRETTY_NAME') ?? osRelease.get('ID');
  if (name === undefined) throw new GroveError('GROVE_BAD_TREE', `${d.path}: os-release has no PRETTY_NAME or ID`, { path: d.path });
  const version = commitVersion(ctx.root, d.checksum);
  let title = name;
  if (version && !name.includes(version)) title += ` ${version}`;
  title += ` (ostree${ctx.showOsname ? `:${d.osname}` : ''}:${d.index})`;

  entry.set('title', title);
  entry.set('version', String(ctx.count - d.index));
  entry.set('linux', `/${bootcsumRel}/${layout.kernel.dest}`);
  const kargs = KernelArgs.parse(entry.get('options'));
  if (layout.initramfs) {
    entry.set('initrd', `/${bootcsumRel}/${layout.initramfs.dest}`);
  } else {
    kargs.replace(`init=/ostree/boot.${ctx.bootVersion}/${d.osname}/${d.bootChecksum}/${d.bootSerial}/usr/lib/ostree/ostree-prepare-root`);
  }
  if (layout.devicetree?.dest) entry.set('devicetree', `/${bootcsumRel}/${layout.devicetree.dest}`);
  else if (layout.devicetree) entry.set('fdtdir', `/${bootcsumRel}/${layout.devicetree.src}`);
  kargs.replace(`ostree=/ostree/boot.${ctx.bootVersion}/${d.osname}/${d.bootChecksum}/${d.bootSerial}`);
  entry.set('options', kargs.toString());
  if (d.index !== 0) for (const [k, v] of ctx.blsAppend) entry.set(k, v);
  return entry;
}

export function entryFileName(count: number, d: { index: number; osname: string }): string {
  return `ostree-${count - d.index}-${d.osname}.conf`;
}

/** Writes a file by temp name and rename; durability comes from the syncfs before the swap. */
export function writeReplacing(dest: string, data: string | Uint8Array): void {
  const tmp = path.join(path.dirname(dest), tempName('.tmp-'));
  fs.writeFileSync(tmp, data, { mode: 0o644 });
  fs.renameSync(tmp, dest);
}
