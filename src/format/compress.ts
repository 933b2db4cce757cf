import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import type * as Fflate from 'fflate';

// fflate is loaded on first use, synchronously through its CommonJS build: most runs use the
// node backend and should not pay for parsing it at startup.
let fflateModule: typeof Fflate | undefined;
function fflate(): typeof Fflate {
  fflateModule ??= createRequire(import.meta.url)('fflate') as typeof Fflate;
  return fflateModule;
}

/**
 * Raw deflate (no zlib or gzip wrapper), the body of an archive-mode `.filez` object. Two
 * backends: `node` (node:zlib, native zlib) and `fflate` (pure JS). Their compressed bytes differ,
 * which is fine: ostree checksums the uncompressed stream, so any valid deflate is correct.
 */
export type CompressBackend = 'node' | 'fflate';
export const COMPRESS_BACKENDS: readonly CompressBackend[] = ['node', 'fflate'];

export function defaultCompressBackend(): CompressBackend {
  const env = process.env['GROVE_COMPRESS'];
  if (env === 'node' || env === 'fflate') return env;
  return 'node';
}

/**
 * Incremental transform: feed chunks in order, the last with `final`, collect the output. `push`
 * consumes `chunk` before it resolves: the caller may reuse the buffer at once (both backends
 * guarantee it, fflate by copying).
 */
export interface StreamCodec {
  push(chunk: Uint8Array, final: boolean): Promise<Uint8Array[]>;
}

type Level = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

function checkLevel(level: number): Level {
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`zlib level ${level} is not 0..9`);
  return level as Level;
}

/** Compresses a whole buffer. */
export function deflateRaw(data: Uint8Array, level: number, backend: CompressBackend = defaultCompressBackend()): Uint8Array {
  const lvl = checkLevel(level);
  if (backend === 'node') return zlib.deflateRawSync(data, { level: lvl });
  return fflate().deflateSync(data, { level: lvl });
}

/**
 * Inflates a whole buffer. `expectedSize` (from the archive header) bounds the output so a
 * hostile object cannot expand without limit; a mismatch is reported by the caller.
 */
export function inflateRaw(data: Uint8Array, expectedSize: number, backend: CompressBackend = defaultCompressBackend()): Uint8Array {
  if (backend === 'node') {
    // One output chunk of the expected size: the default 16 KiB chunks cost a loop turn and a
    // copy each (a third of fsck's inflate time on a root filesystem).
    const limit = Math.max(expectedSize, 1) + 1;
    return zlib.inflateRawSync(data, { maxOutputLength: limit, chunkSize: Math.max(64, Math.min(limit, 64 << 20)) });
  }
  return fflate().inflateSync(data);
}

/** Streaming raw deflate at `level`. */
export function createDeflater(level: number, backend: CompressBackend = defaultCompressBackend()): StreamCodec {
  const lvl = checkLevel(level);
  // fflate 0.8.3's streaming Deflate writes invalid streams for some inputs (the first 146 bytes
  // of a .jar under /usr inflate to "invalid distance too far back"; its one-shot deflate is
  // fine), which corrupted large archive objects. Streamed deflate therefore always goes through
  // node:zlib; the backend choice still applies to one-shot deflate and to inflate.
  void backend;
  return nodeStream(zlib.createDeflateRaw({ level: lvl }));
}

/** Streaming raw inflate. */
export function createInflater(backend: CompressBackend = defaultCompressBackend()): StreamCodec {
  return backend === 'node' ? nodeStream(zlib.createInflateRaw()) : fflateStream(new (fflate().Inflate)());
}

function fflateStream(codec: Fflate.Inflate): StreamCodec {
  let out: Uint8Array[] = [];
  codec.ondata = (data) => { out.push(data); };
  return {
    push(chunk, final) {
      // fflate may keep referring to earlier input after push returns, and callers reuse their
      // read buffer: a copy keeps the contract that push consumes the chunk.
      codec.push(chunk.slice(), final);
      const done = out;
      out = [];
      return Promise.resolve(done);
    },
  };
}

function nodeStream(stream: zlib.DeflateRaw | zlib.InflateRaw): StreamCodec {
  let out: Uint8Array[] = [];
  let failure: Error | undefined;
  stream.on('data', (d: Buffer) => { out.push(d); });
  stream.on('error', (e) => { failure = e; });
  const ended = new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  ended.catch(() => { /* reported through push */ });
  return {
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
