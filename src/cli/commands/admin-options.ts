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
