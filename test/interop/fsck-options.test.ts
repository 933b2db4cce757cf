import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { haveOstree, listFiles, needsOstree, ostree, tempDir } from '../helpers.js';
import { encodeDirMeta } from '../../src/format/objects.js';
import { loadTree, putCommit, putDirTree, putObject, readCommit } from '../store/craft.js';
import { assertSame, runTool, type SameOptions } from './compare.js';

/**
 * `fsck` and its options against ostree 2022.7: a repository ostree made is copied twice and
 * damaged the same way; ostree checks one copy, grove the other; stdout, stderr, exit status
 * and what each left in the repository (objects deleted, commits marked partial, tombstones)
 * must match.
 */

/**
 * ostree lists the commits holding an object from a hash table, so in no fixed order: compared
 * sorted (grove sorts them).
 */
const commitLists = (s: string) => s.replace(/commits ([0-9a-f]{64}(?:, [0-9a-f]{64})*):/g, (_m, list: string) => `commits ${list.split(', ').sort().join(', ')}:`);

/** libglnx prints progress at most once a second, so a run cut short shows a timing-dependent share. */
const noProgress = (s: string) => s.split('\n').filter((l) => !l.startsWith('fsck objects (')).join('\n');

describe('fsck options match ostree', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  let base = '';
  let hist = '';
  let commit = '';
  let histCommits: string[] = [];
  const obj = { file: '', other: '', subtree: '' };
  let n = 0;

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-fsck-opts-'));
    const tree = path.join(dir, 'tree');
    await buildTree(tree, [
      { path: 'a.txt', type: 'file', content: 'alpha\n' },
      { path: 'b.txt', type: 'file', content: 'beta\n' },
      { path: 'sub/c.txt', type: 'file', content: 'gamma\n' },
      { path: 'sub/link', type: 'symlink', target: '../a.txt' },
    ]);
    base = path.join(dir, 'base');
    ostree(['init', `--repo=${base}`, '--mode=archive']);
    commit = ostree(['commit', `--repo=${base}`, '-b', 'main', '--timestamp=@1600000000', tree]).stdout.trim();
    const ls = ostree(['ls', `--repo=${base}`, '-C', '-d', 'main', '/a.txt', '/b.txt', '/sub']).stdout.split('\n');
    obj.file = ls[0]!.split(/\s+/)[4]!;
    obj.other = ls[1]!.split(/\s+/)[4]!;
    obj.subtree = ls[2]!.split(/\s+/)[4]!;
    hist = path.join(dir, 'hist');
    ostree(['init', `--repo=${hist}`, '--mode=archive']);
    histCommits = ['@1600000000', '@1600000100'].map((t) => ostree(['commit', `--repo=${hist}`, '-b', 'main', `--timestamp=${t}`, tree]).stdout.trim());
  });

  after(async () => {
    await cleanup();
  });

  const objectFile = (repo: string, csum: string, ext: string) => path.join(repo, 'objects', csum.slice(0, 2), `${csum.slice(2)}.${ext}`);

  /** What a run may have changed: every file under objects/ and state/, the partial marks' reasons. */
  async function state(repo: string): Promise<string> {
    const files = (await listFiles(repo)).filter((f) => /^(objects|state)\//.test(f));
    const marks = await Promise.all(files.filter((f) => f.endsWith('.commitpartial')).map(async (f) => `${f}=${await fs.readFile(path.join(repo, f), 'utf8')}`));
    const tomb = ostree(['config', `--repo=${repo}`, 'get', 'core.tombstone-commits'], { allowFail: true }).stdout;
    return [...files, ...marks, `tombstone-commits=${tomb.trim()}`].join('\n');
  }

  /** Copies `from` twice, damages both, runs `fsck ARGS` with each tool; returns the copies. */
  async function fsckSame(from: string, args: string[], damage: (repo: string) => Promise<void>, opts: SameOptions = {}): Promise<{ o: string; g: string }> {
    const o = path.join(dir, `o-${n}`);
    const g = path.join(dir, `g-${n++}`);
    for (const c of [o, g]) {
      assert.equal(spawnSync('cp', ['-a', from, c]).status, 0);
      await damage(c);
    }
    await rerun({ o, g }, args, opts);
    return { o, g };
  }

  async function rerun(copies: { o: string; g: string }, args: string[], opts: SameOptions = {}): Promise<void> {
    const [ro, rg] = await Promise.all([runTool('ostree', ['fsck', `--repo=${copies.o}`, ...args]), runTool('grove', ['fsck', `--repo=${copies.g}`, ...args])]);
    assertSame(ro, rg, `fsck ${args.join(' ')}`, { stderr: commitLists, ...opts });
    assert.equal(await state(copies.g), await state(copies.o), `fsck ${args.join(' ')}: what is left in the repository`);
  }

  const nothing = async () => undefined;
  /** Another valid object's bytes in its place: a checksum mismatch that every reader gets to. */
  const swapContent = async (repo: string) => {
    await fs.copyFile(objectFile(repo, obj.other, 'filez'), objectFile(repo, obj.file, 'filez'));
  };

  test('a sound repository: plain, -q, --all, --verify-bindings', async () => {
    await fsckSame(base, [], nothing, { fails: false });
    await fsckSame(base, ['-q'], nothing, { fails: false });
    await fsckSame(base, ['--all'], nothing, { fails: false });
    await fsckSame(base, ['--verify-bindings'], nothing, { fails: false });
  });

  test('a corrupt content object: stops at it; --all goes on; --delete deletes it and marks the commit partial', async () => {
    await fsckSame(base, [], swapContent, { fails: true, stdout: noProgress });
    await fsckSame(base, ['-a'], swapContent, { fails: true });
    const copies = await fsckSame(base, ['--delete'], swapContent, { fails: true });
    await fs.access(path.join(copies.g, 'state', `${commit}.commitpartial`));
    // The next run finds the commit partial, as fsck left it.
    await rerun(copies, [], { fails: true });
  });

  test('a missing content object, dirtree or ref commit', async () => {
    await fsckSame(base, [], (r) => fs.rm(objectFile(r, obj.file, 'filez')), { fails: true });
    await fsckSame(base, ['--all'], (r) => fs.rm(objectFile(r, obj.subtree, 'dirtree')), { fails: true });
    await fsckSame(base, ['-q'], (r) => fs.rm(objectFile(r, commit, 'commit')), { fails: true });
  });

  /**
   * A dirmeta whose checksum is right but whose mode is a regular file's, given to `sub` by a
   * new commit on main: only ostree's structural rules find it (a re-hash does not).
   */
  const fileModeDirMeta = async (repo: string) => {
    const { commit: c } = await readCommit(repo, 'main');
    const root = await loadTree(repo, c.rootTree);
    const meta = await putObject(repo, 'dirmeta', encodeDirMeta({ uid: 0, gid: 0, mode: 0o100644, xattrs: [] }));
    root.dirs = root.dirs.map(([name, tree]) => [name, tree, meta]);
    await putCommit(repo, c, 'main', { tree: await putDirTree(repo, root), meta: c.rootMeta });
  };

  test('a dirmeta with its own checksum that is no directory: stops at it; --all and --delete as ostree', async () => {
    await fsckSame(base, [], fileModeDirMeta, { fails: true, stdout: noProgress });
    await fsckSame(base, ['--all'], fileModeDirMeta, { fails: true });
    await fsckSame(base, ['--delete'], fileModeDirMeta, { fails: true });
  });

  test('--verify-bindings: a ref whose commit is bound to another ref', async () => {
    await fsckSame(base, ['--verify-bindings'], async (r) => { ostree(['refs', `--repo=${r}`, '--create=other', 'main']); }, { fails: true });
  });

  test('--verify-back-refs: every binding resolves back; an older commit bound to a ref that moved on', async () => {
    await fsckSame(base, ['--verify-back-refs'], nothing, { fails: false });
    await fsckSame(hist, ['--verify-back-refs'], nothing, { fails: true });
  });

  test('--add-tombstones: the commit whose parent is missing is replaced by a tombstone', async () => {
    const copies = await fsckSame(hist, ['--add-tombstones'], (r) => fs.rm(objectFile(r, histCommits[0]!, 'commit')), { fails: false });
    const [to, tg] = await Promise.all([copies.o, copies.g].map((r) => fs.readFile(objectFile(r, histCommits[1]!, 'tombstone-commit'))));
    assert.ok(tg!.equals(to!), 'the tombstone object');
    // hist holds the same tree as base, so the same two content objects.
    await fsckSame(hist, ['--add-tombstones', '--all'], swapContent, { fails: true });
  });
});
