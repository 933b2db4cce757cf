import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { openRepo, withRepo } from '../repo-option.js';

export function registerFsck(program: Command): void {
  withRepo(program.command('fsck'))
    .description('check every object and commit of the repository')
    .option('-q, --quiet', 'print only problems')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { repo?: string; quiet?: boolean; json?: boolean }) => {
      const repo = await openRepo(opts);
      const log = opts.quiet || opts.json ? undefined : (l: string) => process.stdout.write(`${l}\n`);
      const { fsckRepo } = await import('../../fsck/fsck.js');
      const res = await fsckRepo(repo, log ? { log } : {});
      if (opts.json) process.stdout.write(`${JSON.stringify(res)}\n`);
      for (const p of res.problems) process.stderr.write(`error: ${p.message}\n`);
      if (res.problems.length > 0) {
        throw new GroveError('GROVE_FSCK_FAILED', `fsck found ${res.problems.length} corrupt or missing object(s) in ${repo.path}`);
      }
      log?.(`object fsck of ${res.commits} commits completed successfully - no errors found.`);
    });
}
