import { Option, type Command } from 'commander';
import { GroveError } from '../../errors.js';
import type { DeployResult } from '../../deploy/operations.js';
import type { EtcChanges } from '../../deploy/etc-merge.js';
import { verb } from '../invocation.js';
import { sysrootOf, writableSysrootOf, type AdminOpts } from './admin-options.js';

/** The admin verbs that change deployments; each loads the deploy library on use. */

const collect = (v: string, prev: string[] = []) => [...prev, v];

function parseIndex(s: string): number {
  if (!/^\d+$/.test(s)) throw new GroveError('GROVE_BAD_OPTION', `deployment index '${s}' is not a number`);
  return Number(s);
}

async function printFreed(result: { prune: { freedBytes: number } | null }): Promise<void> {
  if (!result.prune || result.prune.freedBytes === 0) return;
  const { formatSize } = await import('../../format/size.js');
  process.stdout.write(`Freed objects: ${formatSize(result.prune.freedBytes)}\n`);
}

/** ostree's lines for a new boot configuration: the /etc merge, then the transaction (each when there is one). */
export function printTransaction(r: { etc: EtcChanges | null; transaction: string }): void {
  if (r.etc) process.stdout.write(`Copying /etc changes: ${r.etc.modified.length} modified, ${r.etc.removed.length} removed, ${r.etc.added.length} added\n`);
  if (r.transaction) process.stdout.write(`${r.transaction}\n`);
}

/** What ostree prints around a deploy: /var notes, the /etc merge, the transaction, the prune. */
async function reportDeploy(r: DeployResult): Promise<void> {
  for (const name of r.varNotes) process.stderr.write(`note: Deploying commit ${r.deployment.checksum} which contains content in /var/${name} that will be ignored.\n`);
  printTransaction(r);
  await printFreed(r.cleanup);
}

interface DeployCliOpts extends AdminOpts {
  os?: string; karg?: string[]; kargAppend?: string[]; kargDelete?: string[]; kargNone?: boolean; kargProcCmdline?: boolean;
  retain?: boolean; retainPending?: boolean; retainRollback?: boolean; notAsDefault?: boolean; noMerge?: boolean; merge?: boolean;
  prune?: boolean; originFile?: string; stage?: boolean; lockFinalization?: boolean; overlayInitrd?: string[];
}

/**
 * `--reboot`: as ostree, `systemctl reboot` once the new deployment is written, and only on a
 * booted system (a sysroot being built for another machine is never a reason to reboot this one).
 */
async function rebootIfBooted(sysroot: string): Promise<void> {
  const { loadSysroot } = await import('../../deploy/deployments.js');
  if (!loadSysroot(sysroot).booted) return;
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync('systemctl', ['reboot'], { stdio: 'inherit' });
  if (r.error) throw new GroveError('GROVE_IO', `execve(systemctl reboot): ${r.error.message}`);
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}

