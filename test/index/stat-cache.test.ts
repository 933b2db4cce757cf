import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir, isRoot } from '../helpers.js';
import { Repo } from '../../src/repo/repo.js';
import { commitTree } from '../../src/commit/commit.js';
import { WorkerPool } from '../../src/pool/pool.js';
import { RepoIndex } from '../../src/index/index.js';
import { RACY_WINDOW_NS } from '../../src/index/stat-cache.js';
import { setXattr } from '../../src/xattr/xattrs.js';
import { buildTree } from '../../fixtures/trees/build.js';

/**
 * The stat cache may skip re-reading a file only when nothing its checksum depends on can have
 * changed. Each case changes one thing and checks that the file is re-hashed (the commit equals
 * one made without the cache) while the untouched files are cache hits.
 */
const FILES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const racyMs = Number(RACY_WINDOW_NS / 1_000_000n) + 200;

describe('stat cache', { concurrency: 4 }, () => {
  let pool: WorkerPool;
  before(() => { pool = new WorkerPool({ threads: 2 }); });
  after(async () => { await pool.close(); });

  async function setup(mode: 'archive' | 'bare-user' = 'bare-user') {
    const t = await tempDir();
    const tree = path.join(t.dir, 'tree');
    await buildTree(tree, FILES.map((n) => ({ path: `dir/${n}`, type: 'file' as const, content: `content of ${n}\n` })));
    const repo = await Repo.init(path.join(t.dir, 'repo'), { mode });
    // Files younger than the racy window are never cached; let them age.
    await sleep(racyMs);
    const first = await commitTree(repo, { tree, branch: 'main', timestamp: 1n, pool });
    assert.equal(first.stats.cacheHits, 0);
    return { ...t, tree, repo };
  }

  /** Commits with and without the cache; the trees must agree. Returns the cache hits. */
  async function commitBoth(repo: Repo, tree: string) {
    const cached = await commitTree(repo, { tree, branch: 'main', timestamp: 2n, pool });
    const fresh = await commitTree(repo, { tree, branch: 'fresh', timestamp: 2n, pool, index: false });
    const [a, b] = await Promise.all([repo.loadCommit(cached.checksum), repo.loadCommit(fresh.checksum)]);
    assert.equal(a.rootTree, b.rootTree, 'the cached commit holds the tree that re-reading every file gives');
    assert.equal(a.rootMeta, b.rootMeta);
    assert.equal(fresh.stats.cacheHits, 0);
    return cached.stats.cacheHits;
  }

  test('an unchanged tree is all cache hits', async () => {
    const s = await setup();
    try {
      assert.equal(await commitBoth(s.repo, s.tree), FILES.length);
    } finally {
      await s.cleanup();
    }
  });

  const changes: Array<[string, (p: string) => Promise<void>]> = [
    ['size', (p) => fs.appendFile(p, 'more')],
    ['content with the same size and mtime restored (touch -d)', async (p) => {
      const st = await fs.stat(p);
      await fs.writeFile(p, (await fs.readFile(p, 'utf8')).toUpperCase());
      await fs.utimes(p, st.atime, st.mtime);
    }],
    ['mode', (p) => fs.chmod(p, 0o600)],
    ['xattrs', async (p) => setXattr(p, 'user.changed', Buffer.from('yes'))],
    ['inode (replaced by a different file)', async (p) => {
      const data = await fs.readFile(p);
      await fs.writeFile(`${p}.new`, Buffer.from(data.toString().replace('content', 'CONTENT')));
      await fs.rename(`${p}.new`, p);
    }],
  ];
  if (isRoot) changes.push(['owner', (p) => fs.chown(p, 1234, 1234)]);

  for (const [what, change] of changes) {
    test(`a file changed in ${what} is re-hashed`, async () => {
      const s = await setup();
      try {
        await change(path.join(s.tree, 'dir/c'));
        assert.equal(await commitBoth(s.repo, s.tree), FILES.length - 1);
      } finally {
        await s.cleanup();
      }
    });
  }

  test('a file modified just before a commit is not cached (same-tick writes cannot hide)', async () => {
    const s = await setup();
    try {
      await fs.appendFile(path.join(s.tree, 'dir/c'), 'x');
      // c is re-hashed now, but its fresh stat is inside the racy window: not recorded.
      assert.equal(await commitBoth(s.repo, s.tree), FILES.length - 1);
      assert.equal(await commitBoth(s.repo, s.tree), FILES.length - 1);
    } finally {
      await s.cleanup();
    }
  });

  test('a deleted or damaged index is rebuilt transparently', async () => {
    const s = await setup();
    try {
      await fs.rm(RepoIndex.dirOf(s.repo.path), { recursive: true });
      assert.equal(await commitBoth(s.repo, s.tree), 0);
      await sleep(10);
      assert.equal(await commitBoth(s.repo, s.tree), FILES.length);
      await fs.writeFile(path.join(RepoIndex.dirOf(s.repo.path), 'data.mdb'), 'garbage that is not an LMDB file');
      assert.equal(await commitBoth(s.repo, s.tree), 0);
    } finally {
      await s.cleanup();
    }
  });

  test('a cached checksum whose object was deleted is written again', async () => {
    const s = await setup('archive');
    try {
      const before = await commitTree(s.repo, { tree: s.tree, branch: 'main', timestamp: 3n, pool });
      // Remove every content object, as a foreign prune of unreferenced objects could.
      const objs = await fs.readdir(s.repo.objectsDir, { recursive: true });
      for (const o of objs) if (String(o).endsWith('.filez')) await fs.rm(path.join(s.repo.objectsDir, String(o)));
      const again = await commitTree(s.repo, { tree: s.tree, branch: 'main', timestamp: 3n, pool, parent: (await s.repo.loadCommit(before.checksum)).parent });
      assert.equal(before.stats.cacheHits, FILES.length);
      assert.equal(again.checksum, before.checksum);
      assert.equal(again.stats.cacheHits, 0);
      assert.equal(again.stats.contentWritten, FILES.length);
    } finally {
      await s.cleanup();
    }
  });
});
