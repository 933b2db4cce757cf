import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { GROVE_BIN, grove, groveOk, tempDir } from '../helpers.js';
import { describeCommitProgress } from '../../src/cli/progress.js';

test('commit progress names files, bytes, rate and, once the walk is done, an ETA', () => {
  const walking = describeCommitProgress({ filesDone: 10, bytesDone: 5e6, filesFound: 40, bytesFound: 2e7, walkDone: false }, 1);
  assert.equal(walking, 'commit: 10/40+ files, 5.0 MB/20.0 MB+, 5.0 MB/s');
  const known = describeCommitProgress({ filesDone: 10, bytesDone: 5e6, filesFound: 40, bytesFound: 2e7, walkDone: true }, 1);
  assert.equal(known, 'commit: 10/40 files, 5.0 MB/20.0 MB, 5.0 MB/s, ETA 3 s');
});

test('progress goes to a terminal and never into a pipe', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const tree = path.join(dir, 'tree');
    await buildTree(tree, Array.from({ length: 300 }, (_, i) => ({ path: `d/f${i}`, type: 'file' as const, content: `file ${i}\n`.repeat(200) })));
    groveOk(['init', `--repo=${dir}/repo`, '--mode=archive']);
    const piped = grove(['commit', `--repo=${dir}/repo`, '-b', 'a', tree]);
    assert.equal(piped.code, 0);
    assert.match(piped.stdout, /^[0-9a-f]{64}\n$/);
    assert.equal(piped.stderr, '');
    // script(1) gives the command a terminal; the progress line shows there.
    const tty = spawnSync('script', ['-qec', `${process.execPath} ${GROVE_BIN} commit --repo=${dir}/repo -b b ${tree}`, '/dev/null'], { encoding: 'utf8' });
    assert.equal(tty.status, 0, tty.stderr);
    // Whether the walk was done when the line was drawn depends on timing: both forms are progress.
    assert.match(tty.stdout, /commit: \d+\/300\+? files/);
  } finally {
    await cleanup();
  }
});
