import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { openRepo, withRepo } from '../repo-option.js';

interface FsckOpts {
  repo?: string;
  quiet?: boolean;
  json?: boolean;
  all?: boolean;
  delete?: boolean;
  addTombstones?: boolean;
  verifyBindings?: boolean;
  verifyBackRefs?: boolean;
}

export function registerFsck(program: Command): void {
  withRepo(program.command('fsck'))
    .description('check the repository for consistency, as ostree fsck')
    .option('--add-tombstones', 'add tombstones for missing commits')
    .option('-q, --quiet', 'only print error messages')
    .option('-a, --all', "don't stop on first error")
    .option('--delete', 'remove corrupted objects')
    .option('--verify-bindings', 'verify ref bindings')
    .option('--verify-back-refs', 'verify back-references (implies --verify-bindings)')
    .option('--json', 'print the result as JSON instead of the text')
    .action(async (opts: FsckOpts) => {
      const repo = await openRepo(opts);
      const { fsckRepo } = await import('../../fsck/fsck.js');
      const out = (l: string) => process.stdout.write(`${l}\n`);
      const res = await fsckRepo(repo, {
        ...(!opts.json && { log: out, progress: !process.stdout.isTTY }),
        warn: (l) => process.stderr.write(`${l}\n`),
        quiet: opts.quiet === true,
        stopAtFirst: !opts.all && !opts.delete,
        delete: opts.delete === true,
        addTombstones: opts.addTombstones === true,
        verifyBindings: opts.verifyBindings === true,
        verifyBackRefs: opts.verifyBackRefs === true,
      });
      if (opts.json) out(JSON.stringify(res));
      if (res.failure !== null) throw new GroveError('GROVE_FSCK_FAILED', res.failure);
    });
}
