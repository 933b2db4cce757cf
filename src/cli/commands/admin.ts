import type { Command } from 'commander';
import { registerDeployVerbs } from './admin-deploy.js';
import { sysrootOf, type AdminOpts } from './admin-options.js';

export function registerAdmin(program: Command): void {
  const admin = program.command('admin')
    .description('manage an ostree sysroot: stateroots, deployments, boot entries')
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
    admin.command(name)
      .description(name === 'os-init' ? 'initialize the state of an operating system (a stateroot)' : 'the same as os-init')
      .argument('<os>', 'stateroot name, e.g. debian')
      .option('--sysroot <path>', 'the physical root to manage (default: /)')
      .action(async function (this: Command, os: string, opts: AdminOpts) {
        const { initOs } = await import('../../deploy/sysroot.js');
        await initOs(sysrootOf(this, opts), os);
        process.stdout.write(`ostree/deploy/${os} initialized as OSTree root\n`);
      });
  }

  admin.command('status')
    .description('list the deployments of the sysroot, default first')
    .option('--sysroot <path>', 'the physical root to manage (default: /)')
    .option('--json', 'print the deployments as JSON')
    .action(async function (this: Command, opts: AdminOpts & { json?: boolean }) {
      const { loadSysroot, describeStatus, isPinned } = await import('../../deploy/deployments.js');
      const sysroot = sysrootOf(this, opts);
      const { deployments, booted } = loadSysroot(sysroot);
      if (opts.json) {
        const plain = deployments.map((d) => ({
          index: d.index, osname: d.osname, checksum: d.checksum, serial: d.deploySerial, bootChecksum: d.bootChecksum,
          refspec: d.origin?.get('origin', 'refspec') ?? null, kargs: d.kargs, default: d.index === 0, booted: d === booted,
          pinned: isPinned(d),
        }));
        process.stdout.write(`${JSON.stringify({ deployments: plain })}\n`);
      } else {
        process.stdout.write(describeStatus(sysroot, deployments, booted));
      }
    });

  registerDeployVerbs(admin);
}
