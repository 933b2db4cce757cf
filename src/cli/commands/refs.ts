import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { listRefs, listRefsUnder, updateRefs } from '../../repo/refs.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

interface RefsOpts { repo?: string; create?: string; delete?: boolean; list?: boolean; force?: boolean }

export function registerRefs(program: Command): void {
  verb(withRepo(program.command('refs')), { params: '[PREFIX]' })
    .description('list, create or delete refs')
    .argument('[prefix...]', 'list refs under PREFIX (REF-PREFIX, REMOTE: or REMOTE:REF-PREFIX), named relative to it')
    .option('--list', 'do not remove the prefix from listed refs')
    .option('--create <newref>', 'create NEWREF pointing at the commit the one argument names')
    .option('--force', 'with --create, replace an existing ref')
    .option('--delete', 'delete the refs under each PREFIX')
    .action(async (args: string[], opts: RefsOpts) => {
      const repo = await openRepo(opts);
      if (opts.create !== undefined) {
        if (args.length === 0) throw new GroveError('GROVE_BAD_OPTION', 'You must specify a revision when creating a new ref');
        if (args.length > 1) throw new GroveError('GROVE_BAD_OPTION', 'You must specify only 1 existing ref when creating a new ref');
        const csum = (await repo.resolveRev(args[0]!))!;
        if (!opts.force && (await repo.resolveRev(opts.create, { allowMissing: true })) !== null) {
          throw new GroveError('GROVE_EXISTS', `--create specified but ref ${opts.create} already exists`, { hint: 'use --force to replace it' });
        }
        // A checksum resolves to itself: updateRefs refuses it, under the lock, if the commit is not there.
        await updateRefs(repo, [[opts.create, csum]]);
        return;
      }
      if (opts.delete) {
        if (args.length === 0) throw new GroveError('GROVE_BAD_OPTION', 'At least one PREFIX is required when deleting refs');
        const doomed = new Set<string>();
        for (const prefix of args) {
          for (const { refspec } of (await listRefsUnder(repo.path, prefix)).values()) doomed.add(refspec);
        }
        await updateRefs(repo, [...doomed].map((refspec) => [refspec, null] as const));
        return;
      }
      const names: string[] = [];
      if (args.length === 0) names.push(...(await listRefs(repo.path)).keys());
      for (const prefix of args) names.push(...(await listRefsUnder(repo.path, prefix, { keepPrefix: opts.list === true })).keys());
      process.stdout.write(names.map((n) => `${n}\n`).join(''));
    });

  verb(withRepo(program.command('rev-parse')), { params: 'REV' })
    .description('print the commit checksum each ref names')
    .argument('<rev...>', 'ref, REMOTE:REF, checksum, optionally followed by ^ for parents')
    .action(async (revs: string[], opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      // As ostree: each one printed as it resolves, the first that does not ends the command.
      for (const rev of revs) process.stdout.write(`${await repo.resolveRev(rev)}\n`);
    });
}
