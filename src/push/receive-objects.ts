import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GroveError, isErrno } from '../errors.js';
import { defaultCompressBackend } from '../format/compress.js';
import { defaultHashBackend } from '../format/hash.js';
import type { ObjectType } from '../format/objects.js';
import type { WorkerPool } from '../pool/pool.js';
import type { Repo } from '../repo/repo.js';
import { Transaction } from '../repo/transaction.js';
import { ImportQueue } from '../net/import-queue.js';
import { ATOMIC_TEMP_PREFIX, tempName } from '../repo/fsutil.js';
import { MAX_METADATA_SIZE } from '../store/read-metadata.js';
import { checkMetadata } from '../store/write-metadata.js';
import { BodyReader, MAX_FRAME_HEADER, parseFrameHeader } from './protocol.js';
import { firstMissing } from './complete.js';

/** Content objects up to this size are held in memory; larger ones are spooled to the staging directory first. */
const IN_MEMORY = 2 << 20;
/**
 * A long upload publishes what it has checked after this long or this many bytes, so a push
 * cut half way keeps it and its rerun sends only the rest (as a pull checkpoints).
 */
const CHECKPOINT_MS = 5_000;
const CHECKPOINT_BYTES = 32 << 20;

export interface ReceiveTarget {
  repo: Repo;
  /** Verifies and writes content objects; started at the first one. */
  pool: WorkerPool;
  fsync: boolean;
}

/**
 * Stores the objects of one `objects` request (see protocol.ts), each checked exactly as a
 * pulled object is: metadata by the store's writer (its checksum, its type's rules: no `..` or
 * `/` in names, valid modes), content by the pull's import tasks (header, symlink target,
 * SHA-256 over header and bytes). Everything goes through one transaction. A commit is stored
 * only when every object it reaches is on the server or staged by this request (which is
 * published whole, commits last);
 * detached metadata only for a commit the server has or receives here, and never over detached
 * metadata the server already has (that would replace its signatures). On any failure the
 * transaction is aborted: nothing of the request that was not yet published stays.
 */
export async function receiveObjects(t: ReceiveTarget, body: AsyncIterable<Buffer>, origin: string): Promise<{ stored: number }> {
  const { repo } = t;
  const tx = await Transaction.begin(repo, { fsync: t.fsync });
  let queue: ImportQueue | undefined;
  /** Large objects' spool files: an object the server turns out to have already is not imported, and its file stays. */
  const spooled: string[] = [];
  try {
    let ready: Array<{ checksum: string; type: ObjectType }> = [];
    let stored = 0;
    let sinceCheckpoint = 0;
    let lastCheckpoint = Date.now();
    queue = new ImportQueue(t.pool, { ...tx.storeTarget(defaultCompressBackend()), hash: defaultHashBackend(), source: null, origin }, (written, bytes) => {
      stored += written.length;
      sinceCheckpoint += bytes;
      for (const c of written) ready.push({ checksum: c, type: 'file' });
    });
    /** Publishes what is checked so far (not commits): a long upload cut short keeps it. */
    const checkpoint = async (): Promise<void> => {
      const batch = ready;
      ready = [];
      sinceCheckpoint = 0;
      lastCheckpoint = Date.now();
      await tx.checkpoint(batch);
    };
    const reader = new BodyReader(body);
    const commits: Array<{ checksum: string; bytes: Uint8Array; where: string }> = [];
    const detached: Array<{ checksum: string; bytes: Uint8Array; where: string }> = [];
    for (let n = 1; ; n++) {
      const line = await reader.line(MAX_FRAME_HEADER, `object frame ${n} header`);
      if (line === null) break;
      const f = parseFrameHeader(line);
      const where = `${f.type} object ${f.checksum} from ${origin}`;
      if (f.type !== 'file') {
        if (f.size > MAX_METADATA_SIZE) throw new GroveError('GROVE_TOO_LARGE', `${where} is ${f.size} bytes, more than the ${MAX_METADATA_SIZE} allowed`);
        const bytes = await reader.exactly(f.size, where);
        if (f.type === 'commit') {
          checkMetadata('commit', bytes, { expected: f.checksum, where });
          commits.push({ checksum: f.checksum, bytes, where });
        } else if (f.type === 'commitmeta') {
          checkMetadata('commitmeta', bytes, { where });
          detached.push({ checksum: f.checksum, bytes, where });
        } else {
          const before = tx.stats.metadataWritten;
          await tx.writeMetadata(f.type, bytes, { expected: f.checksum, where });
          if (tx.stats.metadataWritten > before) {
            stored++;
            ready.push({ checksum: f.checksum, type: f.type });
          }
        }
      } else if (f.size <= IN_MEMORY) {
        await queue.add({ checksum: f.checksum, bytes: await reader.exactly(f.size, where) });
      } else {
        // Spooled whole before it is checked: the import task streams it from the file and
        // removes it. In tmp/ under a name that carries this process's pid, so that what a
        // killed server leaves is removed by the next transaction (see Transaction.begin).
        const file = path.join(repo.tmpDir, tempName(ATOMIC_TEMP_PREFIX));
        spooled.push(file);
        try {
          await pipeline(reader.chunks(f.size, where), fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
        } catch (e) {
          if (isErrno(e, 'ENOSPC', 'EDQUOT')) throw new GroveError('GROVE_NO_SPACE', `no space left on device receiving ${where}`);
          throw e;
        }
        await queue.add({ checksum: f.checksum, archivePath: file });
      }
      if (Date.now() - lastCheckpoint > CHECKPOINT_MS || sinceCheckpoint > CHECKPOINT_BYTES) {
        await queue.settle();
        await checkpoint();
      }
    }
    await queue.settle();
    const incoming = new Set<string>();
    for (const c of commits) {
      if (await repo.hasObject(c.checksum, 'commit')) continue;
      // What this request staged counts: the whole request is published at once, commits last.
      const missing = firstMissing(repo, c.bytes, c.where, tx);
      if (missing !== null) throw new GroveError('GROVE_INCOMPLETE', `${c.where}: the server lacks ${missing.replace('.', ' (')}), which it reaches; push it first`);
      await tx.writeMetadata('commit', c.bytes, { expected: c.checksum, where: c.where });
      incoming.add(c.checksum);
      stored++;
    }
    for (const d of detached) {
      if (!incoming.has(d.checksum) && !(await repo.hasObject(d.checksum, 'commit'))) {
        throw new GroveError('GROVE_INCOMPLETE', `${d.where}: detached metadata of a commit the server does not have`);
      }
      if (await repo.hasObject(d.checksum, 'commitmeta')) {
        throw new GroveError('GROVE_CONFLICT', `${d.where}: the server already has detached metadata for commit ${d.checksum}; it is not replaced by a push`);
      }
      await tx.stageDetachedMetadata(d.checksum, d.bytes);
      stored++;
    }
    await tx.commit();
    return { stored };
  } catch (e) {
    if (queue) {
      queue.cancel();
      await queue.settle().catch(() => undefined);
    }
    await tx.abort();
    throw e;
  } finally {
    for (const f of spooled) fs.rmSync(f, { force: true });
  }
}
