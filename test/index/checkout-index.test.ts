import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { groveOk, tempDir } from '../helpers.js';
import { RepoIndex } from '../../src/index/index.js';
import { buildTree } from '../../fixtures/trees/build.js';

/** A checkout reads the index and may teach it, but never creates, deletes or recreates it. */
test('a checkout leaves a damaged index exactly as it is and proceeds without it', async () => {
  const t = await tempDir();
  try {
    const tree = path.join(t.dir, 'tree');
    const repo = path.join(t.dir, 'repo');
    await buildTree(tree, ['a', 'b', 'sub/c'].map((p) => ({ path: p, type: 'file' as const, content: `content of ${p}\n` })));
    groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
    groveOk(['commit', `--repo=${repo}`, '-b', 'main', tree]);
    const dir = RepoIndex.dirOf(repo);
    const dataFile = path.join(dir, 'data.mdb');
    // Garbage the size of a small environment, without LMDB's magic.
    const garbage = Buffer.alloc(16384, 0x5a);
    await fs.writeFile(dataFile, garbage);
    const before = await snapshot(dir);

    groveOk(['checkout', `--repo=${repo}`, '-U', 'main', path.join(t.dir, 'out')]);
    assert.equal(await fs.readFile(path.join(t.dir, 'out/sub/c'), 'utf8'), 'content of sub/c\n');
    assert.deepEqual(await snapshot(dir), before, 'the index directory is untouched');
    assert.ok((await fs.readFile(dataFile)).equals(garbage), 'data.mdb holds the same bytes');
  } finally {
    await t.cleanup();
  }
});

/** Name, inode and size of each file in `dir`: a deleted and recreated file has a new inode. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await fs.readdir(dir)).sort()) {
    const st = await fs.stat(path.join(dir, name));
    out.push(`${name} ${st.ino} ${st.size}`);
  }
  return out;
}
