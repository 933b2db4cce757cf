import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { generateTree } from '../../fixtures/trees/generate.js';
import { WorkerPool } from '../../src/pool/pool.js';
import { Repo } from '../../src/repo/repo.js';
import { checkoutTree } from '../../src/checkout/checkout.js';
import { fsckRepo } from '../../src/fsck/fsck.js';
import { describeTree, groveOk, tempDir } from '../helpers.js';

/**
 * GROVE_THREADS counts the threads that do the work, the caller's among them where it takes
 * tasks (checkout, fsck, deploy): with 1 such a caller's pool has no threads and the caller does
 * everything. The bench's thread-scaling table rests on this meaning.
 */
describe('GROVE_THREADS', () => {
  test('counts the caller\'s thread where it works: 1 leaves such a pool without threads', async () => {
    const saved = process.env['GROVE_THREADS'];
    try {
      process.env['GROVE_THREADS'] = '1';
      assert.equal(new WorkerPool({ mainWorks: true }).threads, 0);
      assert.equal(new WorkerPool().threads, 1);
      process.env['GROVE_THREADS'] = '3';
      assert.equal(new WorkerPool({ mainWorks: true }).threads, 2);
      assert.equal(new WorkerPool().threads, 3);
    } finally {
      if (saved === undefined) delete process.env['GROVE_THREADS'];
      else process.env['GROVE_THREADS'] = saved;
    }
    const none = new WorkerPool({ threads: 0 });
    none.start();
    await assert.rejects(none.run({ kind: 'checkout' } as never), /has no threads/);
    await none.close();
  });

  test('a checkout and an fsck with a pool of no threads do all the work on the caller\'s thread', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      // An archive repository: its checkout inflates every file, work that would go to the pool
      // from the start if it had threads (and a pool without threads refuses any task).
      const tree = path.join(dir, 'tree');
      await generateTree(tree, { files: 300, seed: 3 });
      const repoPath = path.join(dir, 'repo');
      groveOk(['init', `--repo=${repoPath}`, '--mode=archive']);
      groveOk(['commit', `--repo=${repoPath}`, '-b', 'main', tree]);
      const repo = await Repo.open(repoPath);
      const pool = new WorkerPool({ threads: 0 });
      try {
        const stats = await checkoutTree(repo, 'main', path.join(dir, 'out'), { pool });
        assert.ok(stats.copied >= 300, `copied ${stats.copied}`);
        assert.equal(await describeTree(path.join(dir, 'out')), await describeTree(tree));
        const r = await fsckRepo(repo, { pool, quiet: true });
        assert.deepEqual(r.problems, []);
      } finally {
        await pool.close();
      }
    } finally {
      await cleanup();
    }
  });
});
