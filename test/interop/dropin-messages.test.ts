import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { groveAsOstree, haveOstree, needsOstree, ostree, tempDir } from '../helpers.js';

/**
 * Refusals that scripts match on, in ostree's words: bad refspecs, a commit of a path that is not
 * a directory, a checkout into a directory that exists or under one that does not, `cat` of a
 * directory. Each command line runs in twin repositories (ostree's and grove's, the same commit)
 * from the same working directory; stderr, stdout and the status must be ostree's.
 */

describe('refusals in ostree\'s words', needsOstree(), () => {
  let dir = '';
  let cleanup = async () => undefined as void;
  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-dropin-msg-'));
    await buildTree(path.join(dir, 'tree'), [
      { path: 'etc/file', type: 'file', content: 'a\n' },
      { path: 'usr/share/doc', type: 'dir' },
      { path: 'usr/lib/os-release', type: 'file', content: 'ID=test\n' },
      // cat follows these inside the commit.
      { path: 'etc/os-release', type: 'symlink', target: '../usr/lib/os-release' },
      { path: 'etc/abs', type: 'symlink', target: '/usr/lib/os-release' },
      { path: 'etc/chain', type: 'symlink', target: 'abs' },
      { path: 'etc/rel', type: 'symlink', target: 'file' },
      { path: 'etc/loop1', type: 'symlink', target: 'loop2' },
      { path: 'etc/loop2', type: 'symlink', target: 'loop1' },
    ]);
    fs.mkdirSync(path.join(dir, 'exists'));
    fs.mkdirSync(path.join(dir, 'occupied'));
    fs.writeFileSync(path.join(dir, 'occupied/file'), 'in the way\n');
    fs.symlinkSync('elsewhere', path.join(dir, 'occupied/rel'));
    // Archive twins (o, g), and bare-user ones (ob, gb), whose files a checkout hardlinks.
    for (const [r, mode] of [['o', 'archive'], ['g', 'archive'], ['ob', 'bare-user'], ['gb', 'bare-user']]) {
      ostree(['init', `--repo=${path.join(dir, r!)}`, `--mode=${mode!}`]);
      ostree(['commit', `--repo=${path.join(dir, r!)}`, '-b', 'main', '--timestamp=@1700000000', path.join(dir, 'tree')]);
    }
  });
  after(async () => cleanup());

  /** Name, command line, and the twins it runs in (archive unless said). */
  const cases: Array<[string, string[], 'bare-user'?]> = [
    ['a ref with a space', ['rev-parse', 'no such ref']],
    ['a refspec with an empty remote', ['log', ':main']],
    ['a refspec with an empty ref', ['rev-parse', 'origin:']],
    ['a refspec whose ref is absolute', ['show', 'main:/etc']],
    ['refs --create with a bad refspec', ['refs', '--create=o:a b', 'main']],
    ['commit -b with a bad ref', ['commit', '-b', 'a b', 'tree']],
    ['commit of a path that does not exist', ['commit', '-b', 'x', 'nonexistent']],
    ['commit of a file', ['commit', '-b', 'x', 'tree/etc/file']],
    ['commit --tree=dir= of a path that does not exist', ['commit', '-b', 'x', '--tree=dir=nonexistent']],
    ['checkout into a directory that exists', ['checkout', 'main', 'exists']],
    ['checkout under a directory that does not exist', ['checkout', 'main', 'nowhere/sub']],
    ['a one-file checkout into a file', ['checkout', '--subpath=/etc/file', 'main', 'tree/etc/file']],
    ['a one-file checkout under a directory that does not exist', ['checkout', '--subpath=/etc/file', 'main', 'nowhere/sub']],
    ['a one-file checkout onto a file in the way', ['checkout', '--subpath=/etc/file', 'main', 'occupied']],
    ['a one-file checkout of a symlink onto one in the way', ['checkout', '--subpath=/etc/rel', 'main', 'occupied']],
    ['cat of a directory', ['cat', 'main', '/usr']],
    ['cat of a file, then of a directory', ['cat', 'main', '/etc/file', '/']],
    ['a hardlinking one-file checkout onto a file in the way', ['checkout', '-U', '--subpath=/etc/file', 'main', 'occupied'], 'bare-user'],
  ];
  for (const [name, args, mode] of cases) {
    test(name, () => {
      const [or, gr] = mode === 'bare-user' ? ['ob', 'gb'] : ['o', 'g'];
      const o = ostree([args[0]!, `--repo=${or}`, ...args.slice(1)], { allowFail: true, cwd: dir });
      const g = groveAsOstree([args[0]!, `--repo=${gr}`, ...args.slice(1)], { cwd: dir });
      assert.notEqual(o.code, 0, `ostree ${args.join(' ')} failed`);
      assert.equal(g.stderr, o.stderr, 'stderr');
      assert.equal(g.stdout, o.stdout, 'stdout');
      assert.equal(g.code, o.code, 'exit status');
    });
  }
  test('cat follows symlinks inside the commit, as ostree does', () => {
    for (const p of ['/etc/rel', '/etc/abs', '/etc/chain']) {
      const o = ostree(['cat', '--repo=o', 'main', p], { cwd: dir });
      const g = groveAsOstree(['cat', '--repo=g', 'main', p], { cwd: dir });
      assert.deepEqual([g.code, g.stdout, g.stderr], [0, o.stdout, ''], p);
    }
    // ostree takes `..` for a name and fails, and crashes on a loop; grove resolves the one and
    // refuses the other in one line.
    assert.equal(groveAsOstree(['cat', '--repo=g', 'main', '/etc/os-release'], { cwd: dir }).stdout, 'ID=test\n');
    const loop = groveAsOstree(['cat', '--repo=g', 'main', '/etc/loop1'], { cwd: dir });
    assert.deepEqual([loop.code, loop.stdout, loop.stderr], [1, '', 'error: /etc/loop1: Too many levels of symbolic links\n']);
  });

  test('a one-file checkout goes into a directory that exists, as ostree\'s does', () => {
    for (const [tool, run] of [['o', ostree], ['g', groveAsOstree]] as const) {
      fs.mkdirSync(path.join(dir, `one-${tool}`));
      const r = run(['checkout', `--repo=${tool}`, '--subpath=/etc/file', 'main', `one-${tool}`], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(fs.readdirSync(path.join(dir, `one-${tool}`)), ['file']);
    }
  });

  test('nothing was checked out or committed by the refusals', () => {
    assert.deepEqual(fs.readdirSync(path.join(dir, 'exists')), []);
    assert.equal(fs.readFileSync(path.join(dir, 'occupied/file'), 'utf8'), 'in the way\n');
    assert.equal(fs.readlinkSync(path.join(dir, 'occupied/rel')), 'elsewhere');
    assert.equal(fs.existsSync(path.join(dir, 'nowhere')), false);
    assert.equal(ostree(['refs', `--repo=${path.join(dir, 'g')}`]).stdout, 'main\n');
  });
});
