import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { buildTree, type Entry } from '../../fixtures/trees/build.js';
import { ostree, tempDir } from '../helpers.js';
import { TIMESTAMP, initRepos, lsRC, needsOstreeAsRoot, run } from './support.js';
import { both, assertSame, detachedOf, sameCommit, sameFailure } from './dropin-support.js';

/**
 * Drop-in: the options of `ostree commit` that grove lacked, each run by both tools on twin
 * repositories. A success must give the same checksum and `ls -R -C`; a failure the same
 * status and message.
 */

const T = `--timestamp=${TIMESTAMP}`;

const TREE: Entry[] = [
  { path: 'usr/bin/tool', type: 'file', content: '#!/bin/sh\necho tool\n', mode: 0o775 },
  { path: 'usr/bin/plain', type: 'file', content: 'plain\n', mode: 0o664 },
  { path: 'usr/bin/link', type: 'symlink', target: 'tool' },
  { path: 'usr/lib/modules/6.1.0-13-amd64/vmlinuz', type: 'file', content: 'kernel\n' },
  { path: 'usr/lib/modules/6.1.0-13-amd64/modules.dep', type: 'file', content: '' },
  { path: 'usr/share/doc/readme', type: 'file', content: 'doc\n' },
  { path: 'usr/share', type: 'dir', mode: 0o755 },
  { path: 'etc/conf', type: 'file', content: 'a=1\n', mode: 0o600 },
];

async function setup(mode = 'archive'): Promise<{ dir: string; repos: { g: string; o: string }; tree: string; cleanup: () => Promise<void> }> {
  const { dir, cleanup } = await tempDir('grove-dropin-commit-');
  const tree = path.join(dir, 'tree');
  await buildTree(tree, TREE);
  return { dir, repos: initRepos(dir, mode), tree, cleanup };
}

