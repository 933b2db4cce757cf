import type { Command } from 'commander';
import type { Repo } from '../../repo/repo.js';
import { openRepo, withRepo } from '../repo-option.js';
import { parseGInt, usageError, type VerbHelp } from '../ostree-usage.js';
import { verb } from '../invocation.js';

const HELP: VerbHelp = {
  verb: 'diff',
  params: 'REV_OR_DIR REV_OR_DIR',
  summary: 'Compare directory TARGETDIR against revision REV',
  options: [
    ['--stats', 'Print various statistics'],
    ['--fs-diff', 'Print filesystem diff'],
    ['--no-xattrs', 'Skip output of extended attributes'],
    ['--owner-uid=UID', 'Use file ownership user id for local files'],
    ['--owner-gid=GID', 'Use file ownership group id for local files'],
  ],
};

interface DiffCliOpts { repo?: string; stats?: boolean; fsDiff?: boolean; xattrs?: boolean; ownerUid?: number; ownerGid?: number }

/** `grove diff [REV_OR_DIR] REV_OR_DIR`: `ostree diff`, its `M`/`D`/`A` lines and `--stats`. */
export function registerDiff(program: Command): void {
  verb(withRepo(program.command('diff')), { params: 'REV_OR_DIR REV_OR_DIR' })
    .description('list what differs between two commits or directories (one REV: its parent and it)')
    .argument('[rev-or-dir...]', 'a commit (any rev) or a directory (starting with / or ./); one REV means REV^ REV')
    .option('--stats', 'print object counts and the size of what the two commits share')
    .option('--fs-diff', 'print the filesystem diff (the default without --stats)')
    .option('--no-xattrs', 'skip extended attributes of files on disk')
    .option('--owner-uid <uid>', 'take files on disk of the second tree as owned by UID', parseGInt('--owner-uid'))
    .option('--owner-gid <gid>', 'take files on disk of the second tree as owned by GID', parseGInt('--owner-gid'))
    .action(async (args: string[], opts: DiffCliOpts) => {
      const repo: Repo = await openRepo(opts);
      if (args.length === 0) throw usageError(HELP, 'REV must be specified');
      const { diffSide, diffStats, diffTrees, formatDiff } = await import('../../inspect/diff.js');
      const [src, target] = args.length === 1 ? [`${args[0]!}^`, args[0]!] : [args[0]!, args[1]!];
      if (opts.fsDiff || !opts.stats) {
        const a = await diffSide(repo, src);
        const b = await diffSide(repo, target);
        const r = await diffTrees(repo, a, b, {
          xattrs: opts.xattrs !== false,
          // ostree's -1 (the default) means the file's own owner.
          ...(opts.ownerUid !== undefined && opts.ownerUid >= 0 && { ownerUid: opts.ownerUid }),
          ...(opts.ownerGid !== undefined && opts.ownerGid >= 0 && { ownerGid: opts.ownerGid }),
        });
        process.stdout.write(formatDiff(a, b, r));
      }
      if (opts.stats) {
        const s = await diffStats(repo, src, target);
        const { formatSize } = await import('../../format/size.js');
        process.stdout.write(`[A] Object Count: ${s.a}\n[B] Object Count: ${s.b}\nCommon Object Count: ${s.common}\nCommon Object Size: ${formatSize(s.commonBytes)}\n`);
      }
    });
}
