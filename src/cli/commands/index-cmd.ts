import type { Command } from 'commander';
import { openRepo, withRepo } from '../repo-option.js';

export function registerIndex(program: Command): void {
  const index = program.command('index').description("manage grove's LMDB index (a cache inside the repository)");
  withRepo(index.command('rebuild'))
    .description('discard the stat cache; the next commit re-reads every file and fills it again')
    .action(async (opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const { RepoIndex } = await import('../../index/index.js');
      const idx = await RepoIndex.open(repo.path);
      try {
        await idx.clear();
      } finally {
        await idx.close();
      }
    });
}
