import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { describeTree, grove, groveOk, tempDir } from '../helpers.js';
import { openEnvironment, RepoIndex } from '../../src/index/index.js';
import { decodeTreeListing, encodeTreeListing, type FileFacts } from '../../src/index/tree-listing.js';
import { decodeDirTree } from '../../src/format/objects.js';
import { objectPath } from '../../src/store/paths.js';
import { Repo } from '../../src/repo/repo.js';

/**
 * Tree listings in hardlink checkouts (see src/index/tree-listing.ts): learnt by a first
 * checkout and by `grove index rebuild`, read by the next plain hardlink checkout and by no other
 * kind, never taken for the objects themselves, and ignored when malformed. (That a checkout
 * through them equals ostree's is in catalogue.test.ts.)
 */
describe('tree listings', () => {
  test('a first checkout learns every directory\'s listing; the next, reading them, places the same tree', async () => {
    await withRepo(async (f) => {
      assert.equal(await listingCount(f.repo), 0);
      checkout(f, 'a');
      assert.equal(await listingCount(f.repo), (await dirtrees(f.repo)).length);
      checkout(f, 'b');
      assert.equal(await shape(path.join(f.dir, 'b')), await shape(path.join(f.dir, 'a')));
      assert.equal(await shape(path.join(f.dir, 'a')), await shape(f.tree));
    });
  });

  test('index rebuild fills the listings', async () => {
    await withRepo(async (f) => {
      assert.equal(groveOk(['index', 'rebuild', `--repo=${f.repo}`]).trim(), `catalogued 6 content objects and ${(await dirtrees(f.repo)).length} directory listings`);
      assert.equal(await listingCount(f.repo), (await dirtrees(f.repo)).length);
    });
  });

  test('a plain hardlink checkout reads the listing; unions, whiteouts and copies do not', async () => {
    await withRepo(async (f) => {
      checkout(f, 'a');
      // A listing of the root that names one file more than its dirtree shows who reads it.
      await editListing(f.repo, f.root, (l) => l.files.push(['planted', l.files[0]![1], l.files[0]![2]]));
      checkout(f, 'plain');
      assert.ok(await exists(path.join(f.dir, 'plain/planted')), 'the plain checkout used the listing');
      for (const [name, flags] of [['union', ['--union']], ['union-add', ['--union-add']], ['whiteouts', ['--whiteouts']], ['copy', ['-C']]] as const) {
        checkout(f, name, flags);
        assert.ok(!(await exists(path.join(f.dir, name, 'planted'))), `${name} read the dirtree`);
        assert.equal(await shape(path.join(f.dir, name)), await shape(f.tree), name);
      }
    });
  });

  test('a malformed listing is ignored: the dirtree is read instead', async () => {
    await withRepo(async (f) => {
      checkout(f, 'a');
      await editListing(f.repo, f.root, (l) => { l.files[0]![0] = '..'; });
      checkout(f, 'b');
      assert.equal(await shape(path.join(f.dir, 'b')), await shape(f.tree));
    });
  });

  test('a listing does not stand for a dirtree the store lost, nor for a lost symlink object', async () => {
    await withRepo(async (f) => {
      checkout(f, 'a');
      const sub = (await decodedRoot(f)).dirs.find(([n]) => n === 'etc')![1];
      const dirtree = objectPath(path.join(f.repo, 'objects'), sub, 'dirtree', 'bare-user');
      const saved = await fs.readFile(dirtree);
      await fs.rm(dirtree);
      assert.deepEqual(tryCheckout(f, 'b'), { code: 1, stderr: `error: dirtree object ${sub} is missing\n` });
      await fs.writeFile(dirtree, saved);

      const link = (await decodedRoot(f)).files.find(([n]) => n === 'sh')![1];
      await fs.rm(objectPath(path.join(f.repo, 'objects'), link, 'file', 'bare-user'));
      assert.deepEqual(tryCheckout(f, 'c'), { code: 1, stderr: `error: file object ${link} is missing\n` });
    });
  });
});

interface Fixture { dir: string; tree: string; repo: string; root: string }

async function withRepo(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await tempDir();
  try {
    const tree = path.join(dir, 'tree');
    await buildTree(tree, [
      { path: 'bin/tool', type: 'file', content: 'a tool\n', mode: 0o755 },
      { path: 'etc/conf', type: 'file', content: 'key=value\n' },
      { path: 'etc/empty', type: 'file', content: '' },
      { path: 'etc/deep/er/file', type: 'file', content: 'deep\n' },
      { path: 'readme', type: 'file', content: 'read me\n' },
      { path: 'sh', type: 'symlink', target: 'bin/tool' },
    ]);
    const repo = path.join(dir, 'repo');
    groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
    groveOk(['commit', `--repo=${repo}`, '-b', 'main', tree]);
    const r = await Repo.open(repo);
    const root = (await r.loadCommit((await r.resolveRev('main'))!)).rootTree;
    await fn({ dir, tree, repo, root });
  } finally {
    await cleanup();
  }
}

function checkout(f: Fixture, dest: string, flags: readonly string[] = []): void {
  groveOk(['checkout', `--repo=${f.repo}`, '-U', ...(flags.includes('-C') ? [] : ['-H']), ...flags, 'main', path.join(f.dir, dest)]);
}

function tryCheckout(f: Fixture, dest: string): { code: number; stderr: string } {
  const r = grove(['checkout', `--repo=${f.repo}`, '-U', '-H', 'main', path.join(f.dir, dest)]);
  return { code: r.code, stderr: r.stderr };
}

async function decodedRoot(f: Fixture) {
  return decodeDirTree(await fs.readFile(objectPath(path.join(f.repo, 'objects'), f.root, 'dirtree', 'bare-user')), 'root');
}

async function dirtrees(repo: string): Promise<string[]> {
  return (await fs.readdir(path.join(repo, 'objects'), { recursive: true })).filter((p) => p.endsWith('.dirtree'));
}

async function listingCount(repo: string): Promise<number> {
  const dbs = openEnvironment(RepoIndex.dirOf(repo));
  try {
    return dbs.trees.getKeysCount();
  } finally {
    await dbs.root.close();
  }
}

/** Rewrites the stored listing of dirtree `checksum` through `edit`. */
async function editListing(repo: string, checksum: string, edit: (l: { files: Array<[string, string, FileFacts]>; dirs: Array<[string, string, string]> }) => void): Promise<void> {
  const dbs = openEnvironment(RepoIndex.dirOf(repo));
  try {
    const l = decodeTreeListing(dbs.trees.getBinary(checksum)!)!;
    edit(l);
    const facts = new Map(l.files.map(([, c, fa]) => [c, fa]));
    const bytes = encodeTreeListing({ files: l.files.map(([n, c]) => [n, c]), dirs: l.dirs }, (c) => facts.get(c))!;
    await dbs.trees.put(checksum, Buffer.from(bytes));
  } finally {
    await dbs.root.close();
  }
}

async function exists(p: string): Promise<boolean> {
  return (await fs.lstat(p).catch(() => null)) !== null;
}

/** The tree as describeTree gives it, less the `user.ostreemeta` xattr a hardlinked bare-user object carries. */
async function shape(dir: string): Promise<string> {
  return (await describeTree(dir)).replace(/ user\.ostreemeta=[0-9a-f]+/g, '');
}
