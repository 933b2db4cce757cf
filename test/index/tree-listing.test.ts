import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTreeListing, encodeTreeListing, type FileFacts } from '../../src/index/tree-listing.js';
import type { DirTree } from '../../src/format/objects.js';

/**
 * The tree listing's codec. The decoder is the guard: listings live in the repository's index,
 * which is not trusted to keep a name from escaping a checkout, so anything malformed must come
 * back null (the checkout then reads the dirtree itself).
 */
const sum = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
const tree: DirTree = {
  files: [['bin', sum(1)], ['café', sum(2)], ['empty', sum(3)], ['link', sum(4)]],
  dirs: [['etc', sum(5), sum(6)], ['ünï', sum(7), sum(8)]],
};
const facts = new Map<string, FileFacts>([
  [sum(1), { mode: 0o100755, size: 123_456_789_012, target: null }],
  [sum(2), { mode: 0o100644, size: 3, target: null }],
  [sum(3), { mode: 0o100600, size: 0, target: null }],
  [sum(4), { mode: 0o120777, size: 0, target: '../usr/lib/ünï' }],
]);
const good = () => Buffer.from(encodeTreeListing(tree, (c) => facts.get(c))!);

describe('tree listing codec', () => {
  test('a listing decodes to the dirtree it was made from, with each file\'s facts', () => {
    assert.deepEqual(decodeTreeListing(good()), {
      files: tree.files.map(([n, c]) => [n, c, facts.get(c)]),
      dirs: tree.dirs,
    });
    const unknownTarget = new Map(facts).set(sum(4), { mode: 0o120777, size: 0, target: null });
    assert.equal(decodeTreeListing(Buffer.from(encodeTreeListing(tree, (c) => unknownTarget.get(c))!))!.files[3]![2].target, null);
    assert.deepEqual(decodeTreeListing(Buffer.from(encodeTreeListing({ files: [], dirs: [] }, () => undefined)!)), { files: [], dirs: [] });
  });

  test('a listing is not made when a file\'s facts are missing', () => {
    assert.equal(encodeTreeListing(tree, (c) => (c === sum(3) ? undefined : facts.get(c))), null);
  });

  test('every truncation, and a trailing byte, is refused', () => {
    const b = good();
    for (let len = 0; len < b.length; len++) assert.equal(decodeTreeListing(b.subarray(0, len)), null, `truncated to ${len} of ${b.length}`);
    assert.equal(decodeTreeListing(Buffer.concat([b, Buffer.from([0])])), null);
  });

  for (const bad of ['..', '.', 'a/b', '', '/']) {
    test(`a name ${JSON.stringify(bad)} is refused, for a file and for a directory`, () => {
      for (const where of ['files', 'dirs'] as const) {
        const t: DirTree = structuredClone(tree);
        t[where][0]![0] = bad;
        assert.equal(decodeTreeListing(Buffer.from(encodeTreeListing(t, (c) => facts.get(c))!)), null, where);
      }
    });
  }

  test('a target on a file that is not a symlink is refused', () => {
    const f = new Map(facts).set(sum(2), { mode: 0o100644, size: 3, target: 'x' });
    assert.equal(decodeTreeListing(Buffer.from(encodeTreeListing(tree, (c) => f.get(c))!)), null);
  });

  test('counts beyond the record, another version and sizes that are no size are refused', () => {
    const more = good();
    more.writeUInt32LE(0xffffffff, 4);
    assert.equal(decodeTreeListing(more), null, 'file count');
    const dirs = good();
    dirs.writeUInt32LE(3, 8);
    assert.equal(decodeTreeListing(dirs), null, 'directory count');
    const version = good();
    version[0] = 2;
    assert.equal(decodeTreeListing(version), null, 'version');
    for (const size of [-1, 0.5, Number.NaN, 2 ** 60]) {
      const f = new Map(facts).set(sum(2), { mode: 0o100644, size, target: null });
      assert.equal(decodeTreeListing(Buffer.from(encodeTreeListing(tree, (c) => f.get(c))!)), null, `size ${size}`);
    }
  });
});
