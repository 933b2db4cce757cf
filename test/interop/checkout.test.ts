import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { buildTree, rootfsEntries, type Entry } from '../../fixtures/trees/build.js';
import { generateTree } from '../../fixtures/trees/generate.js';
import { GROVE_BIN, tempDir } from '../helpers.js';
import { MODES, TIMESTAMP, needsOstreeAsRoot, commitBoth, dirsWithNonZeroMtime, groveAsync, initRepos, ostreeAsync, run, treeState, type Mode } from './support.js';

/**
 * Acceptance point 2: `ostree fsck` passes on grove's repositories and `grove fsck` on ostree's,
 * and each tool checks out the other's commits to the same tree. For every case, three checkouts
 * with the same flags are compared: grove's of ostree's repository, ostree's of grove's, and the
 * reference, ostree's of its own. Compared: type, permission bits, owner (unless -U), size,
 * content, symlink target, xattrs, the root's own mode, and which files are hard links. Directory
 * mtimes are compared as ostree guarantees them: 0 for directories it creates, except with -C.
 */

interface Case {
  flags: string[];
  /** Check out over an existing tree (for --union / --union-add). */
  existing?: boolean;
  /** Compare which files are hard links (not for archive -U: ostree's uncompressed-object cache). */
  links?: boolean;
}

/** What a checkout destination holds before a union checkout. */
const EXISTING: Entry[] = [
  { path: 'usr/bin/sh', type: 'file', content: 'old shell\n', mode: 0o700 },
  { path: 'usr/bin/ping', type: 'symlink', target: 'sh' },
  { path: 'usr/local/keep', type: 'file', content: 'kept\n' },
  { path: 'etc/os-release', type: 'file', content: 'a file where the commit has a symlink\n' },
  { path: 'etc', type: 'dir', mode: 0o750 },
  { path: 'tmp', type: 'dir', mode: 0o700 },
  { path: 'usr/share/doc/empty/stale', type: 'file', content: 'stale\n' },
];

const UNION: Case[] = [{ flags: ['--union'], existing: true }, { flags: ['--union-add'], existing: true }];

const CASES: Record<Mode, Case[]> = {
  archive: [{ flags: [] }, { flags: ['-U'], links: false }, ...UNION],
  bare: [
    { flags: [] },
    { flags: ['-C'] },
    { flags: ['-H'] },
    { flags: ['-U'] },
    { flags: ['--subpath=/usr/share'] },
    { flags: ['--subpath=/usr/bin/su'] },
    { flags: ['-C', '--subpath=usr/lib/os-release'] },
    { flags: ['-U', '--subpath=/etc'] },
    ...UNION,
  ],
  'bare-user': [{ flags: ['-U'] }, { flags: ['-U', '-H'] }, { flags: [] }, { flags: ['-U', '--union'], existing: true }],
  'bare-user-only': [{ flags: ['-U'] }, { flags: ['-U', '-H'] }],
};

/**
 * Checks out `rev` three ways with `flags` (grove from ostree's repository, ostree from grove's,
 * ostree from its own) and asserts the first two equal the third.
 */
async function compareCheckouts(dir: string, repos: { g: string; o: string }, rev: string, c: Case, label: string): Promise<void> {
  const dests = { g: path.join(dir, `${label}-grove`), o: path.join(dir, `${label}-ostree`), ref: path.join(dir, `${label}-ref`) };
  if (c.existing) await Promise.all(Object.values(dests).map((d) => buildTree(d, EXISTING)));
  await Promise.all([
    groveAsync(['checkout', `--repo=${repos.o}`, ...c.flags, rev, dests.g]),
    ostreeAsync(['checkout', `--repo=${repos.g}`, ...c.flags, rev, dests.o]),
    ostreeAsync(['checkout', `--repo=${repos.o}`, ...c.flags, rev, dests.ref]),
  ]);
  const user = c.flags.includes('-U');
  const opts = { owners: !user, links: c.links !== false };
  const [g, o, ref] = await Promise.all([treeState(dests.g, opts), treeState(dests.o, opts), treeState(dests.ref, opts)]);
  const what = `checkout ${c.flags.join(' ')}`;
  assert.equal(o, ref, `${what}: ostree's checkout of grove's repository differs from ostree's own`);
  assert.equal(g, ref, `${what}: grove's checkout differs from ostree's`);

  const subpath = c.flags.some((f) => f.startsWith('--subpath'));
  if (!user && !subpath && !c.flags.includes('--union-add')) {
    assert.match(ref, /^usr\/bin\/ping 100000 755 0:0 \d+ [0-9a-f]{64} security\.capability=0100000200040000/m, 'security.capability lost');
  }
  if (!c.existing && !c.flags.includes('-C') && !c.flags.some((f) => /^--subpath=.*(su|release)$/.test(f))) {
    assert.deepEqual(await dirsWithNonZeroMtime(dests.ref), [], 'ostree itself no longer zeroes directory mtimes');
    assert.deepEqual(await dirsWithNonZeroMtime(dests.g), [], `${what}: grove left directory mtimes other than 0`);
  }
}

