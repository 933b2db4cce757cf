import type { Command } from 'commander';
import { openRepo, withRepo } from '../repo-option.js';

export function registerIndex(program: Command): void {
  const index = program.command('index').description("manage grove's LMDB index (a cache inside the repository)");
  withRepo(index.command('rebuild'))
    .description('discard the index and refill its object catalogue and directory listings from the object store; the next commit refills the stat cache')
    .action(async (opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const { RepoIndex } = await import('../../index/index.js');
      const { fillCatalogue } = await import('../../index/catalogue.js');
      const idx = await RepoIndex.open(repo.path);
      try {
        await idx.clear();
        const n = await fillCatalogue(idx, repo);
        process.stdout.write(`catalogued ${n.objects} content objects and ${n.trees} directory listings\n`);
      } finally {
        await idx.close();
      }
    });
}
