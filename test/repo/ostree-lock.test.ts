import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { RepoLock } from '../../src/repo/lock.js';
import { Repo } from '../../src/repo/repo.js';
import { pruneRepo } from '../../src/repo/prune.js';
import { GROVE_BIN, ROOT, groveOk, needsOstree, ostree, tempDir } from '../helpers.js';
import { assertSound, holdOfd, pendingAfter, setLockTimeout, smallTree, start } from './lock-support.js';

/**
 * `REPO/.lock` is ostree's lock: grove's shared lock holds off `ostree prune`, an open ostree
 * transaction holds off grove's prune, one process counts and upgrades its own holders, the
 * timeout is `[core] lock-timeout-secs`, and the lock dies with its process.
 */

describe('the repository lock is the one ostree takes', needsOstree(), () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let tree: string;
  let n = 0;

  /** A fresh archive repository with one commit on `main`. */
  const fresh = async (): Promise<Repo> => {
    const p = path.join(dir, `r${n++}`);
    groveOk(['init', `--repo=${p}`, '--mode=archive']);
    groveOk(['commit', `--repo=${p}`, '-b', 'main', tree]);
    return Repo.open(p);
  };

  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-lock-'));
    tree = path.join(dir, 'tree');
    await smallTree(tree, 'lock');
  });
  after(async () => cleanup());

  it("grove's shared lock makes ostree prune wait until grove releases it", async () => {
    const repo = await fresh();
    const lock = await RepoLock.acquire(repo, 'shared');
    const prune = start('ostree', ['prune', `--repo=${repo.path}`, '--refs-only']);
    assert.equal(await pendingAfter(prune.exited, 1500), true, 'ostree prune ran while grove held the shared lock');
    await lock.release();
    assert.equal((await prune.exited).code, 0);
    // Released, not removed: ostree never unlinks its lock file.
    const st = fs.statSync(path.join(repo.path, '.lock'));
    const umask = process.umask();
    assert.equal(st.mode & 0o777, 0o660 & ~umask);
  });

  it("an open ostree transaction makes grove's prune wait", async () => {
    const repo = await fresh();
    groveOk(['refs', `--repo=${repo.path}`, '--delete', 'main']);
    // `--tree=tar=-` reads the tree from stdin inside the transaction: it stays open until we write it.
    const commit = start('ostree', ['commit', `--repo=${repo.path}`, '-b', 'fromtar', '--tree=tar=-'], { stdin: 'pipe' });
    let pruned: Promise<{ pruned: number }>;
    try {
      for (let i = 0; !fs.readdirSync(repo.tmpDir).some((f) => f.startsWith('staging-')); i++) {
        assert.ok(i < 500, 'ostree opened no transaction');
        await new Promise((r) => setTimeout(r, 10));
      }
      pruned = pruneRepo(repo, { depth: 0 });
      assert.equal(await pendingAfter(pruned, 1000), true, 'grove pruned during an ostree transaction');
      const tar = start('tar', ['-C', tree, '-cf', '-', '.']);
      tar.child.stdout!.pipe(commit.child.stdin!);
      assert.equal((await commit.exited).code, 0);
    } finally {
      commit.child.kill();
    }
    const result = await pruned;
    assert.ok(result.pruned > 0, 'the commit whose ref was deleted is pruned');
    assert.deepEqual(assertSound(repo.path, 'after the ostree commit and grove prune'), ['fromtar']);
  });

  it('one process: shared then exclusive upgrades its own lock, and popping exclusive returns to shared', async () => {
    const repo = await fresh();
    const shared = await RepoLock.acquire(repo, 'shared');
    // A separate open file would wait for our own shared lock until the timeout.
    const exclusive = await Promise.race([
      RepoLock.acquire(repo, 'exclusive'),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the upgrade waited for the process itself')), 3000)),
    ]);
    // Exclusive now: even an ostree transaction (shared) waits.
    const commit = start('ostree', ['commit', `--repo=${repo.path}`, '-b', 'other', tree]);
    assert.equal(await pendingAfter(commit.exited, 1200), true, 'ostree committed while grove held the lock exclusive');
    await exclusive.release();
    // Shared again: the transaction goes through, a prune still waits.
    assert.equal((await commit.exited).code, 0);
    const prune = start('ostree', ['prune', `--repo=${repo.path}`, '--refs-only']);
    assert.equal(await pendingAfter(prune.exited, 1200), true, 'ostree pruned while grove still held a shared lock');
    await shared.release();
    assert.equal((await prune.exited).code, 0);
    assertSound(repo.path, 'after the upgrade and downgrade');
  });

  it('[core] lock-timeout-secs: 0 does not wait, N waits N seconds, -1 waits for ever; locking=false takes none', async () => {
    const repo = await fresh();
    const held = await holdOfd(repo.path, 'exclusive');
    try {
      setLockTimeout(repo.path, 0);
      let t = Date.now();
      await assert.rejects(RepoLock.acquire(repo.path, 'shared'), (e: Error & { code?: string }) => e.code === 'GROVE_LOCKED' && /without waiting/.test(e.message) && !e.message.includes('\n'));
      assert.ok(Date.now() - t < 1000, `0 waited ${Date.now() - t} ms`);

      setLockTimeout(repo.path, 1);
      t = Date.now();
      await assert.rejects(RepoLock.acquire(repo.path, 'shared'), { code: 'GROVE_LOCKED' });
      const waited = Date.now() - t;
      assert.ok(waited >= 950 && waited < 3000, `1 waited ${waited} ms`);

      // The CLI reports it as one line.
      const r = start(process.execPath, [GROVE_BIN, 'refs', `--repo=${repo.path}`, '--delete', 'main']);
      const e = await r.exited;
      assert.notEqual(e.code, 0);
      assert.match(e.stderr, /^error: could not take the shared lock on .*\.lock within 1s: another process holds it/);
      assert.equal(e.stderr.trim().split('\n').length, 1);

      setLockTimeout(repo.path, -3);
      await assert.rejects(RepoLock.acquire(repo.path, 'shared'), { code: 'GROVE_BAD_CONFIG' });

      ostree(['config', `--repo=${repo.path}`, 'set', 'core.locking', 'false']);
      await (await RepoLock.acquire(repo.path, 'exclusive')).release();
      ostree(['config', `--repo=${repo.path}`, 'unset', 'core.locking']);

      setLockTimeout(repo.path, -1);
      const waiting = RepoLock.acquire(await Repo.open(repo.path), 'shared');
      assert.equal(await pendingAfter(waiting, 1500), true, '-1 gave up or did not wait');
      await held.release();
      await (await waiting).release();
    } finally {
      await held.release();
    }
  });

  it('the lock goes with its process, even on SIGKILL', async () => {
    const repo = await fresh();
    const script = `import { RepoLock } from ${JSON.stringify(path.join(ROOT, 'dist/src/repo/lock.js'))};
await RepoLock.acquire(process.argv[1], 'exclusive');
console.log('locked');
setInterval(() => undefined, 1000);`;
    const holder = start(process.execPath, ['--input-type=module', '-e', script, repo.path]);
    let prune: ReturnType<typeof start>;
    try {
      await new Promise((resolve) => holder.child.stdout!.once('data', resolve));
      prune = start('ostree', ['prune', `--repo=${repo.path}`, '--refs-only']);
      assert.equal(await pendingAfter(prune.exited, 1200), true, 'ostree pruned while another process held the lock');
    } finally {
      holder.child.kill('SIGKILL');
      await holder.exited;
    }
    const t = Date.now();
    assert.equal((await prune.exited).code, 0);
    // ostree retries once a second with the default timeout.
    assert.ok(Date.now() - t < 2500, `the lock outlived its process by ${Date.now() - t} ms`);
  });
});
