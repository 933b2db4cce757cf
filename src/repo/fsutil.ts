import fs from 'node:fs/promises';
import fsSync, { constants as C } from 'node:fs';
import { createRequire } from 'node:module';
import { isErrno } from '../errors.js';

/**
 * node:child_process, node:worker_threads and node:crypto are required when first needed: they
 * cost 2-3 ms each of every command's start, and the quick commands need none of them.
 */
const require = createRequire(import.meta.url);
let uniquePart: string | undefined;

/** A temp name unique across processes and threads: pid, thread id and randomness. */
export function tempName(prefix: string): string {
  uniquePart ??= `${process.pid}-${(require('node:worker_threads') as typeof import('node:worker_threads')).threadId}`;
  return `${prefix}${uniquePart}-${(require('node:crypto') as typeof import('node:crypto')).randomBytes(6).toString('hex')}`;
}

/** fsync a directory so that renames into it survive a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, C.O_RDONLY | C.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * syncfs(2) on the filesystem holding each target, in order: one call makes every object written
 * so far durable, instead of an fsync per object. Node has no binding; coreutils `sync -f` is
 * exactly that call, and takes several files in one process (a spawn costs this thread 5-15 ms).
 */
export function syncFilesystem(...targets: string[]): Promise<void> {
  if (process.env['GROVE_NO_FSYNC'] === '1' || targets.length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const child = spawn('sync', ['-f', '--', ...targets], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`sync -f ${targets.join(' ')} failed: ${err.trim()}`))));
  });
}

/** Temp files of {@link writeFileAtomic}: `.tmp-PID-…`, so a later process can tell a dead writer's. */
export const ATOMIC_TEMP_PREFIX = '.tmp-';

/** Writes `data` to `dest` atomically: temp file in `tmpDir`, fsync, rename. */
export async function writeFileAtomic(dest: string, data: Uint8Array | string, tmpDir: string, mode = 0o644): Promise<void> {
  const tmp = `${tmpDir}/${tempName(ATOMIC_TEMP_PREFIX)}`;
  const fh = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    if (process.env['GROVE_NO_FSYNC'] !== '1') await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, dest);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** mkdir -p that tolerates a concurrent creator. */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (e) {
    if (!isErrno(e, 'EEXIST')) throw e;
  }
}

/**
 * A directory's entries in the file system's own order, as ostree meets them when it lists
 * deltas, indexes or boot files (Node's readdir sorts: libuv's scandir does); none when the
 * directory is missing.
 */
export function dirEntriesInOrder(dir: string): fsSync.Dirent[] {
  let d: fsSync.Dir;
  try {
    d = fsSync.opendirSync(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
    throw e;
  }
  const out: fsSync.Dirent[] = [];
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) out.push(e);
  } finally {
    d.closeSync();
  }
  return out;
}
