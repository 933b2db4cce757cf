import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ZlibSizer, zlibDeflatedSize } from '../../src/format/zlib-size.js';
import { tempDir } from '../helpers.js';

/**
 * ostree.sizes records what zlib makes of each file, so grove's model of zlib must agree with
 * the system zlib (through Debian's own python3, which links it) byte count for byte count, at
 * every level, for inputs that exercise each path: empty, tiny, long runs, incompressible
 * bytes (stored blocks), text (dynamic blocks), many blocks, and windows that slide.
 */

const PYTHON = '/usr/bin/python3';

function inputs(): Record<string, Buffer> {
  let x = 7;
  const rnd = () => (x = (x * 1103515245 + 12345) >>> 0) >>> 16;
  const text = Buffer.from(Array.from({ length: 30000 }, (_, i) => `line ${i} ${(i * 7919) % 10007} ${'ab'.repeat(i % 13)}\n`).join(''));
  const random = Buffer.from(Array.from({ length: 90000 }, () => rnd() & 0xff));
  return {
    empty: Buffer.alloc(0),
    one: Buffer.from('a'),
    short: Buffer.from('hello hello hello world\n'),
    zeros: Buffer.alloc(200000),
    random,
    text,
    fewSymbols: Buffer.from(Array.from({ length: 150000 }, () => 0x40 | (rnd() & 0x3))),
    mixed: Buffer.concat([text, random, Buffer.alloc(70000), text]),
  };
}

test('zlibDeflatedSize equals the system zlib\'s raw deflate length at levels 1..9, however the input is split', { skip: spawnSync(PYTHON, ['-c', 'import zlib']).status === 0 ? false : 'no system python3 with zlib' }, async () => {
  const { dir, cleanup } = await tempDir('grove-zlib-size-');
  try {
    const all = inputs();
    for (const [name, data] of Object.entries(all)) await fs.writeFile(path.join(dir, name), data);
    const script = [
      'import sys, zlib',
      'def size(d, l):',
      '  c = zlib.compressobj(l, zlib.DEFLATED, -15, 8)',
      '  return len(c.compress(d) + c.flush())',
      'for p in sys.argv[1:]:',
      '  d = open(p, "rb").read()',
      '  print(" ".join(str(size(d, l)) for l in range(1, 10)))',
    ].join('\n');
    const r = spawnSync(PYTHON, ['-c', script, ...Object.keys(all).map((n) => path.join(dir, n))], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const expected = r.stdout.trim().split('\n').map((l) => l.split(' ').map(Number));
    Object.values(all).forEach((data, i) => {
      const ours = Array.from({ length: 9 }, (_, l) => zlibDeflatedSize(data, l + 1));
      assert.deepEqual(ours, expected[i], `${Object.keys(all)[i]}: sizes by level`);
      const z = new ZlibSizer(6);
      for (let off = 0; off < data.length; off += 4099) z.update(data.subarray(off, off + 4099));
      assert.equal(z.finish(), expected[i]![5], `${Object.keys(all)[i]}: fed in pieces`);
    });
  } finally {
    await cleanup();
  }
});

test('ZlibSizer refuses a level outside 1..9', () => {
  assert.throws(() => new ZlibSizer(0), /zlib level 0 is not 1\.\.9/);
  assert.throws(() => new ZlibSizer(10), /zlib level 10/);
});
