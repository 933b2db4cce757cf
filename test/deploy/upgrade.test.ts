import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { grove, groveOk, needsOstree, ostree } from '../helpers.js';
import { describeSysroot, makeTwins, ostreeStdout, sysrootTemp, type Twins, writeTree } from './fixture.js';

/**
 * admin upgrade and admin switch: a published archive repository (the "vendor"), a remote for
 * it in each twin's system repository, and both tools following it; the twins must stay
 * identical step by step.
 */
describe('admin upgrade and switch follow the origin, as ostree admin does', needsOstree(), () => {
  const tmp = sysrootTemp('grove-upgrade-');

  let stamp = 1_750_000_000;
  const publish = (vendor: string, tree: string, ref: string, version: string, kernel: string) => {
    writeTree(tree, { etc: { release: `${version}\n` }, kernel });
    stamp += 3600;
    ostree(['commit', `--repo=${vendor}`, '-b', ref, `--add-metadata-string=version=${version}`, `--tree=dir=${tree}`, `--timestamp=@${stamp}`, '--owner-uid=0', '--owner-gid=0']);
    ostree(['summary', `--repo=${vendor}`, '-u']);
    return ostree(['rev-parse', `--repo=${vendor}`, ref]).stdout.trim();
  };

  const both = (t: Twins, args: string[]) => {
    const g = grove(['admin', `--sysroot=${t.g}`, ...args]);
    const o = ostree(['admin', `--sysroot=${t.o}`, ...args], { allowFail: true });
    assert.equal(g.code, 0, `grove admin ${args.join(' ')}: ${g.stderr}`);
    assert.equal(o.code, 0, `ostree admin ${args.join(' ')}: ${o.stderr}`);
    assert.equal(g.stdout, ostreeStdout(o.stdout), `stdout of admin ${args.join(' ')}`);
    assert.deepEqual(describeSysroot(t.g), describeSysroot(t.o));
    return g.stdout;
  };

  it('upgrade pulls and deploys a new commit, says so when there is none, and refuses an older one', () => {
    const t = makeTwins(path.join(tmp.dir, 'twins'));
    const vendor = path.join(tmp.dir, 'vendor');
    ostree(['init', `--repo=${vendor}`, '--mode=archive']);
    const tree = path.join(t.work, 'tree');
    const v1 = publish(vendor, tree, 'os/stable', '1', 'kernel 1\n');
    for (const root of [t.g, t.o]) {
      const repo = path.join(root, 'ostree/repo');
      ostree(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'vendor', `file://${vendor}`]);
      ostree(['pull', `--repo=${repo}`, 'vendor', 'os/stable']);
    }
    both(t, ['deploy', '--os=debian', '--karg=root=/dev/vda2', 'vendor:os/stable']);
    assert.match(both(t, ['upgrade', '--os=debian']), /^No update available\.\n$/);

    const v2 = publish(vendor, tree, 'os/stable', '2', 'kernel 2\n');
    both(t, ['upgrade', '--os=debian']);
    const status = JSON.parse(groveOk(['admin', 'status', '--json', `--sysroot=${t.g}`])) as { deployments: Array<{ checksum: string; refspec: string; kargs: string[] }> };
    assert.deepEqual(status.deployments.map((d) => d.checksum), [v2, v1]);
    assert.equal(status.deployments[0]!.refspec, 'vendor:os/stable');
    assert.deepEqual(status.deployments[0]!.kargs, ['root=/dev/vda2']);

    // Going back in time takes --allow-downgrade.
    const r = grove(['admin', `--sysroot=${t.g}`, 'upgrade', '--os=debian', `--override-commit=${v1}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: upgrade target revision '${v1}' with timestamp '.*' is chronologically older than current revision '${v2}'.*--allow-downgrade`));
    groveOk(['admin', `--sysroot=${t.g}`, 'upgrade', '--os=debian', '--allow-downgrade', `--override-commit=${v1}`]);
    assert.match(groveOk(['admin', 'status', `--sysroot=${t.g}`]), new RegExp(`^ {2}debian ${v1}\\.1\\n`));
  });

  it('switch follows another ref, drops the old one, and refuses the same ref', () => {
    const t = makeTwins(path.join(tmp.dir, 'switch'));
    const vendor = path.join(tmp.dir, 'vendor2');
    ostree(['init', `--repo=${vendor}`, '--mode=archive']);
    const tree = path.join(t.work, 'tree');
    publish(vendor, tree, 'os/stable', '1', 'kernel 1\n');
    const testing = publish(vendor, tree, 'os/testing', '2-beta', 'kernel 2\n');
    for (const root of [t.g, t.o]) {
      const repo = path.join(root, 'ostree/repo');
      ostree(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'vendor', `file://${vendor}`]);
      ostree(['pull', `--repo=${repo}`, 'vendor', 'os/stable']);
    }
    both(t, ['deploy', '--os=debian', 'vendor:os/stable']);
    const out = both(t, ['switch', '--os=debian', 'os/testing']);
    assert.match(out, /Deleting ref 'vendor:os\/stable'\n$/);
    assert.match(groveOk(['admin', 'status', `--sysroot=${t.g}`]), new RegExp(`^ {2}debian ${testing}\\.0\\n {4}Version: 2-beta\\n {4}origin refspec: vendor:os/testing\\n`));
    assert.ok(!fs.existsSync(path.join(t.g, 'ostree/repo/refs/remotes/vendor/os/stable')));
    const r = grove(['admin', `--sysroot=${t.g}`, 'switch', '--os=debian', 'vendor:os/testing']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: old and new refs are equal: vendor:os\/testing\n$/);
  });
});
