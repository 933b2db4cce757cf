import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import type * as LzmaNative from 'lzma-native';
import { createRequire } from 'node:module';
import { GroveError } from '../errors.js';
import type { WorkerPool } from '../pool/pool.js';

let lzmaModule: typeof LzmaNative | undefined;
/** lzma-native, loaded on first use (its native addon costs start-up to verbs that never need it). */
export const lzma = (): typeof LzmaNative => (lzmaModule ??= createRequire(import.meta.url)('lzma-native') as typeof LzmaNative);

/**
 * Inflates one xz stream of a static delta part, refusing more than `limit` bytes of output (an
 * xz bomb stops there) and more than 512 MiB of decoder memory (a dictionary no delta needs:
 * xz's preset 9 takes 65 MiB).
 *
 * Through the system's `xz -dc` (xz-utils, which every Debian system has) when there is one:
 * liblzma 5.4 there decodes a 32 MB part of minbase's delta in 0.42-0.55 s, where lzma-native's
 * bundled liblzma takes 0.72-0.94 s in a worker thread and longer on the main thread, whose
 * event loop its asynchronous mode round-trips through for every 64 KiB; and the parts then
 * inflate in processes of their own, on every core. Without `xz`, lzma-native.
 * xz ignores bytes after the stream, as ostree's GConverter stops at the stream's end;
 * lzma-native refuses them (the part's checksum is checked first: only the delta's maker can
 * have put them there).
 */
export function inflateXz(input: Uint8Array, limit: number, where: string, binary: string | null = 'xz'): Promise<Uint8Array> {
  if (binary === null) return inflateWithLibrary(input, limit, where);
  return inflateWithXz(binary, input, limit, where).catch((e: unknown) => {
    if (noSuchBinary(e)) return inflateWithLibrary(input, limit, where);
    throw e;
  });
}

/** A part inflated on a pool thread (workers/grove-worker.ts), whose event loop reads xz's output as it comes. */
export interface InflateXzTask { kind: 'inflate-xz'; input: Uint8Array; limit: number; where: string }

/** Below this a part inflates here: a thread's start and the copies across cost more than it saves. */
const POOL_MIN_BYTES = 1 << 20;

/**
 * {@link inflateXz} on a thread of `pool` when there is one and the part is large: the main
 * thread executes parts meanwhile, and while it does, nothing here would read xz's pipe, which
 * then stalls (minbase's `--empty` delta: the main thread was idle 3 s of 5.5 s, waiting on xz
 * processes it kept blocked).
 */
export async function inflateXzOn(pool: WorkerPool | undefined, input: Uint8Array, limit: number, where: string): Promise<Uint8Array> {
  if (pool === undefined || pool.threads === 0 || input.length < POOL_MIN_BYTES) return inflateXz(input, limit, where);
  const task: InflateXzTask = { kind: 'inflate-xz', input, limit, where };
  await inflateSlot();
  try {
    return await pool.run<Uint8Array>(task);
  } finally {
    releaseSlot();
  }
}

/**
 * At most one large part inflates per core. Three at once on two cores each took 1.0-1.4 s and
 * finished together, so the main thread had nothing to execute for the first 1.2 s of minbase's
 * `--empty` delta; one per core, the first part is ready after half a second and executes while
 * the next inflates.
 */
const SLOTS = Math.max(1, os.availableParallelism());
let busySlots = 0;
const waiting: Array<() => void> = [];

function inflateSlot(): Promise<void> {
  if (busySlots < SLOTS) {
    busySlots++;
    return Promise.resolve();
  }
  return new Promise((resolve) => waiting.push(resolve));
}

function releaseSlot(): void {
  const next = waiting.shift();
  if (next) next();
  else busySlots--;
}

/** The spawn failed because there is no such program (not a missing file of ours). */
const noSuchBinary = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT' && ((e as NodeJS.ErrnoException).syscall ?? '').startsWith('spawn');

const corrupt = (where: string, what: string) => new GroveError('GROVE_CORRUPT_OBJECT', `${where}: ${what}`);
const tooBig = (where: string, limit: number) => corrupt(where, `part inflates to more than the ${limit} bytes its objects allow`);

