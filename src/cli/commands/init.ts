import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { Repo } from '../../repo/repo.js';
import { parseRepoMode } from '../../repo/mode.js';
import { withRepo } from '../repo-option.js';

export function registerInit(program: Command): void {
  withRepo(program.command('init'))
    .description('create a new repository')
    .option('--mode <mode>', 'archive, archive-z2, bare, bare-user or bare-user-only', 'bare')
    .action(async (opts: { repo?: string; mode: string }) => {
      const repoPath = opts.repo ?? process.env['OSTREE_REPO'];
      if (!repoPath) throw new GroveError('GROVE_NO_REPO', 'no repository given', { hint: 'pass --repo=PATH or set OSTREE_REPO' });
      await Repo.init(repoPath, { mode: parseRepoMode(opts.mode, '--mode') });
    });
}
