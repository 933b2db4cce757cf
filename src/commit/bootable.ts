import { GroveError } from '../errors.js';
import { Variant } from '../format/objects.js';
import type { DirTree } from '../format/objects.js';

/**
 * `--bootable`: what ostree 2022.7 records for a bootable commit (ostree_commit_metadata_for_bootable).
 * The tree must hold exactly one kernel, a directory `/usr/lib/modules/VERSION` containing
 * `vmlinuz`; the commit then gets `ostree.bootable` (true) and `ostree.linux` (VERSION).
 * Nothing else is checked or recorded (no initramfs, no boot checksum). `loadDirTree` reads the
 * new commit's dirtrees, which are still in the transaction.
 */
export async function bootableMetadata(loadDirTree: (checksum: string) => Promise<DirTree>, rootTree: string): Promise<Array<[string, Variant]>> {
  let tree = await loadDirTree(rootTree);
  // ostree's messages: the first missing component's path, or "Not a directory" for a file on
  // the way (ostree 2022.7 aborts on an assertion when modules itself is a file).
  let at = '';
  for (const part of ['usr', 'lib', 'modules']) {
    at += `/${part}`;
    const d = tree.dirs.find(([n]) => n === part);
    if (d === undefined) {
      throw new GroveError('GROVE_NOT_BOOTABLE', tree.files.some(([n]) => n === part) ? 'Not a directory' : `No such file or directory: ${at}`);
    }
    tree = await loadDirTree(d[1]);
  }
  let release: string | null = null;
  for (const [name, sub] of tree.dirs) {
    const t = await loadDirTree(sub);
    if (!t.files.some(([n]) => n === 'vmlinuz') && !t.dirs.some(([n]) => n === 'vmlinuz')) continue;
    if (release !== null) throw new GroveError('GROVE_NOT_BOOTABLE', 'Multiple kernels found in /usr/lib/modules');
    release = name;
  }
  if (release === null) throw new GroveError('GROVE_NOT_BOOTABLE', 'No kernel found in /usr/lib/modules');
  return [['ostree.bootable', new Variant('b', true)], ['ostree.linux', new Variant('s', release)]];
}