describe('checkout and fsck interop in every repository mode', needsOstreeAsRoot(), () => {
  for (const mode of MODES) {
    test(`${mode}: fsck both ways; checkouts ${CASES[mode].map((c) => `[${c.flags.join(' ')}]`).join(' ')} match ostree`, async () => {
      const { dir, cleanup } = await tempDir();
      try {
        const tree = path.join(dir, 'tree');
        await buildTree(tree, rootfsEntries());
        const repos = initRepos(dir, mode);
        const c = await commitBoth(repos, ['-b', 'main', '-s', 'rootfs', `--timestamp=${TIMESTAMP}`, tree]);
        assert.equal(c.g, c.o);

        const [ofsck, gfsck] = await Promise.all([
          run('ostree', ['fsck', `--repo=${repos.g}`]),
          run(process.execPath, [GROVE_BIN, 'fsck', `--repo=${repos.o}`]),
        ]);
        assert.equal(ofsck.code, 0, `ostree fsck of grove's ${mode} repository failed: ${ofsck.stdout}${ofsck.stderr}`);
        assert.match(ofsck.stdout, /no errors found/);
        assert.equal(gfsck.code, 0, `grove fsck of ostree's ${mode} repository failed: ${gfsck.stdout}${gfsck.stderr}`);
        assert.match(gfsck.stdout, /no errors found/);

        for (const [i, cs] of CASES[mode].entries()) await compareCheckouts(dir, repos, 'main', cs, `co${i}`);
      } finally {
        await cleanup();
      }
    });
  }
});

/** A Docker/OCI-style layer over the rootfs: whiteouts, an opaque directory, a re-added file. */
const LAYER: Entry[] = [
  { path: 'etc/.wh.shadow', type: 'file', content: '' },
  { path: 'usr/share/.wh.doc', type: 'file', content: '' },
  { path: 'usr/share/names/.wh..wh..opq', type: 'file', content: '' },
  { path: 'usr/share/names/only-in-layer', type: 'file', content: 'layer\n' },
  { path: 'usr/bin/.wh.sh', type: 'file', content: '' },
  { path: 'usr/bin/sh', type: 'file', content: '#!/bin/dash\n', mode: 0o755 },
  { path: 'var/.wh.nothing-here', type: 'file', content: '' },
  // '-' sorts before '.': ostree places this file, then its whiteout removes it again.
  { path: 'var/-early', type: 'file', content: 'placed, then whited out\n' },
  { path: 'var/.wh.-early', type: 'file', content: '' },
  // Only regular files are whiteouts: this symlink is checked out as itself.
  { path: 'etc/.wh.localtime', type: 'symlink', target: 'localtime' },
];

describe('checkout --whiteouts interop', needsOstreeAsRoot(), () => {
  for (const [mode, flags] of [['archive', []], ['bare-user', ['-U']]] as Array<[Mode, string[]]>) {
    test(`${mode}: a base checkout, then a layer with --union --whiteouts ${flags.join(' ')}`, async () => {
      const { dir, cleanup } = await tempDir();
      try {
        const base = path.join(dir, 'base');
        const layer = path.join(dir, 'layer');
        await buildTree(base, rootfsEntries().filter((e) => e.path !== 'usr/lib/big.bin'));
        await buildTree(layer, LAYER);
        const repos = initRepos(dir, mode);
        const b = await commitBoth(repos, ['-b', 'base', `--timestamp=${TIMESTAMP}`, base]);
        const l = await commitBoth(repos, ['-b', 'layer', `--timestamp=${TIMESTAMP}`, layer]);
        assert.equal(b.g, b.o);
        assert.equal(l.g, l.o);

        const dests = { g: path.join(dir, 'grove'), o: path.join(dir, 'ostree'), ref: path.join(dir, 'ref') };
        const layered = async (tool: (args: string[]) => Promise<string>, repo: string, dest: string) => {
          await tool(['checkout', `--repo=${repo}`, ...flags, 'base', dest]);
          await tool(['checkout', `--repo=${repo}`, ...flags, '--union', '--whiteouts', 'layer', dest]);
        };
        await Promise.all([layered(groveAsync, repos.o, dests.g), layered(ostreeAsync, repos.g, dests.o), layered(ostreeAsync, repos.o, dests.ref)]);
        const opts = { owners: flags.length === 0 };
        const [g, o, ref] = await Promise.all([treeState(dests.g, opts), treeState(dests.o, opts), treeState(dests.ref, opts)]);
        assert.doesNotMatch(ref, /^etc\/shadow |^usr\/share\/doc |^usr\/share\/names\/with space/m, 'whiteouts not applied by ostree');
        assert.match(ref, /^etc\/\.wh\.localtime 120000/m);
        assert.doesNotMatch(ref, /^var\/-early /m);
        assert.equal(o, ref, 'ostree, checking out grove\'s repository, differs from ostree\'s own');
        assert.equal(g, ref, 'grove\'s layered checkout differs from ostree\'s');
      } finally {
        await cleanup();
      }
    });
  }
});

