import fs from 'node:fs/promises';
import { GroveError } from '../errors.js';
import { defaultCompressBackend, type CompressBackend } from '../format/compress.js';
import { defaultHashBackend, type HashBackend } from '../format/hash.js';
import { validateChecksum } from '../format/checksum.js';
import { validateRef } from '../format/names.js';
import { Variant, encodeCommit, encodeDirMeta, encodeDirTree, type Commit } from '../format/objects.js';
import { WorkerPool } from '../pool/pool.js';
import type { CommitItem, WriteContentTask } from './task.js';
import type { Repo } from '../repo/repo.js';
import { Transaction } from '../repo/transaction.js';
import { RepoLock } from '../repo/lock.js';
import { checkAllMatched, type CommitFilters } from './filters.js';
import { walkTree, type WalkDir, type WalkResult } from './walk.js';
import { Batcher } from './batcher.js';
import { RepoIndex } from '../index/index.js';
import { recordObject } from '../index/catalogue.js';
import { addSignatures, encodeDict, type SignWith } from '../sign/signatures.js';
import { lookup as lookupStat, probe as probeStat, record as recordStat, type StatProbe } from '../index/stat-cache.js';
import { DeviceIdentities } from '../index/fs-identity.js';

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
  /** Use the LMDB stat cache (default true): unchanged files are not re-read. */
  index?: boolean;
  /** Sign the new commit with these keys (its detached metadata is published with it). */
  sign?: SignWith;
  /** Called as batches of files finish; totals grow until `walkDone`. */
  onProgress?: (p: CommitProgress) => void;
}

export interface CommitProgress {
  filesDone: number;
  bytesDone: number;
  filesFound: number;
  bytesFound: number;
  walkDone: boolean;
}

export interface CommitStats {
  files: number;
  bytes: number;
  contentWritten: number;
  contentBytesWritten: number;
  metadataWritten: number;
  /** Files whose checksum came from the stat cache (confirmed present, not re-read). */
  cacheHits: number;
  seconds: number;
}

export interface CommitResult {
  checksum: string;
  /** True when --skip-if-unchanged found nothing new and no commit was made. */
  skipped: boolean;
  stats: CommitStats;
}

/**
 * Commits a directory tree: walk it, hash and store its files in the worker pool, write the
 * dirtree and dirmeta objects bottom-up, then the commit, and move the ref once all of it is
 * durable.
 */
export async function commitTree(repo: Repo, opts: CommitOptions): Promise<CommitResult> {
  const started = process.hrtime.bigint();
  // The transaction's lock holder starts while the options are checked and the index opens.
  RepoLock.prepare(repo);
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
  const xattrs = !(canonical || opts.noXattrs);
  // The stat cache keys on what the checksum depends on besides the bytes: recorded owner and
  // mode after filters, and whether xattrs were read.
  const recorded = (item: CommitItem) => `${item.uid}:${item.gid}:${item.mode}:${xattrs ? 'x' : '-'}`;
  // Wall-clock nanoseconds, comparable with file ctimes, for the racy-entry rule.
  const startedWallNs = BigInt(Date.now()) * 1_000_000n;
  // Which file system each device holds, established once per commit (mounts change between).
  const devices = new DeviceIdentities();

  const pool = opts.pool ?? new WorkerPool();
  const index = opts.index === false ? null : await RepoIndex.open(repo.path);
  let tx: Transaction | undefined;
  try {
    tx = await Transaction.begin(repo);
    const ctx: WriteContentTask['ctx'] = { ...tx.storeTarget(opts.compress ?? defaultCompressBackend()), hash: opts.hash ?? defaultHashBackend() };
    const progress = { filesDone: 0, bytesDone: 0, filesFound: 0, bytesFound: 0, walkDone: false };
    /** The stat cache's answer for each item, where it had one, until the item is settled. */
    const cachedSeen: Array<string | undefined> = [];
    /** What the stat cache needs of each item's stat, until its checksum is known and recorded. */
    const probes: Array<StatProbe | undefined> = [];
    // Each file's facts are recorded as soon as its checksum is known and then dropped: holding
    // them for a whole /usr (117k files) until the end cost about 100 MB. Recording before the
    // transaction commits is safe: the index is never trusted for existence, and a lost object
    // is hashed again.
    const batcher = new Batcher(pool, ctx, (items, indexes) => {
      if (index) {
        index.write(() => items.forEach((item, j) => {
          const i = indexes[j]!;
          const p = probes[i];
          const checksum = batcher.checksums[i]!;
          if (p !== undefined && cachedSeen[i] !== checksum) {
            recordStat(index, p, checksum);
            recordObject(index, checksum, item.mode, item.size);
          }
          probes[i] = undefined;
          cachedSeen[i] = undefined;
        }));
      }
      if (opts.onProgress) {
        progress.filesDone += items.length;
        for (const it of items) progress.bytesDone += it.size;
        opts.onProgress({ ...progress });
      }
    });
    let walk!: WalkResult;
    let walkFailed: unknown = null;
    try {
      walk = await walkTree(opts.tree, filters, {
        xattrs,
        onItem: (item, st, i) => {
          let hit: string | null = null;
          if (index) {
            const p = probeStat(st, recorded(item), startedWallNs, devices);
            hit = lookupStat(index, p);
            if (hit !== null) cachedSeen[i] = hit;
            probes[i] = p;
          }
          progress.filesFound++;
          progress.bytesFound += item.size;
          return batcher.add(item, i, hit ?? undefined);
        },
      });
      checkAllMatched(filters);
      progress.walkDone = true;
      opts.onProgress?.({ ...progress });
    } catch (e) {
      walkFailed = e;
    } finally {
      await batcher.settle().catch((e: unknown) => { if (walkFailed === null) walkFailed = e; });
    }
    if (walkFailed !== null) throw walkFailed;
    const checksums = batcher.checksums;
    tx.stats.contentTotal += walk.itemCount;
    tx.stats.contentWritten += batcher.totals.written;
    tx.stats.contentBytesWritten += batcher.totals.bytesWritten;
    const [rootTree, rootMeta] = await writeDirs(tx, walk.root, checksums);

    let result: CommitResult;
    const finish = (checksum: string, skipped: boolean): CommitResult => ({
      checksum,
      skipped,
      stats: {
        files: walk.fileCount,
        bytes: walk.totalBytes,
        contentWritten: tx!.stats.contentWritten,
        contentBytesWritten: tx!.stats.contentBytesWritten,
        metadataWritten: tx!.stats.metadataWritten,
        cacheHits: batcher.totals.cacheHits,
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
    // ostree binds every commit it writes, an --orphan one to the empty list of refs.
    if (!opts.noBindings) {
      metadata.push(['ostree.ref-binding', new Variant('as', opts.branch !== undefined ? [opts.branch] : [])]);
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
    const commitBytes = encodeCommit(commit);
    const checksum = await tx.writeMetadata('commit', commitBytes);
    if (opts.sign && ((opts.sign.ed25519?.length ?? 0) > 0 || (opts.sign.gpg?.length ?? 0) > 0)) {
      await tx.stageDetachedMetadata(checksum, encodeDict(await addSignatures(null, commitBytes, opts.sign)));
    }
    // ostree moves the branch even with --orphan; --orphan only means "no parent".
    if (opts.branch !== undefined) tx.setRef(opts.branch, checksum);
    await tx.commit();
    result = finish(checksum, false);
    if (opts.consume) await fs.rm(opts.tree, { recursive: true, force: true });
    return result;
  } catch (e) {
    await tx?.abort();
    throw e;
  } finally {
    if (index) await index.close();
    if (!opts.pool) await pool.close();
  }
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
