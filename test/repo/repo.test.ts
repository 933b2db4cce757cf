import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../helpers.js';
import { Repo } from '../../src/repo/repo.js';
import { listRefs, readRef, writeRef } from '../../src/repo/refs.js';
import { GroveError } from '../../src/errors.js';
import { isValidRef, isValidFileName } from '../../src/format/names.js';
import { parseRepoMode } from '../../src/repo/mode.js';

const C1 = 'a'.repeat(64);
const C2 = 'b'.repeat(64);

describe('repository layout', () => {
  test('init lays out a repository as ostree does, and open reads its mode back', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const r = await Repo.init(path.join(dir, 'r'), { mode: 'archive' });
      assert.equal(r.mode, 'archive');
      assert.equal(await fs.readFile(path.join(dir, 'r/config'), 'utf8'), '[core]\nrepo_version=1\nmode=archive-z2\n');
      for (const d of ['objects', 'refs/heads', 'refs/remotes', 'refs/mirrors', 'state', 'tmp', 'extensions']) {
        assert.ok((await fs.stat(path.join(dir, 'r', d))).isDirectory(), d);
      }
      assert.equal((await Repo.open(path.join(dir, 'r'))).mode, 'archive');
      await assert.rejects(Repo.init(path.join(dir, 'r'), { mode: 'bare' }), { code: 'GROVE_REPO_EXISTS' });
    } finally {
      await cleanup();
    }
  });

  test('open names a missing repository and a directory that is not one, as ostree does', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      await assert.rejects(Repo.open(path.join(dir, 'nope')), (e: GroveError) => e.code === 'GROVE_NO_REPO' && e.message.includes('nope'));
      await assert.rejects(Repo.open(dir), (e: GroveError) => e.code === 'GROVE_NO_REPO' && e.message === 'opening repo: opendir(objects): No such file or directory');
      await fs.mkdir(path.join(dir, 'objects'));
      await assert.rejects(Repo.open(dir), (e: GroveError) => e.code === 'GROVE_NO_REPO' && e.message === 'opening repo: openat(config): No such file or directory');
      await assert.rejects(Repo.open(undefined), { code: 'GROVE_NO_REPO' });
    } finally {
      await cleanup();
    }
  });

  test('modes: archive-z2 is archive, unknown modes are refused by name', () => {
    assert.equal(parseRepoMode('archive-z2'), 'archive');
    assert.throws(() => parseRepoMode('zip'), (e: GroveError) => e.code === 'GROVE_BAD_MODE' && e.message.includes("'zip'"));
  });
});

describe('refs', () => {
  test('write, read, list, resolve and delete local and remote refs', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const r = await Repo.init(path.join(dir, 'r'), { mode: 'bare-user' });
      // A ref may only name a commit the store has (its bytes do not matter here).
      await assert.rejects(writeRef(r.path, 'os/x86_64/main', C1), { code: 'GROVE_NO_COMMIT' });
      for (const c of [C1, C2]) await fs.mkdir(path.dirname(r.objectPath(c, 'commit')), { recursive: true }).then(() => fs.writeFile(r.objectPath(c, 'commit'), ''));
      await writeRef(r.path, 'os/x86_64/main', C1);
      await writeRef(r.path, 'origin:os/stable', C2);
      assert.equal(await fs.readFile(path.join(r.path, 'refs/heads/os/x86_64/main'), 'utf8'), `${C1}\n`);
      assert.equal(await readRef(r.path, 'origin:os/stable'), C2);
      assert.deepEqual([...(await listRefs(r.path)).entries()], [['origin:os/stable', C2], ['os/x86_64/main', C1]]);
      assert.equal(await r.resolveRev('os/x86_64/main'), C1);
      assert.equal(await r.resolveRev(C2.toUpperCase()), C2);
      assert.equal(await r.resolveRev('missing', { allowMissing: true }), null);
      await assert.rejects(r.resolveRev('missing'), (e: GroveError) => e.code === 'GROVE_NO_REF' && e.message.includes("'missing'"));
      await writeRef(r.path, 'os/x86_64/main', null);
      assert.equal(await readRef(r.path, 'os/x86_64/main'), null);
      await assert.rejects(writeRef(r.path, 'os/x86_64/main', null), { code: 'GROVE_NO_REF' });
      await assert.rejects(writeRef(r.path, '../escape', C1), { code: 'GROVE_BAD_REF' });
      // No temp files are left in tmp/.
      assert.deepEqual((await fs.readdir(path.join(r.path, 'tmp'))).filter((n) => n !== 'cache'), []);
    } finally {
      await cleanup();
    }
  });

  test('a ref file that does not hold a checksum is reported as corrupt', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const r = await Repo.init(path.join(dir, 'r'), { mode: 'bare-user' });
      await fs.writeFile(path.join(r.path, 'refs/heads/bad'), 'garbage\n');
      await assert.rejects(readRef(r.path, 'bad'), { code: 'GROVE_CORRUPT_REF' });
    } finally {
      await cleanup();
    }
  });
});

describe('names', () => {
  test('ref names follow ostree', () => {
    for (const ok of ['main', 'os/x86_64/stable', 'a_b-c.d', '_x', '1.0']) assert.ok(isValidRef(ok), ok);
    for (const bad of ['', '/main', 'main/', 'a//b', '-x', '.x', 'a/.b', 'a b', 'a:b', '..']) assert.ok(!isValidRef(bad), bad);
  });

  test('file names in dirtrees cannot escape', () => {
    for (const bad of ['', '.', '..', 'a/b', 'nul\0']) assert.ok(!isValidFileName(bad), JSON.stringify(bad));
    assert.ok(isValidFileName('...'));
    assert.ok(isValidFileName('日本語 name'));
  });
});
