import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildTree, rootfsEntries } from '../../fixtures/trees/build.js';
import { haveOstree, needsOstree, ostree, tempDir } from '../helpers.js';
import { same, sortLines } from './compare.js';
import { commitBoth, initRepos } from './support.js';

/**
 * The options of show, log, ls, rev-parse and refs, each as ostree 2022.7 runs it: the same
 * command line under ostree and grove, stdout, stderr and exit status compared, on a repository
 * ostree made (with what only ostree makes: detached metadata, ostree.sizes) and on twins each
 * tool made for what the commands change (aliases, collection refs).
 */

const REF = 'os/main';

describe('show, log, ls, rev-parse and refs options match ostree', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;
  /** Made by ostree: two commits of REF, with sizes, detached metadata and a uint32 key. */
  let repo = '';
  let twins = { g: '', o: '' };
  let one = '';
  let empty = '';
  const commits: string[] = [];
  const objects = { dirtree: '', dirmeta: '', file: '', symlink: '' };

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-inspect-opts-'));
    const tree = path.join(dir, 'tree');
    await buildTree(tree, rootfsEntries());
    repo = path.join(dir, 'repo');
    ostree(['init', `--repo=${repo}`, '--mode=archive']);
    commits.push(ostree(['commit', `--repo=${repo}`, '-b', REF, '-s', 'one', '--timestamp=@1600000000', '--generate-sizes',
      '--add-detached-metadata-string=note=detached', '--add-metadata=count=uint32 7', '--add-metadata-string=version=1.0', tree]).stdout.trim());
    commits.push(ostree(['commit', `--repo=${repo}`, '-b', REF, '-s', 'two', '--timestamp=@1600000100', tree]).stdout.trim());
    const ls = ostree(['ls', `--repo=${repo}`, '-C', '-d', REF, '/usr', '/usr/bin/sh', '/etc/os-release']).stdout.split('\n');
    [objects.dirtree, objects.dirmeta] = ls[0]!.split(/\s+/).slice(4) as [string, string];
    objects.file = ls[1]!.split(/\s+/)[4]!;
    objects.symlink = ls[2]!.split(/\s+/)[4]!;
    twins = initRepos(dir, 'archive');
    await commitBoth(twins, ['-b', REF, '-s', 'twin', '--timestamp=@1600000000', tree]);
    await commitBoth(twins, ['-b', 'other', '-s', 'other', '--timestamp=@1600000200', tree]);
    one = path.join(dir, 'one');
    ostree(['init', `--repo=${one}`, '--mode=archive']);
    ostree(['commit', `--repo=${one}`, '-b', 'only', '--timestamp=@1600000000', tree]);
    empty = path.join(dir, 'empty');
    ostree(['init', `--repo=${empty}`, '--mode=archive']);
  });

  after(async () => {
    await cleanup();
  });

  test('show --raw and -B, of a commit, a dirtree, a dirmeta and content objects', async () => {
    await same(['show', '--raw', REF], repo, repo, { fails: false });
    await same(['show', '--raw', `${REF}^`], repo);
    await same(['show', '-B', REF], repo);
    await same(['show', '-B', '--raw', `${REF}^`], repo);
    for (const o of [commits[0]!, objects.dirtree, objects.dirmeta, objects.file, objects.symlink]) {
      await same(['show', o], repo, repo, { fails: false });
      await same(['show', '--raw', o], repo, repo, { fails: false });
    }
    await same(['show', '0'.repeat(64)], repo, repo, { fails: true });
  });

  test('show --print-metadata-key, --print-detached-metadata-key, --print-related', async () => {
    await same(['show', '--print-metadata-key=version', `${REF}^`], repo, repo, { fails: false });
    await same(['show', '--print-metadata-key=count', `${REF}^`], repo);
    await same(['show', '-B', '--print-metadata-key=count', `${REF}^`], repo);
    await same(['show', '--print-metadata-key=ostree.ref-binding', REF], repo);
    await same(['show', '--print-metadata-key=nope', REF], repo, repo, { fails: true });
    await same(['show', '--print-detached-metadata-key=note', `${REF}^`], repo, repo, { fails: false });
    await same(['show', '--print-detached-metadata-key=note', REF], repo, repo, { fails: true });
    await same(['show', '--print-detached-metadata-key=nope', `${REF}^`], repo, repo, { fails: true });
    await same(['show', '--print-related', REF], repo, repo, { fails: false });
    await same(['show', '--print-related', 'no/such'], repo, repo, { fails: true });
    await same(['show', '--gpg-verify-remote=nope', REF], repo, repo, { fails: false });
  });

  test('show --print-sizes and --print-variant-type', async () => {
    await same(['show', '--print-sizes', `${REF}^`], repo, repo, { fails: false });
    await same(['show', '--print-sizes', REF], repo, repo, { fails: true });
    const dirmetaFile = path.join(repo, 'objects', objects.dirmeta.slice(0, 2), `${objects.dirmeta.slice(2)}.dirmeta`);
    await same(['show', '--print-variant-type=(uuua(ayay))', dirmetaFile], repo, repo, { fails: false });
    await same(['show', '--print-variant-type=(uuua(ayay))', path.join(dir, 'nonexistent')], repo, repo, { fails: true });
  });

  test('log --raw', async () => {
    await same(['log', '--raw', REF], repo, repo, { fails: false });
    await same(['log', '--raw', REF], twins.o, twins.g);
    await same(['log', '--raw', 'no/such'], repo, repo, { fails: true });
    await same(['log', '0'.repeat(64)], repo, repo, { fails: true });
  });

  test('ls -X and --nul-filenames-only', async () => {
    await same(['ls', '-X', REF], repo, repo, { fails: false });
    await same(['ls', '-X', '-R', '-C', REF], repo);
    await same(['ls', '-X', '-R', REF], twins.o, twins.g);
    await same(['ls', '--nul-filenames-only', '-R', REF, '/usr', '/etc'], repo);
    await same(['ls', '-X', REF, '/nonexistent'], repo, repo, { fails: true });
    await same(['ls', '-X', REF, '/usr/bin/sh/x'], repo, repo, { fails: true });
  });

  test('rev-parse --single, several revs', async () => {
    await same(['rev-parse', '--single'], one, one, { fails: false });
    await same(['rev-parse', '--single'], repo, repo, { fails: true });
    await same(['rev-parse', '--single'], empty, empty, { fails: true });
    await same(['rev-parse', REF, `${REF}^`], repo, repo, { fails: false });
    await same(['rev-parse', REF, 'no/such', `${REF}^`], repo, repo, { fails: true });
    await same(['rev-parse', `${REF}^^`], repo, repo, { fails: true });
  });

  test('refs --alias: create, list, resolve, refuse', async () => {
    await same(['refs', '--alias'], twins.o, twins.g, { fails: false });
    await same(['refs', '--alias', '--create=latest', REF], twins.o, twins.g, { fails: false });
    await same(['refs', '--alias', '--create=nested/alias', REF], twins.o, twins.g, { fails: false });
    for (const r of [twins.o, twins.g]) {
      assert.equal(await fs.readlink(path.join(r, 'refs/heads/latest')), REF);
      assert.equal(await fs.readlink(path.join(r, 'refs/heads/nested/alias')), `../${REF}`);
    }
    await same(['refs', '--alias'], twins.o, twins.g, { stdout: sortLines });
    await same(['refs', '--alias', 'nested'], twins.o, twins.g, { stdout: sortLines });
    await same(['refs'], twins.o, twins.g, { stdout: sortLines });
    await same(['rev-parse', 'latest'], twins.o, twins.g, { fails: false });
    // Replacing an alias needs no --force; a ref does.
    await same(['refs', '--alias', '--create=latest', 'other'], twins.o, twins.g, { fails: false });
    await same(['refs', '--create=latest', REF], twins.o, twins.g, { fails: true });
    await same(['refs', '--alias', '--create=x', 'no/such'], twins.o, twins.g, { fails: true });
    await same(['refs', '--alias', '--create=origin:x', REF], twins.o, twins.g, { fails: true });
    await same(['refs', '--delete', 'other'], twins.o, twins.g, { fails: true });
    await same(['refs', '--alias', '--delete', 'latest'], twins.o, twins.g, { fails: false });
    await same(['refs', '--alias'], twins.o, twins.g, { stdout: sortLines });
  });

  test('refs --collections: list, create, delete, refuse', async () => {
    for (const r of [twins.o, twins.g]) ostree(['config', `--repo=${r}`, 'set', 'core.collection-id', 'org.example.Main']);
    await same(['refs', '--collections'], twins.o, twins.g, { stdout: sortLines, fails: false });
    await same(['refs', '-c', '--create=org.example.Other:mirrored', REF], twins.o, twins.g, { fails: false });
    await same(['refs', '-c'], twins.o, twins.g, { stdout: sortLines });
    await same(['refs', '-c', 'org.example.Other'], twins.o, twins.g, { stdout: sortLines });
    await same(['refs', '-c', 'bad'], twins.o, twins.g, { fails: true });
    await same(['refs', '-c', '--create=bad:x', REF], twins.o, twins.g, { fails: true });
    await same(['refs', '-c', '--delete', 'org.example.Other'], twins.o, twins.g, { fails: false });
    await same(['refs', '-c'], twins.o, twins.g, { stdout: sortLines });
    for (const r of [twins.o, twins.g]) ostree(['config', `--repo=${r}`, 'unset', 'core.collection-id']);
  });
});
