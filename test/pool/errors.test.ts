import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { GroveError } from '../../src/errors.js';
import { WorkerPool } from '../../src/pool/pool.js';
import type { WriteContentTask } from '../../src/commit/task.js';
import { GROVE_BIN, grove, groveOk, isRoot, tempDir } from '../helpers.js';

/**
 * A failure keeps its kind across the thread boundary: what a user can cause is one line and
 * exit 1 whichever thread met it; a bug is a bug, exit 70 with its stack, in a worker as on the
 * main thread.
 */
describe('errors from worker threads', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let tree: string;
  /** Fewer files than one pool task: a commit stores them on the main thread (batcher.ts). */
  let small: string;

  before(async () => {
    tmp = await tempDir('grove-errors-');
    // More files than one task holds, so that the commit hands tasks to the threads.
    tree = path.join(tmp.dir, 'tree');
    await buildTree(tree, Array.from({ length: 300 }, (_, i) => ({ path: `f${i}`, type: 'file' as const, content: `file ${i}\n` })));
    small = path.join(tmp.dir, 'small');
    await buildTree(small, Array.from({ length: 20 }, (_, i) => ({ path: `f${i}`, type: 'file' as const, content: `file ${i}\n` })));
  });
  after(async () => {
    await tmp?.cleanup();
  });

  it('a bug in a worker task exits 70 with the worker\'s stack', () => {
    const repo = path.join(tmp.dir, 'bug');
    groveOk(['init', `--repo=${repo}`, '--mode=archive']);
    const r = grove(['commit', `--repo=${repo}`, '-b', 'main', tree], { env: { GROVE_TEST_WORKER_BUG: 'write-content' } });
    assert.equal(r.code, 70, r.stderr);
    assert.match(r.stderr, /^error: internal error: TypeError: a bug injected into a write-content task/);
    // The workers' code runs from its bundle when grove runs from its bin (src/cli/build/bundle.ts).
    assert.match(r.stderr, /(grove-worker\.js|bundle\/worker\.cjs):\d+/, 'the stack is the worker\'s');
    assert.match(r.stderr, /\(in a worker thread\)/);
    assert.equal(spawnSync('ls', [path.join(repo, 'refs/heads')], { encoding: 'utf8' }).stdout, '', 'no ref moved');
  });

  it('a commit of fewer files than one task starts no thread: a bug injected into the threads is never met', () => {
    const repo = path.join(tmp.dir, 'small-repo');
    groveOk(['init', `--repo=${repo}`, '--mode=archive']);
    const r = grove(['commit', `--repo=${repo}`, '-b', 'main', small], { env: { GROVE_TEST_WORKER_BUG: 'write-content' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(grove(['fsck', `--repo=${repo}`]).code, 0);
  });

  it('a user\'s error in a worker stays one line with exit 1', async () => {
    const repo = path.join(tmp.dir, 'user');
    groveOk(['init', `--repo=${repo}`, '--mode=archive']);
    const unreadable = path.join(tmp.dir, 'unreadable');
    // Enough files that they go to the threads (the last, secret, among them).
    await buildTree(unreadable, [
      ...Array.from({ length: 300 }, (_, i) => ({ path: `f${i}`, type: 'file' as const, content: `file ${i}\n` })),
      { path: 'secret', type: 'file', content: 'x\n', mode: 0o000 },
    ]);
    // Root reads anything: run as nobody where we can.
    const args = ['commit', `--repo=${repo}`, '-b', 'main', unreadable];
    if (isRoot) {
      await fs.chmod(repo, 0o777);
      spawnSync('chmod', ['-R', 'a+rwX', repo]);
      spawnSync('chmod', ['a+x', tmp.dir]);
    }
    const r = isRoot
      ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, GROVE_BIN, ...args], { encoding: 'utf8' })
      : spawnSync(process.execPath, [GROVE_BIN, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^error: cannot read .*secret: permission denied\n$/);
  });

  it('the library rejects with the worker\'s error class: GroveError for a user\'s error, a plain Error with the stack for a bug', async () => {
    const pool = new WorkerPool({ threads: 1 });
    try {
      const bug = await pool.run({ kind: 'no-such-task' }).then(() => null, (e: unknown) => e);
      assert.ok(bug instanceof Error && !(bug instanceof GroveError), String(bug));
      assert.match((bug as Error).stack ?? '', /unknown worker task kind 'no-such-task'[\s\S]*grove-worker\.js/);
      const gone = path.join(tmp.dir, 'gone');
      const task: WriteContentTask = {
        kind: 'write-content',
        ctx: { mode: 'archive', objectsDir: path.join(tmp.dir, 'objects'), stagingDir: tmp.dir, zlibLevel: 6, compress: 'node', hash: 'node' },
        items: [{ path: gone, id: '1:1', uid: 0, gid: 0, mode: 0o100644, size: 1, readXattrs: false }],
      };
      const user = await pool.run(task).then(() => null, (e: unknown) => e);
      assert.ok(user instanceof GroveError, String(user));
      assert.equal(user.code, 'GROVE_NOT_FOUND');
      assert.equal(user.message, `${gone} disappeared during the commit`);
    } finally {
      await pool.close();
    }
  });
});

describe('a full disk while objects are written', { skip: isRoot ? false : 'needs root to mount a small tmpfs' }, () => {
  it('is one line naming the object being written, exit 1, and nothing moves', async () => {
    const tmp = await tempDir('grove-enospc-');
    const mnt = path.join(tmp.dir, 'small');
    await fs.mkdir(mnt);
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]).status, 0);
    try {
      const repo = path.join(mnt, 'repo');
      groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
      const tree = path.join(tmp.dir, 'tree');
      // Incompressible, and more than the file system holds: small files (written whole) and a large one (streamed).
      await buildTree(tree, [
        ...Array.from({ length: 40 }, (_, i) => ({ path: `small/f${i}`, type: 'file' as const, content: Buffer.alloc(64 << 10, i + 1) })),
        { path: 'large', type: 'file', content: Buffer.alloc(6 << 20, 7) },
      ]);
      const r = grove(['commit', `--repo=${repo}`, '-b', 'main', '--no-xattrs', tree]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error: no space left on device writing \/.*\n$/, r.stderr);
      assert.match(r.stderr, new RegExp(repo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'names a path in the repository');
      assert.equal(spawnSync('ls', [path.join(repo, 'refs/heads')], { encoding: 'utf8' }).stdout, '', 'no ref moved');
    } finally {
      spawnSync('umount', [mnt]);
      await tmp.cleanup();
    }
  });
});
