import type { Command } from 'commander';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

/**
 * `static-delta list|show|delete|apply-offline|indexes`, with ostree 2022.7's descriptions (its
 * family usage lists them). `generate`, `verify` and `reindex` are not here yet.
 */
export function registerStaticDelta(program: Command): void {
  const family = program.command('static-delta').description('Static delta related commands');

  withRepo(family.command('list'))
    .description('List static delta files')
    .action(async (opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const { listStaticDeltas } = await import('../../repo/static-deltas.js');
      const { deltaId } = await import('../../delta/names.js');
      const deltas = listStaticDeltas(repo);
      process.stdout.write(deltas.length === 0 ? '(No static deltas)\n' : deltas.map((d) => `${deltaId(d)}\n`).join(''));
    });

  verb(withRepo(family.command('show')), { params: '', missing: ['DELTA must be specified'] })
    .description('Dump information on a delta')
    .argument('<delta>')
    .action(async (id: string, opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const { showDelta } = await import('../../delta/show.js');
      await showDelta(repo.path, id, (line) => process.stdout.write(line));
    });

  verb(withRepo(family.command('delete')), { params: '', missing: ['DELTA must be specified'] })
    .description('Remove a delta')
    .argument('<delta>')
    .action(async (id: string, opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const { deleteDelta } = await import('../../delta/delete.js');
      await deleteDelta(repo, id);
    });

  verb(withRepo(family.command('apply-offline')), { params: '', missing: ['PATH must be specified'] })
    .description('Apply static delta file')
    .argument('<path>')
    .action(async (location: string, opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const { applyOffline } = await import('../../delta/apply-offline.js');
      await applyOffline(repo, location);
    });

  withRepo(family.command('indexes'))
    .description('List static delta indexes')
    .action(async (opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const { listDeltaIndexes } = await import('../../delta/indexes.js');
      const indexes = listDeltaIndexes(repo.path);
      process.stdout.write(indexes.length === 0 ? '(No static deltas indexes)\n' : indexes.map((c) => `${c}\n`).join(''));
    });
}
