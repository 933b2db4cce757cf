import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { groveAsOstree, groveOk, haveOstree, needsOstree, ostree, tempDir, type RunResult } from '../helpers.js';
import { assertSameStderr } from './usage-compare.js';

/**
 * `grove prune` against `ostree prune`, option set by option set. One repository with
 * everything prune has to get right — several branches with history, a remote-only branch, a
 * mirror ref (refs/mirrors/…) to a commit nothing else keeps, detached metadata, a partial
 * commit whose tree lacks a directory, a branch grove committed, an orphan commit, objects no
 * commit reaches, a static delta — is copied twice for each case; ostree prunes one copy, grove
 * the other. stdout, stderr (after a usage, see usage-compare.ts) and the exit status must be
 * ostree's, and so must what is left:
 * every file under objects/, deltas/, refs/ and state/ (tombstones by content), and the config.
 *
 * No two refs share history here: where they do and a depth limits the walk, what ostree keeps
 * depends on the order of its hash table of refs (a walk stops at a commit already kept), which
 * no other implementation can reproduce.
 */

const T = (n: number) => `--timestamp=@${n}`;

interface Base { repo: string; commits: Record<string, string> }

async function makeBase(dir: string, mode: string): Promise<Base> {
  const repo = path.join(dir, `base-${mode}`);
  const tree = path.join(dir, `tree-${mode}`);
  ostree(['init', `--repo=${repo}`, `--mode=${mode}`]);
  const commits: Record<string, string> = {};
  const commit = async (name: string, tool: 'ostree' | 'grove', args: string[], files: Record<string, string>) => {
    fs.rmSync(tree, { recursive: true, force: true });
    await buildTree(tree, [
      { path: 'usr/share/common', type: 'file', content: 'shared by every commit\n' },
      ...Object.entries(files).map(([p, content]) => ({ path: p, type: 'file' as const, content })),
    ]);
    const argv = ['commit', `--repo=${repo}`, ...args, tree];
    commits[name] = (tool === 'ostree' ? ostree(argv).stdout : groveOk(argv)).trim();
  };
  await commit('m1', 'ostree', ['-b', 'main', T(1600000000), '--add-detached-metadata-string=note=first'], { 'etc/version': 'm1\n', 'usr/lib/m1': 'only in m1\n' });
  await commit('m2', 'ostree', ['-b', 'main', T(1650000000)], { 'etc/version': 'm2\n', 'usr/lib/m2': 'only in m2\n' });
  await commit('m3', 'ostree', ['-b', 'main', T(1700000000)], { 'etc/version': 'm3\n', 'usr/lib/m3': 'only in m3\n' });
  // devel: d1 is partial (its opt/ directory is gone), d2 is signed with detached metadata.
  await commit('d1', 'ostree', ['-b', 'devel', T(1610000000)], { 'etc/version': 'd1\n', 'opt/d1/x': 'partial\n' });
  await commit('d2', 'ostree', ['-b', 'devel', T(1710000000), '--add-detached-metadata-string=signed=yes'], { 'etc/version': 'd2\n' });
  // stable: only a remote ref keeps it.
  await commit('r1', 'ostree', ['-b', 'stable', T(1620000000)], { 'etc/version': 'r1\n' });
  await commit('r2', 'ostree', ['-b', 'stable', T(1720000000)], { 'etc/version': 'r2\n' });
  ostree(['refs', `--repo=${repo}`, `--create=origin:stable`, 'stable']);
  ostree(['refs', `--repo=${repo}`, '--delete', 'stable']);
  // A mirror ref (a pull with collection IDs writes these) to a chain nothing else names.
  await commit('x1', 'ostree', ['--orphan', T(1630000000)], { 'etc/version': 'x1\n' });
  ostree(['refs', `--repo=${repo}`, '--collections', `--create=org.example.Os:mirrored`, commits['x1']!]);
  // A branch grove committed.
  await commit('g1', 'grove', ['-b', 'grove/branch', T(1640000000)], { 'etc/version': 'g1\n' });
  await commit('g2', 'grove', ['-b', 'grove/branch', T(1740000000)], { 'etc/version': 'g2\n' });
  // An orphan commit (no ref), and objects no commit reaches (their commit object is gone).
  await commit('orphan', 'ostree', ['--orphan', T(1660000000)], { 'etc/version': 'orphan\n' });
  await commit('lost', 'ostree', ['--orphan', T(1670000000)], { 'etc/version': 'lost\n', 'usr/lib/lost': 'unreachable\n' });
  fs.rmSync(objectFile(repo, commits['lost']!, 'commit'));
  // d1 partial: its dirtree for opt/ is missing.
  // `ls -d -C` prints TYPE+MODE UID GID SIZE DIRTREE DIRMETA PATH for a directory.
  const optTree = ostree(['ls', `--repo=${repo}`, '-d', '-C', commits['d1']!, '/opt']).stdout.trim().split(/\s+/)[4]!;
  assert.match(optTree, /^[0-9a-f]{64}$/, 'the dirtree checksum of /opt in d1');
  fs.rmSync(objectFile(repo, optTree, 'dirtree'));
  fs.mkdirSync(path.join(repo, 'state'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'state', `${commits['d1']!}.commitpartial`), '');
  if (mode === 'archive') ostree(['static-delta', 'generate', `--repo=${repo}`, `--from=${commits['m2']!}`, `--to=${commits['m3']!}`]);
  return { repo, commits };
}