describe('commit drop-in options against ostree', needsOstreeAsRoot(), () => {
  test('-F/--body-file, --bind-ref (sorted with the branch), --add-detached-metadata-string', async () => {
    const { dir, repos, tree, cleanup } = await setup();
    try {
      const bodyFile = path.join(dir, 'body');
      await fs.writeFile(bodyFile, 'Body from a file\n\nwith two paragraphs\n');
      await sameCommit(repos, ['-b', 'main', '-s', 'subject', `--body-file=${bodyFile}`, T, tree]);
      // -F wins over -m, as in ostree.
      await sameCommit(repos, ['-b', 'main', '-m', 'ignored', '-F', bodyFile, T, tree]);
      const c = await sameCommit(repos, ['-b', 'zz/main', '--bind-ref=aa/other', '--bind-ref=mm', T, tree]);
      const shown = await both(repos, (r) => ['show', `--repo=${r}`, c]);
      assertSame(shown, repos, 'show of a commit with --bind-ref');
      const d = await sameCommit(repos, ['-b', 'det', '--add-detached-metadata-string=zkey=last', '--add-detached-metadata-string=akey=first', T, tree]);
      assert.deepEqual(await detachedOf(repos.g, d), await detachedOf(repos.o, d));
      assert.notEqual(await detachedOf(repos.o, d), null);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', `--body-file=${dir}/no-such-file`, T, tree]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--add-detached-metadata-string=novalue', T, tree]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--add-metadata-string=novalue', T, tree]);
    } finally {
      await cleanup();
    }
  });

  test('-b REMOTE:REF commits to a remote ref, its parent the ref\'s commit, bound to the refspec as given', async () => {
    const { repos, tree, cleanup } = await setup();
    try {
      const first = await sameCommit(repos, ['-b', 'origin:os/main', '-s', 'one', T, tree]);
      const second = await sameCommit(repos, ['-b', 'origin:os/main', '-s', 'two', T, tree]);
      for (const r of [repos.g, repos.o]) {
        assert.equal((await fs.readFile(path.join(r, 'refs/remotes/origin/os/main'), 'utf8')).trim(), second);
        assert.equal(ostree(['rev-parse', `--repo=${r}`, 'origin:os/main^']).stdout.trim(), first);
      }
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', ':os/main', T, tree]);
    } finally {
      await cleanup();
    }
  });

  test('--keep-metadata copies from the parent; a missing key or no parent fails', async () => {
    const { repos, tree, cleanup } = await setup();
    try {
      await sameCommit(repos, ['-b', 'main', '--add-metadata-string=version=1.0', '--add-metadata-string=other=x', T, tree]);
      await sameCommit(repos, ['-b', 'main', '--keep-metadata=version', '--add-metadata-string=new=y', '--timestamp=@1700000100', tree]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'main', '--keep-metadata=absent', T, tree]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'fresh', '--keep-metadata=version', T, tree]);
    } finally {
      await cleanup();
    }
  });

  test('--bootable records ostree.bootable and ostree.linux in ostree\'s dict order; no kernel, two kernels and no modules fail', async () => {
    const { dir, repos, tree, cleanup } = await setup();
    try {
      await sameCommit(repos, ['-b', 'boot', '--bootable', T, tree]);
      // Many keys: the GVariantDict's hash order, and its growth past 8 slots.
      const many = Array.from({ length: 12 }, (_, i) => `--add-metadata-string=key${i}=v${i}`);
      await sameCommit(repos, ['-b', 'boot2', '--bootable', ...many, T, tree]);
      await sameCommit(repos, ['--orphan', '--no-bindings', '--bootable', T, tree]);
      const two = path.join(dir, 'two-kernels');
      await buildTree(two, [...TREE, { path: 'usr/lib/modules/6.2.0/vmlinuz', type: 'file', content: 'k2\n' }]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--bootable', T, two]);
      const none = path.join(dir, 'no-kernel');
      await buildTree(none, [{ path: 'usr/lib/modules/6.1.0/modules.dep', type: 'file', content: '' }]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--bootable', T, none]);
      for (const [name, entries] of [
        ['no-usr', [{ path: 'etc/x', type: 'file', content: 'x\n' }]],
        ['no-lib', [{ path: 'usr/share/x', type: 'file', content: 'x\n' }]],
        ['no-modules', [{ path: 'usr/lib/x', type: 'file', content: 'x\n' }]],
        ['lib-is-a-file', [{ path: 'usr/lib', type: 'file', content: 'x\n' }]],
      ] as Array<[string, Entry[]]>) {
        const t = path.join(dir, name);
        await buildTree(t, entries);
        await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--bootable', T, t]);
      }
      // A directory named vmlinuz counts, as in ostree.
      const dirKernel = path.join(dir, 'dir-kernel');
      await buildTree(dirKernel, [{ path: 'usr/lib/modules/5.1/vmlinuz/x', type: 'file', content: '' }]);
      await sameCommit(repos, ['-b', 'dirk', '--bootable', T, dirKernel]);
    } finally {
      await cleanup();
    }
  });

  test('--generate-sizes gives ostree\'s ostree.sizes (archive: recorded, last layer only; bare: none)', async () => {
    const { dir, repos, tree, cleanup } = await setup();
    try {
      await sameCommit(repos, ['-b', 'sized', '--generate-sizes', T, tree]);
      // Again: every object exists now, and is still listed.
      await sameCommit(repos, ['-b', 'sized', '--generate-sizes', '--timestamp=@1700000200', tree]);
      const other = path.join(dir, 'other');
      // Large, varied files: their sizes come from zlib's exact output, which Node's zlib does not produce.
      const big = Buffer.from(Array.from({ length: 60000 }, (_, i) => `line ${i} ${(i * 7919) % 10007} ${'ab'.repeat(i % 13)}\n`).join(''));
      const noise = Buffer.alloc(150000);
      for (let i = 0, x = 12345; i < noise.length; i++) noise[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24 & 0x3f | 0x40;
      await buildTree(other, [
        { path: 'usr/bin/extra', type: 'file', content: 'x'.repeat(5000) },
        { path: 'usr/share/big.txt', type: 'file', content: big },
        { path: 'usr/share/noise', type: 'file', content: noise },
      ]);
      await sameCommit(repos, ['-b', 'sized-big', '--generate-sizes', T, other]);
      await sameCommit(repos, ['-b', 'sized2', '--generate-sizes', `--tree=dir=${tree}`, `--tree=dir=${other}`, T]);
      await fs.mkdir(path.join(dir, 'bare'), { recursive: true });
      const bare = initRepos(path.join(dir, 'bare'), 'bare');
      await sameCommit(bare, ['-b', 'sized', '--generate-sizes', T, tree]);
    } finally {
      await cleanup();
    }
  });

  test('--base, several --tree=dir= layered in order, --tree=ref=; bad tree specifications fail', async () => {
    const { dir, repos, tree, cleanup } = await setup();
    try {
      const first = await sameCommit(repos, ['-b', 'main', T, tree]);
      const layer = path.join(dir, 'layer');
      await buildTree(layer, [
        { path: 'usr/bin/plain', type: 'file', content: 'replaced\n', mode: 0o755 },
        { path: 'usr/local/new', type: 'file', content: 'new\n' },
        { path: 'usr', type: 'dir', mode: 0o700 },
      ]);
      await sameCommit(repos, ['-b', 'based', `--base=${first}`, `--tree=dir=${layer}`, T]);
      await sameCommit(repos, ['-b', 'layered', `--tree=dir=${tree}`, `--tree=dir=${layer}`, T]);
      await sameCommit(repos, ['-b', 'fromref', `--tree=ref=main`, T]);
      await sameCommit(repos, ['-b', 'refthendir', '--tree=ref=main', `--tree=dir=${layer}`, T]);
      await sameCommit(repos, ['-b', 'dirthenref', `--tree=dir=${layer}`, '--tree=ref=main', T]);
      // A modifier makes ostree look at every file of a ref= layer.
      await sameCommit(repos, ['-b', 'refowned', '--tree=ref=main', '--owner-uid=42', '--mode-ro-executables', T]);
      await sameCommit(repos, ['-b', 'basesized', '--base=main', `--tree=dir=${layer}`, '--generate-sizes', T]);
      const clash = path.join(dir, 'clash');
      await buildTree(clash, [{ path: 'usr/bin/tool/inside', type: 'file', content: 'a dir where a file was\n' }]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--base=main', `--tree=dir=${clash}`, T]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--tree=zip=foo', T]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--tree=nothing', T]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--tree=ref=no-such-ref', T], { stderr: false });
    } finally {
      await cleanup();
    }
  });

  test('--tree=tar= (plain and gzip, hardlinks, symlinks), --tar-autocreate-parents, --tar-pathname-filter', async () => {
    const { dir, repos, tree, cleanup } = await setup();
    try {
      await fs.link(path.join(tree, 'usr/bin/tool'), path.join(tree, 'usr/bin/tool-hard'));
      const tar = path.join(dir, 'tree.tar');
      assert.equal(spawnSync('tar', ['-C', tree, '--numeric-owner', '-cf', tar, '.']).status, 0);
      await sameCommit(repos, ['-b', 'tar', `--tree=tar=${tar}`, T]);
      const tgz = path.join(dir, 'tree.tar.gz');
      assert.equal(spawnSync('tar', ['-C', tree, '--numeric-owner', '-czf', tgz, '.']).status, 0);
      await sameCommit(repos, ['-b', 'tgz', `--tree=tar=${tgz}`, T]);
      await sameCommit(repos, ['-b', 'tar-over-dir', `--tree=dir=${tree}`, `--tree=tar=${tar}`, '--owner-gid=7', T]);
      // Only files, no directory entries: parents must be made, or the import fails.
      const flat = path.join(dir, 'flat.tar');
      assert.equal(spawnSync('tar', ['-C', tree, '--numeric-owner', '--no-recursion', '-cf', flat, 'usr/bin/tool', 'usr/share/doc/readme']).status, 0);
      await sameCommit(repos, ['-b', 'flat', `--tree=tar=${flat}`, '--tar-autocreate-parents', T]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', `--tree=tar=${flat}`, T]);
      await sameCommit(repos, ['-b', 'filtered', `--tree=tar=${tar}`, '--tar-pathname-filter=^usr/bin,usr/sbin', T]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', `--tree=tar=${tar}`, '--tar-pathname-filter=nocomma', T]);
      await sameCommit(repos, ['-b', 'stdin', '--tree=tar=-', T], { input: await fs.readFile(tar) });
    } finally {
      await cleanup();
    }
  });

  test('--mode-ro-executables, --statoverride + on a directory, --fsync/--disable-fsync, --canonical-permissions with --owner-uid', async () => {
    const { dir, repos, tree, cleanup } = await setup();
    try {
      await sameCommit(repos, ['-b', 'ro', '--mode-ro-executables', T, tree]);
      const so = path.join(dir, 'so');
      await fs.writeFile(so, '+2 /usr/share\n=448 /usr/bin\n+1 /\n');
      await sameCommit(repos, ['-b', 'so', `--statoverride=${so}`, T, tree]);
      await sameCommit(repos, ['-b', 'nofsync', '--fsync=false', T, tree]);
      await sameCommit(repos, ['-b', 'nofsync', '--fsync=YES', '--disable-fsync', '--timestamp=@1700000300', tree]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--fsync=maybe', T, tree]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--canonical-permissions', '--owner-uid=5', T, tree]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--canonical-permissions', '--owner-gid=5', T, tree]);
    } finally {
      await cleanup();
    }
  });

  test('--editor (OSTREE_EDITOR): subject and body from the editor; an empty message aborts', async () => {
    const { dir, repos, tree, cleanup } = await setup();
    try {
      const editor = path.join(dir, 'editor.sh');
      await fs.writeFile(editor, '#!/bin/sh\nprintf "\\n\\nEdited subject  \\n\\nBody line 1\\n\\nBody line 3\\n# comment\\n\\n" >> "$1"\n', { mode: 0o755 });
      await sameCommit(repos, ['-b', 'ed', '-e', '-s', 'given subject', T, tree], { env: { OSTREE_EDITOR: editor } });
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--editor', T, tree], { env: { OSTREE_EDITOR: 'true' } });
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--editor', T, tree], { env: { OSTREE_EDITOR: 'false' } });
    } finally {
      await cleanup();
    }
  });

  test('--link-checkout-speedup and -I on a hardlink checkout of a bare-user repository', async () => {
    const { dir, repos, tree, cleanup } = await setup('bare-user');
    try {
      await sameCommit(repos, ['-b', 'main', '--owner-uid=0', T, tree]);
      for (const [r, co] of [[repos.g, 'co-g'], [repos.o, 'co-o']] as const) {
        const res = await run('ostree', ['checkout', `--repo=${r}`, '-U', '-H', 'main', path.join(dir, co)]);
        assert.equal(res.code, 0, res.stderr);
      }
      // The checkouts are hardlinks: the commit takes the objects' recorded metadata.
      const r = await both(repos, (repo) => ['commit', `--repo=${repo}`, '-b', 'again', '--link-checkout-speedup', T, path.join(dir, repo === repos.g ? 'co-g' : 'co-o')]);
      assertSame(r, repos, 'commit --link-checkout-speedup');
      assert.equal(lsRC(repos.g, 'again'), lsRC(repos.o, 'again'));
      const i = await both(repos, (repo) => ['commit', `--repo=${repo}`, '-b', 'canon', '-I', T, path.join(dir, repo === repos.g ? 'co-g' : 'co-o')]);
      assertSame(i, repos, 'commit -I');
    } finally {
      await cleanup();
    }
  });

  test('--selinux-policy of a root without a policy labels nothing; -P with a tar first tree fails', async () => {
    const { dir, repos, tree, cleanup } = await setup();
    try {
      await sameCommit(repos, ['-b', 'se', `--selinux-policy=${tree}`, T, tree]);
      await sameCommit(repos, ['-b', 'se2', '-P', `--tree=dir=${tree}`, T]);
      const tar = path.join(dir, 't.tar');
      assert.equal(spawnSync('tar', ['-C', tree, '-cf', tar, '.']).status, 0);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '-P', `--tree=tar=${tar}`, T]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '-P', `--selinux-policy=${tree}`, T, tree]);
      // A root whose policy would label: grove refuses in one line naming the option.
      const sel = path.join(dir, 'selinux-root');
      await buildTree(sel, [{ path: 'etc/selinux/config', type: 'file', content: 'SELINUX=enforcing\nSELINUXTYPE=targeted\n' }]);
      const g = await both(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', `--selinux-policy=${sel}`, T, tree]);
      assert.equal(g.g.code, 1);
      assert.match(g.g.stderr, /^error: --selinux-policy: .*SELinux policy.*\n$/);
    } finally {
      await cleanup();
    }
  });

  test('init --collection-id writes core.collection-id; commits then carry ostree.collection-binding', async () => {
    const { dir, cleanup } = await tempDir('grove-dropin-init-');
    try {
      const repos = { g: path.join(dir, 'g'), o: path.join(dir, 'o') };
      const r = await both(repos, (repo) => ['init', `--repo=${repo}`, '--mode=archive', '--collection-id=org.example.Os']);
      assertSame(r, repos, 'init --collection-id');
      assert.equal(await fs.readFile(path.join(repos.g, 'config'), 'utf8'), await fs.readFile(path.join(repos.o, 'config'), 'utf8'));
      const tree = path.join(dir, 'tree');
      await buildTree(tree, TREE);
      await sameCommit(repos, ['-b', 'main', T, tree]);
      await sameCommit(repos, ['-b', 'own', '--add-metadata-string=ostree.collection-binding=org.other.Id', T, tree]);
      for (const bad of ['nodots', '1starts.with.digit', 'has-hyphen.x', '.leading.dot', 'trailing.', '']) {
        const bad2 = { g: path.join(dir, `bg${bad}`), o: path.join(dir, `bo${bad}`) };
        await sameFailure(bad2, (repo) => ['init', `--repo=${repo}`, `--collection-id=${bad}`]);
        assert.equal(await fs.stat(path.join(bad2.g, 'config')).then(() => true, () => false), false, 'grove wrote a config for a bad collection ID');
      }
      assert.equal(ostree(['config', `--repo=${repos.g}`, 'get', 'core.collection-id']).stdout, 'org.example.Os\n');
    } finally {
      await cleanup();
    }
  });

  test('--timestamp without a zone is local time (TZ), and a negative --owner-uid/--owner-gid keeps the files\' owners', async () => {
    const { repos, tree, cleanup } = await setup();
    try {
      await fs.chown(path.join(tree, 'usr/bin/tool'), 1234, 5678);
      const env = { TZ: 'America/New_York' };
      for (const ts of ['2020-01-01', '2020-01-01 12:30:00', '2020-01-01T12:30', '2020-07-01T12:30:00Z', '2020-01-01 12:30:00 +0200']) {
        await sameCommit(repos, ['-b', 'main', `--timestamp=${ts}`, tree], { env });
      }
      const c = await sameCommit(repos, ['-b', 'owned', '--owner-uid=-1', '--owner-gid=-1', T, tree]);
      assert.match(lsRC(repos.g, c), /-00775 1234 5678 /, 'the file kept its owner');
      await sameCommit(repos, ['-b', 'owned', '--owner-uid=7', '--owner-uid=-1', T, tree]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--timestamp=garbage', tree], { env });
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--owner-uid=99999999999', T, tree]);
      await sameFailure(repos, (r) => ['commit', `--repo=${r}`, '-b', 'x', '--owner-gid=abc', T, tree]);
    } finally {
      await cleanup();
    }
  });
});
