import fs from 'node:fs/promises';
import type { Sha256Factory } from '../format/hash.js';
import { PartialFailure } from '../pool/protocol.js';
import { inflateArchiveObject, inflateStream, openArchive, openContent, readContentSync, SMALL_OBJECT_LIMIT } from '../store/read-content.js';
import { isStored, linkContentFrom, storeContent, storeContentStream, type Stored } from '../store/write-content.js';
import type { ImportContentResult, ImportContentTask, ImportItem } from './import-task.js';

/**
 * Worker side of a pull: each content object arriving from a server (archive bytes, or a
 * downloaded archive file) or from a local source repository is handed to the store with the
 * checksum it was asked for: the store validates its header, checks SHA-256 over header and
 * bytes, and only then writes it, converted to this repository's mode (an archive object
 * pulled into an archive repository is kept as it came).
 */
export async function importContentBatch(task: ImportContentTask, sha: Sha256Factory): Promise<ImportContentResult> {
  const res: ImportContentResult = { written: [], bytes: 0 };
  try {
    for (const item of task.items) {
      if (isStored(task.ctx, item.checksum)) continue;
      const r = await importItem(task.ctx, item, sha);
      if (r.written) {
        res.written.push(item.checksum);
        res.bytes += r.bytes;
      }
    }
  } catch (e) {
    // What was stored before the failure is reported with it, so the pull keeps it.
    throw new PartialFailure(e, res);
  }
  return res;
}

type Ctx = ImportContentTask['ctx'];

/** Checks and stores one object, which the caller has just found absent from the store. */
export function importItem(ctx: Ctx, item: ImportItem, sha: Sha256Factory): Promise<Stored> {
  const opts: ImportOptions = { where: `file object ${item.checksum} from ${ctx.origin}`, expected: item.checksum, checkedAbsent: true, ...(ctx.bareUserOnlyFiles && { bareUserOnlyFiles: true }) };
  if (item.bytes !== undefined) return importBytes(ctx, item.bytes, opts, sha);
  if (item.archivePath !== undefined) return importDownload(ctx, item.archivePath, opts, sha);
  return importLocal(ctx, item.checksum, opts, sha);
}

/**
 * How much an archive object fetched whole may inflate to in memory; one announcing more (highly
 * compressed, or lying) is streamed instead, its announced size bounding the inflation.
 */
const MAX_INFLATED_IN_MEMORY = SMALL_OBJECT_LIMIT * 4;

type ImportOptions = { where: string; expected: string; checkedAbsent: boolean; bareUserOnlyFiles?: boolean };

async function importBytes(ctx: Ctx, bytes: Uint8Array, opts: ImportOptions, sha: Sha256Factory): Promise<Stored> {
  const obj = inflateArchiveObject(bytes, opts.where, { maxInflated: MAX_INFLATED_IN_MEMORY, compress: ctx.compress });
  if (obj.data !== null) return storeContent(ctx, sha, obj.header, obj.data, { ...opts, archive: bytes });
  const chunks = inflateStream(once(bytes.subarray(obj.dataOffset)), obj.size, opts.where, undefined, ctx.compress);
  return storeContentStream(ctx, sha, obj.header, obj.size, chunks, { ...opts, archive: bytes });
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  yield b;
}

/** A large object downloaded to a file: streamed from it, and the file removed either way. */
async function importDownload(ctx: Ctx, file: string, opts: ImportOptions, sha: Sha256Factory): Promise<Stored> {
  try {
    const obj = openArchive(file, opts.where, ctx.compress);
    return await storeContentStream(ctx, sha, obj.header, obj.size, obj.chunks(), { ...opts, adopt: file });
  } finally {
    await fs.rm(file, { force: true });
  }
}

/** An object of the source repository of a local pull, in any mode. */
async function importLocal(ctx: Ctx, checksum: string, opts: ImportOptions, sha: Sha256Factory): Promise<Stored> {
  const src = ctx.source;
  if (src === null) throw new Error(`import of ${checksum}: no bytes, file or source repository`);
  if (ctx.linkFromSource) {
    const linked = await linkContentFrom(ctx, src, sha, opts);
    if (linked !== null) return linked;
  }
  const small = readContentSync(src, checksum, { compress: ctx.compress });
  if (small !== null) return storeContent(ctx, sha, small.header, small.data, opts);
  const obj = await openContent(src, checksum, { compress: ctx.compress });
  return storeContentStream(ctx, sha, obj.header, obj.size, obj.chunks(), opts);
}