const objectFile = (repo: string, c: string, ext: string) => path.join(repo, 'objects', c.slice(0, 2), `${c.slice(2)}.${ext}`);

/** What a prune may change: every file under objects, deltas, refs and state, tombstones with their bytes, and the config. */
function state(repo: string): string {
  const found = spawnSync('find', ['objects', 'deltas', 'refs', 'state', '-type', 'f'], { cwd: repo, encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort();
  const lines = found.map((f) => (f.endsWith('.tombstone-commit') ? `${f} ${createHash('sha256').update(fs.readFileSync(path.join(repo, f))).digest('hex')}` : f));
  return `${lines.join('\n')}\n--- config\n${fs.readFileSync(path.join(repo, 'config'), 'utf8')}`;
}

/**
 * Which commits an option set keeps does not depend on the repository's mode, only how their
 * objects are deleted does: bare-user runs the whole-repository cases and these, archive all.
 */
const BARE_USER_CASES = new Set(['--refs-only', '--depth=0', '--commit-only', '--only-branch=main --keep-younger-than=@1690000000 --commit-only']);

describe('grove prune matches ostree prune, option by option', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  const bases: Record<string, Base> = {};
  let n = 0;

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-prune-'));
    for (const mode of ['archive', 'bare-user']) bases[mode] = await makeBase(dir, mode);
  });
  after(async () => cleanup());

  function copy(src: string): string {
    const dst = path.join(dir, `copy-${n++}`);
    assert.equal(spawnSync('cp', ['-a', src, dst]).status, 0);
    return dst;
  }

  /** ostree and grove prune twin copies with `args`; everything observable must match. */
  function same(mode: string, args: string[] | ((c: Record<string, string>) => string[])): { o: RunResult; before: string; after: string } {
    const base = bases[mode]!;
    const argv = typeof args === 'function' ? args(base.commits) : args;
    const o = copy(base.repo);
    const g = copy(base.repo);
    const before = state(o);
    const ro = ostree(['prune', `--repo=${o}`, ...argv], { allowFail: true });
    const rg = groveAsOstree(['prune', `--repo=${g}`, ...argv]);
    const what = `prune ${argv.join(' ')} (${mode})`;
    assertSameStderr(rg.stderr, ro.stderr, what);
    assert.equal(rg.stdout, ro.stdout, `${what}: stdout`);
    assert.equal(rg.code, ro.code, `${what}: exit status`);
    const after = state(o);
    assert.equal(state(g), after, `${what}: what is left`);
    return { o: ro, before, after };
  }

  for (const mode of ['archive', 'bare-user']) {
    test(`plain prune keeps what any commit reaches, deletes what none does (${mode})`, () => {
      const { o, before, after } = same(mode, []);
      assert.match(o.stdout, /^Total objects: \d+\nDeleted \d+ objects, .* freed\n$/);
      assert.notEqual(after, before);
    });

    test(`what the oracle keeps: mirrors keep their commits with --refs-only, not in the selective modes; depth drops history with its detached metadata and partial mark (${mode})`, () => {
      const c = bases[mode]!.commits;
      const has = (listing: string, commit: string, ext: string) => listing.includes(`objects/${commit.slice(0, 2)}/${commit.slice(2)}.${ext}`);
      let r = same(mode, ['--refs-only', '--depth=0']);
      assert.ok(has(r.after, c['x1']!, 'commit'), 'the mirror ref keeps x1');
      assert.ok(!has(r.after, c['m1']!, 'commit') && !has(r.after, c['m1']!, 'commitmeta'), 'm1 goes with its detached metadata');
      assert.ok(has(r.before, c['m1']!, 'commitmeta'));
      assert.ok(!r.after.includes(`state/${c['d1']!}.commitpartial`) && r.before.includes(`state/${c['d1']!}.commitpartial`));
      assert.ok(has(r.after, c['g2']!, 'commit') && !has(r.after, c['g1']!, 'commit'), 'grove\'s branch is pruned like any other');
      if (mode === 'archive') assert.match(r.after, /^deltas\//m, 'the delta to m3 stays');
      r = same(mode, ['--retain-branch-depth=main=0']);
      assert.ok(!has(r.after, c['x1']!, 'commit'), 'ostree lists no mirror refs in this mode');
      r = same(mode, ['--refs-only']);
      assert.ok(has(r.after, c['d1']!, 'commit') && has(r.after, c['m1']!, 'commit'));
      assert.ok(!has(r.after, c['orphan']!, 'commit'));
    });

    for (const args of [
      ['--refs-only'],
      ['--refs-only', '--depth=0'],
      ['--refs-only', '--depth=1'],
      ['--refs-only', '--depth=-5'],
      ['--depth=0'],
      ['--no-prune', '--refs-only', '--depth=0'],
      ['--refs-only', '--commit-only', '--depth=0'],
      ['--commit-only'],
      ['--keep-younger-than=@1660000000'],
      ['--keep-younger-than=2023-11-14 22:13:20 +0000'],
      ['--keep-younger-than=2023-11-14'],
      ['--retain-branch-depth=main=1', '--depth=0'],
      ['--retain-branch-depth=origin:stable=0', '--retain-branch-depth=main=-1', '--depth=0'],
      ['--only-branch=main', '--depth=0'],
      ['--only-branch=devel', '--only-branch=main', '--retain-branch-depth=main=1', '--depth=0'],
      ['--only-branch=main', '--keep-younger-than=@1690000000', '--commit-only'],
      // ostree cannot tell DEPTH 0 from no DEPTH (see prune.ts).
      ['--retain-branch-depth=main=0', '--keep-younger-than=@1690000000'],
      ['--retain-branch-depth=main=0', '--only-branch=devel', '--depth=0'],
      ['--retain-branch-depth=main=1x', '--retain-branch-depth= 2=3', '--depth=0'],
    ].filter((args) => mode === 'archive' || BARE_USER_CASES.has(args.join(' ')))) {
      test(`prune ${args.join(' ')} (${mode})`, () => {
        same(mode, args);
      });
    }

    test(`--delete-commit deletes a commit no ref names, with its detached metadata, leaving a tombstone (${mode})`, () => {
      const { o, after } = same(mode, (c) => [`--delete-commit=${c['m1']!}`, '--refs-only']);
      assert.equal(o.code, 0);
      assert.match(after, /tombstone-commits=true/);
      assert.match(after, /\.tombstone-commit /);
    });

    test(`--delete-commit --static-deltas-only deletes only the deltas to it (${mode})`, () => {
      const { before, after } = same(mode, (c) => [`--delete-commit=${c['m3']!}`, '--static-deltas-only', '--refs-only', '--depth=0']);
      if (mode === 'archive') assert.ok(/^deltas\//m.test(before) && !/^deltas\//m.test(after), 'the delta to m3 is gone');
      assert.ok(after.includes(bases[mode]!.commits['m3']!.slice(2)), 'm3 itself stays');
    });

    // Refusals come before the repository's mode matters: archive only.
    if (mode === 'archive') test(`misuse fails as ostree does (${mode})`, () => {
      const failures: Array<string[] | ((c: Record<string, string>) => string[])> = [
        (c) => [`--delete-commit=${c['d2']!}`],
        (c) => [`--delete-commit=${c['r2']!}`],
        (c) => [`--delete-commit=${c['x1']!}`],
        (c) => [`--delete-commit=${c['m1']!}`, '--no-prune'],
        (c) => [`--delete-commit=${c['lost']!}`],
        ['--delete-commit=nonsense'],
        ['--static-deltas-only'],
        ['--depth=abc'],
        ['--depth=99999999999'],
        ['--keep-younger-than=not a date'],
        ['--retain-branch-depth=main'],
        ['--retain-branch-depth=main=many'],
        ['--only-branch=nope'],
      ];
      for (const args of failures) {
        const { o } = same(mode, args);
        assert.equal(o.code, 1, `ostree fails: ${String(args)}`);
      }
    });
  }
});
