import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { KeyFile } from '../format/keyfile.js';
import { lexists } from './copy.js';
import { readBootEntries } from './deployments.js';
import { KernelArgs } from './kargs.js';

/**
 * The bootloader configuration written beside the Boot Loader Specification entries, chosen as
 * ostree 2022.7 chooses it: `sysroot.bootloader` in the repository config, or with `auto` (the
 * default) the first of syslinux, grub2 and U-Boot whose configuration file is present. With none
 * found, or `none`, only the BLS entries are written, which is what BLS-reading loaders
 * (systemd-boot, grub2 with blscfg) boot from.
 *
 * grove writes U-Boot's `uEnv.txt`. The grub2 and syslinux backends run or emulate those tools'
 * configuration generators, which grove does not; a sysroot that needs them is refused before
 * anything changes, rather than left with a stale menu.
 */
export type BootloaderKind = 'none' | 'uboot' | 'grub2' | 'syslinux' | 'zipl';

const KNOWN = ['auto', 'none', 'grub2', 'syslinux', 'uboot', 'zipl'];

export function repoConfig(root: string): KeyFile {
  const file = path.join(root, 'ostree/repo/config');
  try {
    return KeyFile.parse(fs.readFileSync(file, 'utf8'), file);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return new KeyFile();
    throw e;
  }
}

export function detectBootloader(root: string, config: KeyFile = repoConfig(root)): BootloaderKind {
  const configured = config.get('sysroot', 'bootloader') ?? 'auto';
  if (!KNOWN.includes(configured)) {
    throw new GroveError('GROVE_BAD_CONFIG', `${root}/ostree/repo/config: invalid sysroot.bootloader '${configured}'`, { hint: `one of: ${KNOWN.join(', ')}` });
  }
  if (configured !== 'auto') return configured as BootloaderKind;
  if (lexists(path.join(root, 'boot/syslinux/syslinux.cfg'))) return 'syslinux';
  if (lexists(path.join(root, 'boot/grub2/grub.cfg')) || lexists(path.join(root, 'boot/efi/EFI')) && fs.readdirSync(path.join(root, 'boot/efi/EFI')).some((v) => lexists(path.join(root, 'boot/efi/EFI', v, 'grub.cfg')))) return 'grub2';
  if (lexists(path.join(root, 'boot/uEnv.txt'))) return 'uboot';
  return 'none';
}

export function requireSupported(kind: BootloaderKind, root: string): void {
  if (kind === 'grub2' || kind === 'syslinux' || kind === 'zipl') {
    throw new GroveError('GROVE_UNSUPPORTED', `${root} uses the ${kind} bootloader, whose configuration grove cannot generate`, {
      hint: 'set sysroot.bootloader=none in ostree/repo/config to write only Boot Loader Specification entries, or use ostree admin',
    });
  }
}

/**
 * U-Boot's environment for boot version `v`, from the entries already written there:
 * `kernel_image`, `ramdisk_image`, `fdt_file`/`fdtdir` and `bootargs` for the default, the same
 * with suffix 2, 3, … for the others, and the default deployment's own
 * `usr/lib/ostree-boot/uEnv.txt` appended after its `bootargs`.
 */
export function ubootEnv(root: string, v: number): string {
  const lines: string[] = [];
  readBootEntries(root, v).forEach(({ file, entry }, i) => {
    const suffix = i === 0 ? '' : String(i + 1);
    const linux = entry.get('linux');
    if (linux === undefined) throw new GroveError('GROVE_BAD_SYSROOT', `${file}: no "linux" key`);
    lines.push(`kernel_image${suffix}=/boot${linux}`);
    const initrd = entry.get('initrd');
    if (initrd !== undefined) lines.push(`ramdisk_image${suffix}=/boot${initrd}`);
    const dt = entry.get('devicetree');
    if (dt !== undefined) lines.push(`fdt_file${suffix}=/boot${dt}`);
    const fdtdir = entry.get('fdtdir');
    if (fdtdir !== undefined) lines.push(`fdtdir${suffix}=/boot${fdtdir}`);
    const options = entry.get('options');
    if (options !== undefined) {
      lines.push(`bootargs${suffix}=${options}`);
      if (i === 0) {
        const ostreeArg = KernelArgs.parse(options).lastValue('ostree');
        if (typeof ostreeArg !== 'string') throw new GroveError('GROVE_BAD_SYSROOT', `${file}: no ostree= kernel argument`);
        try {
          lines.push(fs.readFileSync(path.join(root, ostreeArg.slice(1), 'usr/lib/ostree-boot/uEnv.txt'), 'utf8'));
        } catch (e) {
          if (!isErrno(e, 'ENOENT')) throw e;
        }
      }
    }
  });
  let out = '';
  let prevEmpty = false;
  lines.forEach((line, i) => {
    if (line === '') {
      if (prevEmpty || i === 0) return;
      prevEmpty = true;
    }
    out += `${line}\n`;
  });
  return out;
}
