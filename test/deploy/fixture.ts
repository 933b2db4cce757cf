import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { ostree, tempDir } from '../helpers.js';

/**
 * Sysroots for the deploy tests: twins `g` (for grove) and `o` (for ostree) made by ostree
 * admin, and OS trees committed once with the real ostree into `o` and copied into `g`, so both
 * tools deploy the very same commits and their results can be compared byte for byte.
 */
export interface Twins { g: string; o: string; work: string }

export function makeTwins(dir: string, osnames: string[] = ['debian']): Twins {
  const t = { g: path.join(dir, 'g'), o: path.join(dir, 'o'), work: path.join(dir, 'work') };
  for (const s of [t.g, t.o]) {
    fs.mkdirSync(s, { recursive: true });
    ostree(['admin', 'init-fs', s]);
    for (const os of osnames) ostree(['admin', `--sysroot=${s}`, 'os-init', os]);
  }
  fs.mkdirSync(t.work, { recursive: true });
  return t;
}

export interface TreeSpec {
  /** Files under usr/etc (the defaults). */
  etc?: Record<string, string>;
  /** Where the kernel lives. */
  layout?: 'modules' | 'modules-no-initramfs' | 'modules-devicetree' | 'legacy' | 'none';
  kernel?: string;
  osRelease?: string;
  /** Extra files anywhere in the tree. */
  files?: Record<string, string>;
}

export const KVER = '6.1.0-test';

export function writeTree(root: string, spec: TreeSpec): void {
  fs.rmSync(root, { recursive: true, force: true });
  const put = (rel: string, data: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), data);
  };
  const kernel = spec.kernel ?? 'kernel\n';
  const layout = spec.layout ?? 'modules';
  fs.mkdirSync(path.join(root, 'boot'), { recursive: true });
  if (layout.startsWith('modules')) {
    put(`usr/lib/modules/${KVER}/vmlinuz`, kernel);
    if (layout !== 'modules-no-initramfs') put(`usr/lib/modules/${KVER}/initramfs.img`, 'initrd\n');
    if (layout === 'modules-devicetree') put(`usr/lib/modules/${KVER}/devicetree`, 'dtb\n');
  } else if (layout === 'legacy') {
    const csum = 'a'.repeat(64);
    put(`usr/lib/ostree-boot/vmlinuz-${KVER}-${csum}`, kernel);
    put(`usr/lib/ostree-boot/initramfs-${KVER}.img-${csum}`, 'initrd\n');
  }
  put('usr/lib/os-release', spec.osRelease ?? 'PRETTY_NAME="Test OS"\nID=test\n');
  for (const [rel, data] of Object.entries(spec.etc ?? { hostname: 'box\n' })) put(`usr/etc/${rel}`, data);
  for (const [rel, data] of Object.entries(spec.files ?? {})) put(rel, data);
  put('usr/bin/tool', '#!/bin/sh\n');
}

let stamp = 1_700_000_000;

/** Commits `tree` to `ref` in o's repository with the real ostree, then copies it into g's. */
export function commitBoth(t: Twins, tree: string, ref: string, version: string): string {
  const repoO = path.join(t.o, 'ostree/repo');
  stamp += 3600;
  ostree(['commit', `--repo=${repoO}`, '-b', ref, `--add-metadata-string=version=${version}`, `--tree=dir=${tree}`, `--timestamp=@${stamp}`, '--owner-uid=0', '--owner-gid=0']);
  ostree(['pull-local', `--repo=${path.join(t.g, 'ostree/repo')}`, repoO, ref]);
  return ostree(['rev-parse', `--repo=${repoO}`, ref]).stdout.trim();
}

/**
 * Everything under a sysroot as `path type mode uid gid [target|content]` lines, minus what the
 * two tools legitimately differ in: repository objects and scratch space (the same objects by
 * construction) and ostree's SELinux relabel stamp (grove does no SELinux).
 */
export function describeSysroot(root: string): string[] {
  const out: string[] = [];
  const skip = (rel: string) => /^ostree\/repo\/(objects|tmp|\.lock|grove|state)/.test(rel) || rel.endsWith('var/.ostree-selabeled');
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      const p = path.join(dir, name);
      const st = fs.lstatSync(p);
      let line = `${r} ${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) line += ` -> ${fs.readlinkSync(p)}`;
      else if (st.isFile()) line += ` ${JSON.stringify(fs.readFileSync(p, 'utf8'))}`;
      out.push(line);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(root, '');
  return out;
}

/** ostree makes deployments immutable; clear that so temp directories can be removed. */
export function unlockDeployments(dir: string): void {
  spawnSync('sh', ['-c', `find ${JSON.stringify(dir)} -maxdepth 8 -path '*/ostree/deploy/*/deploy/*' -type d -prune -exec chattr -i {} + 2>/dev/null`]);
}

/** ostree's stdout minus its SELinux line, for comparing what the two tools print. */
export function ostreeStdout(s: string): string {
  return s.split('\n').filter((l) => !l.startsWith('Relabeling /var')).join('\n');
}

/** The path of the deployment at `index`, from a sysroot's status as JSON. */
export function deploymentPath(root: string, checksum: string, serial: number, os = 'debian'): string {
  return path.join(root, 'ostree/deploy', os, 'deploy', `${checksum}.${serial}`);
}

/**
 * A temp directory for a suite of sysroot tests: made before, removed after, with the immutable
 * flag ostree and grove put on deployments cleared first.
 */
export function sysrootTemp(prefix: string): { readonly dir: string } {
  let tmp: { dir: string; cleanup: () => Promise<void> } | undefined;
  before(async () => { tmp = await tempDir(prefix); });
  after(async () => {
    if (!tmp) return;
    unlockDeployments(tmp.dir);
    await tmp.cleanup();
  });
  return { get dir() { return tmp!.dir; } };
}
