import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { deflateRaw, inflateRaw, InflateOverflow } from '../../src/format/compress.js';
import { WASM_MAX_BYTES, wasmDeflateRaw, wasmInflateRaw } from '../../src/format/libdeflate/libdeflate.js';

/** libdeflate in WebAssembly: what it writes zlib reads, and what it reads is bounded. */

/** Text-like data that compresses, with incompressible stretches: 64 KiB blocks, repeated with changes. */
const SAMPLE = (() => {
  const words = ['usr', 'lib', 'x86_64-linux-gnu', 'libc.so.6', '\n', 'GLIBC_2.34', '\0\0\0\0'];
  const parts: Buffer[] = [];
  for (let i = 0; i < 8000; i++) parts.push(i % 97 === 0 ? randomBytes(64) : Buffer.from(words[(i * 7) % words.length]!));
  const block = Buffer.concat(parts).subarray(0, 64 << 10);
  const all = Buffer.alloc(WASM_MAX_BYTES + 1);
  for (let off = 0; off < all.length; off += block.length) {
    block.copy(all, off);
    randomBytes(16).copy(all, off + (off % 1000));
  }
  return all;
})();
const sample = (n: number) => SAMPLE.subarray(0, n);

describe('libdeflate (WebAssembly)', () => {
  for (const level of [0, 1, 6, 9]) {
    test(`level ${level}: zlib inflates what it writes, and it inflates zlib's`, () => {
      for (const data of [Buffer.alloc(0), Buffer.from('a'), sample(300_000), randomBytes(70_000)]) {
        const z = wasmDeflateRaw(data, level);
        assert.deepEqual(zlib.inflateRawSync(z), data);
        const r = wasmInflateRaw(zlib.deflateRawSync(data, { level }), data.length);
        assert.ok(r.ok);
        assert.deepEqual(Buffer.from(r.data), data);
      }
    });
  }

  test('level 6 compresses as well as zlib at level 6 or better, and is what the backend writes', () => {
    const data = sample(1 << 20);
    assert.ok(wasmDeflateRaw(data, 6).length <= zlib.deflateRawSync(data, { level: 6 }).length * 1.01);
    // And the backend really is libdeflate: its bytes, not zlib's.
    assert.deepEqual(Buffer.from(deflateRaw(data, 6, 'libdeflate')), Buffer.from(wasmDeflateRaw(data, 6)));
    assert.notDeepEqual(Buffer.from(deflateRaw(data, 6, 'libdeflate')), zlib.deflateRawSync(data, { level: 6 }));
  });

  test('a stream holding more than announced stops at the announced size, as overflow', () => {
    const data = Buffer.alloc(WASM_MAX_BYTES - 1, 7);
    const z = zlib.deflateRawSync(data);
    assert.deepEqual(wasmInflateRaw(z, 1000), { ok: false, reason: 'overflow' });
    assert.throws(() => inflateRaw(z, 1000, 'libdeflate'), InflateOverflow);
    // One byte short is still too little room.
    assert.throws(() => inflateRaw(z, data.length - 1, 'libdeflate'), InflateOverflow);
    assert.equal(inflateRaw(z, data.length, 'libdeflate').length, data.length);
  });

  test('a stream ending early gives fewer bytes, and invalid data is refused', () => {
    const data = sample(5000);
    const r = wasmInflateRaw(zlib.deflateRawSync(data), 8000);
    assert.ok(r.ok && r.data.length === 5000);
    assert.deepEqual(wasmInflateRaw(Buffer.from('not a deflate stream at all'), 100), { ok: false, reason: 'bad-data' });
    assert.throws(() => inflateRaw(Buffer.from([0xff, 0xff, 0xff]), 100, 'libdeflate'), /invalid deflate data/);
  });

  test('buffers over the module bound go to node:zlib instead, with the same result', () => {
    const data = sample(WASM_MAX_BYTES + 1);
    assert.throws(() => wasmDeflateRaw(data, 6), RangeError);
    const z = deflateRaw(data, 6, 'libdeflate');
    assert.deepEqual(Buffer.from(z), zlib.deflateRawSync(data, { level: 6 }), 'node:zlib wrote it');
    assert.deepEqual(Buffer.from(inflateRaw(z, data.length, 'libdeflate')), data);
  });

  test('alternating sizes and levels reuse the module memory correctly', () => {
    for (let i = 0; i < 16; i++) {
      const data = sample([10, 3_000_000, 500, 1 << 20][i % 4]! + i);
      const z = deflateRaw(data, [1, 6, 9][i % 3]!, 'libdeflate');
      assert.deepEqual(Buffer.from(inflateRaw(z, data.length, 'libdeflate')), data);
    }
  });
});
