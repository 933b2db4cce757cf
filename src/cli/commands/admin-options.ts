import type { Command } from 'commander';

export interface AdminOpts { sysroot?: string }

/** `--sysroot` may come before the subcommand (`admin --sysroot=D os-init`) or after it. */
export function sysrootOf(cmd: Command, opts: AdminOpts): string {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const v = c === cmd ? opts.sysroot : (c.opts() as AdminOpts).sysroot;
    if (v !== undefined) return v;
  }
  return '/';
}
