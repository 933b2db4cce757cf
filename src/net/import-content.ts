import fs from 'node:fs/promises';
import { GroveError } from '../errors.js';
import type { Sha256Factory } from '../format/hash.js';
import type { FileHeader } from '../format/objects.js';
import { S_IFMT, isLink, isReg } from '../format/mode.js';
import {
  contentChecksum, contentChecksumOf, inflateArchiveObject, inflateStream, openArchive, openContent, readContentSync, SMALL_OBJECT_LIMIT,
} from '../store/read-content.js';
import {
  createExclusive, exists, stagedPath, writeAll, writeRegularObject, writeStreamed, writeSymlinkObject, type Ctx,
} from '../commit/write-content.js';
import type { ImportContentResult, ImportContentTask, ImportItem } from '../pool/protocol.js';

/**
 * Worker side of a pull: each content object arriving from a server (archive bytes, or a
 * downloaded archive file) or from a local source repository is checked — its header must be
 * sane and SHA-256 over header and bytes must be the checksum it was asked for — and only then
 * written into the staging directory, converted to this repository's mode. An archive object
 * pulled into an archive repository is stored as it came, once verified.
 */
export async function importContentBatch(task: ImportContentTask, sha: Sha256Factory): Promise<ImportContentResult> {
  const res: ImportContentResult = { written: [], bytes: 0 };
  const ctx = task.ctx;
  for (const item of task.items) {
    if (exists(ctx, item.checksum)) continue;
    const n = await importItem(ctx, item, sha);
    if (n !== null) {
      res.written.push(item.checksum);
      res.bytes += n;
    }
  }
  return res;
}

/** Checks and stores one object; returns its size, or null when another task of the transaction had it. */
export function importItem(ctx: ImportContentTask['ctx'], item: ImportItem, sha: Sha256Factory): Promise<number | null> {
  const where = `file object ${item.checksum} from ${ctx.origin}`;
  return item.bytes ? importBytes(ctx, item, item.bytes, where, sha) : importStreamed(ctx, item, where, sha);
}

/** Refuses headers a hostile source could use to make a checkout do harm, as ostree does. */
function checkHeader(ctx: ImportContentTask['ctx'], h: FileHeader, where: string): void {
  if (!isReg(h.mode) && !isLink(h.mode)) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: mode 0${h.mode.toString(8)} is not a regular file or symlink`);
  if ((h.mode & ~(S_IFMT | 0o7777)) !== 0) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: invalid mode bits 0${h.mode.toString(8)}`);
  if (isLink(h.mode) && (h.symlinkTarget === '' || h.symlinkTarget.length > 4096 || h.symlinkTarget.includes('\0'))) {
    throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: invalid symlink target`);
  }
  if (ctx.repoMode === 'bare-user-only' && isReg(h.mode) && (h.mode & 0o7777 & ~0o775) !== 0) {
    throw new GroveError('GROVE_BAD_MODE', `${where}: mode 0${(h.mode & 0o7777).toString(8)} cannot be stored in a bare-user-only repository (bits 0${(h.mode & 0o7777 & ~0o775).toString(8)})`);
  }
}

/** Throws unless `actual` is the checksum the object was asked for. */
function expect(checksum: string, actual: string, where: string): void {
  if (actual !== checksum) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where} is corrupt: its content has checksum ${actual}`);
}

/**
 * Stores a verified object held whole: as the archive bytes it came in (`raw`, archive into
 * archive), else converted to this repository's mode. Returns the bytes written, or null when
 * another task of the transaction had it.
 */
function storeWhole(ctx: Ctx, checksum: string, header: FileHeader, data: Uint8Array, raw: Uint8Array | null): number | null {
  let written: boolean;
  if (raw !== null) written = createExclusive(stagedPath(ctx, checksum), (fd) => writeAll(fd, raw));
  else if (isLink(header.mode)) written = writeSymlinkObject(ctx, checksum, header);
  else written = writeRegularObject(ctx, checksum, header, data);
  return written ? data.length : null;
}

