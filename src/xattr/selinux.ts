import fs from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { resolvePath } from '../checkout/resolve-path.js';
import type { Repo } from '../repo/repo.js';
import { openContent } from '../store/read-content.js';

/**
 * SELinux labelling (`--selinux-policy`, `-P`): ostree reads the policy of a root filesystem from
 * `etc/selinux/config` (or, when `etc/selinux` is absent, `usr/etc/selinux/config`) and labels
 * files only when it has a `SELINUX=enforcing` or `SELINUX=permissive` line. Without one ostree
 * labels nothing, and neither does grove; with one grove refuses, having no SELinux library to
 * compute labels with.
 */

const enables = (config: string): boolean => config.split('\n').some((l) => /^SELINUX=(enforcing|permissive)/i.test(l) && l.startsWith('SELINUX='));

function refusal(option: string, where: string): GroveError {
  return new GroveError('GROVE_UNSUPPORTED', `${option}: ${where} has an SELinux policy, and grove cannot label files with one`);
}

/** Throws unless the root filesystem at `root` (a directory) has no policy that would label files. */
export function refuseSelinuxPolicy(root: string, option: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(root);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `opendir(${root}): No such file or directory`, { path: root });
    throw e;
  }
  if (!st.isDirectory()) throw new GroveError('GROVE_NOT_DIRECTORY', `opendir(${root}): Not a directory`, { path: root });
  const etc = fs.existsSync(path.join(root, 'etc/selinux')) ? 'etc/selinux' : 'usr/etc/selinux';
  let text: string;
  try {
    text = fs.readFileSync(path.join(root, etc, 'config'), 'utf8');
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return;
    throw e;
  }
  if (enables(text)) throw refusal(option, path.join(root, etc));
}

/** The same for a commit's `usr/etc/selinux/config` (null when it has none), named `what`. */
export function refuseSelinuxConfig(config: string | null, what: string, option: string): void {
  if (config !== null && enables(config)) throw refusal(option, what);
}

/** `-P` from a commit: ostree takes the policy from its `usr/etc/selinux`. */
export async function refuseCommitSelinuxPolicy(repo: Repo, rev: string, option: string): Promise<void> {
  const commit = await repo.loadCommit((await repo.resolveRev(rev))!);
  let entry;
  try {
    entry = await resolvePath(repo, commit, '/usr/etc/selinux/config');
  } catch (e) {
    if (e instanceof GroveError && e.code === 'GROVE_NOT_FOUND') return;
    throw e;
  }
  if (entry.kind !== 'file') return;
  const obj = await openContent(repo, entry.checksum, { xattrs: false });
  const parts: Uint8Array[] = [];
  for await (const c of obj.chunks()) parts.push(c);
  refuseSelinuxConfig(Buffer.concat(parts).toString('utf8'), `usr/etc/selinux of ${rev}`, option);
}
