import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { grove, groveOk, needsOstree, ostree } from '../helpers.js';
import { commitBoth, describeSysroot, makeTwins, ostreeStdout, sysrootTemp, type TreeSpec, type Twins, writeTree } from './fixture.js';

/**
 * grove admin deploy against ostree admin deploy: the twins get the same commits and the same
 * commands, one from each tool, and must end up identical — boot entries line for line, kernel
 * copies, boot links, deployment checkouts with their /etc merges and origins, the deployment refs
 * in the repository — and print the same lines.
 */
describe('grove admin deploy writes what ostree admin deploy writes', needsOstree(), () => {
  const tmp = sysrootTemp('grove-deploy-');

  let n = 0;
  const fresh = (osnames?: string[]): Twins => makeTwins(path.join(tmp.dir, `case${n++}`), osnames);

  /** One deploy by each tool; stdout compared, then the whole sysroots. */
  const deployBoth = (t: Twins, args: string[]) => {
    const g = grove(['admin', `--sysroot=${t.g}`, 'deploy', ...args]);
    const o = ostree(['admin', `--sysroot=${t.o}`, 'deploy', ...args], { allowFail: true });
    assert.equal(g.code, 0, `grove deploy ${args.join(' ')}: ${g.stderr}`);
    assert.equal(o.code, 0, `ostree deploy ${args.join(' ')}: ${o.stderr}`);
    assert.equal(g.stdout, ostreeStdout(o.stdout), `stdout of deploy ${args.join(' ')}`);
    assert.equal(g.stderr, o.stderr, `stderr of deploy ${args.join(' ')}`);
    assertSame(t);
  };
  const assertSame = (t: Twins) => {
    assert.deepEqual(describeSysroot(t.g), describeSysroot(t.o));
    assert.equal(groveOk(['admin', 'status', `--sysroot=${t.g}`]), ostree(['admin', 'status', `--sysroot=${t.o}`]).stdout);
  };
  /** The same local edit of a deployment's /etc in both. */
  const editEtc = (t: Twins, index: number, edit: (etc: string) => void) => {
    for (const root of [t.g, t.o]) {
      const json = JSON.parse(groveOk(['admin', 'status', '--json', `--sysroot=${root}`])) as { deployments: Array<{ osname: string; checksum: string; serial: number }> };
      const d = json.deployments[index]!;
      edit(path.join(root, 'ostree/deploy', d.osname, 'deploy', `${d.checksum}.${d.serial}`, 'etc'));
    }
  };

  it('first deploy, then an upgrade carrying /etc changes and kernel arguments over', () => {
    const t = fresh();
    const tree = path.join(t.work, 'tree');
    writeTree(tree, { etc: { hostname: 'box\n', 'ssh/sshd_config': 'Port 22\n', motd: 'hi\n', 'skel/.bashrc': 'x\n' }, files: { 'var/lib/thing': 'x' } });
    commitBoth(t, tree, 'os/main', '1.0');
    deployBoth(t, ['--os=debian', '--karg=root=LABEL=root', '--karg=quiet', '--karg=console=tty0', 'os/main']);
    editEtc(t, 0, (etc) => {
      fs.writeFileSync(path.join(etc, 'hostname'), 'mybox\n');
      fs.writeFileSync(path.join(etc, 'added.conf'), 'mine\n');
      fs.mkdirSync(path.join(etc, 'newdir/deeper'), { recursive: true });
      fs.writeFileSync(path.join(etc, 'newdir/deeper/f'), 'f\n');
      fs.rmSync(path.join(etc, 'motd'));
      fs.chmodSync(path.join(etc, 'ssh/sshd_config'), 0o600);
    });
    writeTree(tree, { etc: { hostname: 'box2\n', 'ssh/sshd_config': 'Port 2222\n', motd: 'hello\n', 'skel/.bashrc': 'y\n', 'new-default': 'n\n' } });
    commitBoth(t, tree, 'os/main', '2.0');
    deployBoth(t, ['--os=debian', '--karg-append=console=ttyS0,115200', '--karg=quiet', 'os/main']);
    // Kernel arguments inherited unchanged, then a deletion.
    writeTree(tree, { etc: { hostname: 'box3\n' }, kernel: 'kernel 2\n' });
    commitBoth(t, tree, 'os/main', '3.0');
    deployBoth(t, ['--os=debian', 'os/main']);
    deployBoth(t, ['--os=debian', '--karg-delete=console=tty0', 'os/main']);
  });

  it('--retain, --not-as-default, --no-merge, --karg-none and a pinned deployment', () => {
    const t = fresh();
    const tree = path.join(t.work, 'tree');
    for (const [i, args] of [
      ['--karg=a=1'], ['--retain', '--karg=b=2'], ['--not-as-default', '--retain'], ['--no-merge'], ['--karg-none', '--retain'],
    ].entries()) {
      writeTree(tree, { etc: { version: `${i}\n` }, kernel: `kernel ${i % 2}\n` });
      commitBoth(t, tree, 'os/main', `${i}.0`);
      if (i === 3) {
        assert.equal(groveOk(['admin', `--sysroot=${t.g}`, 'pin', '1', '0']), ostree(['admin', `--sysroot=${t.o}`, 'pin', '1', '0']).stdout);
        assert.equal(groveOk(['admin', `--sysroot=${t.g}`, 'pin', '--unpin', '0']), ostree(['admin', `--sysroot=${t.o}`, 'pin', '--unpin', '0']).stdout);
        assert.equal(groveOk(['admin', `--sysroot=${t.g}`, 'pin', '1']), ostree(['admin', `--sysroot=${t.o}`, 'pin', '1']).stdout);
        assertSame(t);
      }
      deployBoth(t, ['--os=debian', ...args, 'os/main']);
    }
  });

  it('kernel layouts: no initramfs, a device tree, the legacy usr/lib/ostree-boot', () => {
    const t = fresh();
    const tree = path.join(t.work, 'tree');
    for (const [i, layout] of (['modules-no-initramfs', 'modules-devicetree', 'legacy'] as Array<TreeSpec['layout']>).entries()) {
      writeTree(tree, { layout, osRelease: `ID=test\nVERSION_ID=${i}\n` });
      commitBoth(t, tree, `os/l${i}`, `v${i}`);
      deployBoth(t, ['--os=debian', '--retain', `os/l${i}`]);
    }
  });

  it('several stateroots: titles name the stateroot', () => {
    const t = fresh(['debian', 'apertis']);
    const tree = path.join(t.work, 'tree');
    writeTree(tree, { osRelease: 'PRETTY_NAME="Apertis v2024 \\"the best\\""\n' });
    commitBoth(t, tree, 'os/main', 'v2024');
    deployBoth(t, ['--os=debian', 'os/main']);
    deployBoth(t, ['--os=apertis', '--karg=rw', 'os/main']);
    deployBoth(t, ['--os=debian', 'os/main']);
  });

  it('U-Boot: uEnv.txt for every deployment, and the tree\'s own uEnv.txt appended', () => {
    const t = fresh();
    for (const root of [t.g, t.o]) {
      // As ostree's own tests set up a U-Boot sysroot.
      fs.mkdirSync(path.join(root, 'boot/loader.0'), { recursive: true });
      fs.symlinkSync('loader.0', path.join(root, 'boot/loader'));
      fs.writeFileSync(path.join(root, 'boot/loader/uEnv.txt'), '');
      fs.symlinkSync('loader/uEnv.txt', path.join(root, 'boot/uEnv.txt'));
    }
    const tree = path.join(t.work, 'tree');
    writeTree(tree, { layout: 'modules-devicetree', files: { 'usr/lib/ostree-boot/uEnv.txt': 'fdtfile=imx6q-sabrelite.dtb\n\nbootdelay=1\n' } });
    commitBoth(t, tree, 'os/main', '1');
    deployBoth(t, ['--os=debian', '--karg=root=/dev/mmcblk0p2', 'os/main']);
    writeTree(tree, { kernel: 'k2\n' });
    commitBoth(t, tree, 'os/main', '2');
    deployBoth(t, ['--os=debian', 'os/main']);
    assert.match(fs.readFileSync(path.join(t.g, 'boot/uEnv.txt'), 'utf8'), /^kernel_image=\/boot\/ostree\/debian-[0-9a-f]{64}\/vmlinuz-6\.1\.0-test\nramdisk_image=.*\nbootargs=root=\/dev\/mmcblk0p2 ostree=.*\nkernel_image2=/);
  });

  it('each tool manages what the other deployed: deploy, undeploy and cleanup alternate', () => {
    const t = fresh();
    const tree = path.join(t.work, 'tree');
    writeTree(tree, { etc: { a: '1\n' } });
    commitBoth(t, tree, 'os/main', '1');
    deployBoth(t, ['--os=debian', '--karg=root=/dev/sda2', 'os/main']);
    writeTree(tree, { etc: { a: '2\n' } });
    commitBoth(t, tree, 'os/main', '2');
    // g: ostree deploys over grove's deployment; o: grove over ostree's. Then the reverse.
    ostree(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']);
    groveOk(['admin', `--sysroot=${t.o}`, 'deploy', '--os=debian', 'os/main']);
    assertSame(t);
    const g = groveOk(['admin', `--sysroot=${t.g}`, 'undeploy', '1']);
    const o = ostree(['admin', `--sysroot=${t.o}`, 'undeploy', '1']).stdout;
    assert.equal(g, ostreeStdout(o));
    assertSame(t);
    groveOk(['admin', `--sysroot=${t.o}`, 'cleanup']);
    ostree(['admin', `--sysroot=${t.g}`, 'cleanup']);
    assertSame(t);
  });

  it('--karg-proc-cmdline and --origin-file', () => {
    const t = fresh();
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    commitBoth(t, tree, 'os/main', '1');
    const origin = path.join(t.work, 'custom.origin');
    fs.writeFileSync(origin, '# kept\n[origin]\nrefspec=os/main\n\n[rpmostree]\nrequested-packages=vim;\n');
    deployBoth(t, ['--os=debian', '--karg-proc-cmdline', '--karg-append=extra=1', `--origin-file=${origin}`, 'os/main']);
  });

  it('kargs edit-in-place rewrites the live entries as ostree does', () => {
    const t = fresh();
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    commitBoth(t, tree, 'os/main', '1');
    deployBoth(t, ['--os=debian', '--karg=quiet', 'os/main']);
    deployBoth(t, ['--os=debian', '--karg=splash', 'os/main']);
    groveOk(['admin', 'kargs', 'edit-in-place', `--sysroot=${t.g}`, '--append-if-missing=quiet', '--append-if-missing=audit=0']);
    ostree(['admin', 'kargs', 'edit-in-place', `--sysroot=${t.o}`, '--append-if-missing=quiet', '--append-if-missing=audit=0']);
    assertSame(t);
  });
});
