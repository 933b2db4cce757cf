import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { groveOk, needsOstree, ostree, tempDir } from '../helpers.js';

/**
 * Archive objects deflated by libdeflate (grove's default one-shot codec) are what ostree's zlib
 * reads, at every `archive.zlib-level` grove maps onto libdeflate's levels: ostree fsck finds
 * nothing wrong and `ostree cat` gives back the committed bytes.
 */
describe('archive objects written by libdeflate, read by ostree', needsOstree(), () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const files: Record<string, Buffer> = {
    'empty': Buffer.alloc(0),
    'text': Buffer.from('usr/lib/x86_64-linux-gnu/libc.so.6\n'.repeat(20_000)),
    'random': randomBytes(200_000),
    'mixed': Buffer.concat([randomBytes(50_000), Buffer.alloc(1 << 20, 1), Buffer.from('end\n')]),
  };
  before(async () => {
    tmp = await tempDir();
    await fs.mkdir(path.join(tmp.dir, 'tree'));
    for (const [name, data] of Object.entries(files)) await fs.writeFile(path.join(tmp.dir, 'tree', name), data);
  });
  after(() => tmp.cleanup());

  // ostree takes levels 1-9 (0 is refused by both).
  for (const level of ['1', '6', '9']) {
    test(`archive.zlib-level=${level}`, () => {
      const repo = path.join(tmp.dir, `repo-${level}`);
      groveOk(['init', `--repo=${repo}`, '--mode=archive']);
      groveOk(['config', `--repo=${repo}`, 'set', 'archive.zlib-level', level]);
      groveOk(['commit', `--repo=${repo}`, '-b', 'main', '--no-xattrs', path.join(tmp.dir, 'tree')], { env: { ...process.env, GROVE_COMPRESS: 'libdeflate' } });
      const fsck = ostree(['fsck', `--repo=${repo}`]);
      assert.equal(fsck.code, 0, fsck.stderr);
      for (const [name, data] of Object.entries(files)) {
        const cat = spawnSync('ostree', ['cat', `--repo=${repo}`, 'main', `/${name}`], { maxBuffer: 8 << 20 });
        assert.equal(cat.status, 0, String(cat.stderr));
        assert.ok(cat.stdout.equals(data), `${name} at level ${level}`);
      }
    });
  }
});
