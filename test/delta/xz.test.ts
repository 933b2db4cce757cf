import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { GroveError } from '../../src/errors.js';
import { WorkerPool } from '../../src/pool/pool.js';
import fs from 'node:fs';
import path from 'node:path';
import { compressPartFile, inflateXz, inflateXzOn, lzma } from '../../src/delta/xz.js';
import { needsOstree, ostree, tempDir } from '../helpers.js';

/**
 * Inflating static delta parts: through the system's xz, through lzma-native when there is no
 * xz, and on a pool thread for large parts; each gives the same bytes, and each refuses a part
 * that inflates past its limit (an xz bomb) or is not xz, in one line naming the part.
 */
const compress = (data: Buffer): Promise<Buffer> => new Promise((resolve) => lzma().compress(data, { preset: 1 }, resolve));
const haveXz = spawnSync('sh', ['-c', 'command -v xz']).status === 0;

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof GroveError, String(e));
    return e.message;
  }
  assert.fail('expected a refusal');
}

describe('inflating xz parts', () => {
  // Incompressible halves keep the compressed size above the pool's 1 MiB threshold.
  const data = Buffer.concat([randomBytes(3 << 20), Buffer.alloc(5 << 20, 'grove')]);
  const bomb = Buffer.alloc(64 << 20);

  for (const binary of [haveXz ? 'xz' : null, null, 'no-such-xz-binary'] as const) {
    const how = binary === null ? 'lzma-native' : binary === 'xz' ? 'the system\'s xz' : 'lzma-native when xz is missing';
    test(`through ${how}: the bytes, a bomb and garbage`, async (t) => {
      if (binary === 'xz' && !haveXz) return t.skip('no xz here');
      const packed = await compress(data);
      assert.ok(Buffer.from(await inflateXz(packed, data.length, 'part 0', binary)).equals(data));
      // Bytes after the stream: xz does not read them, as ostree's converter stops at the
      // stream's end; lzma-native reads on and refuses them (the part's checksum was checked
      // before, so only the delta's own maker could have put them there).
      const trailing = inflateXz(Buffer.concat([packed, Buffer.from('junk')]), data.length, 'part 0', binary);
      if (binary === 'xz') assert.ok(Buffer.from(await trailing).equals(data));
      else assert.match(await refusal(trailing), /^part 0: xz: .+$/);
      assert.match(await refusal(inflateXz(await compress(bomb), 1 << 20, 'part 1', binary)), /^part 1: part inflates to more than the 1048576 bytes its objects allow$/);
      assert.match(await refusal(inflateXz(Buffer.from('not xz at all'), 1 << 20, 'part 2', binary)), /^part 2: xz: .+$/);
    });
  }

  test('on a pool thread, three at once: the same bytes and refusals', async () => {
    const pool = new WorkerPool({ threads: 2 });
    try {
      const packed = await compress(data);
      assert.ok(packed.length >= 1 << 20, 'large enough for the pool');
      const out = await Promise.all([0, 1, 2].map(() => inflateXzOn(pool, packed, data.length, 'part 0')));
      for (const o of out) assert.ok(Buffer.from(o).equals(data));
      const big = Buffer.concat([await compress(bomb), randomBytes(1 << 20)]);
      assert.match(await refusal(inflateXzOn(pool, big, 1 << 20, 'part 3')), /^part 3: part inflates to more than/);
    } finally {
      await pool.close();
    }
  });

  test('a part compressed by each backend is the very file ostree wrote for the same payload', needsOstree(), async () => {
    const tmp = await tempDir('grove-xz-');
    try {
      const repo = path.join(tmp.dir, 'repo');
      const tree = path.join(tmp.dir, 'tree');
      fs.mkdirSync(path.join(tree, 'usr'), { recursive: true });
      fs.writeFileSync(path.join(tree, 'usr/random'), randomBytes(200 << 10));
      fs.writeFileSync(path.join(tree, 'usr/text'), 'grove '.repeat(50000));
      ostree(['init', `--repo=${repo}`, '--mode=archive']);
      const commit = ostree(['commit', `--repo=${repo}`, '--orphan', tree]).stdout.trim();
      ostree(['static-delta', 'generate', `--repo=${repo}`, '--empty', `--to=${commit}`]);
      const parts = (fs.readdirSync(path.join(repo, 'deltas'), { recursive: true }) as string[]).filter((f) => /(^|\/)0$/.test(f));
      assert.equal(parts.length, 1);
      const theirs = fs.readFileSync(path.join(repo, 'deltas', parts[0]!));
      assert.equal(theirs[0], 'x'.charCodeAt(0));
      const payload = await inflateXz(theirs.subarray(1), 64 << 20, 'part 0');
      for (const binary of [haveXz ? 'xz' : null, null]) {
        const out = path.join(tmp.dir, `part-${binary ?? 'library'}`);
        await compressPartFile(payload, out, binary);
        assert.ok(fs.readFileSync(out).equals(theirs), `${binary ?? 'lzma-native'}: ostree's bytes`);
        assert.deepEqual(fs.readdirSync(tmp.dir).filter((n) => n.endsWith('.in')), [], 'no input left behind');
      }
    } finally {
      await tmp.cleanup();
    }
  });
});
