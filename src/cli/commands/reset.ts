import type { Command } from 'commander';
import { openRepo, withRepo } from '../repo-option.js';
import { UsageError, verb } from '../invocation.js';

/** `grove reset REF COMMIT`: `ostree reset`, with its messages. */
export function registerReset(program: Command): void {
  verb(withRepo(program.command('reset')), { params: 'REF COMMIT' })
    .description('point an existing ref (REF or REMOTE:REF) at COMMIT (any rev: checksum, prefix, REF, REV^)')
    .argument('[args...]', 'REF COMMIT')
    .action(async (args: string[], opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      // ostree takes the first two arguments and ignores any more.
      if (args.length < 2) throw new UsageError('A REF and COMMIT argument is required');
      const { resetRef } = await import('../../repo/reset.js');
      await resetRef(repo, args[0]!, args[1]!);
    });
}
