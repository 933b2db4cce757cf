import type { Command } from 'commander';
import { Repo } from '../../repo/repo.js';
import { parseRepoMode } from '../../repo/mode.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

export function registerInit(program: Command): void {
  // ostree opens no repository before init when --repo is given; without it, init needs the default one to exist.
  verb(withRepo(program.command('init')), { repoCheck: false })
    .description('create a new repository')
    .option('--mode <mode>', 'archive, archive-z2, bare, bare-user or bare-user-only', 'bare')
    .action(async (opts: { repo?: string; mode: string }) => {
      const repoPath = opts.repo ?? (await openRepo({})).path;
      await Repo.init(repoPath, { mode: parseRepoMode(opts.mode, '--mode') });
    });
}
