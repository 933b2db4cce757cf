import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { openRepo, withRepo } from '../repo-option.js';
import { ProgressLine } from '../progress.js';

interface PushOpts { repo?: string; token?: string; force?: boolean; json?: boolean; parallel?: string; networkRetries?: string }

const short = (c: string | null): string => (c === null ? '(none)' : c.slice(0, 12));

export function registerPush(program: Command): void {
  withRepo(program.command('push'))
    .description('publish commits to a receiving grove server (grove serve --receive): upload what it lacks, then move each ref compare-and-swap')
    .argument('<remote>', 'a configured remote, or the server URL')
    .argument('[refs...]', 'local refs to push (default: every ref)')
    .option('--token <token>', "bearer token (default: $GROVE_PUSH_TOKEN, else the remote's push-token option)")
    .option('--force', 'move each ref to the pushed commit whatever the server has, even a commit another builder pushed meanwhile (it is replaced)')
    .option('--parallel <n>', 'upload requests in flight (default: 4)')
    .option('--network-retries <n>', 'times each request is retried after a network error or a busy server (default: 5)')
    .option('--json', 'print the result as JSON')
    .action(async (remote: string, refs: string[], opts: PushOpts) => {
      const retries = opts.networkRetries === undefined ? 5 : Number(opts.networkRetries);
      if (!Number.isInteger(retries) || retries < 0 || retries > 100) throw new GroveError('GROVE_BAD_OPTION', `--network-retries: '${opts.networkRetries}' is not a number from 0 to 100`);
      const parallel = opts.parallel === undefined ? 4 : Number(opts.parallel);
      if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64) throw new GroveError('GROVE_BAD_OPTION', `--parallel: '${opts.parallel}' is not a number from 1 to 64`);
      const { pushTo } = await import('../../push/push.js');
      const repo = await openRepo(opts);
      const line = new ProgressLine();
      let result;
      try {
        result = await pushTo(repo, remote, {
          refs, parallel, retries,
          ...(opts.token !== undefined && { token: opts.token }),
          ...(opts.force && { force: true }),
          onProgress: (p) => line.show(() => `push: ${p.objects}/${p.objectsToSend} objects, ${(p.bytesSent / 1e6).toFixed(1)} MB sent`),
        });
      } finally {
        line.done();
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        for (const r of result.refs) {
          if (r.status === 'moved') process.stdout.write(`${r.ref}: ${short(r.server)} -> ${short(r.commit)}\n`);
          else if (r.status === 'unchanged') process.stdout.write(`${r.ref}: ${short(r.commit)} (unchanged)\n`);
        }
        const { objects: o } = result;
        process.stdout.write(`${o.sent} of ${o.offered} objects sent (${o.offered - o.missing} on the server already); ${(result.bytesSent / 1e6).toFixed(1)} MB in ${result.seconds.toFixed(1)} s\n`);
      }
      const refused = result.refs.filter((r) => r.status === 'refused');
      for (const r of refused) process.stderr.write(`error: ${r.message ?? `${r.ref}: refused`}\n`);
      if (refused.length > 0) process.exitCode = 1;
    });
}
