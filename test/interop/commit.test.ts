import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree, rootfsEntries } from '../../fixtures/trees/build.js';
import { grove, ostree, tempDir } from '../helpers.js';
import { MODES, TIMESTAMP, needsOstreeAsRoot, commitBoth, initRepos, lsRC, run } from './support.js';

/**
 * Acceptance point 1: for a tree with everything a root filesystem has, `grove commit` and
 * `ostree commit` with the same ref, subject and timestamp give the same commit checksum in every
 * repository mode, and `ostree ls -R -C` of the two repositories is identical. Then every commit
 * option, checked against what ostree makes of the same option.
 */

/**
 * The rootfs tree; `small` leaves out its one multi-megabyte file, which the option tests do not
 * need and which costs every commit its compression time.
 */
async function rootfs(dir: string, name = 'tree', small = true): Promise<string> {
  const tree = path.join(dir, name);
  await buildTree(tree, rootfsEntries().filter((e) => !small || e.path !== 'usr/lib/big.bin'));
  return tree;
}

/** Both tools commit; the listings and then the checksums must agree. */
async function sameCommit(repos: { g: string; o: string }, args: string[], ref?: string): Promise<string> {
  const c = await commitBoth(repos, args);
  assert.match(c.o, /^[0-9a-f]{64}$/);
  assert.equal(lsRC(repos.g, ref ?? c.g), lsRC(repos.o, ref ?? c.o), `ostree ls -R -C differs after commit ${args.join(' ')}`);
  assert.equal(c.g, c.o, `commit ${args.join(' ')}: grove and ostree disagree on the checksum`);
  return c.o;
}

function countCommits(repo: string): Promise<number> {
  return run('find', [path.join(repo, 'objects'), '-name', '*.commit']).then((r) => r.stdout.split('\n').filter(Boolean).length);
}

describe('commit interop: a rootfs tree in every repository mode', needsOstreeAsRoot(), () => {
  for (const mode of MODES) {
    test(`${mode}: same checksum and ls -R -C as ostree; a second commit chains to the first`, async () => {
      const { dir, cleanup } = await tempDir();
      try {
        const tree = await rootfs(dir, 'tree', false);
        const repos = initRepos(dir, mode);
        const ref = 'os/x86_64/main';
        const first = await sameCommit(repos, ['-b', ref, '-s', 'Rootfs 1', '-m', 'the body\nsecond line', `--timestamp=${TIMESTAMP}`, tree], ref);

        // The listing really covers the hard cases (guards against both tools dropping them).
        const listing = lsRC(repos.g, ref);
        for (const p of ['/var/empty', '/usr/share/doc/empty', '/etc/dangling -> does/not/exist', '/usr/share/names/日本語', '/usr/share/dir with space/ünïcödé név.txt']) {
          assert.ok(listing.includes(p), `${p} missing from the listing`);
        }
        if (mode !== 'bare-user-only') assert.match(listing, /-04755 0 0 +7 [0-9a-f]{64} \/usr\/bin\/su\n/);

        // Change the tree: a new file, a new mode, a removal, a new xattr-less symlink.
        await fs.writeFile(path.join(tree, 'usr/lib/os-release'), 'ID=grove\nVERSION_ID=2\n');
        await fs.chmod(path.join(tree, 'etc/readonly'), 0o400);
        await fs.rm(path.join(tree, 'usr/share/deep'), { recursive: true });
        await fs.symlink('/proc/self/mounts', path.join(tree, 'etc/mtab'));
        const second = await sameCommit(repos, ['-b', ref, '-s', 'Rootfs 2', '--timestamp=@1700000100', tree], ref);
        assert.notEqual(second, first);
        assert.equal(ostree(['rev-parse', `--repo=${repos.g}`, `${ref}^`]).stdout.trim(), first);
      } finally {
        await cleanup();
      }
    });
  }
});