describe('checkout of bare-user-only directories with sticky and setgid bits', needsOstreeAsRoot(), () => {
  // A local commit to bare-user-only canonicalizes directory modes, but pulled content keeps
  // them; ostree checks such directories out with mode & 0775, and so must grove.
  test('pulled into bare-user-only by ostree, checked out with -U', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const tree = path.join(dir, 'tree');
      await buildTree(tree, [
        { path: 'tmp', type: 'dir', mode: 0o1777 },
        { path: 'var/mail', type: 'dir', mode: 0o2775 },
        { path: 'srv/public', type: 'dir', mode: 0o777 },
        { path: 'etc/motd', type: 'file', content: 'hello\n' },
      ]);
      const archive = path.join(dir, 'archive');
      const buo = path.join(dir, 'buo');
      await ostreeAsync(['init', `--repo=${archive}`, '--mode=archive']);
      await ostreeAsync(['init', `--repo=${buo}`, '--mode=bare-user-only']);
      await ostreeAsync(['commit', `--repo=${archive}`, '-b', 'main', `--timestamp=${TIMESTAMP}`, tree]);
      await ostreeAsync(['pull-local', `--repo=${buo}`, archive, 'main']);
      const g = path.join(dir, 'grove');
      const ref = path.join(dir, 'ref');
      await Promise.all([groveAsync(['checkout', `--repo=${buo}`, '-U', 'main', g]), ostreeAsync(['checkout', `--repo=${buo}`, '-U', 'main', ref])]);
      const [gs, rs] = await Promise.all([treeState(g, { owners: false }), treeState(ref, { owners: false })]);
      assert.match(rs, /^tmp 40000 775$/m);
      assert.equal(gs, rs);
      assert.match(await groveAsync(['fsck', `--repo=${buo}`]), /no errors found/);
    } finally {
      await cleanup();
    }
  });
});

/**
 * A tree large enough that the workers split it (a task hands back the subtrees it did not start),
 * with read-only directories at every depth: directories whose subtrees were finished in other
 * tasks must still end with their own modes, and every file must still be placed under them.
 */
describe('checkout of a tree split across worker tasks', needsOstreeAsRoot(), () => {
  for (const mode of ['bare-user', 'archive'] as const) {
    test(`${mode}: read-only directories at every depth, compared with ostree's checkout`, async () => {
      const { dir, cleanup } = await tempDir();
      try {
        const tree = path.join(dir, 'tree');
        await generateTree(tree, { files: 1500, seed: 11, maxFileSize: 64 * 1024 });
        // Every third directory read-only (made bottom-up, so the chmods still reach the deep ones).
        await run('sh', ['-c', `find ${JSON.stringify(tree)} -mindepth 1 -type d | sort -r | awk 'NR % 3 == 0' | xargs chmod 0555`]);
        const repos = initRepos(dir, mode);
        await ostreeAsync(['commit', `--repo=${repos.o}`, '-b', 'big', `--timestamp=${TIMESTAMP}`, tree]);
        const dests = { g: path.join(dir, 'grove'), ref: path.join(dir, 'ostree') };
        const json = await groveAsync(['checkout', `--repo=${repos.o}`, '-U', '--json', 'big', dests.g]);
        await ostreeAsync(['checkout', `--repo=${repos.o}`, '-U', 'big', dests.ref]);
        const stats = JSON.parse(json) as { linked: number; copied: number; directories: number };
        assert.equal(stats.linked + stats.copied, 1500, 'files placed');
        const opts = { owners: false, links: mode !== 'archive' };
        assert.equal(await treeState(dests.g, opts), await treeState(dests.ref, opts));
        assert.deepEqual(await dirsWithNonZeroMtime(dests.g), []);
      } finally {
        await run('chmod', ['-R', 'u+w', dir]);
        await cleanup();
      }
    });
  }
});
