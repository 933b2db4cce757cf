import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree, rootfsEntries, type Entry } from '../../fixtures/trees/build.js';
import { haveOstree, isRoot, needsOstree, tempDir } from '../helpers.js';
import { assertSame, runTool } from './compare.js';
import { commitBoth, initRepos } from './support.js';

/**
 * `grove export` against `ostree export`, byte for byte: the archive on stdout or in the -o file,
 * stderr and exit status, for the same commit in a repository each tool made, read by each
 * tool. ostree writes GNU tar through libarchive: entries in dirtree order (a directory, its
 * files, its subdirectories), the commit time as every mtime, every file whole (no hard links),
 * long names and targets as ././@LongLink records, owners past 2^21 in base-256, no xattrs, the
 * archive padded to 10240 bytes on stdout and to 512 in a regular file.
 */

const long = (c: string, n: number) => c.repeat(n);

const EXTRAS: Entry[] = [
  { path: `usr/share/long/${long('n', 120)}`, type: 'file', content: 'a long name\n' },
  { path: 'usr/share/long/target', type: 'symlink', target: long('t', 150) },
  { path: `usr/share/long/${long('s', 110)}`, type: 'symlink', target: long('u', 130) },
  { path: `usr/share/long/${long('d', 99)}/inside`, type: 'file', content: 'in a directory of 99 bytes\n' },
  { path: 'usr/share/same-a', type: 'file', content: 'one object, two names\n' },
  { path: 'usr/share/same-b', type: 'file', content: 'one object, two names\n' },
];

const MODES = isRoot ? (['archive', 'bare'] as const) : (['archive', 'bare-user'] as const);

for (const mode of MODES) {
  describe(`export (${mode}) matches ostree byte for byte`, needsOstree(), () => {
    let dir = '';
    let cleanup: () => Promise<void> = async () => undefined;
    let repos = { g: '', o: '' };
    let n = 0;

    before(async () => {
      if (!haveOstree()) return;
      ({ dir, cleanup } = await tempDir('grove-export-'));
      const tree = path.join(dir, 'tree');
      await buildTree(tree, [...rootfsEntries(), ...EXTRAS]);
      repos = initRepos(dir, mode);
      const c1 = await commitBoth(repos, ['-b', 'main', '-s', 'export me', '--timestamp=@1600000000', tree]);
      const c2 = await commitBoth(repos, ['-b', 'owners', '--owner-uid=3000000', '--owner-gid=4000000', '--timestamp=@1700000000', tree]);
      assert.equal(c1.g, c1.o);
      assert.equal(c2.g, c2.o);
    });

    after(async () => {
      await cleanup();
    });

    /**
     * `export ARGS` four ways: ostree and grove, each on ostree's repository and on grove's; all
     * must equal ostree on its own. With `file`, each writes its own `-o` file, compared too.
     */
    async function exportSame(args: string[], opts: { file?: boolean; fails?: boolean } = {}): Promise<Buffer> {
      const runs = await Promise.all(([['ostree', repos.o], ['grove', repos.o], ['grove', repos.g], ['ostree', repos.g]] as const).map(async ([tool, repo]) => {
        const out = opts.file ? path.join(dir, `out-${n++}.tar`) : null;
        const r = await runTool(tool, ['export', `--repo=${repo}`, ...args, ...(out ? ['-o', out] : [])]);
        const file = out ? await fs.readFile(out).catch(() => null) : null;
        return { tool, repo, r, file };
      }));
      const ref = runs[0]!;
      const what = `export ${args.join(' ')}${opts.file ? ' -o FILE' : ''}`;
      if (opts.fails !== undefined) assert.equal(ref.r.code !== 0, opts.fails, `ostree ${what}: exit ${ref.r.code} ${ref.r.stderr}`);
      for (const run of runs.slice(1)) {
        const who = `${run.tool} on ${run.repo === repos.o ? "ostree's" : "grove's"} repository: ${what}`;
        assertSame(ref.r, run.r, who);
        if (opts.file) {
          assert.equal(run.file === null, ref.file === null, `${who}: output file created or not`);
          if (ref.file) assert.ok(run.file!.equals(ref.file), `${who}: the -o file differs (${run.file!.length} bytes, ostree's ${ref.file.length})`);
        }
      }
      return opts.file ? ref.file! : ref.r.stdout;
    }

    test('the whole commit, to stdout (padded to 10240 bytes) and to a file (to 512)', async () => {
      const piped = await exportSame(['main'], { fails: false });
      assert.equal(piped.length % 10240, 0);
      const file = await exportSame(['main'], { file: true, fails: false });
      assert.equal(file.length % 512, 0);
      assert.notEqual(file.length % 10240, 0, 'the fixture should not happen to fill whole blocks');
      await exportSame(['main', '--output='], { fails: false });
    });

    test('long names and targets, shared objects, base-256 owners, a tar that tar reads', async () => {
      const file = await exportSame(['owners'], { file: true, fails: false });
      const p = path.join(dir, 'owners.tar');
      await fs.writeFile(p, file);
      const listing = spawnSync('tar', ['--numeric-owner', '-tvf', p], { encoding: 'utf8' });
      assert.equal(listing.status, 0, listing.stderr);
      assert.match(listing.stdout, /3000000\/4000000/);
      assert.match(listing.stdout, new RegExp(`usr/share/long/${long('n', 120)}\\n`));
      assert.match(listing.stdout, new RegExp(`usr/share/long/${long('s', 110)} -> ${long('u', 130)}\\n`));
      // Files sharing one object are each written whole, as ostree does: no hard-link entries.
      assert.doesNotMatch(listing.stdout, /^h/m);
    });

    test('--subpath, --prefix, --no-xattrs', async () => {
      await exportSame(['main', '--subpath=usr/share'], { fails: false });
      await exportSame(['main', '--subpath=/usr/lib'], { file: true, fails: false });
      await exportSame(['main', '--subpath=/'], { fails: false });
      await exportSame(['main', '--prefix=foo/'], { fails: false });
      // The prefix is glued on as it is: foo/, foousr/, …
      await exportSame(['main', '--prefix=foo'], { fails: false });
      await exportSame(['main', '--subpath=usr', '--prefix=p/'], { file: true, fails: false });
      await exportSame(['main', '--no-xattrs'], { fails: false });
    });

    test('failures: an unknown ref still ends the archive; libostree resolution quirks; an unopenable -o', async () => {
      // The output is opened before the commit is looked up, and closed as an empty archive.
      const empty = await exportSame(['no/such/ref'], { fails: true });
      assert.equal(empty.length, 10240);
      const emptyFile = await exportSame(['no/such/ref'], { file: true, fails: true });
      assert.equal(emptyFile.length, 1024);
      await exportSame(['main', '--subpath=nonexistent'], { fails: true });
      await exportSame(['main', '--subpath=usr/'], { fails: true });
      await exportSame(['main', '--subpath=usr//share'], { file: true, fails: true });
      await exportSame(['main', '--subpath=./usr'], { fails: true });
      await exportSame(['main', '--subpath=usr/bin/sh/x'], { fails: true });
      await exportSame(['main', '-o', '/nonexistent-dir/out.tar'], { fails: true });
    });
  });
}
