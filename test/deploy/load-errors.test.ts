import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { grove, needsOstree, ostree } from '../helpers.js';
import { commitBoth, makeTwins, sysrootTemp, unlockDeployments, writeTree } from './fixture.js';

/**
 * A broken sysroot fails in ostree's words: the sysroot directory itself (`opendir(PATH): …`),
 * the lock of the verbs that write (`ostree/` missing), then everything ostree_sysroot_load meets,
 * under its `loading sysroot: ` prefix: the repository, ostree/deploy, boot/loader and
 * ostree/boot.N, the boot entries, each entry's ostree= link, deployment directory and origin.
 * One sysroot with a deployment is made by ostree; each case breaks a copy for each tool, and
 * read-only and writing verbs compare their exit status and stderr.
 */
describe('admin verbs on a broken sysroot fail as ostree admin does', needsOstree(), () => {
  const tmp = sysrootTemp('grove-load-errors-');
  let base = '';
  let commit = '';
  let bootCsum = '';
  let n = 0;

  const setup = () => {
    if (base) return;
    const t = makeTwins(path.join(tmp.dir, 'base'));
    const tree = path.join(t.work, 'tree');
    writeTree(tree, {});
    commit = commitBoth(t, tree, 'os/main', '1');
    ostree(['admin', `--sysroot=${t.o}`, 'deploy', '--os=debian', 'os/main']);
    base = t.o;
    bootCsum = fs.readdirSync(path.join(base, 'ostree/boot.1.1/debian'))[0]!;
  };

  /** Copies of the base sysroot for grove and ostree, each broken by `breakIt(root)`. */
  const broken = (breakIt: (root: string) => void): { g: string; o: string } => {
    setup();
    const pair = { g: path.join(tmp.dir, `c${n}-g`), o: path.join(tmp.dir, `c${n}-o`) };
    n++;
    for (const root of [pair.g, pair.o]) {
      assert.equal(spawnSync('cp', ['-a', base, root]).status, 0);
      unlockDeployments(root);
      breakIt(root);
    }
    return pair;
  };

  const same = (pair: { g: string; o: string }, args: string[], what: string) => {
    const g = grove(['admin', `--sysroot=${pair.g}`, ...args]);
    const o = ostree(['admin', `--sysroot=${pair.o}`, ...args], { allowFail: true });
    const norm = (s: string, root: string) => s.split(root).join('SYSROOT');
    assert.equal(g.code, o.code, `${what}: admin ${args.join(' ')}: exit status (grove: ${g.stderr}; ostree: ${o.stderr})`);
    assert.equal(norm(g.stderr, pair.g), norm(o.stderr, pair.o), `${what}: admin ${args.join(' ')}: stderr`);
    assert.equal(g.stdout, o.stdout, `${what}: admin ${args.join(' ')}: stdout`);
    return o;
  };

  const deployDir = (root: string) => path.join(root, 'ostree/deploy/debian/deploy', `${commit}.0`);
  const entry = (root: string) => path.join(root, 'boot/loader.1/entries/ostree-1-debian.conf');
  const edit = (file: string, f: (s: string) => string) => fs.writeFileSync(file, f(fs.readFileSync(file, 'utf8')));
  const relink = (p: string, target: string) => { fs.rmSync(p, { force: true }); fs.symlinkSync(target, p); };

  const cases: Array<[string, (root: string) => void]> = [
    ['no ostree/repo', (r) => fs.rmSync(path.join(r, 'ostree/repo'), { recursive: true })],
    ['ostree/repo a file', (r) => { fs.rmSync(path.join(r, 'ostree/repo'), { recursive: true }); fs.writeFileSync(path.join(r, 'ostree/repo'), ''); }],
    ['ostree/repo without objects', (r) => fs.rmSync(path.join(r, 'ostree/repo/objects'), { recursive: true })],
    ['ostree/repo without config', (r) => fs.rmSync(path.join(r, 'ostree/repo/config'))],
    ['a config that does not parse', (r) => fs.writeFileSync(path.join(r, 'ostree/repo/config'), 'garbage\n')],
    ['a config without repo_version', (r) => fs.writeFileSync(path.join(r, 'ostree/repo/config'), '[core]\nmode=bare\n')],
    ['a config with repo_version 2', (r) => fs.writeFileSync(path.join(r, 'ostree/repo/config'), '[core]\nrepo_version=2\n')],
    ['a config with an unknown mode', (r) => fs.writeFileSync(path.join(r, 'ostree/repo/config'), '[core]\nrepo_version=1\nmode=foo\n')],
    ['no ostree/deploy', (r) => fs.rmSync(path.join(r, 'ostree/deploy'), { recursive: true })],
    ['boot/loader a directory', (r) => { fs.rmSync(path.join(r, 'boot/loader')); fs.mkdirSync(path.join(r, 'boot/loader')); }],
    ['boot/loader pointing elsewhere', (r) => relink(path.join(r, 'boot/loader'), 'loader.7')],
    ['ostree/boot.1 pointing elsewhere', (r) => relink(path.join(r, 'ostree/boot.1'), 'boot.1.5')],
    ['ostree/boot.1 a directory', (r) => { fs.rmSync(path.join(r, 'ostree/boot.1')); fs.mkdirSync(path.join(r, 'ostree/boot.1')); }],
    ['entries a file', (r) => { fs.rmSync(path.join(r, 'boot/loader.1/entries'), { recursive: true }); fs.writeFileSync(path.join(r, 'boot/loader.1/entries'), ''); }],
    ['a dangling entry', (r) => fs.symlinkSync('nowhere', path.join(r, 'boot/loader.1/entries/ostree-2-debian.conf'))],
    ['a dangling name that is no entry', (r) => fs.symlinkSync('nowhere', path.join(r, 'boot/loader.1/entries/README'))],
    ['an entry that is not UTF-8', (r) => fs.appendFileSync(entry(r), Buffer.from('title \xff\xfe\n', 'latin1'))],
    ['an entry without ostree=', (r) => edit(entry(r), (s) => s.replace('ostree=', 'xostree='))],
    ['an entry with a bad ostree=', (r) => edit(entry(r), (s) => s.replace('ostree=/ostree/boot.1', 'ostree=/ostree/boot.3'))],
    ['an overlay initrd with a bad name', (r) => fs.appendFileSync(entry(r), 'initrd /ostree/initramfs-overlays/short.img\n')],
    ['a missing boot link', (r) => fs.rmSync(path.join(r, 'ostree/boot.1.1/debian', bootCsum, '0'))],
    ['a boot link to a bad name', (r) => relink(path.join(r, 'ostree/boot.1.1/debian', bootCsum, '0'), '../../../deploy/debian/deploy/zzz')],
    ['a missing deployment directory', (r) => fs.renameSync(deployDir(r), `${deployDir(r)}.moved`)],
    ['an origin that does not parse', (r) => fs.writeFileSync(`${deployDir(r)}.origin`, '[origin\n')],
    ['an origin that is not UTF-8', (r) => fs.writeFileSync(`${deployDir(r)}.origin`, Buffer.from('[origin]\nrefspec=\xff\n', 'latin1'))],
    ['an origin that is a directory', (r) => { fs.rmSync(`${deployDir(r)}.origin`); fs.mkdirSync(`${deployDir(r)}.origin`); }],
    ['no ostree/ at all', (r) => fs.rmSync(path.join(r, 'ostree'), { recursive: true })],
  ];

  for (const [what, breakIt] of cases) {
    it(what, () => {
      const pair = broken(breakIt);
      // status and config-diff load without the lock; undeploy and pin take it first.
      const o = same(pair, ['status'], what);
      assert.notEqual(o.code, 0, `${what}: ostree admin status succeeded`);
      same(pair, ['config-diff', '--os=debian'], what);
      same(pair, ['undeploy', '0'], what);
      same(pair, ['pin', '0'], what);
    });
  }

  it('os-init and --print-current-dir load the sysroot; a missing or plain sysroot fails before any load', () => {
    const noRepo = broken(cases[0]![1]);
    same(noRepo, ['os-init', 'other'], 'no ostree/repo');
    const noOstree = broken((r) => fs.rmSync(path.join(r, 'ostree'), { recursive: true }));
    for (const args of [['os-init', 'other'], ['cleanup'], ['deploy', '--os=debian', 'os/main'], ['set-origin', 'r', 'http://example.com/']]) same(noOstree, args, 'no ostree/');
    const pcd = (pair: { g: string; o: string }) => {
      const g = grove(['admin', `--sysroot=${pair.g}`, '--print-current-dir']);
      const o = ostree(['admin', `--sysroot=${pair.o}`, '--print-current-dir'], { allowFail: true });
      assert.equal(g.code, o.code);
      assert.equal(g.stderr.trimEnd().split('\n').at(-1)!.split(pair.g).join('S'), o.stderr.trimEnd().split('\n').at(-1)!.split(pair.o).join('S'));
    };
    pcd(noOstree);
    pcd(broken((r) => relink(path.join(r, 'boot/loader'), 'loader.7')));
    const missing = { g: path.join(tmp.dir, 'missing-g'), o: path.join(tmp.dir, 'missing-o') };
    for (const args of [['status'], ['undeploy', '0'], ['os-init', 'x']]) same(missing, args, 'missing sysroot');
    const file = { g: path.join(tmp.dir, 'file-g'), o: path.join(tmp.dir, 'file-o') };
    for (const f of Object.values(file)) fs.writeFileSync(f, '');
    same(file, ['status'], 'a file as sysroot');
    const g = grove(['admin', 'init-fs', missing.g]);
    const o = ostree(['admin', 'init-fs', missing.o], { allowFail: true });
    assert.equal(g.code, o.code);
    assert.equal(g.stderr.split(missing.g).join('S'), o.stderr.split(missing.o).join('S'));
  });
});
