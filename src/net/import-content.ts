import fs from 'node:fs/promises';
import { GroveError } from '../errors.js';
import { toHex } from '../format/checksum.js';
import { inflateRaw } from '../format/compress.js';
import type { Sha256Factory } from '../format/hash.js';
import { fileHeaderPrefix, parseArchiveHeader, type FileHeader } from '../format/objects.js';
import { S_IFMT, isLink, isReg } from '../format/mode.js';
import { inflateStream, openArchive, openContent, readContentSync, SMALL_OBJECT_LIMIT } from '../repo/content.js';
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
    const where = `file object ${item.checksum} from ${ctx.origin}`;
    const n = item.bytes ? await importBytes(ctx, item, item.bytes, where, sha) : await importStreamed(ctx, item, where, sha);
    if (n !== null) {
      res.written.push(item.checksum);
      res.bytes += n;
    }
  }
  return res;
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

function mismatch(where: string, actual: string): GroveError {
  return new GroveError('GROVE_CORRUPT_OBJECT', `${where} is corrupt: its content has checksum ${actual}`);
}

/** An archive object held whole in memory. Returns the bytes written, or null if it was already there. */
function importBytes(ctx: ImportContentTask['ctx'], item: ImportItem, bytes: Uint8Array, where: string, sha: Sha256Factory): number | null | Promise<number | null> {
  const { header, size, dataOffset } = parseArchiveHeader(bytes, where);
  checkHeader(ctx, header, where);
  if (isReg(header.mode) && size > BigInt(SMALL_OBJECT_LIMIT * 4)) {
    // Highly compressed: inflating it whole could take far more memory than it arrived in.
    const body = bytes.subarray(dataOffset);
    return writeFrom(ctx, item.checksum, header, Number(size), inflateStream(once(body), Number(size), where, undefined, ctx.compress), sha, where, ctx.repoMode === 'archive' ? bytes : null);
  }
  let data: Uint8Array = new Uint8Array(0);
  if (isReg(header.mode)) {
    try {
      data = inflateRaw(bytes.subarray(dataOffset), Number(size), ctx.compress);
    } catch (e) {
      throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: bad deflate data (${(e as Error).message})`);
    }
    if (data.length !== Number(size)) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: inflated to ${data.length} bytes, header says ${size}`);
  }
  const h = sha();
  h.update(fileHeaderPrefix(header));
  h.update(data);
  const actual = toHex(h.digest());
  if (actual !== item.checksum) throw mismatch(where, actual);
  let written: boolean;
  if (ctx.repoMode === 'archive') written = createExclusive(stagedPath(ctx, item.checksum), (fd) => writeAll(fd, bytes));
  else if (isLink(header.mode)) written = writeSymlinkObject(ctx, item.checksum, header);
  else written = writeRegularObject(ctx, item.checksum, header, data);
  return written ? data.length : null;
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
    const h = sha();
    h.update(fileHeaderPrefix(small.header));
    h.update(small.data);
    const actual = toHex(h.digest());
    if (actual !== item.checksum) throw mismatch(where, actual);
    const written = isLink(small.header.mode) ? writeSymlinkObject(ctx, item.checksum, small.header) : writeRegularObject(ctx, item.checksum, small.header, small.data);
    return written ? small.data.length : null;
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
    const h = sha();
    h.update(fileHeaderPrefix(header));
    for await (const c of chunks) h.update(c);
    const actual = toHex(h.digest());
    if (actual !== checksum) throw mismatch(where, actual);
    return createExclusive(stagedPath(ctx, checksum), (fd) => writeAll(fd, rawArchive)) ? size : null;
  }
  const r = await writeStreamed(ctx, header, size, chunks, sha, { where, expected: checksum });
  return r.written ? size : null;
}

/** Archive download into an archive repository: verify the stream, then move the file in as is. */
async function verifyThenAdopt(
  ctx: Ctx, checksum: string, header: FileHeader, chunks: AsyncIterable<Uint8Array>, file: string, size: number, where: string, sha: Sha256Factory,
): Promise<number | null> {
  const h = sha();
  h.update(fileHeaderPrefix(header));
  for await (const c of chunks) h.update(c);
  const actual = toHex(h.digest());
  if (actual !== checksum) throw mismatch(where, actual);
  try {
    await fs.link(file, stagedPath(ctx, checksum));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw e;
  }
  return size;
}
