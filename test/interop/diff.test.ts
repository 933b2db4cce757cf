import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildTree, type Entry } from '../../fixtures/trees/build.js';
import { setXattr } from '../../src/xattr/xattrs.js';
import { groveAsOstree, haveOstree, needsOstree, ostree, tempDir, type RunResult } from '../helpers.js';
import { commitBoth, initRepos } from './support.js';
import { assertSameStderr } from './usage-compare.js';

/**
 * `grove diff` against `ostree diff` on twin repositories (the same two commits made by each
 * tool), and against directories on disk: two commits, one commit and its parent, a commit and
 * a checkout someone changed (either way round), two directories, `--stats`, `--no-xattrs`,
 * `--owner-uid/--owner-gid`, and the failures. Every case runs three ways — ostree on its
 * repository, grove on its own and grove on ostree's — and stdout, stderr (after a usage, see
 * usage-compare.ts) and exit status must be ostree's. Directories on disk are listed in GLib's order (by inode, not by name), so the
 * changed checkout is made in an order unlike the names'.
 */

const first: Entry[] = [
  { path: 'alpha', type: 'file', content: 'a\n' },
  { path: 'zeta', type: 'file', content: 'z\n' },
  { path: 'mid', type: 'file', content: 'm\n' },
  { path: 'beta', type: 'file', content: 'b\n' },
  { path: 'lnk', type: 'symlink', target: 'alpha' },
  { path: 'usr/bin/tool', type: 'file', content: '#!/bin/sh\n', mode: 0o755 },
  { path: 'usr/share/doc/readme', type: 'file', content: 'read me\n' },
  { path: 'sub/x', type: 'file', content: 'x\n' },
  { path: 'asub/y', type: 'file', content: 'y\n' },
];

describe('grove diff matches ostree diff', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let repos = { g: '', o: '' };
  let c1 = '';
  let c2 = '';
  let changed = '';
  let checkout = '';

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-diff-'));
    repos = initRepos(dir, 'archive');
    const tree = path.join(dir, 'tree');
    await buildTree(tree, first);
    ({ o: c1 } = await commitBoth(repos, ['-b', 'main', '--timestamp=@1600000000', tree]));
    // The second commit: files modified, removed and added (a new directory with contents), a
    // symlink become a directory, a directory's mode changed.
    for (const p of ['zeta', 'beta', 'lnk']) fs.rmSync(path.join(tree, p));
    fs.rmSync(path.join(tree, 'sub'), { recursive: true });
    await buildTree(tree, [
      { path: 'mid', type: 'file', content: 'changed\n' },
      { path: 'new3', type: 'file', content: '3\n' },
      { path: 'new1', type: 'file', content: '1\n' },
      { path: 'new2', type: 'file', content: '2\n' },
      { path: 'newdir/q', type: 'file', content: 'q\n' },
      { path: 'lnk', type: 'dir' },
      { path: 'asub', type: 'dir', mode: 0o700 },
      { path: 'usr/share/doc/added', type: 'file', content: 'new doc\n' },
    ]);
    const second = await commitBoth(repos, ['-b', 'main', '--timestamp=@1700000000', tree]);
    assert.equal(second.g, second.o);
    c2 = second.o;
    // A checkout of the first commit, changed on disk: files created out of name order.
    checkout = path.join(dir, 'checkout');
    ostree(['checkout', `--repo=${repos.o}`, '-U', c1, checkout]);
    // The changed tree is a copy: ostree's -U checkouts of an archive share files through the
    // repository's uncompressed-objects cache, so editing one in place would edit both.
    changed = path.join(dir, 'changed');
    assert.equal(spawnSync('cp', ['-a', checkout, changed]).status, 0);
    fs.writeFileSync(path.join(changed, 'alpha'), 'edited\n');
    fs.rmSync(path.join(changed, 'usr/share/doc'), { recursive: true });
    await buildTree(changed, [
      { path: 'www', type: 'file', content: 'w\n' },
      { path: 'aaa/inner', type: 'file', content: 'i\n' },
      { path: 'mmm', type: 'symlink', target: 'www' },
      { path: 'usr/bin/tool2', type: 'file', content: 't\n' },
      { path: 'tagged', type: 'file', content: 't\n', xattrs: { 'user.k': 'v' } },
    ]);
    fs.chmodSync(path.join(changed, 'usr/bin/tool'), 0o700);
    fs.chownSync(path.join(changed, 'beta'), 1000, 1000);
    setXattr(path.join(changed, 'mid'), 'user.note', Buffer.from('only on disk'));
  });
  after(async () => cleanup());

  function run(cmd: 'ostree' | 'grove', repo: string, args: string[]): RunResult {
    const argv = ['diff', `--repo=${repo}`, ...args];
    if (cmd === 'grove') return groveAsOstree(argv, { cwd: dir });
    const r = spawnSync('ostree', argv, { cwd: dir, encoding: 'utf8' });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  function same(args: string[]): RunResult {
    const ref = run('ostree', repos.o, args);
    const what = `diff ${args.join(' ')}`;
    for (const [who, r] of [['grove on its repository', run('grove', repos.g, args)], ['grove on ostree\'s', run('grove', repos.o, args)]] as const) {
      assertSameStderr(r.stderr, ref.stderr, `${what}, ${who}`);
      assert.equal(r.stdout, ref.stdout, `${what}, ${who}: stdout`);
      assert.equal(r.code, ref.code, `${what}, ${who}: exit status`);
    }
    return ref;
  }

  test('two commits, and one commit against its parent', () => {
    const r = same([c1, c2]);
    assert.match(r.stdout, /^M {4}\/lnk\n/);
    assert.match(r.stdout, /\nA {4}\/newdir\/q\n/);
    same(['main']);
    same([c2, c1]);
    same(['main^', 'main']);
    assert.equal(same([c1, c1]).stdout, '');
  });

  test('a commit against a directory on disk, either way round', () => {
    assert.equal(same([c1, checkout]).stdout, '', 'a fresh checkout does not differ');
    const r = same([c1, changed]);
    assert.match(r.stdout, /^M {4}\/alpha\n/m);
    assert.match(r.stdout, /^A {4}aaa\/inner$/m);
    same([changed, c1]);
    same([c2, './changed']);
    same(['--no-xattrs', c1, changed]);
    same(['--owner-uid=1000', '--owner-gid=1000', c1, changed]);
    same(['--owner-uid=-1', c1, changed]);
  });

  test('two directories', () => {
    same([checkout, changed]);
    same(['./changed', './checkout']);
  });

  test('--stats, alone and with --fs-diff', () => {
    const r = same(['--stats', c1, c2]);
    assert.match(r.stdout, /^\[A\] Object Count: \d+\n\[B\] Object Count: \d+\nCommon Object Count: \d+\nCommon Object Size: .+\n$/);
    same(['--stats', 'main']);
    same(['--stats', '--fs-diff', c1, c2]);
  });

  test('fails as ostree does', () => {
    for (const args of [[], ['nope'], [c1, 'nope'], [`${c1}^`], [c1, '/does/not/exist'], [c1, './missing'], [`${c1}`, path.join(changed, 'alpha')], [path.join(changed, 'alpha'), c1], ['--owner-uid=x', c1, c2]]) {
      assert.notEqual(same(args).code, 0, args.join(' '));
    }
  });
});