function inflateWithXz(binary: string, input: Uint8Array, limit: number, where: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['--decompress', '--stdout', '--single-stream', '--memlimit-decompress=512MiB', '--quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let total = 0;
    let stderr = '';
    let failure: Error | null = null;
    child.on('error', (e) => { failure ??= e; });
    child.stdout.on('data', (c: Buffer) => {
      total += c.length;
      if (total > limit) {
        failure ??= tooBig(where, limit);
        child.kill('SIGKILL');
        return;
      }
      chunks.push(c);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    // The child may exit (bad data) before it has read everything: that is its error, not ours.
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => {
      if (failure !== null) return reject(failure);
      if (code !== 0) return reject(corrupt(where, `xz: ${stderr.trim().split('\n')[0]?.replace(/^xz: \(stdin\): /, '') || `exit status ${code}`}`));
      resolve(Buffer.concat(chunks, total));
    });
    child.stdin.end(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  });
}

function inflateWithLibrary(input: Uint8Array, limit: number, where: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const stream = lzma().createDecompressor({ memlimit: 512 << 20 } as LzmaNative.LzmaOptions);
    const chunks: Buffer[] = [];
    let total = 0;
    let failed = false;
    const fail = (e: GroveError) => {
      if (failed) return;
      failed = true;
      stream.destroy();
      reject(e);
    };
    stream.on('data', (c: Buffer) => {
      total += c.length;
      if (total > limit) return fail(tooBig(where, limit));
      chunks.push(c);
    });
    stream.on('error', (e: Error) => fail(corrupt(where, `xz: ${e.message}`)));
    stream.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks, total));
    });
    stream.end(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  });
}

/**
 * xz at ostree's settings (ostree-lzma-compressor.c: preset 8, CRC64), one thread, of `payload`
 * into `out` after the part's leading `x` byte. Through the system's xz when there is one:
 * liblzma 5.4 there compresses a 32 MB part of minbase in 14.3 s against lzma-native's 22.5 s,
 * to the same bytes (ostree's own). The child reads and writes files, so it never waits on
 * this thread's event loop. Without xz, lzma-native (in libuv's thread pool).
 */
export async function compressPartFile(payload: Uint8Array, out: string, binary: string | null = 'xz'): Promise<void> {
  if (binary !== null) {
    const input = `${out}.in`;
    fs.writeFileSync(input, payload, { mode: 0o600 });
    const fds: number[] = [];
    try {
      const inFd = fs.openSync(input, 'r');
      fds.push(inFd);
      const outFd = fs.openSync(out, 'w', 0o644);
      fds.push(outFd);
      fs.writeSync(outFd, PART_XZ);
      await runXz(binary, ['--compress', '-8', '--check=crc64', '--threads=1', '--stdout', '--quiet'], inFd, outFd);
      return;
    } catch (e) {
      if (!noSuchBinary(e)) throw e;
    } finally {
      for (const fd of fds) fs.closeSync(fd);
      fs.rmSync(input, { force: true });
    }
  }
  const packed = await new Promise<Buffer>((resolve, reject) => {
    const opts = { preset: 8, check: (lzma() as unknown as { CHECK_CRC64: number }).CHECK_CRC64 } as unknown as LzmaNative.LzmaOptions;
    lzma().compress(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), opts, (o: Buffer, err?: Error) => (err ? reject(err) : resolve(o)));
  });
  fs.writeFileSync(out, Buffer.concat([PART_XZ, packed]), { mode: 0o644 });
}

/** The byte before an xz-compressed part's stream. */
const PART_XZ = Buffer.from('x');

function runXz(binary: string, args: string[], inFd: number, outFd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: [inFd, outFd, 'pipe'] });
    let stderr = '';
    let failure: Error | null = null;
    child.on('error', (e) => { failure ??= e; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('close', (code) => {
      if (failure !== null) return reject(failure);
      if (code !== 0) return reject(new GroveError('GROVE_IO', `xz: ${stderr.trim().split('\n')[0] || `exit status ${code}`}`));
      resolve();
    });
  });
}