describe('commit options against ostree (archive repository)', needsOstreeAsRoot(), () => {
  const T = `--timestamp=${TIMESTAMP}`;

  test('--parent CHECKSUM, --parent=none, --orphan (with and without -b)', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const tree = await rootfs(dir);
      const repos = initRepos(dir, 'archive');
      const base = await sameCommit(repos, ['-b', 'base', T, tree]);
      await sameCommit(repos, ['-b', 'other', `--parent=${base}`, '-s', 'explicit parent', T, tree]);
      assert.equal(ostree(['rev-parse', `--repo=${repos.g}`, 'other^']).stdout.trim(), base);
      // An explicit 'none' ignores the branch's current commit.
      await sameCommit(repos, ['-b', 'base', '--parent=none', '-s', 'no parent', T, tree]);
      // --orphan: no parent, binding to no ref, no ref written.
      const orphan = await sameCommit(repos, ['--orphan', '-s', 'orphan', T, tree]);
      assert.equal(ostree(['show', `--repo=${repos.g}`, orphan]).code, 0);
      // --orphan with a branch: ostree still moves the branch (and binds the commit to it).
      await sameCommit(repos, ['--orphan', '-b', 'base', '-s', 'orphan on a branch', T, tree], 'base');
      const refs = (r: string) => ostree(['refs', `--repo=${r}`]).stdout.split('\n').sort().join('\n');
      assert.equal(refs(repos.g), refs(repos.o));
    } finally {
      await cleanup();
    }
  });

  test('--owner-uid / --owner-gid, --canonical-permissions, --no-xattrs', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const tree = await rootfs(dir);
      const repos = initRepos(dir, 'archive');
      await sameCommit(repos, ['-b', 'owners', '--owner-uid=4242', '--owner-gid=4343', T, tree]);
      await sameCommit(repos, ['-b', 'uid-only', '--owner-uid=7', T, tree]);
      const canon = await sameCommit(repos, ['-b', 'canonical', '--canonical-permissions', T, tree]);
      assert.doesNotMatch(lsRC(repos.g, canon), /^[-d]0[1-7]/m, 'canonical permissions left setuid/setgid/sticky bits');
      await sameCommit(repos, ['-b', 'noxattrs', '--no-xattrs', T, tree]);
    } finally {
      await cleanup();
    }
  });

  test('several --add-metadata-string keep their order; subject and body', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const tree = await rootfs(dir);
      const repos = initRepos(dir, 'archive');
      const meta = ['--add-metadata-string=zz=last-name-first', '--add-metadata-string=aa=2', '--add-metadata-string=version=3.1'];
      const c1 = await sameCommit(repos, ['-b', 'meta', ...meta, '-s', 'Subject line', '-m', 'Body\n\nwith a blank line', T, tree]);
      // Another order is another commit, for both tools.
      const c2 = await sameCommit(repos, ['-b', 'meta2', meta[2]!, meta[1]!, meta[0]!, T, tree]);
      assert.notEqual(c1, c2);
      assert.equal(grove(['show', `--repo=${repos.g}`, 'meta']).stdout, ostree(['show', `--repo=${repos.o}`, 'meta']).stdout);
    } finally {
      await cleanup();
    }
  });

  test('--skip-if-unchanged prints the parent and makes no commit; a change still commits', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const tree = await rootfs(dir);
      const repos = initRepos(dir, 'archive');
      const first = await sameCommit(repos, ['-b', 'skip', '-s', 'one', T, tree]);
      const before = await countCommits(repos.g);
      const again = await commitBoth(repos, ['-b', 'skip', '-s', 'two', '--skip-if-unchanged', '--timestamp=@1700000999', tree]);
      assert.deepEqual(again, { g: first, o: first });
      assert.equal(await countCommits(repos.g), before);
      assert.equal(await countCommits(repos.o), before);
      assert.equal(ostree(['rev-parse', `--repo=${repos.g}`, 'skip']).stdout.trim(), first);
      await fs.writeFile(path.join(tree, 'new-file'), 'changed\n');
      const changed = await sameCommit(repos, ['-b', 'skip', '-s', 'three', '--skip-if-unchanged', T, tree]);
      assert.notEqual(changed, first);
      assert.equal(ostree(['rev-parse', `--repo=${repos.g}`, 'skip^']).stdout.trim(), first);
    } finally {
      await cleanup();
    }
  });

  test('--statoverride (+MODE adds bits, =MODE sets them; an unmatched + line fails both)', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const tree = await rootfs(dir);
      const repos = initRepos(dir, 'archive');
      const so = path.join(dir, 'statoverride');
      await fs.writeFile(so, [
        '+2048 /usr/bin/sh', // setuid (04000) added; sh-hard shares the inode and keeps its mode
        '=384 /etc/shadow', // 0600
        '=448 /usr/share', // a directory: 0700
        '+512 /tmp', // already sticky
        '=420 /etc/os-release', // a symlink keeps its type bits
        '=511 /does/not/exist', // unmatched = lines are not an error in ostree
        '',
      ].join('\n'));
      const c = await sameCommit(repos, ['-b', 'so', `--statoverride=${so}`, T, tree]);
      assert.match(lsRC(repos.g, c), /^-04755 0 0 +15 [0-9a-f]{64} \/usr\/bin\/sh$/m);

      const bad = path.join(dir, 'bad-statoverride');
      await fs.writeFile(bad, '+2048 /no/such/file\n');
      const g = grove(['commit', `--repo=${repos.g}`, '-b', 'so', `--statoverride=${bad}`, T, tree]);
      const o = ostree(['commit', `--repo=${repos.o}`, '-b', 'so', `--statoverride=${bad}`, T, tree], { allowFail: true });
      assert.notEqual(o.code, 0);
      assert.notEqual(g.code, 0);
      assert.match(g.stderr, /\/no\/such\/file/);
    } finally {
      await cleanup();
    }
  });

  test('--skip-list (files and directories; an unmatched line fails both)', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const tree = await rootfs(dir);
      const repos = initRepos(dir, 'archive');
      const skip = path.join(dir, 'skip-list');
      await fs.writeFile(skip, '/usr/share/doc\n/etc/shadow\n/usr/bin/sh-hard\n/etc/dangling\n');
      const c = await sameCommit(repos, ['-b', 'skip', `--skip-list=${skip}`, T, tree]);
      assert.doesNotMatch(lsRC(repos.g, c), /\/usr\/share\/doc|\/etc\/shadow|sh-hard|dangling/);

      const bad = path.join(dir, 'bad-skip-list');
      await fs.writeFile(bad, '/not/there\n');
      const g = grove(['commit', `--repo=${repos.g}`, '-b', 'skip', `--skip-list=${bad}`, T, tree]);
      const o = ostree(['commit', `--repo=${repos.o}`, '-b', 'skip', `--skip-list=${bad}`, T, tree], { allowFail: true });
      assert.notEqual(o.code, 0);
      assert.notEqual(g.code, 0);
    } finally {
      await cleanup();
    }
  });

  test('--consume removes the source tree; --tree=dir=PATH', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const repos = initRepos(dir, 'archive');
      const gTree = await rootfs(dir, 'tree-g');
      const oTree = await rootfs(dir, 'tree-o');
      const gc = grove(['commit', `--repo=${repos.g}`, '-b', 'consumed', '--consume', T, gTree]);
      assert.equal(gc.code, 0, gc.stderr);
      const oc = ostree(['commit', `--repo=${repos.o}`, '-b', 'consumed', '--consume', T, oTree]);
      assert.equal(gc.stdout, oc.stdout);
      // Whatever ostree leaves of its source tree, grove leaves too.
      const left = async (p: string) => (await fs.lstat(p).then(() => 'exists', () => 'gone'));
      assert.equal(await left(gTree), await left(oTree));
      assert.equal(await left(gTree), 'gone');

      const tree = await rootfs(dir);
      await sameCommit(repos, ['-b', 'tree-dir', `--tree=dir=${tree}`, T]);
    } finally {
      await cleanup();
    }
  });

  test('--timestamp forms', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const tree = await rootfs(dir);
      const repos = initRepos(dir, 'archive');
      for (const ts of ['@0', '@4102444800', '2020-01-02T03:04:05Z', '2020-01-02 03:04:05 +0100', '2020-01-02T03:04:05-07:30']) {
        await sameCommit(repos, ['-b', 'ts', '--parent=none', `--timestamp=${ts}`, tree]);
      }
    } finally {
      await cleanup();
    }
  });
});
