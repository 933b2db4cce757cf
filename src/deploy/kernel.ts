import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';

/**
 * Where a deployed tree keeps its kernel, found the way ostree 2022.7 finds it, and the boot
 * checksum that names its copy in `/boot/ostree/OS-BOOTCSUM/`:
 * - `usr/lib/modules/KVER/vmlinuz` (the first such directory the file system lists), with an
 *   optional `initramfs.img` or `initramfs`, `devicetree` or `dtb/`, and `.vmlinuz.hmac`; the
 *   boot checksum is SHA-256 over the kernel, initramfs and device tree bytes in that order;
 * - or the legacy layouts, `usr/lib/ostree-boot/` or else `boot/`, whose `vmlinuz-KVER-CSUM`
 *   and `initramfs-KVER-CSUM` carry the checksum in their names.
 * The legacy layout wins only when it has an initramfs and the modules layout does not.
 */
export interface KernelLayout {
  /** Absolute directory the files below are relative to. */
  dir: string;
  kernel: { src: string; dest: string };
  initramfs: { src: string; dest: string } | null;
  /** A single device tree file, or a whole `dtb` directory (`dest` null). */
  devicetree: { src: string; dest: string | null } | null;
  hmac: { src: string; dest: string } | null;
  bootcsum: string;
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return null;
    throw e;
  }
}

/** Directory entries in the file system's own order, as ostree meets them (readdir sorts). */
function rawEntries(dir: string): fs.Dirent[] {
  const d = fs.opendirSync(dir);
  const out: fs.Dirent[] = [];
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) out.push(e);
  } finally {
    d.closeSync();
  }
  return out;
}

/**
 * Feeds a file to `h` a mebibyte at a time. A kernel and initramfs are tens of megabytes: read
 * whole, each cost an allocation of its size and its garbage collection (deploy of minbase with
 * a 30 MB initramfs, 2-core Xeon VM: the reads and hashing took 130 ms of the main thread).
 */
function hashFile(h: crypto.Hash, file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n = fs.readSync(fd, buf); n > 0; n = fs.readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
}

/** The files under a `dtb` directory in the order ostree hashes them: names sorted, depth first. */
function filesRecursive(dir: string, out: string[]): string[] {
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    const st = fs.lstatSync(p);
    if (st.isDirectory()) filesRecursive(p, out);
    else if (statOrNull(p)) out.push(p);
  }
  return out;
}

/**
 * The files whose bytes, in this order, make a modules layout's boot checksum: the kernel, the
 * initramfs, the device tree (or every file below `dtb/`).
 */
export function bootChecksumInputs(layout: KernelLayout): string[] {
  const files = [path.join(layout.dir, layout.kernel.src)];
  if (layout.initramfs) files.push(path.join(layout.dir, layout.initramfs.src));
  if (layout.devicetree?.dest === null) filesRecursive(path.join(layout.dir, layout.devicetree.src), files);
  else if (layout.devicetree) files.push(path.join(layout.dir, layout.devicetree.src));
  return files;
}

/** A pool task: {@link hashFiles} on a worker thread. */
export interface HashFilesTask { kind: 'hash-files'; files: string[] }

/** SHA-256 over the files' bytes one after the other, in hex. */
export function hashFiles(files: readonly string[]): string {
  const h = crypto.createHash('sha256');
  for (const f of files) hashFile(h, f);
  return h.digest('hex');
}

