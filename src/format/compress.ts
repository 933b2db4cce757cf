import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import type * as Fflate from 'fflate';
import { WASM_MAX_BYTES, wasmDeflateRaw, wasmInflateRaw } from './libdeflate/libdeflate.js';

// fflate is loaded on first use, synchronously through its CommonJS build: most runs use the
// node backend and should not pay for parsing it at startup.
let fflateModule: typeof Fflate | undefined;
function fflate(): typeof Fflate {
  fflateModule ??= createRequire(import.meta.url)('fflate') as typeof Fflate;
  return fflateModule;
}

/**
 * Raw deflate (no zlib or gzip wrapper), the body of an archive-mode `.filez` object. Three
 * backends for whole buffers: `node` (node:zlib, native zlib; the default), `libdeflate`
 * (libdeflate built to WebAssembly, see libdeflate/libdeflate.ts: the fastest deflate here) and
 * `fflate` (pure JS). `node` stays the default because its objects are byte for byte ostree's
 * (the same zlib at the same level), which twin repositories and `diff --stats` (it sums
 * archive objects' sizes on disk) show; libdeflate's are 1.8% smaller and differ. Their compressed bytes differ, which is fine: ostree checksums
 * the uncompressed stream, so any valid deflate is correct. Streams, and with `libdeflate`
 * buffers over WASM_MAX_BYTES, are node:zlib's whatever the backend.
 */
export type CompressBackend = 'libdeflate' | 'node' | 'fflate';
export const COMPRESS_BACKENDS: readonly CompressBackend[] = ['libdeflate', 'node', 'fflate'];

export function defaultCompressBackend(): CompressBackend {
  const env = process.env['GROVE_COMPRESS'];
  if (env === 'libdeflate' || env === 'node' || env === 'fflate') return env;
  return 'node';
}

/**
 * Incremental transform: feed chunks in order, the last with `final`, collect the output. `push`
 * consumes `chunk` before it resolves: the caller may reuse the buffer at once (both backends
 * guarantee it, fflate by copying).
 */
export interface StreamCodec {
  push(chunk: Uint8Array, final: boolean): Promise<Uint8Array[]>;
  /** Which codec does the work (streamed deflate is node:zlib for every backend). */
  readonly codec: CompressBackend;
  /** True once the output passed the codec's `maxOutput`; push then rejects. */
  readonly overflowed: boolean;
}

type Level = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

function checkLevel(level: number): Level {
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`zlib level ${level} is not 0..9`);
  return level as Level;
}

/** Compresses a whole buffer. */
export function deflateRaw(data: Uint8Array, level: number, backend: CompressBackend = defaultCompressBackend()): Uint8Array {
  const lvl = checkLevel(level);
  if (backend === 'libdeflate' && data.length <= WASM_MAX_BYTES) return wasmDeflateRaw(data, lvl);
  if (backend !== 'fflate') return zlib.deflateRawSync(data, { level: lvl });
  return fflate().deflateSync(data, { level: lvl });
}

/**
 * Inflates a whole buffer. `expectedSize` (from the archive header) bounds the output: at most
 * one byte more than expected is ever produced, so a hostile object cannot expand without
 * limit, and the caller reports the mismatch.
 */
export function inflateRaw(data: Uint8Array, expectedSize: number, backend: CompressBackend = defaultCompressBackend()): Uint8Array {
  const limit = Math.max(expectedSize, 0) + 1;
  let out: Uint8Array;
  if (backend === 'libdeflate' && data.length <= WASM_MAX_BYTES && expectedSize < WASM_MAX_BYTES) {
    // Room for exactly the expected bytes: a stream holding more stops there, as overflow.
    const r = wasmInflateRaw(data, Math.max(expectedSize, 0));
    if (!r.ok) throw r.reason === 'overflow' ? new InflateOverflow() : new Error('invalid deflate data');
    out = r.data;
  } else if (backend !== 'fflate') {
    try {
      // One output chunk of the expected size: the default 16 KiB chunks cost a loop turn and a
      // copy each (a third of fsck's inflate time on a root filesystem).
      out = zlib.inflateRawSync(data, { maxOutputLength: limit, chunkSize: Math.max(64, Math.min(limit, 64 << 20)) });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new InflateOverflow();
      throw e;
    }
  } else {
    // Given an output buffer, fflate stops when it is full instead of growing it.
    out = fflate().inflateSync(data, { out: new Uint8Array(limit) });
  }
  if (out.length > expectedSize) throw new InflateOverflow();
  return out;
}

