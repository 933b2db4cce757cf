import path from 'node:path';
import { Option, type Command } from 'commander';
import { GroveError } from '../../errors.js';
import { verb } from '../invocation.js';
import { registerDeployVerbs } from './admin-deploy.js';
import { registerStateVerbs } from './admin-state.js';
import { sysrootOf, type AdminOpts } from './admin-options.js';

/** `admin --print-current-dir`: the directory of the first deployment, as an absolute path. */
async function currentDir(sysroot: string): Promise<string> {
  const [{ loadSysroot, deploymentDir }, { checkLockable, openSysroot }] = await Promise.all([
    import('../../deploy/deployments.js'), import('../../deploy/sysroot-read.js'),
  ]);
  // Without a verb, ostree admin takes the sysroot lock before it loads.
  checkLockable(openSysroot(sysroot));
  const first = loadSysroot(sysroot).deployments[0];
  if (!first) throw new GroveError('GROVE_NO_DEPLOYMENT', 'Unable to find a deployment in sysroot');
  return `${deploymentDir(path.resolve(sysroot), first.osname, first.checksum, first.deploySerial)}\n`;
}

export function registerAdmin(program: Command): void {
  // As in ostree, --sysroot and --print-current-dir belong to admin itself, so every admin verb takes them.
  const admin = verb(program.command('admin'), {
    params: '--print-current-dir|COMMAND',
    intercept: async (value) => {
      if (value('print-current-dir') === undefined) return null;
      const sysroot = value('sysroot');
      return currentDir(typeof sysroot === 'string' ? sysroot : '/');
    },
  })
    .description('manage an ostree sysroot: stateroots, deployments, boot entries')
    .addOption(new Option('--print-current-dir', 'print the directory of the first deployment, then exit').hideHelp())
    .option('--sysroot <path>', 'the physical root to manage (default: /)');

  admin.command('init-fs')
    .description('initialize a physical root: top-level directories, ostree/repo and ostree/deploy')
    .argument('<path>', 'the directory to initialize (it must exist)')
    .option('--modern', 'only create boot/ and ostree/')
    .action(async (p: string, opts: { modern?: boolean }) => {
      const { initFs } = await import('../../deploy/sysroot.js');
      await initFs(p, { modern: opts.modern === true });
    });

  for (const name of ['os-init', 'stateroot-init']) {
    verb(admin.command(name), { loadsSysroot: 'unlocked' })
      .description(name === 'os-init' ? 'initialize the state of an operating system (a stateroot)' : 'the same as os-init')
      .argument('<osname>', 'stateroot name, e.g. debian')
      .action(async function (this: Command, os: string, opts: AdminOpts) {
        const { initOs } = await import('../../deploy/sysroot.js');
        await initOs(sysrootOf(this, opts), os);
        process.stdout.write(`ostree/deploy/${os} initialized as OSTree root\n`);
      });
  }

  admin.command('status')
    .description('list the deployments of the sysroot, default first')
    .option('-V, --verify', 'check the signatures of each deployment\'s commit against its origin\'s remote')
    .option('--json', 'print the deployments as JSON')
    .action(async function (this: Command, opts: AdminOpts & { json?: boolean; verify?: boolean }) {
      const { loadSysroot, isPinned } = await import('../../deploy/deployments.js');
      const state = loadSysroot(sysrootOf(this, opts));
      if (opts.json) {
        const plain = state.deployments.map((d) => ({
          index: d.index, osname: d.osname, checksum: d.checksum, serial: d.deploySerial, bootChecksum: d.bootChecksum,
          refspec: d.origin?.get('origin', 'refspec') ?? null, kargs: d.kargs, default: d.index === 0, booted: d === state.booted,
          pinned: isPinned(d), unlocked: d.unlocked, staged: d.staged,
        }));
        process.stdout.write(`${JSON.stringify({ deployments: plain })}\n`);
      } else {
        const { writeStatus } = await import('../../deploy/status.js');
        await writeStatus(state, { verify: opts.verify === true }, (s) => process.stdout.write(s));
      }
    });

  registerStateVerbs(admin);
  registerDeployVerbs(admin);
}
