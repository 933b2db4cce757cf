import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { listRefs, writeRef } from '../../repo/refs.js';
import { openRepo, withRepo } from '../repo-option.js';

export function registerRefs(program: Command): void {
  withRepo(program.command('refs'))
    .description('list, create or delete refs')
    .argument('[prefix...]', 'list only refs under these prefixes; with --delete, the refs to delete')
    .option('--create <newref>', 'create NEWREF pointing at the commit the (one) argument names')
    .option('--delete', 'delete the named refs')
    .action(async (args: string[], opts: { repo?: string; create?: string; delete?: boolean }) => {
      const repo = await openRepo(opts);
      if (opts.create !== undefined) {
        if (args.length !== 1) throw new GroveError('GROVE_BAD_OPTION', '--create needs exactly one existing ref or checksum argument');
        const csum = (await repo.resolveRev(args[0]!))!;
        if ((await repo.resolveRev(opts.create, { allowMissing: true })) !== null && !/^[0-9a-f]{64}$/.test(opts.create)) {
          throw new GroveError('GROVE_EXISTS', `ref '${opts.create}' already exists`);
        }
        await writeRef(repo.path, opts.create, csum);
        return;
      }
      if (opts.delete) {
        if (args.length === 0) throw new GroveError('GROVE_BAD_OPTION', '--delete needs at least one ref');
        for (const ref of args) await writeRef(repo.path, ref, null);
        return;
      }
      const all = await listRefs(repo.path);
      const names = [...all.keys()].filter((n) => args.length === 0 || args.some((p) => n === p || n.startsWith(p.endsWith('/') ? p : `${p}/`)));
      process.stdout.write(names.map((n) => `${n}\n`).join(''));
    });

  withRepo(program.command('rev-parse'))
    .description('print the commit checksum a ref names')
    .argument('<rev>', 'ref, REMOTE:REF, checksum, optionally followed by ^ for parents')
    .action(async (rev: string, opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      process.stdout.write(`${await repo.resolveRev(rev)}\n`);
    });
}
