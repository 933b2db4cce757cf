import fs from 'node:fs/promises';
import { GroveError } from '../errors.js';
import { defaultCompressBackend, type CompressBackend } from '../format/compress.js';
import { defaultHashBackend, type HashBackend } from '../format/hash.js';
import { validateChecksum } from '../format/checksum.js';
import { validateRef } from '../format/names.js';
import { Variant, encodeCommit, encodeDirMeta, encodeDirTree, type Commit } from '../format/objects.js';
import { WorkerPool } from '../pool/pool.js';
import type { CommitItem, WriteContentTask } from '../pool/protocol.js';
import type { Repo } from '../repo/repo.js';
import { Transaction } from '../repo/transaction.js';
import { checkAllMatched, type CommitFilters } from './filters.js';
import { walkTree, type WalkDir } from './walk.js';
import { WHOLE_FILE_LIMIT } from './write-content.js';

export interface CommitOptions {
  /** The directory to commit. */
  tree: string;
  /** Ref to move to the new commit; required unless `orphan`. */
  branch?: string;
  orphan?: boolean;
  /** Parent commit: undefined = the branch's current commit, null = none. */
  parent?: string | null;
  subject?: string;
  body?: string;
  /** Seconds since the epoch; default now. */
  timestamp?: bigint;
  ownerUid?: number;
  ownerGid?: number;
  canonicalPermissions?: boolean;
  noXattrs?: boolean;
  /** Extra commit metadata, in order (ostree keeps argument order). */
  metadata?: Array<[string, Variant]>;
  /** Do not add `ostree.ref-binding`. */
  noBindings?: boolean;
  skipIfUnchanged?: boolean;
  /** Delete the source tree after a successful commit. */
  consume?: boolean;
  statOverride?: { adds: Map<string, number>; overrides: Map<string, number> };
  skipList?: Set<string>;
  /** A pool to reuse; otherwise one is made and closed. */
  pool?: WorkerPool;
  hash?: HashBackend;
  compress?: CompressBackend;
}

export interface CommitStats {
  files: number;
  bytes: number;
  contentWritten: number;
  contentBytesWritten: number;
  metadataWritten: number;
  seconds: number;
}

export interface CommitResult {
  checksum: string;
  /** True when --skip-if-unchanged found nothing new and no commit was made. */
  skipped: boolean;
  stats: CommitStats;
}

/** Batches for the pool: at most this many files or bytes each (large files go alone). */
const BATCH_FILES = 512;
const BATCH_BYTES = 16 << 20;

/**
 * Commits a directory tree: walk it, hash and store its files in the worker pool, write the
 * dirtree and dirmeta objects bottom-up, then the commit, and move the ref once all of it is
 * durable.
 */