/**
 * Streaming raw deflate at `level`, for files too large to compress whole. Always node:zlib,
 * whatever the backend, and `codec` says so: fflate 0.8.3's streaming Deflate writes invalid
 * streams for some inputs at levels above 1 (the first 146 bytes of a .jar under /usr inflate
 * to "invalid distance too far back"; its one-shot deflate is fine), which corrupted large
 * archive objects. The backend choice applies to one-shot deflate and to inflate.
 */
export function createDeflater(level: number): StreamCodec {
  return nodeStream(zlib.createDeflateRaw({ level: checkLevel(level) }), Infinity);
}

/**
 * Output chunk of the streaming inflater. zlib's default of 16 KiB makes a write (and a trip
 * through the event loop) per 16 KiB of output: checking out or cat-ing a 4 GiB file that way
 * costs 262,144 writes. 256 KiB cuts that 16-fold and costs nothing for small objects (the chunk
 * is allocated once per stream).
 */
const INFLATE_CHUNK = 256 << 10;

/**
 * Streaming raw inflate. With `maxOutput`, the codec stops as soon as it has produced more than
 * that many bytes and sets `overflowed`: a stream's announced size bounds memory and work from
 * the first output chunk on, not only once a whole input chunk has been inflated.
 */
export function createInflater(backend: CompressBackend = defaultCompressBackend(), opts: { maxOutput?: number } = {}): StreamCodec {
  const max = opts.maxOutput ?? Infinity;
  return backend === 'fflate' ? fflateStream(new (fflate().Inflate)(), max) : nodeStream(zlib.createInflateRaw({ chunkSize: INFLATE_CHUNK }), max);
}

/** Inflated data larger than the size announced for it: the stream was stopped there. */
export class InflateOverflow extends Error {
  constructor() {
    super('inflates to more than its announced size');
  }
}

function fflateStream(codec: Fflate.Inflate, maxOutput: number): StreamCodec {
  let out: Uint8Array[] = [];
  let produced = 0;
  let overflowed = false;
  codec.ondata = (data) => {
    produced += data.length;
    // Thrown out of fflate's synchronous push: it stops inflating there.
    if (produced > maxOutput) {
      overflowed = true;
      throw new InflateOverflow();
    }
    out.push(data);
  };
  return {
    codec: 'fflate',
    get overflowed() { return overflowed; },
    push(chunk, final) {
      if (overflowed) return Promise.reject(new InflateOverflow());
      // fflate may keep referring to earlier input after push returns, and callers reuse their
      // read buffer: a copy keeps the contract that push consumes the chunk.
      try {
        codec.push(chunk.slice(), final);
      } catch (e) {
        out = [];
        return Promise.reject(e);
      }
      const done = out;
      out = [];
      return Promise.resolve(done);
    },
  };
}

function nodeStream(stream: zlib.DeflateRaw | zlib.InflateRaw, maxOutput: number): StreamCodec {
  let out: Uint8Array[] = [];
  let failure: Error | undefined;
  let produced = 0;
  let overflowed = false;
  stream.on('data', (d: Buffer) => {
    produced += d.length;
    if (produced > maxOutput) {
      // Destroying the stream here stops zlib before its next output chunk.
      overflowed = true;
      out = [];
      stream.destroy(new InflateOverflow());
      return;
    }
    out.push(d);
  });
  stream.on('error', (e) => { failure = e; });
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
    stream.on('close', () => { if (failure) reject(failure); });
  });
  ended.catch(() => { /* reported through push */ });
  return {
    codec: 'node',
    get overflowed() { return overflowed; },
    async push(chunk, final) {
      if (failure) throw failure;
      if (final) {
        stream.end(chunk);
        await ended;
      } else {
        // After an error a write's callback may never come: the error settles the wait instead.
        await new Promise<void>((resolve, reject) => {
          const onError = (e: Error) => reject(e);
          stream.once('error', onError);
          stream.write(chunk, (e) => {
            stream.off('error', onError);
            if (e) reject(e);
            else resolve();
          });
        });
      }
      if (failure) throw failure;
      const done = out;
      out = [];
      return done;
    },
  };
}
