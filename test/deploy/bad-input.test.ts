import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { grove, groveOk, isRoot, needsOstree, ostree } from '../helpers.js';
import { commitBoth, describeSysroot, makeTwins, sysrootTemp, writeTree, unlockDeployments } from './fixture.js';

/** Each refusal: exit 1, one line naming what is at fault, and the sysroot exactly as before. */
function refused(root: string, args: string[], want: RegExp): void {
  const before = fs.existsSync(root) ? describeSysroot(root) : null;
  const r = grove(args);
  assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr.trimEnd(), want);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  if (before) assert.deepEqual(describeSysroot(root), before, `${args.join(' ')} changed the sysroot`);
}

describe('admin deploy refuses bad input and leaves the sysroot bootable', needsOstree(), () => {
  const tmp = sysrootTemp('grove-deploy-bad-');

  it('a commit with no kernel, an unknown stateroot or ref, a missing sysroot, contradictory options', () => {
    const t = makeTwins(path.join(tmp.dir, 'twins'));
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    commitBoth(t, tree, 'os/good', '1');
    groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', '--karg=quiet', 'os/good']);
    writeTree(tree, { layout: 'none' });
    const nokernel = commitBoth(t, tree, 'os/nokernel', '2');
    writeTree(tree, { files: { 'etc/conflict': 'x' } });
    commitBoth(t, tree, 'os/both-etc', '3');
    const g = t.g;
    refused(g, ['admin', `--sysroot=${g}`, 'deploy', '--os=debian', 'os/nokernel'], new RegExp(`^error: commit ${nokernel} has no kernel: nothing in /usr/lib/modules/\\*/vmlinuz, /usr/lib/ostree-boot or /boot`));
    refused(g, ['admin', `--sysroot=${g}`, 'deploy', '--os=debian', 'os/both-etc'], /^error: commit [0-9a-f]{64} contains both \/etc and \/usr\/etc$/);
    refused(g, ['admin', `--sysroot=${g}`, 'deploy', '--os=fedora', 'os/good'], /^error: stateroot fedora does not exist in .* \(make it with: grove admin --sysroot=.* os-init fedora\)$/);
    refused(g, ['admin', `--sysroot=${g}`, 'deploy', 'os/good'], /^error: Looking for booted deployment: Not currently booted into an OSTree system and no --os= argument given/);
    refused(g, ['admin', `--sysroot=${g}`, 'deploy', '--os=debian', 'os/missing'], /^error: Refspec 'os\/missing' not found/);
    refused(g, ['admin', `--sysroot=${g}`, 'deploy', '--os=debian', '--karg-none', '--karg-delete=quiet', 'os/good'], /^error: can't specify both --karg-none and --karg-delete$/);
    refused(g, ['admin', `--sysroot=${g}`, 'deploy', '--os=debian', '--karg-delete=splash', 'os/good'], /^error: no kernel argument 'splash' to delete$/);
    refused(g, ['admin', `--sysroot=${g}`, 'deploy', '--os=debian', '--origin-file=/nonexistent/origin', 'os/good'], /^error: cannot read origin file \/nonexistent\/origin/);
    const missing = path.join(tmp.dir, 'nowhere');
    refused(missing, ['admin', `--sysroot=${missing}`, 'deploy', '--os=debian', 'os/good'], /^error: opendir\(.*nowhere\): No such file or directory$/);
    refused(t.work, ['admin', `--sysroot=${t.work}`, 'deploy', '--os=debian', 'os/good'], /^error: No such file or directory$/);
    refused(g, ['admin', `--sysroot=${g}`, 'undeploy', '3'], /^error: Out of range deployment index 3, expected < 1$/);
    // The refusals left a sysroot that both tools read and that still boots the good commit.
    assert.match(ostree(['admin', 'status', `--sysroot=${g}`]).stdout, /Version: 1\n/);
    assert.deepEqual(fs.readdirSync(path.join(g, 'ostree/deploy/debian/deploy')).length, 2);
  });

  it('a sysroot that needs grub2 is refused before anything changes', () => {
    const t = makeTwins(path.join(tmp.dir, 'grub'));
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    commitBoth(t, tree, 'os/good', '1');
    fs.mkdirSync(path.join(t.g, 'boot/grub2'), { recursive: true });
    fs.writeFileSync(path.join(t.g, 'boot/grub2/grub.cfg'), '');
    refused(t.g, ['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/good'], /^error: .* uses the grub2 bootloader, whose configuration grove cannot generate \(set sysroot\.bootloader=none/);
    groveOk(['config', 'set', `--repo=${path.join(t.g, 'ostree/repo')}`, 'sysroot.bootloader', 'none']);
    groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/good']);
    assert.equal(fs.readdirSync(path.join(t.g, 'boot/loader/entries')).length, 1);
  });

  it('a full disk during deploy: a clear error, the old deployment still the default, and room made lets it through', { skip: isRoot ? false : 'mounting a small tmpfs needs root' }, () => {
    const mnt = path.join(tmp.dir, 'small');
    fs.mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) {
      // Containers without CAP_SYS_ADMIN: nothing to test with, say so rather than pass.
      process.stderr.write(`# full-disk deploy not tested: mount failed: ${m.stderr.trim()}\n`);
      return;
    }
    try {
      const t = makeTwins(path.join(mnt, 'twins'));
      // The repository copies stay outside the small file system; only g lives on it.
      const tree = path.join(tmp.dir, 'bigtree');
      writeTree(tree, { etc: { hostname: 'a\n' } });
      commitBoth(t, tree, 'os/main', '1');
      groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', '--karg=root=/dev/vda2', 'os/main']);
      // /etc is copied, not linked: 4 MiB of defaults need 4 MiB free at deploy time.
      writeTree(tree, { etc: { hostname: 'b\n', 'big.dat': 'x'.repeat(4 << 20) } });
      commitBoth(t, tree, 'os/main', '2');
      const filler = path.join(mnt, 'filler');
      fs.mkdirSync(filler);
      for (let i = 0; ; i++) {
        try {
          fs.writeFileSync(path.join(filler, String(i)), Buffer.alloc(64 << 10));
        } catch {
          break;
        }
      }
      for (const f of fs.readdirSync(filler).slice(0, 8)) fs.rmSync(path.join(filler, f));
      const before = describeSysroot(t.g);
      const r = grove(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error: .*no space left on device .*\/ostree\/deploy\/debian\/deploy\/[0-9a-f]{64}\.\d/i);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.deepEqual(describeSysroot(t.g), before);
      assert.match(ostree(['admin', 'status', `--sysroot=${t.g}`]).stdout, /Version: 1\n/);
      fs.rmSync(filler, { recursive: true });
      groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']);
      assert.match(ostree(['admin', 'status', `--sysroot=${t.g}`]).stdout, /^ {2}debian [0-9a-f]{64}\.0\n {4}Version: 2\n/);
    } finally {
      unlockDeployments(mnt);
      spawnSync('umount', [mnt]);
    }
  });
});
