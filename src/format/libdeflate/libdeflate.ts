import fs from 'node:fs';
import { packageFile } from '../../package-files.js';

/**
 * libdeflate (Eric Biggers', MIT licensed) built to WebAssembly by build.sh beside this file:
 * one-shot raw deflate and inflate of whole buffers. It has no streaming interface, so large
 * files stay with node:zlib's streams (compress.ts decides).
 *
 * Why a second deflate when node:zlib has one: libdeflate's level-6 compressor is a different
 * design from zlib's (near-optimal block splitting, faster match finding). On Debian minbase's
 * 5,328 files up to 4 MiB (2-core Xeon, Node 20.20, 2026-12-02, alternating rounds) it took
 * 0.73-0.77 of node:zlib `deflateRawSync`'s time at level 6 and wrote 1.8% fewer bytes;
 * inflating them was a tie (0.43-0.52 s each way). The output is plain raw deflate, which
 * ostree's zlib reads; checksums cover the uncompressed stream and do not change.
 *
 * One instance per thread, made on first use. Its memory only grows: what a call may put in it
 * is bounded by the caller (compress.ts sends nothing over WASM_MAX_BYTES), so a thread keeps
 * at most the input and output areas of the largest such call.
 */

/** The little of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

interface Exports {
  memory: { buffer: ArrayBuffer };
  malloc(n: number): number;
  free(p: number): void;
  libdeflate_alloc_compressor(level: number): number;
  libdeflate_deflate_compress(c: number, inp: number, inN: number, out: number, outN: number): number;
  libdeflate_deflate_compress_bound(c: number, n: number): number;
  libdeflate_alloc_decompressor(): number;
  libdeflate_deflate_decompress(d: number, inp: number, inN: number, out: number, outN: number, actualOut: number): number;
}

/** Largest input (and inflated output) given to the module; compress.ts keeps to it. */
export const WASM_MAX_BYTES = 4 << 20;

/** libdeflate_result values (the third, SHORT_OUTPUT, comes only without an output-size pointer). */
const SUCCESS = 0;
const INSUFFICIENT_SPACE = 3;

let module: Exports | undefined;
const compressors = new Map<number, number>();
let decompressor = 0;
/** One malloc'd area for input and one for output, reused and grown as calls need. */
interface Area { ptr: number; cap: number }
const input: Area = { ptr: 0, cap: 0 };
const output: Area = { ptr: 0, cap: 0 };
/** Four bytes for libdeflate's "actual output size" result. */
let sizePtr = 0;

function wasm(): Exports {
  if (module === undefined) {
    // The .wasm is not compiled by tsc: it stays in the source tree.
    const bytes = fs.readFileSync(packageFile('src/format/libdeflate/libdeflate.wasm'));
    const m = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Exports;
    sizePtr = m.malloc(4);
    if (sizePtr === 0) throw new Error('libdeflate: out of memory');
    module = m;
  }
  return module;
}

/** The address of `a`, grown first to at least `need` bytes. */
function reserve(x: Exports, a: Area, need: number): number {
  if (need > a.cap) {
    if (a.ptr !== 0) x.free(a.ptr);
    a.ptr = x.malloc(need);
    a.cap = a.ptr === 0 ? 0 : need;
    if (a.ptr === 0) throw new Error(`libdeflate: cannot allocate ${need} bytes`);
  }
  return a.ptr;
}

function checkSize(n: number): void {
  if (n > WASM_MAX_BYTES) throw new RangeError(`libdeflate: ${n} bytes is over the ${WASM_MAX_BYTES}-byte bound`);
}

/** Raw deflate of `data` at `level` (0-9, as zlib's). */
export function wasmDeflateRaw(data: Uint8Array, level: number): Uint8Array {
  checkSize(data.length);
  const x = wasm();
  let c = compressors.get(level);
  if (c === undefined) {
    c = x.libdeflate_alloc_compressor(level);
    if (c === 0) throw new Error(`libdeflate: cannot make a level-${level} compressor`);
    compressors.set(level, c);
  }
  const bound = x.libdeflate_deflate_compress_bound(c, data.length);
  const inPtr = reserve(x, input, Math.max(data.length, 1));
  const outPtr = reserve(x, output, bound);
  // Views are made after the mallocs: growing the memory detaches earlier ones.
  new Uint8Array(x.memory.buffer, inPtr, data.length).set(data);
  const n = x.libdeflate_deflate_compress(c, inPtr, data.length, outPtr, bound);
  // With the output bound's room, libdeflate cannot fail.
  if (n === 0) throw new Error('libdeflate: compression failed');
  return new Uint8Array(x.memory.buffer, outPtr, n).slice();
}

export type WasmInflateResult = { ok: true; data: Uint8Array } | { ok: false; reason: 'overflow' | 'bad-data' };

/**
 * Raw inflate of `data` into at most `maxOutput` bytes: `overflow` when the stream holds more
 * (it is stopped there, so a hostile stream costs no more than `maxOutput`), `bad-data` when it
 * is not valid deflate. A stream that ends early gives fewer bytes, for the caller to judge.
 */
export function wasmInflateRaw(data: Uint8Array, maxOutput: number): WasmInflateResult {
  checkSize(data.length);
  checkSize(maxOutput);
  const x = wasm();
  if (decompressor === 0) {
    decompressor = x.libdeflate_alloc_decompressor();
    if (decompressor === 0) throw new Error('libdeflate: cannot make a decompressor');
  }
  const inPtr = reserve(x, input, Math.max(data.length, 1));
  const outPtr = reserve(x, output, Math.max(maxOutput, 1));
  new Uint8Array(x.memory.buffer, inPtr, data.length).set(data);
  const r = x.libdeflate_deflate_decompress(decompressor, inPtr, data.length, outPtr, maxOutput, sizePtr);
  if (r === INSUFFICIENT_SPACE) return { ok: false, reason: 'overflow' };
  if (r !== SUCCESS) return { ok: false, reason: 'bad-data' };
  const n = new DataView(x.memory.buffer).getUint32(sizePtr, true);
  return { ok: true, data: new Uint8Array(x.memory.buffer, outPtr, n).slice() };
}
