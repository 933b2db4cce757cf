import type { Command } from 'commander';

export interface AdminOpts { sysroot?: string }

/** `--sysroot`, an option of `admin` itself (as in ostree), read from the verb's parents; default `/`. */
export function sysrootOf(cmd: Command, opts: AdminOpts): string {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const v = c === cmd ? opts.sysroot : (c.opts() as AdminOpts).sysroot;
    if (v !== undefined) return v;
  }
  return '/';
}

/**
 * The sysroot of a verb that changes it. ostree opens the sysroot and takes its lock before it
 * loads anything, so a sysroot without `ostree/` fails there, in those words, before any
 * `loading sysroot:` error; the library takes the lock itself where it writes.
 */
export async function writableSysrootOf(cmd: Command, opts: AdminOpts): Promise<string> {
  const sysroot = sysrootOf(cmd, opts);
  const { checkLockable, openSysroot } = await import('../../deploy/sysroot-read.js');
  checkLockable(openSysroot(sysroot));
  return sysroot;
}