function fromModules(root: string, hash: boolean): KernelLayout | null {
  const modules = path.join(root, 'usr/lib/modules');
  let names: fs.Dirent[];
  try {
    names = rawEntries(modules);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return null;
    throw e;
  }
  for (const d of names) {
    if (!d.isDirectory()) continue;
    const dir = path.join(modules, d.name);
    if (!statOrNull(path.join(dir, 'vmlinuz'))?.isFile()) continue;
    const kver = d.name;
    let initramfs: KernelLayout['initramfs'] = null;
    for (const name of ['initramfs.img', 'initramfs']) {
      if (statOrNull(path.join(dir, name))) {
        initramfs = { src: name, dest: `initramfs-${kver}.img` };
        break;
      }
    }
    let devicetree: KernelLayout['devicetree'] = null;
    if (statOrNull(path.join(dir, 'devicetree'))) devicetree = { src: 'devicetree', dest: `devicetree-${kver}` };
    else if (statOrNull(path.join(dir, 'dtb'))?.isDirectory()) devicetree = { src: 'dtb', dest: null };
    const hmac = statOrNull(path.join(dir, '.vmlinuz.hmac')) ? { src: '.vmlinuz.hmac', dest: `.vmlinuz-${kver}.hmac` } : null;
    const layout: KernelLayout = { dir, kernel: { src: 'vmlinuz', dest: `vmlinuz-${kver}` }, initramfs, devicetree, hmac, bootcsum: '' };
    // Reading a kernel and initramfs (tens of MB) only to hash them is skipped when the caller
    // knows the boot checksum already, or hashes them elsewhere (bootChecksumInputs).
    if (hash) layout.bootcsum = hashFiles(bootChecksumInputs(layout));
    return layout;
  }
  return null;
}

function fromLegacy(root: string): KernelLayout | null {
  let dir: string | null = null;
  for (const rel of ['usr/lib/ostree-boot', 'boot']) {
    if (statOrNull(path.join(root, rel))?.isDirectory()) {
      dir = path.join(root, rel);
      break;
    }
  }
  if (dir === null) return null;
  const found: Record<'vmlinuz' | 'initramfs' | 'devicetree', { src: string; dest: string; csum: string } | null> = { vmlinuz: null, initramfs: null, devicetree: null };
  for (const { name } of rawEntries(dir)) {
    for (const kind of ['vmlinuz', 'initramfs', 'devicetree'] as const) {
      if (found[kind] || !name.startsWith(`${kind}-`)) continue;
      const dash = name.lastIndexOf('-');
      const csum = name.slice(dash + 1);
      if (/^[0-9a-f]{64}$/.test(csum)) found[kind] = { src: name, dest: name.slice(0, dash), csum };
      break;
    }
    if (found.vmlinuz && found.initramfs && found.devicetree) break;
  }
  const k = found.vmlinuz;
  if (!k) return null;
  if (found.initramfs && found.initramfs.csum !== k.csum) throw new GroveError('GROVE_BAD_TREE', `${dir}: the kernel and initramfs checksums in their names differ`);
  if (found.devicetree && found.devicetree.csum !== k.csum) throw new GroveError('GROVE_BAD_TREE', `${dir}: the kernel and device tree checksums in their names differ`);
  return {
    dir,
    kernel: { src: k.src, dest: k.dest },
    initramfs: found.initramfs && { src: found.initramfs.src, dest: found.initramfs.dest },
    devicetree: found.devicetree && { src: found.devicetree.src, dest: found.devicetree.dest },
    hmac: null,
    bootcsum: k.csum,
  };
}

/**
 * The kernel of the tree checked out at `root`; an error naming the places looked in if none.
 * With `hash: false` the modules layout's `bootcsum` is left empty (the legacy layout's is in
 * the file names).
 */
export function findKernel(root: string, commit: string, opts: { hash?: boolean } = {}): KernelLayout {
  const modules = fromModules(root, opts.hash !== false);
  const legacy = fromLegacy(root);
  if (legacy && (!modules || (modules.initramfs === null && legacy.initramfs !== null))) return legacy;
  if (modules) return modules;
  throw new GroveError('GROVE_NO_KERNEL', `commit ${commit} has no kernel: nothing in /usr/lib/modules/*/vmlinuz, /usr/lib/ostree-boot or /boot`, {
    hint: 'a bootable tree needs usr/lib/modules/KVER/vmlinuz (and usually initramfs.img beside it)',
  });
}
