import type { Command } from 'commander';
import { Repo } from '../repo/repo.js';

/** `--repo`, defaulting to $OSTREE_REPO as ostree does. */
export function withRepo(cmd: Command): Command {
  return cmd.option('--repo <path>', 'path to the repository (default: $OSTREE_REPO)');
}

export function openRepo(opts: { repo?: string }): Promise<Repo> {
  return Repo.open(opts.repo ?? process.env['OSTREE_REPO']);
}
