import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildTree } from '../../fixtures/trees/build.js';
import { grove, haveOstree, needsOstree, tempDir, type RunResult } from '../helpers.js';

/**
 * `grove checksum` against `ostree checksum`, byte for byte, run from the same directory with
 * the same arguments: regular files (empty, executable, several MB, with xattrs, owned by
 * someone else), a symlink, a directory, a FIFO; with and without --ignore-xattrs; and the
 * failures (no argument, a missing path, a path through a file), whose messages name the path
 * in GIO's way (absolute) or libglnx's (as given).
 */

function ostreeIn(cwd: string, args: string[]): RunResult {
  const r = spawnSync('ostree', args, { cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('grove checksum matches ostree checksum', needsOstree(), () => {
  let dir = '';
  let cleanup: () => Promise<void> = async () => undefined;

  before(async () => {
    if (!haveOstree()) return;
    ({ dir, cleanup } = await tempDir('grove-checksum-'));
    await buildTree(dir, [
      { path: 'plain', type: 'file', content: 'hello\n' },
      { path: 'empty', type: 'file', content: '' },
      { path: 'tool', type: 'file', content: '#!/bin/sh\n', mode: 0o4755 },
      { path: 'big', type: 'file', content: Buffer.alloc(3 << 20, 'grove ') },
      { path: 'tagged', type: 'file', content: 'xattrs\n', xattrs: { 'user.b': 'second', 'user.a': 'first' } },
      { path: 'theirs', type: 'file', content: 'owned\n', uid: 1234, gid: 5678, mode: 0o600 },
      { path: 'link', type: 'symlink', target: 'plain' },
      { path: 'dangling', type: 'symlink', target: '../nowhere' },
      { path: 'sub/dir', type: 'dir', mode: 0o750, xattrs: { 'user.dir': 'yes' } },
    ]);
    assert.equal(spawnSync('mkfifo', [path.join(dir, 'fifo')]).status, 0);
  });
  after(async () => cleanup());

  function same(args: string[]): RunResult {
    const ro = ostreeIn(dir, ['checksum', ...args]);
    const rg = grove(['checksum', ...args], { cwd: dir });
    const what = `checksum ${args.join(' ')}`;
    assert.equal(rg.stderr, ro.stderr, `${what}: stderr`);
    assert.equal(rg.stdout, ro.stdout, `${what}: stdout`);
    assert.equal(rg.code, ro.code, `${what}: exit status`);
    return ro;
  }

  test('prints the checksum ostree gives each kind of path', () => {
    for (const p of ['plain', 'empty', 'tool', 'big', 'tagged', 'theirs', 'link', 'dangling', 'sub', 'sub/dir', 'fifo', '.', path.join(dir, 'plain'), './sub/../plain']) {
      for (const flags of [[], ['--ignore-xattrs']]) assert.equal(same([...flags, p]).code, 0);
    }
    // xattrs count unless ignored.
    assert.notEqual(same(['tagged']).stdout, same(['--ignore-xattrs', 'tagged']).stdout);
    // Only the first path is read.
    same(['plain', 'tagged']);
    assert.ok(fs.existsSync(path.join(dir, 'fifo')));
  });

  test('fails as ostree does', () => {
    for (const args of [[], ['missing'], ['--ignore-xattrs', 'missing'], ['plain/below'], ['--ignore-xattrs', 'plain/below'], ['./sub/../missing']]) {
      assert.equal(same(args).code, 1, args.join(' '));
    }
  });
});