export function registerDeployVerbs(admin: Command): void {
  verb(admin.command('deploy'), { params: 'REFSPEC', missing: ['REF/REV must be specified'], loadsSysroot: 'locked' })
    .description('check out a commit as a new deployment and make it the default boot entry')
    .argument('<refspec>', 'a ref (REF or REMOTE:REF) or commit checksum in the sysroot repository')
    .option('--os <osname>', 'the stateroot to deploy into (default: the booted one)')
    .option('--karg <k=v>', 'set a kernel argument, replacing any with that key (repeatable)', collect)
    .option('--karg-append <k=v>', 'append a kernel argument (repeatable)', collect)
    .option('--karg-delete <k=v>', 'delete a kernel argument (repeatable)', collect)
    .option('--karg-none', 'start from no kernel arguments instead of the merge deployment\'s')
    .option('--karg-proc-cmdline', 'start from the running kernel\'s /proc/cmdline')
    .option('--retain', 'keep every existing deployment')
    .option('--stage', 'leave the new deployment staged, for the boot configuration to take at shutdown (booted systems)')
    .addOption(new Option('--lock-finalization', 'with --stage: keep finalize-staged from acting until /run/ostree/staged-deployment-locked goes').hideHelp())
    .option('--retain-pending', 'keep pending deployments')
    .option('--retain-rollback', 'keep rollback deployments')
    .option('--not-as-default', 'add the deployment after the current default instead of before it')
    .option('--no-merge', 'do not carry /etc changes and kernel arguments over from the current deployment')
    .option('--no-prune', 'do not prune the repository afterwards')
    .option('--origin-file <path>', 'use this keyfile as the deployment\'s origin')
    .option('--overlay-initrd <file>', 'add this initramfs image after the tree\'s own, copied into /boot (repeatable)', collect)
    .action(async function (this: Command, refspec: string, opts: DeployCliOpts) {
      const { deploy } = await import('../../deploy/operations.js');
      const r = await deploy(await writableSysrootOf(this, opts), refspec, {
        ...(opts.os !== undefined && { osname: opts.os }),
        karg: opts.karg ?? [], kargAppend: opts.kargAppend ?? [], kargDelete: opts.kargDelete ?? [],
        kargNone: opts.kargNone === true, kargProcCmdline: opts.kargProcCmdline === true,
        retain: opts.retain === true, retainPending: opts.retainPending === true, retainRollback: opts.retainRollback === true,
        notAsDefault: opts.notAsDefault === true, noMerge: opts.merge === false, noPrune: opts.prune === false,
        ...(opts.originFile !== undefined && { originFile: opts.originFile }), stage: opts.stage === true, lockFinalization: opts.lockFinalization === true,
        overlayInitrds: opts.overlayInitrd ?? [],
      });
      await reportDeploy(r);
    });

  // ostree's hidden verbs, run by its systemd units: ostree-finalize-staged.service at shutdown
  // (and its --hold at start, to keep /boot open), ostree-boot-complete.service at boot.
  admin.command('finalize-staged', { hidden: true })
    .description('Internal command to run at shutdown time')
    .option('--hold', 'Hold /boot open during finalization')
    .action(async function (this: Command, opts: AdminOpts & { hold?: boolean }) {
      const { finalizeStaged, holdBoot } = await import('../../deploy/stage.js');
      if (opts.hold) {
        await holdBoot(sysrootOf(this, opts));
        return;
      }
      const r = await finalizeStaged(sysrootOf(this, opts));
      if (r) printTransaction(r);
    });

  admin.command('boot-complete', { hidden: true })
    .description('Internal command to run at boot after an update was applied')
    .action(async function (this: Command, opts: AdminOpts) {
      const { bootComplete } = await import('../../deploy/stage.js');
      bootComplete(sysrootOf(this, opts));
    });

  verb(admin.command('undeploy'), { loadsSysroot: 'locked' })
    .description('remove the deployment at INDEX (0 is the default)')
    .argument('<index>', 'deployment index, as admin status lists them')
    .action(async function (this: Command, index: string, opts: AdminOpts) {
      const { undeploy } = await import('../../deploy/operations.js');
      const r = await undeploy(await writableSysrootOf(this, opts), parseIndex(index));
      if (r.transaction) process.stdout.write(`${r.transaction}\n`);
      if (r.cleanedFirst) await printFreed(r.cleanup);
      process.stdout.write(`Deleted deployment ${r.removed.checksum}.${r.removed.deploySerial}\n`);
      if (!r.cleanedFirst) await printFreed(r.cleanup);
    });

  admin.command('set-default')
    .description('make the deployment at INDEX the default (a rollback when INDEX is 1)')
    .argument('<index>', 'deployment index, as admin status lists them')
    .action(async function (this: Command, index: string, opts: AdminOpts) {
      const { setDefault } = await import('../../deploy/operations.js');
      const r = await setDefault(await writableSysrootOf(this, opts), parseIndex(index));
      if (r.transaction) process.stdout.write(`${r.transaction}\n`);
      process.stdout.write(r.changed ? `New default deployment: ${r.deployment.checksum}.${r.deployment.deploySerial}\n` : `Deployment ${index} is already the default\n`);
    });

  verb(admin.command('pin'), { params: 'INDEX', loadsSysroot: 'locked' })
    .description('keep deployments through later deploys (or stop keeping them with --unpin)')
    .argument('<index...>', 'deployment indexes, as admin status lists them')
    .option('-u, --unpin', 'remove the pin')
    .action(async function (this: Command, indexes: string[], opts: AdminOpts & { unpin?: boolean }) {
      const { pin } = await import('../../deploy/operations.js');
      for (const line of await pin(await writableSysrootOf(this, opts), indexes, opts.unpin === true)) process.stdout.write(`${line}\n`);
    });

  admin.command('cleanup')
    .description('delete deployments, boot files and objects the boot configuration no longer uses')
    .action(async function (this: Command, opts: AdminOpts) {
      const { cleanup } = await import('../../deploy/operations.js');
      await printFreed(await cleanup(await writableSysrootOf(this, opts)));
    });

  const kargs = admin.command('kargs').description('change the kernel arguments of deployments');
  verb(kargs.command('edit-in-place'), { params: 'ARGS' })
    .description('add kernel arguments to every deployment\'s boot entry, in place')
    .option('--append-if-missing <k=v>', 'append this argument unless its key is present (repeatable)', collect)
    .action(async function (this: Command, opts: AdminOpts & { appendIfMissing?: string[] }) {
      const { kargsEditInPlace } = await import('../../deploy/operations.js');
      await kargsEditInPlace(await writableSysrootOf(this, opts), opts.appendIfMissing ?? []);
    });

  admin.command('upgrade')
    .description('pull the origin of the current deployment and deploy it if it changed')
    .option('--os <osname>', 'the stateroot to upgrade (default: the booted one)')
    .option('-r, --reboot', 'reboot once the upgrade is deployed (booted systems only)')
    .option('--allow-downgrade', 'permit deploying a commit older than the current one')
    .option('--pull-only', 'pull, but do not deploy')
    .option('--deploy-only', 'deploy what the repository has, without pulling')
    .option('--override-commit <checksum>', 'deploy this commit of the origin ref')
    .option('--stage', 'stage the upgrade for shutdown instead of deploying it now (booted systems)')
    .action(async function (this: Command, opts: AdminOpts & { os?: string; reboot?: boolean; allowDowngrade?: boolean; pullOnly?: boolean; deployOnly?: boolean; overrideCommit?: string; stage?: boolean }) {
      if (opts.pullOnly && opts.deployOnly) throw new GroveError('GROVE_BAD_OPTION', 'Cannot simultaneously specify --pull-only and --deploy-only');
      if (opts.pullOnly && opts.reboot) throw new GroveError('GROVE_BAD_OPTION', 'Cannot simultaneously specify --pull-only and --reboot');
      const { upgrade } = await import('../../deploy/upgrade.js');
      const sysroot = await writableSysrootOf(this, opts);
      const r = await upgrade(sysroot, {
        ...(opts.os !== undefined && { osname: opts.os }), allowDowngrade: opts.allowDowngrade === true,
        pullOnly: opts.pullOnly === true, deployOnly: opts.deployOnly === true,
        ...(opts.overrideCommit !== undefined && { overrideCommit: opts.overrideCommit }), stage: opts.stage === true,
      });
      if (!r.changed) process.stdout.write('No update available.\n');
      if (r.deployed) await reportDeploy(r.deployed);
      if (r.changed && opts.reboot) await rebootIfBooted(sysroot);
    });

  verb(admin.command('switch'), { loadsSysroot: 'locked' })
    .description('follow another ref (REMOTE:REF, REF, or REMOTE:) and deploy it')
    .argument('<refspec>', 'the new origin')
    .option('-r, --reboot', 'reboot once the new ref is deployed (booted systems only)')
    .option('--os <osname>', 'the stateroot to switch (default: the booted one)')
    .action(async function (this: Command, refspec: string, opts: AdminOpts & { os?: string; reboot?: boolean }) {
      const { switchRef } = await import('../../deploy/upgrade.js');
      const sysroot = await writableSysrootOf(this, opts);
      const r = await switchRef(sysroot, refspec, { ...(opts.os !== undefined && { osname: opts.os }) });
      if (r.deployed) await reportDeploy(r.deployed);
      if (r.deletedRef) process.stdout.write(`Deleting ref '${r.deletedRef}'\n`);
      if (opts.reboot) await rebootIfBooted(sysroot);
    });
}
