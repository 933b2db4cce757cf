import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { bsdiff } from '../../src/delta/bsdiff.js';
import { bspatch } from '../../src/delta/bspatch.js';

/**
 * grove's bsdiff against its bspatch on edits of every kind (that ostree's bspatch reads the
 * same stream is shown by generate.test.ts, where ostree applies grove's deltas); and the effort
 * bound that keeps a highly repetitive file from taking minutes.
 */
describe('bsdiff', () => {
  const cases: Array<[string, Buffer, Buffer]> = (() => {
    const r = randomBytes(200_000);
    const edited = Buffer.from(r);
    edited.write('a few bytes', 1000);
    const moved = Buffer.concat([r.subarray(100_000), r.subarray(0, 100_000)]);
    const grown = Buffer.concat([r.subarray(0, 50_000), randomBytes(3000), r.subarray(50_000)]);
    const shrunk = Buffer.concat([r.subarray(0, 50_000), r.subarray(60_000)]);
    return [
      ['a few bytes changed', r, edited], ['halves swapped', r, moved], ['bytes inserted', r, grown],
      ['bytes removed', r, shrunk], ['from nothing', Buffer.alloc(0), r.subarray(0, 5000)], ['to nothing', r, Buffer.alloc(0)],
      ['unrelated', r, randomBytes(10_000)],
    ];
  })();
  for (const [name, old, neu] of cases) {
    test(`${name}: bspatch rebuilds the new file`, () => {
      const patch = bsdiff(old, neu);
      assert.ok(patch !== null);
      assert.deepEqual(Buffer.from(bspatch(old, patch, neu.length, name)), neu);
      // Control words and diff bytes cost 24 bytes a stretch; an edit is a few stretches.
      if (name === 'a few bytes changed') assert.ok(patch.length < neu.length + 24 * 8);
    });
  }

  test('a small change costs a patch that compresses to almost nothing (diff bytes are zeros)', () => {
    const r = randomBytes(100_000);
    const e = Buffer.from(r);
    e[5000] ^= 1;
    const patch = bsdiff(r, e)!;
    const nonZero = patch.subarray(24).filter((b) => b !== 0).length;
    assert.ok(nonZero < 64, `${nonZero} non-zero bytes`);
  });

  test('a highly repetitive file is given up on quickly (bsdiff is quadratic there)', () => {
    const t = Buffer.from('abc'.repeat(100_000));
    const t2 = Buffer.concat([t.subarray(0, 5000), Buffer.from('XYZ'), t.subarray(5000)]);
    const started = Date.now();
    assert.equal(bsdiff(t, t2), null);
    assert.ok(Date.now() - started < 10_000);
  });
});
