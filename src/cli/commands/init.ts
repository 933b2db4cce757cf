import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { validateCollectionId } from '../../format/names.js';
import { Repo } from '../../repo/repo.js';
import { parseRepoMode } from '../../repo/mode.js';
import { withRepo } from '../repo-option.js';

export function registerInit(program: Command): void {
  withRepo(program.command('init'))
    .description('create a new repository')
    .option('--mode <mode>', 'archive, archive-z2, bare, bare-user or bare-user-only', 'bare')
    .option('--collection-id <id>', 'globally unique ID of this repository as a collection of refs (a reverse DNS name)')
    .action(async (opts: { repo?: string; mode: string; collectionId?: string }) => {
      const repoPath = opts.repo ?? process.env['OSTREE_REPO'];
      if (!repoPath) throw new GroveError('GROVE_NO_REPO', 'no repository given', { hint: 'pass --repo=PATH or set OSTREE_REPO' });
      // As ostree: the mode is checked first, then the collection ID, before anything is written.
      const mode = parseRepoMode(opts.mode, '--mode');
      if (opts.collectionId !== undefined) validateCollectionId(opts.collectionId);
      await Repo.init(repoPath, { mode, ...(opts.collectionId !== undefined && { collectionId: opts.collectionId }) });
    });
}
