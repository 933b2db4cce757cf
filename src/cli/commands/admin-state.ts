import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { UsageError, verb } from '../invocation.js';
import { parseGInt } from '../parse.js';
import { sysrootOf, writableSysrootOf, type AdminOpts } from './admin-options.js';
import { printTransaction } from './admin-deploy.js';

/** The admin verbs about one deployment's state: its /etc changes, its origin, an unlocked /usr. */

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerStateVerbs(admin: Command): void {
  verb(admin.command('config-diff'), { params: '' })
    .description('list how the deployment\'s /etc differs from its defaults in /usr/etc')
    .option('--os <osname>', 'the merge deployment of this stateroot instead of the booted deployment')
    .action(async function (this: Command, opts: AdminOpts & { os?: string }) {
      const { configDiff } = await import('../../deploy/config-diff.js');
      process.stdout.write(await configDiff(sysrootOf(this, opts), opts.os));
    });

  verb(admin.command('set-origin'), { params: 'REMOTENAME URL [BRANCH]', loadsSysroot: 'locked' })
    .description('follow BRANCH (default: the same ref) of remote REMOTENAME, added with URL if it is new')
    .argument('[remote]', 'the remote to follow')
    .argument('[url]', 'its URL, used when the remote is added')
    .argument('[branch]', 'the ref to follow (default: the ref the origin names now)')
    .option('-s, --set <key=value>', 'set an option of the remote when it is added (repeatable)', collect)
    .option('--index <index>', 'change the deployment at INDEX (default: the booted one)', parseGInt('--index'))
    .action(async function (this: Command, remote: string | undefined, url: string | undefined, branch: string | undefined, opts: AdminOpts & { set?: string[]; index?: number }) {
      if (remote === undefined || url === undefined) throw new UsageError('REMOTENAME and URL must be specified');
      const set = (opts.set ?? []).map((kv): [string, string] => {
        const eq = kv.indexOf('=');
        if (eq < 0) throw new GroveError('GROVE_BAD_OPTION', "Missing '=' in KEY=VALUE for --set");
        return [kv.slice(0, eq), kv.slice(eq + 1)];
      });
      const { setOrigin } = await import('../../deploy/set-origin.js');
      // ostree's --index is an int whose -1 (its default) means the booted deployment.
      await setOrigin(await writableSysrootOf(this, opts), remote, url, branch, { set, ...(opts.index !== undefined && opts.index !== -1 && { index: opts.index }) });
    });

  verb(admin.command('unlock'), { params: '' })
    .description('mount a writable overlay on the booted deployment\'s /usr (discarded at reboot unless --hotfix)')
    .argument('[extra...]')
    .option('--hotfix', 'keep the changes across reboots, with an untouched copy as the rollback')
    .option('--transient', 'mount the overlay read-only; changes there go at reboot')
    .action(async function (this: Command, extra: string[], opts: AdminOpts & { hotfix?: boolean; transient?: boolean }) {
      if (extra.length > 0) throw new UsageError('This command takes no extra arguments');
      const { unlock, NOT_BOOTED, UNLOCK_MESSAGES } = await import('../../deploy/unlock.js');
      const { loadSysroot } = await import('../../deploy/deployments.js');
      const sysroot = await writableSysrootOf(this, opts);
      // ostree's order: the booted deployment first, then the options.
      if (!loadSysroot(sysroot).booted) throw new GroveError('GROVE_NOT_BOOTED', NOT_BOOTED);
      if (opts.hotfix && opts.transient) throw new GroveError('GROVE_BAD_OPTION', 'Cannot specify both --hotfix and --transient');
      const target = opts.hotfix ? 'hotfix' : opts.transient ? 'transient' : 'development';
      const clone = await unlock(sysroot, target);
      // The hotfix's clone is deployed first, with the lines a deploy prints (no prune report).
      if (clone) printTransaction(clone);
      process.stdout.write(UNLOCK_MESSAGES[target]);
    });
}
