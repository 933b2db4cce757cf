import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { programName, verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

/** ostree's own usage of the family: its sub-verbs, names padded to 17, and no options. */
function familyUsage(cmd: Command): string {
  const lines = cmd.commands.map((c) => `  ${c.name().padEnd(17)}${c.description()}\n`).join('');
  return `Usage:\n  ${programName()} static-delta [OPTION...] COMMAND\n\nBuiltin "static-delta" Commands:\n${lines}\n`;
}

/** ostree checks DELTA and PATH after opening the repository, with a plain error (no usage). */
function required(value: string | undefined, name: string): string {
  if (value === undefined) throw new GroveError('GROVE_USAGE', `${name} must be specified`);
  return value;
}

/**
 * `static-delta list|show|delete|apply-offline|indexes`, with ostree 2022.7's descriptions (its
 * family usage lists them). `generate`, `verify` and `reindex` are not here yet.
 */
export function registerStaticDelta(program: Command): void {
  const family = verb(program.command('static-delta').description('Static delta related commands'), { familyUsage: { text: familyUsage, noCommand: 'No command specified' } });

  withRepo(family.command('list'))
    .description('List static delta files')
    .action(async (opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const { listStaticDeltas } = await import('../../repo/static-deltas.js');
      const { deltaId } = await import('../../delta/names.js');
      const deltas = listStaticDeltas(repo);
      process.stdout.write(deltas.length === 0 ? '(No static deltas)\n' : deltas.map((d) => `${deltaId(d)}\n`).join(''));
    });

  verb(withRepo(family.command('show')), { params: '' })
    .description('Dump information on a delta')
    .argument('[delta]')
    .action(async (delta: string | undefined, opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const id = required(delta, 'DELTA');
      const { showDelta } = await import('../../delta/show.js');
      await showDelta(repo.path, id, (line) => process.stdout.write(line));
    });

  verb(withRepo(family.command('delete')), { params: '' })
    .description('Remove a delta')
    .argument('[delta]')
    .action(async (delta: string | undefined, opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const id = required(delta, 'DELTA');
      const { deleteDelta } = await import('../../delta/delete.js');
      await deleteDelta(repo, id);
    });

  verb(withRepo(family.command('apply-offline')), { params: '' })
    .description('Apply static delta file')
    .argument('[path]')
    .action(async (given: string | undefined, opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const location = required(given, 'PATH');
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
