import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';
import { describeCheckoutProgress, ProgressLine } from '../progress.js';

interface Opts {
  repo?: string;
  userMode?: boolean;
  requireHardlinks?: boolean;
  forceCopy?: boolean;
  union?: boolean;
  unionAdd?: boolean;
  subpath?: string;
  whiteouts?: boolean;
  json?: boolean;
}

export function registerCheckout(program: Command): void {
  verb(withRepo(program.command('checkout')), { params: 'COMMIT [DESTINATION]', missing: ['COMMIT must be specified'] })
    .description('check out a commit into a new directory')
    .argument('<rev>', 'ref or commit checksum')
    .argument('[destination]', 'directory to create (default: the ref name)')
    .option('-U, --user-mode', 'do not change file ownership; hardlink from bare-user repositories')
    .option('-H, --require-hardlinks', 'fail rather than copy when a file cannot be hardlinked')
    .option('-C, --force-copy', 'never hardlink, always copy')
    .option('--union', 'check out over an existing tree, replacing files')
    .option('--union-add', 'check out over an existing tree, keeping existing files')
    .option('--subpath <path>', 'check out only this path of the commit')
    .option('--whiteouts', 'process .wh.NAME files as deletions of NAME')
    .option('--json', 'print statistics as JSON')
    .action(async (rev: string, dest: string | undefined, opts: Opts) => {
      if (opts.union && opts.unionAdd) throw new GroveError('GROVE_BAD_OPTION', 'use only one of --union and --union-add');
      if (opts.forceCopy && opts.requireHardlinks) throw new GroveError('GROVE_BAD_OPTION', 'use only one of -C and -H');
      const repo = await openRepo(opts);
      const { checkoutTree } = await import('../../checkout/checkout.js');
      const progress = new ProgressLine(opts.json ? false : undefined);
      const stats = await checkoutTree(repo, rev, dest ?? rev, {
        onProgress: (p) => progress.show(() => describeCheckoutProgress(p, progress.seconds)),
        userMode: opts.userMode === true,
        requireHardlink: opts.requireHardlinks === true,
        forceCopy: opts.forceCopy === true,
        overwrite: opts.union ? 'union' : opts.unionAdd ? 'add' : 'none',
        ...(opts.subpath !== undefined && { subpath: opts.subpath }),
        whiteouts: opts.whiteouts === true,
      });
      progress.done();
      if (opts.json) process.stdout.write(`${JSON.stringify(stats)}\n`);
    });
}
