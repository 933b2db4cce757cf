import type { Command } from 'commander';
import { collect } from '../parse.js';
import { openRepo, withRepo } from '../repo-option.js';
import { parseGInt, usageError, type VerbHelp } from '../ostree-usage.js';
import { verb } from '../invocation.js';

const HELP: VerbHelp = {
  verb: 'prune',
  params: '',
  summary: 'Search for unreachable objects',
  options: [
    ['--no-prune', "Only display unreachable objects; don't delete"],
    ['--refs-only', 'Only compute reachability via refs'],
    ['--depth=DEPTH', 'Only traverse DEPTH parents for each commit (default: -1=infinite)'],
    ['--delete-commit=COMMIT', 'Specify a commit to delete'],
    ['--keep-younger-than=DATE', 'Prune all commits older than the specified date'],
    ['--static-deltas-only', 'Change the behavior of delete-commit and keep-younger-than to prune only static deltas'],
    ['--retain-branch-depth=BRANCH=DEPTH', 'Additionally retain BRANCH=DEPTH commits'],
    ['--only-branch=BRANCH', 'Only prune BRANCH (may be specified multiple times)'],
    ['--commit-only', 'Only traverse and delete commit objects.'],
  ],
};

interface PruneCliOpts {
  repo?: string; refsOnly?: boolean; depth?: number; deleteCommit?: string; keepYoungerThan?: string;
  staticDeltasOnly?: boolean; retainBranchDepth?: string[]; onlyBranch?: string[]; commitOnly?: boolean;
}

/** `grove prune`: `ostree prune`, with its options, output lines and messages. */
export function registerPrune(program: Command): void {
  verb(withRepo(program.command('prune')), { params: '' })
    .description('delete objects no commit (or, with --refs-only, no ref) reaches')
    .option('--no-prune', "only display unreachable objects; don't delete")
    .option('--refs-only', 'only compute reachability via refs (heads, remotes and mirrors)')
    .option('--depth <depth>', 'only traverse DEPTH parents for each commit (default: -1=infinite)', parseGInt('--depth'))
    .option('--delete-commit <commit>', 'delete this commit first (refused while a ref names it)')
    .option('--keep-younger-than <date>', 'prune each ref\'s commits older than DATE (as date -d reads it)')
    .option('--static-deltas-only', 'with --delete-commit: delete only the static deltas to the commit')
    .option('--retain-branch-depth <branch=depth>', 'additionally retain DEPTH parents of BRANCH (repeatable)', collect)
    .option('--only-branch <branch>', 'only prune BRANCH (repeatable)', collect)
    .option('--commit-only', 'only traverse and delete commit objects')
    .allowExcessArguments(true)
    .action(async (opts: PruneCliOpts & { prune?: boolean }) => {
      // commander's --no-X form makes `prune` a boolean defaulting to true; ostree's flag is --no-prune.
      const noPrune = opts.prune === false;
      const repo = await openRepo(opts);
      if (opts.deleteCommit !== undefined && noPrune) throw usageError(HELP, 'Cannot specify both --delete-commit and --no-prune');
      const { pruneRepo } = await import('../../repo/prune.js');
      const { formatSize } = await import('../../format/size.js');
      const r = await pruneRepo(repo, {
        refsOnly: opts.refsOnly === true,
        noPrune,
        commitOnly: opts.commitOnly === true,
        staticDeltasOnly: opts.staticDeltasOnly === true,
        ...(opts.depth !== undefined && { depth: opts.depth }),
        ...(opts.deleteCommit !== undefined && { deleteCommit: opts.deleteCommit }),
        ...(opts.keepYoungerThan !== undefined && { keepYoungerThan: opts.keepYoungerThan }),
        ...(opts.retainBranchDepth !== undefined && { retainBranchDepth: opts.retainBranchDepth }),
        ...(opts.onlyBranch !== undefined && { onlyBranches: opts.onlyBranch }),
      });
      let out = opts.commitOnly ? `Total (commit only) objects: ${r.total}\n` : `Total objects: ${r.total}\n`;
      if (r.pruned === 0) out += 'No unreachable objects\n';
      else if (noPrune) out += `Would delete: ${r.pruned} objects, freeing ${formatSize(r.freedBytes)}\n`;
      else out += `Deleted ${r.pruned} objects, ${formatSize(r.freedBytes)} freed\n`;
      process.stdout.write(out);
    });
}