/** An archive object held whole in memory. Returns the bytes written, or null if it was already there. */
async function importBytes(ctx: ImportContentTask['ctx'], item: ImportItem, bytes: Uint8Array, where: string, sha: Sha256Factory): Promise<number | null> {
  const raw = ctx.repoMode === 'archive' ? bytes : null;
  const obj = inflateArchiveObject(bytes, where, { maxInflated: SMALL_OBJECT_LIMIT * 4, compress: ctx.compress });
  checkHeader(ctx, obj.header, where);
  if (obj.data === null) {
    // Highly compressed: inflating it whole could take far more memory than it arrived in.
    const chunks = inflateStream(once(bytes.subarray(obj.dataOffset)), obj.size, where, undefined, ctx.compress);
    return writeFrom(ctx, item.checksum, obj.header, obj.size, chunks, sha, where, raw);
  }
  expect(item.checksum, contentChecksum(sha, obj.header, obj.data), where);
  return storeWhole(ctx, item.checksum, obj.header, obj.data, raw);
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

/** A large download (archive file) or an object of a local source repository. */
async function importStreamed(ctx: ImportContentTask['ctx'], item: ImportItem, where: string, sha: Sha256Factory): Promise<number | null> {
  if (item.archivePath !== undefined) {
    try {
      const obj = await openArchive(item.archivePath, where, ctx.compress);
      checkHeader(ctx, obj.header, where);
      if (ctx.repoMode === 'archive') return await verifyThenAdopt(ctx, item.checksum, obj.header, obj.chunks(), item.archivePath, obj.size, where, sha);
      return await writeFrom(ctx, item.checksum, obj.header, obj.size, obj.chunks(), sha, where, null);
    } finally {
      await fs.rm(item.archivePath, { force: true });
    }
  }
  const src = ctx.source;
  if (src === null) throw new Error(`import of ${item.checksum}: no bytes, file or source repository`);
  const small = readContentSync(src.objectsDir, src.mode, item.checksum, { compress: ctx.compress });
  if (small !== null) {
    checkHeader(ctx, small.header, where);
    expect(item.checksum, contentChecksum(sha, small.header, small.data), where);
    return storeWhole(ctx, item.checksum, small.header, small.data, null);
  }
  const obj = await openContent(src.objectsDir, src.mode, item.checksum, { compress: ctx.compress });
  checkHeader(ctx, obj.header, where);
  return writeFrom(ctx, item.checksum, obj.header, obj.size, obj.chunks(), sha, where, null);
}

/** Streams an object into this repository's mode, verifying it on the way. */
async function writeFrom(
  ctx: Ctx, checksum: string, header: FileHeader, size: number, chunks: AsyncIterable<Uint8Array>, sha: Sha256Factory, where: string,
  rawArchive: Uint8Array | null,
): Promise<number | null> {
  if (isLink(header.mode)) return writeSymlinkObject(ctx, checksum, header) ? 0 : null;
  if (rawArchive !== null) {
    // Archive into archive: check the stream, then keep the bytes as they came.
    expect(checksum, (await contentChecksumOf(sha, header, chunks)).checksum, where);
    return createExclusive(stagedPath(ctx, checksum), (fd) => writeAll(fd, rawArchive)) ? size : null;
  }
  const r = await writeStreamed(ctx, header, size, chunks, sha, { where, expected: checksum });
  return r.written ? size : null;
}

/** Archive download into an archive repository: verify the stream, then move the file in as is. */
async function verifyThenAdopt(
  ctx: Ctx, checksum: string, header: FileHeader, chunks: AsyncIterable<Uint8Array>, file: string, size: number, where: string, sha: Sha256Factory,
): Promise<number | null> {
  expect(checksum, (await contentChecksumOf(sha, header, chunks)).checksum, where);
  try {
    await fs.link(file, stagedPath(ctx, checksum));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw e;
  }
  return size;
}
