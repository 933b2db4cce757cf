import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { grove, groveOk, needsOstree, ostree } from '../helpers.js';
import { commitBoth, describeSysroot, makeTwins, ostreeStdout, sysrootTemp, writeTree, type Twins } from './fixture.js';

/**
 * `admin deploy --overlay-initrd=FILE` against ostree on twin sysroots (neither booted): the
 * images staged in /run/ostree/staged-initrds, copied into /boot/ostree/initramfs-overlays as
 * SHA256.img, listed as extra `initrd` lines of the new entry only, kept by later rewrites of that
 * entry, put back from /run when /boot lost one, and deleted once no entry lists them; the
 * failures with ostree's messages. Each image holds a token of this run, so the names it stages
 * in the host's /run are its own and are removed afterwards.
 */
describe('admin deploy --overlay-initrd does what ostree does', needsOstree(), () => {
  const tmp = sysrootTemp('grove-overlay-initrd-');
  const staged: string[] = [];
  after(() => {
    for (const c of staged) fs.rmSync(path.join('/run/ostree/staged-initrds', c), { force: true });
  });

  let n = 0;
  const fresh = (): Twins => makeTwins(path.join(tmp.dir, `case${n++}`));
  const token = randomUUID();
  const image = (t: Twins, name: string, mode = 0o644): string => {
    const p = path.join(t.work, name);
    const data = `${name} ${token}\n`;
    fs.writeFileSync(p, data, { mode });
    staged.push(createHash('sha256').update(data).digest('hex'));
    return p;
  };

  const assertSame = (t: Twins) => {
    assert.deepEqual(describeSysroot(t.g), describeSysroot(t.o));
    assert.equal(groveOk(['admin', 'status', `--sysroot=${t.g}`]), ostree(['admin', 'status', `--sysroot=${t.o}`]).stdout);
  };
  const deployBoth = (t: Twins, args: string[]) => {
    const g = grove(['admin', `--sysroot=${t.g}`, 'deploy', ...args]);
    const o = ostree(['admin', `--sysroot=${t.o}`, 'deploy', ...args], { allowFail: true });
    assert.equal(o.code, 0, `ostree deploy ${args.join(' ')}: ${o.stderr}`);
    assert.equal(g.code, 0, `grove deploy ${args.join(' ')}: ${g.stderr}`);
    assert.equal(g.stdout, ostreeStdout(o.stdout), `stdout of deploy ${args.join(' ')}`);
    assert.equal(g.stderr, o.stderr, `stderr of deploy ${args.join(' ')}`);
    assertSame(t);
  };
  const overlays = (root: string) => fs.readdirSync(path.join(root, 'boot/ostree/initramfs-overlays')).sort();
  const entries = (root: string) => fs.readdirSync(path.join(root, 'boot/loader/entries')).sort().map((f) => fs.readFileSync(path.join(root, 'boot/loader/entries', f), 'utf8'));

  it('two overlays on a first deploy, kept by the older entry, then deleted with it', () => {
    const t = fresh();
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    commitBoth(t, tree, 'os/main', '1');
    const one = image(t, 'one.img');
    const two = image(t, 'two.img', 0o640);
    deployBoth(t, ['--os=debian', '--karg=quiet', `--overlay-initrd=${one}`, `--overlay-initrd=${two}`, 'os/main']);
    assert.equal(overlays(t.g).length, 2);
    assert.match(entries(t.g)[0]!, /^initrd \/ostree\/debian-[0-9a-f]{64}\/initramfs-6\.1\.0-test\.img\ninitrd \/ostree\/initramfs-overlays\/[0-9a-f]{64}\.img\ninitrd \/ostree\/initramfs-overlays\/[0-9a-f]{64}\.img\n$/m);

    // A new deployment takes none from the merge deployment; the older entry, rewritten, keeps its two.
    writeTree(tree, { kernel: 'kernel 2\n' });
    commitBoth(t, tree, 'os/main', '2');
    deployBoth(t, ['--os=debian', 'os/main']);
    assert.equal(entries(t.g).filter((e) => e.includes('initramfs-overlays')).length, 1);

    // The same commit again with another overlay: the kernel, arguments and version are those of
    // the deployment it replaces, so only the overlays tell the boot configurations apart.
    const three = image(t, 'three.img');
    deployBoth(t, ['--os=debian', `--overlay-initrd=${three}`, 'os/main']);
    assert.equal(overlays(t.g).length, 1, 'the first two went with the entry that listed them');

    // /boot lost an image an entry lists: the next rewrite puts it back from /run.
    for (const root of [t.g, t.o]) for (const f of overlays(root)) fs.rmSync(path.join(root, 'boot/ostree/initramfs-overlays', f));
    deployBoth(t, ['--os=debian', '--retain', '--karg=x=1', 'os/main']);
    assert.equal(overlays(t.g).length, 1);

    deployBoth(t, ['--os=debian', 'os/main']);
    deployBoth(t, ['--os=debian', 'os/main']);
    assert.deepEqual(overlays(t.g), [], 'no entry lists an overlay any more');
  });

  it('a tree without an initramfs: no initrd lines, and the copy in /boot goes again', () => {
    const t = fresh();
    const tree = path.join(t.work, 'tree');
    writeTree(tree, { layout: 'modules-no-initramfs' });
    commitBoth(t, tree, 'os/main', '1');
    deployBoth(t, ['--os=debian', `--overlay-initrd=${image(t, 'lonely.img')}`, 'os/main']);
    assert.doesNotMatch(entries(t.g)[0]!, /initrd/);
  });

  it('one image given twice is listed twice and copied once', () => {
    const t = fresh();
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    commitBoth(t, tree, 'os/main', '1');
    const twice = image(t, 'twice.img');
    deployBoth(t, ['--os=debian', `--overlay-initrd=${twice}`, `--overlay-initrd=${twice}`, 'os/main']);
    assert.equal(overlays(t.g).length, 1);
    assert.equal(entries(t.g)[0]!.split('\n').filter((l) => l.startsWith('initrd /ostree/initramfs-overlays/')).length, 2);
  });

  it('an image an entry lists, gone from /boot and from /run: the rewrite fails as ostree does', () => {
    const t = fresh();
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    commitBoth(t, tree, 'os/main', '1');
    const lost = image(t, 'lost.img');
    deployBoth(t, ['--os=debian', `--overlay-initrd=${lost}`, 'os/main']);
    const [name] = overlays(t.g);
    for (const root of [t.g, t.o]) fs.rmSync(path.join(root, 'boot/ostree/initramfs-overlays', name!));
    fs.rmSync(path.join('/run/ostree/staged-initrds', name!.slice(0, 64)));
    const argv = ['--os=debian', '--retain', '--karg=x=1', 'os/main'];
    const g = grove(['admin', `--sysroot=${t.g}`, 'deploy', ...argv]);
    const o = ostree(['admin', `--sysroot=${t.o}`, 'deploy', ...argv], { allowFail: true });
    assert.equal(o.code, 1, `ostree deploy ${argv.join(' ')} fails: ${o.stdout}`);
    assert.equal(g.code, o.code, 'exit status');
    assert.equal(g.stderr, o.stderr, 'stderr');
    assert.equal(g.stdout, '');
    // ostree leaves the new deployment's checkout for its next cleanup; grove removes it at once.
    const leftover = /^ostree\/deploy\/debian\/deploy\/[0-9a-f]{64}\.1[ /.]/;
    assert.ok(describeSysroot(t.o).some((l) => leftover.test(l)));
    assert.deepEqual(describeSysroot(t.g), describeSysroot(t.o).filter((l) => !leftover.test(l)));
    assert.equal(groveOk(['admin', 'status', `--sysroot=${t.g}`]), ostree(['admin', 'status', `--sysroot=${t.o}`]).stdout);
  });

  it('fails as ostree does: a missing file, a directory, --stage on a sysroot that is not booted, a malformed overlay line', () => {
    const t = fresh();
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    commitBoth(t, tree, 'os/main', '1');
    deployBoth(t, ['--os=debian', 'os/main']);
    fs.mkdirSync(path.join(t.work, 'adir'));
    const cases = [
      [`--overlay-initrd=${path.join(t.work, 'missing.img')}`],
      [`--overlay-initrd=${image(t, 'fine.img')}`, `--overlay-initrd=${path.join(t.work, 'adir')}`],
      [`--overlay-initrd=${image(t, 'staged.img')}`, '--stage'],
    ];
    for (const args of cases) {
      const argv = ['--os=debian', ...args, 'os/main'];
      const g = grove(['admin', `--sysroot=${t.g}`, 'deploy', ...argv]);
      const o = ostree(['admin', `--sysroot=${t.o}`, 'deploy', ...argv], { allowFail: true });
      assert.equal(o.code, 1, `ostree deploy ${argv.join(' ')} fails`);
      assert.equal(g.code, o.code, `deploy ${argv.join(' ')}: exit status`);
      assert.equal(g.stderr, o.stderr, `deploy ${argv.join(' ')}: stderr`);
      assert.equal(g.stdout, '');
      assertSame(t);
    }

    // An overlay line whose file name is not CHECKSUM.img: the sysroot does not load.
    for (const root of [t.g, t.o]) {
      const dir = path.join(root, 'boot/loader/entries');
      for (const f of fs.readdirSync(dir)) fs.appendFileSync(path.join(dir, f), 'initrd /ostree/initramfs-overlays/short.img\n');
    }
    for (const verb of [['status'], ['deploy', '--os=debian', 'os/main']]) {
      const g = grove(['admin', `--sysroot=${t.g}`, ...verb]);
      const o = ostree(['admin', `--sysroot=${t.o}`, ...verb], { allowFail: true });
      assert.equal(o.code, 1, `ostree admin ${verb[0]} fails`);
      assert.equal(g.code, o.code, `admin ${verb[0]}: exit status`);
      assert.equal(g.stderr, o.stderr, `admin ${verb[0]}: stderr`);
      assert.equal(g.stdout, '');
    }
    assert.deepEqual(describeSysroot(t.g), describeSysroot(t.o));
  });
});