export async function commitTree(repo: Repo, opts: CommitOptions): Promise<CommitResult> {
  const started = process.hrtime.bigint();
  if (!opts.orphan && opts.branch === undefined) {
    throw new GroveError('GROVE_BAD_OPTION', 'a branch must be specified with --branch, or use --orphan');
  }
  if (opts.branch !== undefined) validateRef(opts.branch);
  let parent: string | null;
  if (opts.parent !== undefined) parent = opts.parent === null ? null : validateChecksum(opts.parent, '--parent');
  else if (opts.orphan || opts.branch === undefined) parent = null;
  else parent = await repo.resolveRev(opts.branch, { allowMissing: true });
  if (parent !== null) await repo.loadCommit(parent);

  const canonical = opts.canonicalPermissions === true || repo.mode === 'bare-user-only';
  const filters: CommitFilters = {
    canonicalPermissions: canonical,
    modeAdds: new Map(opts.statOverride?.adds ?? []),
    modeOverrides: new Map(opts.statOverride?.overrides ?? []),
    skip: new Set(opts.skipList ?? []),
  };
  if (opts.ownerUid !== undefined) filters.ownerUid = opts.ownerUid;
  if (opts.ownerGid !== undefined) filters.ownerGid = opts.ownerGid;
  const walk = await walkTree(opts.tree, filters, { xattrs: !(canonical || opts.noXattrs) });
  checkAllMatched(filters);

  const pool = opts.pool ?? new WorkerPool();
  const tx = await Transaction.begin(repo);
  try {
    const ctx: WriteContentTask['ctx'] = {
      repoMode: repo.mode,
      objectsDir: repo.objectsDir,
      stagingDir: tx.stagingDir,
      zlibLevel: repo.zlibLevel,
      hash: opts.hash ?? defaultHashBackend(),
      compress: opts.compress ?? defaultCompressBackend(),
    };
    const checksums = await hashAll(pool, ctx, walk.items, tx);
    const [rootTree, rootMeta] = await writeDirs(tx, walk.root, checksums);

    let result: CommitResult;
    const finish = (checksum: string, skipped: boolean): CommitResult => ({
      checksum,
      skipped,
      stats: {
        files: walk.fileCount,
        bytes: walk.totalBytes,
        contentWritten: tx.stats.contentWritten,
        contentBytesWritten: tx.stats.contentBytesWritten,
        metadataWritten: tx.stats.metadataWritten,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
      },
    });
    if (opts.skipIfUnchanged && parent !== null) {
      const p = await repo.loadCommit(parent);
      if (p.rootTree === rootTree && p.rootMeta === rootMeta) {
        await tx.abort();
        return finish(parent, true);
      }
    }
    const metadata: Array<[string, Variant]> = [...(opts.metadata ?? [])];
    if (!opts.noBindings && opts.branch !== undefined) {
      metadata.push(['ostree.ref-binding', new Variant('as', [opts.branch])]);
    }
    const commit: Commit = {
      metadata,
      parent,
      related: [],
      subject: opts.subject ?? '',
      body: opts.body ?? '',
      timestamp: opts.timestamp ?? BigInt(Math.floor(Date.now() / 1000)),
      rootTree,
      rootMeta,
    };
    const checksum = await tx.writeMetadata('commit', encodeCommit(commit));
    if (opts.branch !== undefined && !opts.orphan) tx.setRef(opts.branch, checksum);
    await tx.commit();
    result = finish(checksum, false);
    if (opts.consume) await fs.rm(opts.tree, { recursive: true, force: true });
    return result;
  } catch (e) {
    await tx.abort();
    throw e;
  } finally {
    if (!opts.pool) await pool.close();
  }
}

/** Sends the files to the pool in coarse batches; returns each item's content checksum. */
async function hashAll(pool: WorkerPool, ctx: WriteContentTask['ctx'], items: CommitItem[], tx: Transaction): Promise<string[]> {
  const batches: Array<{ start: number; items: CommitItem[] }> = [];
  let cur: CommitItem[] = [];
  let curBytes = 0;
  let start = 0;
  const flush = (next: number) => {
    if (cur.length > 0) batches.push({ start, items: cur });
    cur = [];
    curBytes = 0;
    start = next;
  };
  items.forEach((item, i) => {
    if (item.size > WHOLE_FILE_LIMIT) {
      flush(i);
      batches.push({ start: i, items: [item] });
      start = i + 1;
      return;
    }
    cur.push(item);
    curBytes += item.size;
    if (cur.length >= BATCH_FILES || curBytes >= BATCH_BYTES) flush(i + 1);
  });
  flush(items.length);

  const checksums = new Array<string>(items.length);
  // Every batch is awaited even after one fails, so that no worker is still writing into the
  // staging directory when the transaction aborts and removes it.
  const settled = await Promise.allSettled(batches.map(async (b) => {
    const r = await pool.run({ kind: 'write-content', ctx, items: b.items });
    r.checksums.forEach((c, j) => { checksums[b.start + j] = c; });
    tx.stats.contentTotal += b.items.length;
    tx.stats.contentWritten += r.written;
    tx.stats.contentBytesWritten += r.bytesWritten;
  }));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return checksums;
}

/** Writes dirmeta and dirtree objects bottom-up; returns the root's (dirtree, dirmeta). */
async function writeDirs(tx: Transaction, dir: WalkDir, checksums: string[]): Promise<[string, string]> {
  const dirs: Array<[string, string, string]> = [];
  for (const [name, sub] of dir.dirs) {
    const [t, m] = await writeDirs(tx, sub, checksums);
    dirs.push([name, t, m]);
  }
  const tree = await tx.writeMetadata('dirtree', encodeDirTree({
    files: dir.files.map(([name, idx]) => [name, checksums[idx]!]),
    dirs,
  }));
  const meta = await tx.writeMetadata('dirmeta', encodeDirMeta(dir.meta));
  return [tree, meta];
}
