import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTree } from '../../fixtures/trees/build.js';
import { RACY_WINDOW_NS } from '../../src/index/stat-cache.js';
import { groveOk, needsOstree, ostree, tempDir } from '../helpers.js';

/**
 * The stat cache must never be trusted in a way that the real ostree, pruning the same
 * repository, could turn into a commit referencing a missing object: after `ostree prune`
 * deletes objects that grove's cache still remembers, the next grove commit writes them again.
 */
for (const mode of ['archive', 'bare-user'] as const) {
  test(`after ostree prune, grove re-writes objects its stat cache remembers (${mode})`, needsOstree(), async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const repo = path.join(dir, 'repo');
      const tree = path.join(dir, 'tree');
      await buildTree(tree, Array.from({ length: 20 }, (_, i) => ({ path: `d/f${i}`, type: 'file' as const, content: `file ${i} of the pruned tree\n` })));
      groveOk(['init', `--repo=${repo}`, `--mode=${mode}`]);
      // Let the files age past the racy window so that the stat cache records them.
      await sleep(Number(RACY_WINDOW_NS / 1_000_000n) + 200);
      const first = groveOk(['commit', `--repo=${repo}`, '-b', 'doomed', '--timestamp=@1', tree]).trim();
      const warm = JSON.parse(groveOk(['commit', `--repo=${repo}`, '-b', 'doomed', '--timestamp=@2', '--json', tree])) as { cacheHits: number };
      assert.equal(warm.cacheHits, 20, 'the cache remembers every file');

      ostree(['refs', `--repo=${repo}`, '--delete', 'doomed']);
      const pruned = ostree(['prune', `--repo=${repo}`, '--refs-only']).stdout;
      assert.match(pruned, /Total objects: \d+/);
      assert.match(ostree(['show', `--repo=${repo}`, first], { allowFail: true }).stderr, /Couldn't find|No such metadata object/i, 'the old commit was pruned');

      const again = JSON.parse(groveOk(['commit', `--repo=${repo}`, '-b', 'revived', '--timestamp=@3', '--json', tree])) as { cacheHits: number; contentWritten: number };
      assert.equal(again.cacheHits, 0, 'no cached checksum is used for a pruned object');
      assert.equal(again.contentWritten, 20);
      ostree(['fsck', `--repo=${repo}`]);
      assert.equal(ostree(['cat', `--repo=${repo}`, 'revived', '/d/f7']).stdout, 'file 7 of the pruned tree\n');
    } finally {
      await cleanup();
    }
  });
}
