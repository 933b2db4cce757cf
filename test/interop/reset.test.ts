import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { grove, groveAsOstree, groveOk, haveOstree, needsOstree, ostree, tempDir } from '../helpers.js';
import { assertSameStderr } from './usage-compare.js';
import { commitBoth, initRepos } from './support.js';

/**
 * `grove reset` against `ostree reset` on twin repositories (the same history, one made by
 * each tool): each case runs on fresh copies, ostree on its repository and grove on its own;
 * stdout, stderr (after a usage, see usage-compare.ts), exit status and every ref afterwards
 * must match.
 */

function refs(repo: string): string {
  const files = spawnSync('find', ['refs', '-type', 'f'], { cwd: repo, encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort();
  return files.map((f) => `${f} ${fs.readFileSync(path.join(repo, f), 'utf8')}`).join('');
}

describe('grove reset matches ostree reset', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let repos = { g: '', o: '' };
  const c: string[] = [];
  let n = 0;

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-reset-'));
    repos = initRepos(dir, 'archive');
    const tree = path.join(dir, 'tree');
    for (let i = 1; i <= 3; i++) {
      await buildTree(tree, [{ path: 'etc/version', type: 'file', content: `${i}\n` }]);
      const r = await commitBoth(repos, ['-b', 'main', `--timestamp=@${1600000000 + i}`, tree]);
      assert.equal(r.g, r.o);
      c.push(r.o);
    }
    for (const [tool, repo] of [[groveOk, repos.g], [(a: string[]) => ostree(a).stdout, repos.o]] as const) {
      tool(['refs', `--repo=${repo}`, `--create=origin:main`, 'main']);
      tool(['refs', `--repo=${repo}`, `--create=other`, c[0]!]);
    }
  });
  after(async () => cleanup());

  function same(args: string[]): void {
    const o = path.join(dir, `o-${n}`);
    const g = path.join(dir, `g-${n++}`);
    assert.equal(spawnSync('cp', ['-a', repos.o, o]).status, 0);
    assert.equal(spawnSync('cp', ['-a', repos.g, g]).status, 0);
    const ro = ostree(['reset', `--repo=${o}`, ...args], { allowFail: true });
    const rg = groveAsOstree(['reset', `--repo=${g}`, ...args]);
    const what = `reset ${args.join(' ')}`;
    assertSameStderr(rg.stderr, ro.stderr, what);
    assert.equal(rg.stdout, ro.stdout, `${what}: stdout`);
    assert.equal(rg.code, ro.code, `${what}: exit status`);
    assert.equal(refs(g), refs(o), `${what}: refs afterwards`);
  }

  test('resets a ref to any rev ostree names: a parent, a checksum prefix, another ref, a remote ref', () => {
    same(['main', 'main^']);
    same(['main', 'main^^']);
    same(['main', c[0]!]);
    same(['origin:main', c[1]!.slice(0, 10)]);
    same(['other', 'origin:main']);
    // Not only backwards: any commit will do, and extra arguments are ignored.
    same(['other', c[2]!, 'ignored']);
  });

  test('misuse fails with ostree\'s messages', () => {
    same([]);
    same(['main']);
    same(['nope', c[0]!]);
    same(['origin:nope', c[0]!]);
    same(['main', 'nope']);
    same(['main', 'bad..ref']);
    same(['main', 'a:b:c']);
    same(['main', `${c[0]!}^`]);
  });

  test('grove refuses a commit that is not in the repository (ostree writes a dangling ref)', () => {
    const g = path.join(dir, `g-${n++}`);
    assert.equal(spawnSync('cp', ['-a', repos.g, g]).status, 0);
    const before = refs(g);
    const r = grove(['reset', `--repo=${g}`, 'main', 'e'.repeat(64)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: cannot point ref 'main' at commit e{64}: it is not in /);
    assert.equal(refs(g), before);
  });
});
