import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { grove, groveOk, needsOstree, ostree } from '../helpers.js';
import { commitBoth, describeSysroot, makeTwins, sysrootTemp, type Twins, writeTree } from './fixture.js';

interface StatusJson { deployments: Array<{ osname: string; checksum: string; serial: number; kargs: string[]; default: boolean }> }

function status(root: string): StatusJson {
  return JSON.parse(groveOk(['admin', 'status', '--json', `--sysroot=${root}`])) as StatusJson;
}

function etcOf(root: string, index: number): string {
  const d = status(root).deployments[index]!;
  return path.join(root, 'ostree/deploy', d.osname, 'deploy', `${d.checksum}.${d.serial}`, 'etc');
}

/** The default entry as the bootloader reads it: the highest `version` in the live loader. */
function defaultEntry(root: string): string {
  const dir = path.join(root, 'boot/loader/entries');
  const entries = fs.readdirSync(dir).map((n) => fs.readFileSync(path.join(dir, n), 'utf8'));
  const version = (e: string) => Number(/^version (\d+)$/m.exec(e)![1]);
  return entries.sort((a, b) => version(b) - version(a))[0]!;
}

describe('rollback: set-default and undeploy bring the previous deployment back', needsOstree(), () => {
  const tmp = sysrootTemp('grove-rollback-');

  let n = 0;
  /** A deployed with its own kernel arguments and /etc edit, then B over it with others. */
  const aThenB = (): { t: Twins; a: string; b: string } => {
    const t = makeTwins(path.join(tmp.dir, `case${n++}`));
    const tree = path.join(t.work, 'tree');
    writeTree(tree, { etc: { hostname: 'default\n' }, kernel: 'kernel A\n' });
    const a = commitBoth(t, tree, 'os/main', 'A');
    groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', '--karg=root=/dev/sda1', '--karg=mode=a', 'os/main']);
    fs.writeFileSync(path.join(etcOf(t.g, 0), 'hostname'), 'edited-in-A\n');
    writeTree(tree, { etc: { hostname: 'default\n' }, kernel: 'kernel B\n' });
    const b = commitBoth(t, tree, 'os/main', 'B');
    groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', '--karg-none', '--karg=root=/dev/sda1', '--karg=mode=b', 'os/main']);
    fs.writeFileSync(path.join(etcOf(t.g, 0), 'hostname'), 'edited-in-B\n');
    assert.deepEqual(status(t.g).deployments.map((d) => d.checksum), [b, a]);
    return { t, a, b };
  };

  const assertADefault = (t: Twins, a: string) => {
    const s = status(t.g);
    assert.equal(s.deployments[0]!.checksum, a);
    assert.deepEqual(s.deployments[0]!.kargs, ['root=/dev/sda1', 'mode=a']);
    assert.equal(fs.readFileSync(path.join(etcOf(t.g, 0), 'hostname'), 'utf8'), 'edited-in-A\n');
    const entry = defaultEntry(t.g);
    assert.match(entry, /^title Test OS A \(ostree:0\)$/m);
    assert.match(entry, /^options root=\/dev\/sda1 mode=a ostree=\/ostree\/boot\.[01]\/debian\/[0-9a-f]{64}\/0$/m);
    // The kernel the entry boots is A's.
    const linux = /^linux (.*)$/m.exec(entry)![1]!;
    assert.equal(fs.readFileSync(path.join(t.g, 'boot', linux), 'utf8'), 'kernel A\n');
    // The real ostree agrees on the default and reads every deployment.
    const o = ostree(['admin', 'status', `--sysroot=${t.g}`]).stdout;
    assert.match(o, new RegExp(`^  debian ${a}\\.0\\n {4}Version: A\\n`));
    assert.equal(groveOk(['admin', 'status', `--sysroot=${t.g}`]), o);
  };

  it('set-default 1 after deploying B over A makes A the default with its kargs and /etc', () => {
    const { t, a, b } = aThenB();
    const out = groveOk(['admin', `--sysroot=${t.g}`, 'set-default', '1']);
    assert.match(out, /^Bootloader updated; bootconfig swap: yes;/);
    assertADefault(t, a);
    // B is still there, second, with its own kernel arguments and /etc: roll forward works too.
    const s = status(t.g);
    assert.equal(s.deployments[1]!.checksum, b);
    assert.deepEqual(s.deployments[1]!.kargs, ['root=/dev/sda1', 'mode=b']);
    assert.equal(fs.readFileSync(path.join(etcOf(t.g, 1), 'hostname'), 'utf8'), 'edited-in-B\n');
    groveOk(['admin', `--sysroot=${t.g}`, 'set-default', '1']);
    assert.equal(status(t.g).deployments[0]!.checksum, b);
  });

  it('undeploy 0 after deploying B over A leaves A, whole, as the default', () => {
    const { t, a, b } = aThenB();
    groveOk(['admin', `--sysroot=${t.g}`, 'undeploy', '0']);
    assertADefault(t, a);
    assert.equal(status(t.g).deployments.length, 1);
    // B's checkout and kernel are gone; A's remain.
    const deployDir = path.join(t.g, 'ostree/deploy/debian/deploy');
    assert.deepEqual(fs.readdirSync(deployDir).sort(), [`${a}.0`, `${a}.0.origin`]);
    assert.equal(fs.readdirSync(path.join(t.g, 'boot/ostree')).length, 1);
    // The deployment refs that protect commits from pruning now name A alone.
    const refs = groveOk(['refs', `--repo=${path.join(t.g, 'ostree/repo')}`, 'ostree']).trim().split('\n');
    assert.equal(refs.length, 1);
    assert.equal(groveOk(['rev-parse', `--repo=${path.join(t.g, 'ostree/repo')}`, `ostree/${refs[0]}`]).trim(), a);
    assert.notEqual(a, b);
  });

  it('set-default 0 changes nothing; an index out of range is refused with the sysroot unchanged', () => {
    const { t } = aThenB();
    const before = describeSysroot(t.g);
    assert.match(groveOk(['admin', `--sysroot=${t.g}`, 'set-default', '0']), /already the default/);
    for (const args of [['set-default', '2'], ['undeploy', '7'], ['set-default', 'x']]) {
      const r = grove(['admin', `--sysroot=${t.g}`, ...args]);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, /^error: (Out of range deployment index (2|7), expected < 2|deployment index 'x' is not a number)\n$/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
    assert.deepEqual(describeSysroot(t.g), before);
  });
});

describe('/etc three-way merge, file by file, as ostree merges it', needsOstree(), () => {
  const tmp = sysrootTemp('grove-etc-');

  it('edited, added and deleted files keep the admin\'s change; untouched ones follow upstream', () => {
    const t = makeTwins(path.join(tmp.dir, 'twins'));
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {
      etc: {
        'edited.conf': 'v1 default\n', 'deleted.conf': 'v1 default\n', 'upstream.conf': 'v1 default\n',
        'both.conf': 'v1 default\n', 'dropped-upstream.conf': 'v1\n', 'dir/nested.conf': 'v1\n', 'mode.conf': 'same\n',
      },
    });
    commitBoth(t, tree, 'os/main', '1');
    for (const root of [t.g, t.o]) ostree(['admin', `--sysroot=${root}`, 'deploy', '--os=debian', 'os/main']);
    for (const root of [t.g, t.o]) {
      const etc = etcOf(root, 0);
      fs.writeFileSync(path.join(etc, 'edited.conf'), 'admin edit\n');
      fs.writeFileSync(path.join(etc, 'both.conf'), 'admin edit\n');
      fs.rmSync(path.join(etc, 'deleted.conf'));
      fs.writeFileSync(path.join(etc, 'local.conf'), 'admin added\n');
      fs.mkdirSync(path.join(etc, 'local.d'));
      fs.writeFileSync(path.join(etc, 'local.d/x.conf'), 'admin added\n');
      fs.symlinkSync('edited.conf', path.join(etc, 'link.conf'));
      fs.chmodSync(path.join(etc, 'mode.conf'), 0o600);
    }
    writeTree(tree, {
      etc: {
        'edited.conf': 'v1 default\n', 'deleted.conf': 'v2 default\n', 'upstream.conf': 'v2 default\n',
        'both.conf': 'v2 default\n', 'dir/nested.conf': 'v2\n', 'new.conf': 'v2 new\n', 'mode.conf': 'same\n',
      },
    });
    commitBoth(t, tree, 'os/main', '2');
    const g = groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']);
    ostree(['admin', `--sysroot=${t.o}`, 'deploy', '--os=debian', 'os/main']);
    assert.match(g, /^Copying \/etc changes: 3 modified, 1 removed, 4 added$/m);

    const etc = etcOf(t.g, 0);
    const read = (rel: string) => (fs.existsSync(path.join(etc, rel)) ? fs.readFileSync(path.join(etc, rel), 'utf8') : null);
    assert.equal(read('edited.conf'), 'admin edit\n', 'a file the admin edited keeps the edit');
    assert.equal(read('both.conf'), 'admin edit\n', 'changed on both sides: the admin wins');
    assert.equal(read('deleted.conf'), null, 'a file the admin deleted stays deleted though upstream changed it');
    assert.equal(read('upstream.conf'), 'v2 default\n', 'a file only upstream changed takes the new default');
    assert.equal(read('dropped-upstream.conf'), null, 'a file upstream dropped and the admin left alone goes');
    assert.equal(read('dir/nested.conf'), 'v2\n');
    assert.equal(read('new.conf'), 'v2 new\n', 'a new default appears');
    assert.equal(read('local.conf'), 'admin added\n', 'a file the admin added is kept');
    assert.equal(read('local.d/x.conf'), 'admin added\n', 'a directory the admin added is kept with its files');
    assert.equal(fs.readlinkSync(path.join(etc, 'link.conf')), 'edited.conf');
    assert.equal(fs.statSync(path.join(etc, 'mode.conf')).mode & 0o777, 0o600, 'a mode change is a local change');
    // The new defaults themselves are untouched, and /etc is a copy, not links into the repository.
    assert.equal(fs.readFileSync(path.join(etc, '../usr/etc/edited.conf'), 'utf8'), 'v1 default\n');
    assert.equal(fs.statSync(path.join(etc, 'upstream.conf')).nlink, 1);
    // And ostree merged the same way, byte for byte.
    assert.deepEqual(describeSysroot(t.g), describeSysroot(t.o));
  });

  it('a tree that ships /etc instead of /usr/etc gets it moved to usr/etc and copied back (ostree 2022.7 fails here)', () => {
    const t = makeTwins(path.join(tmp.dir, 'etc-only'));
    const tree = path.join(t.work, 'tree');
    writeTree(tree, { etc: {}, files: { 'etc/hostname': 'box\n', 'etc/ssh/sshd_config': 'Port 22\n' } });
    fs.rmSync(path.join(tree, 'usr/etc'), { recursive: true, force: true });
    commitBoth(t, tree, 'os/main', '1');
    const o = ostree(['admin', `--sysroot=${t.o}`, 'deploy', '--os=debian', 'os/main'], { allowFail: true });
    assert.notEqual(o.code, 0, 'ostree 2022.7 is expected to fail on such a tree');
    groveOk(['admin', `--sysroot=${t.g}`, 'deploy', '--os=debian', 'os/main']);
    const etc = etcOf(t.g, 0);
    for (const dir of [etc, path.join(etc, '../usr/etc')]) {
      assert.equal(fs.readFileSync(path.join(dir, 'hostname'), 'utf8'), 'box\n');
      assert.equal(fs.readFileSync(path.join(dir, 'ssh/sshd_config'), 'utf8'), 'Port 22\n');
    }
    assert.equal(fs.statSync(path.join(etc, 'hostname')).nlink, 1, '/etc is a copy');
    assert.match(ostree(['admin', 'status', `--sysroot=${t.g}`]).stdout, /Version: 1\n/);
  });
});
