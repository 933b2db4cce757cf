import type { Command } from 'commander';
import { validateCollectionId } from '../../format/names.js';
import { Repo } from '../../repo/repo.js';
import { parseRepoMode } from '../../repo/mode.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

export function registerInit(program: Command): void {
  // ostree opens no repository before init when --repo is given; without it, init needs the default one to exist.
  verb(withRepo(program.command('init')), { repoCheck: false })
    .description('create a new repository')
    .option('--mode <mode>', 'archive, archive-z2, bare, bare-user or bare-user-only', 'bare')
    .option('--collection-id <id>', 'globally unique ID of this repository as a collection of refs (a reverse DNS name)')
    .action(async (opts: { repo?: string; mode: string; collectionId?: string }) => {
      const repoPath = opts.repo ?? (await openRepo({})).path;
      // As ostree: the mode is checked first, then the collection ID, before anything is written.
      const mode = parseRepoMode(opts.mode, '--mode');
      if (opts.collectionId !== undefined) validateCollectionId(opts.collectionId);
      await Repo.init(repoPath, { mode, ...(opts.collectionId !== undefined && { collectionId: opts.collectionId }) });
    });
}
