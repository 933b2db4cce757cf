import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree, rootfsEntries } from '../../fixtures/trees/build.js';
import { grove, groveOk, tempDir } from '../helpers.js';
import { needsOstreeAsRoot, groveAsync, initRepos, ostreeAsync, treeState, TIMESTAMP } from '../interop/support.js';
import { objectPath } from '../../src/store/paths.js';

/**
 * The object catalogue gives a hardlink checkout each object's mode and size without a stat and
 * an xattr read. Its facts decide what is linked and what copied (symlinks in bare-user, empty
 * files, files their owner cannot read), so a checkout that used them must equal ostree's — both
 * with facts a grove commit recorded and with facts `grove index rebuild` read from a repository
 * ostree wrote — and so must one through the tree listings a first checkout learnt. Its word on
 * existence is never taken: a pruned object is reported missing.
 */
describe('object catalogue', needsOstreeAsRoot(), () => {
  for (const mode of ['bare-user', 'bare-user-only', 'bare'] as const) {
    test(`${mode}: hardlink checkouts through the catalogue equal ostree's`, async () => {
      const { dir, cleanup } = await tempDir();
      try {
        const tree = path.join(dir, 'tree');
        await buildTree(tree, rootfsEntries());
        const repos = initRepos(dir, mode);
        const args = ['-b', 'main', `--timestamp=${TIMESTAMP}`, ...(mode === 'bare-user-only' ? ['--canonical-permissions'] : []), tree];
        await groveAsync(['commit', `--repo=${repos.g}`, ...args]);
        await ostreeAsync(['commit', `--repo=${repos.o}`, ...args]);
        const rebuilt = groveOk(['index', 'rebuild', `--repo=${repos.o}`]);
        const stored = await fs.readdir(path.join(repos.o, 'objects'), { recursive: true });
        const count = (ext: string) => stored.filter((f) => f.endsWith(ext)).length;
        assert.equal(rebuilt.trim(), `catalogued ${count('.file')} content objects and ${count('.dirtree')} directory listings`);

        const flags = mode === 'bare' ? ['-H'] : ['-U', '-H'];
        const dests = { fromCommit: path.join(dir, 'a'), fromListings: path.join(dir, 'c'), fromRebuild: path.join(dir, 'b'), ref: path.join(dir, 'ref') };
        await groveAsync(['checkout', `--repo=${repos.g}`, ...flags, 'main', dests.fromCommit]);
        // The first checkout learnt the tree listings; this one reads them.
        await groveAsync(['checkout', `--repo=${repos.g}`, ...flags, 'main', dests.fromListings]);
        await groveAsync(['checkout', `--repo=${repos.o}`, ...flags, 'main', dests.fromRebuild]);
        await ostreeAsync(['checkout', `--repo=${repos.o}`, ...flags, 'main', dests.ref]);
        const opts = { owners: mode === 'bare' };
        const ref = await treeState(dests.ref, opts);
        assert.equal(await treeState(dests.fromCommit, opts), ref, 'catalogue recorded by grove commit');
        assert.equal(await treeState(dests.fromListings, opts), ref, 'tree listings learnt by the first checkout');
        assert.equal(await treeState(dests.fromRebuild, opts), ref, 'catalogue and listings filled by grove index rebuild');
      } finally {
        await cleanup();
      }
    });
  }

  test('an object the catalogue knows but the store lost is reported missing', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const tree = path.join(dir, 'tree');
      await buildTree(tree, [{ path: 'bin/tool', type: 'file', content: 'a tool\n', mode: 0o755 }]);
      const repo = path.join(dir, 'repo');
      groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
      groveOk(['commit', `--repo=${repo}`, '-b', 'main', tree]);
      const csum = /\b[0-9a-f]{64}\b/.exec(groveOk(['ls', `--repo=${repo}`, '-C', 'main', '/bin/tool']))![0];
      await fs.rm(objectPath(path.join(repo, 'objects'), csum, 'file', 'bare-user'));
      const r = grove(['checkout', `--repo=${repo}`, '-U', '-H', 'main', path.join(dir, 'co')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^error: file object ${csum} is missing\\n$`));
    } finally {
      await cleanup();
    }
  });
});
