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
import { RACY_WINDOW_NS } from '../../src/index/stat-cache.js';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Tree listings in hardlink checkouts (see src/index/tree-listing.ts): recorded by commit,
 * learnt by a first checkout and by `grove index rebuild`, read by the next plain hardlink
 * checkout and by no other kind, never taken for the objects themselves, and ignored when
 * malformed. (That a checkout through them equals ostree's is in catalogue.test.ts.)
 */
describe('tree listings', () => {
  test('a commit records the listing of every directory it writes, byte for byte what index rebuild makes', async () => {
    await withRepo({ aged: true }, async (f) => {
      assert.equal((await listings(f.repo)).size, (await dirtrees(f.repo)).length);
      // A second commit in which etc/ changed: the new dirtrees are listed from what the commit
      // hashed and, for the unchanged files (the symlink `sh` among them), from the stat cache,
      // the symlink's target then read from its object.
      await fs.writeFile(path.join(f.tree, 'etc/conf'), 'key=other\n');
      const second = JSON.parse(groveOk(['commit', `--repo=${f.repo}`, '-b', 'main', '--json', f.tree])) as { cacheHits: number };
      assert.equal(second.cacheHits, 5, 'the unchanged files came from the stat cache');
      const committed = await listings(f.repo);
      assert.equal(committed.size, (await dirtrees(f.repo)).length);
      groveOk(['index', 'rebuild', `--repo=${f.repo}`]);
      assert.deepEqual(committed, await listings(f.repo));
    });
  });

  test('--link-checkout-speedup: files taken by device and inode are listed from the catalogue', async () => {
    await withRepo(async (f) => {
      checkout(f, 'co');
      await fs.rm(path.join(f.dir, 'co/etc/conf'));
      await fs.writeFile(path.join(f.dir, 'co/etc/conf'), 'key=third\n');
      await clearListings(f.repo);
      const out = JSON.parse(groveOk(['commit', `--repo=${f.repo}`, '-b', 'main', '--json', '--link-checkout-speedup', path.join(f.dir, 'co')])) as { contentWritten: number };
      assert.equal(out.contentWritten, 1, 'only etc/conf is new');
      const recorded = await listings(f.repo);
      // root, bin, etc, etc/deep, etc/deep/er
      assert.equal(recorded.size, 5);
      groveOk(['index', 'rebuild', `--repo=${f.repo}`]);
      const rebuilt = await listings(f.repo);
      for (const [c, l] of recorded) assert.equal(l, rebuilt.get(c), `listing of ${c}`);
    });
  });

  test('an archive repository gets no listings: only hardlink checkouts read them', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await buildTree(path.join(dir, 'tree'), [{ path: 'a/b', type: 'file', content: 'b\n' }]);
      groveOk(['init', `--repo=${dir}/repo`, '--mode=archive']);
      groveOk(['commit', `--repo=${dir}/repo`, '-b', 'main', path.join(dir, 'tree')]);
      assert.equal(await listingCount(path.join(dir, 'repo')), 0);
    } finally {
      await cleanup();
    }
  });

  test('a first checkout learns every directory\'s listing; the next, reading them, places the same tree', async () => {
    await withRepo(async (f) => {
      await clearListings(f.repo);
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

/** `aged`: the tree is older than the stat cache's racy window when committed, so it is cached. */
async function withRepo(...args: [fn: (f: Fixture) => Promise<void>] | [opts: { aged: boolean }, fn: (f: Fixture) => Promise<void>]): Promise<void> {
  const [opts, fn] = args.length === 1 ? [{ aged: false }, args[0]] : args;
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
    if (opts.aged) await sleep(Number(RACY_WINDOW_NS / 1_000_000n) + 200);
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

/** Runs `fn` on the repository's index environment, closed afterwards. */
async function withIndex<T>(repo: string, fn: (dbs: ReturnType<typeof openEnvironment>) => T | Promise<T>): Promise<T> {
  const dbs = openEnvironment(RepoIndex.dirOf(repo));
  try {
    return await fn(dbs);
  } finally {
    await dbs.root.close();
  }
}

/** Every stored listing, by dirtree checksum, as hex. */
function listings(repo: string): Promise<Map<string, string>> {
  return withIndex(repo, (dbs) => new Map([...dbs.trees.getRange()].map(({ key, value }) => [key, Buffer.from(value).toString('hex')])));
}

function clearListings(repo: string): Promise<void> {
  return withIndex(repo, (dbs) => dbs.trees.clearAsync());
}

function listingCount(repo: string): Promise<number> {
  return withIndex(repo, (dbs) => dbs.trees.getKeysCount());
}

/** Rewrites the stored listing of dirtree `checksum` through `edit`. */
function editListing(repo: string, checksum: string, edit: (l: { files: Array<[string, string, FileFacts]>; dirs: Array<[string, string, string]> }) => void): Promise<void> {
  return withIndex(repo, async (dbs) => {
    const l = decodeTreeListing(dbs.trees.getBinary(checksum)!)!;
    edit(l);
    const facts = new Map(l.files.map(([, c, fa]) => [c, fa]));
    const bytes = encodeTreeListing({ files: l.files.map(([n, c]) => [n, c]), dirs: l.dirs }, (c) => facts.get(c))!;
    await dbs.trees.put(checksum, Buffer.from(bytes));
  });
}

async function exists(p: string): Promise<boolean> {
  return (await fs.lstat(p).catch(() => null)) !== null;
}

/** The tree as describeTree gives it, less the `user.ostreemeta` xattr a hardlinked bare-user object carries. */
async function shape(dir: string): Promise<string> {
  return (await describeTree(dir)).replace(/ user\.ostreemeta=[0-9a-f]+/g, '');
}
