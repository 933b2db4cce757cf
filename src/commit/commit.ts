import fs from 'node:fs/promises';
import { GroveError } from '../errors.js';
import { defaultCompressBackend, type CompressBackend } from '../format/compress.js';
import { defaultHashBackend, type HashBackend } from '../format/hash.js';
import { validateChecksum } from '../format/checksum.js';
import { parseRefspec } from '../format/names.js';
import { Variant, encodeCommit, encodeDirMeta, encodeDirTree, type Commit } from '../format/objects.js';
import { WorkerPool } from '../pool/pool.js';
import type { CommitItem, WriteContentTask } from './task.js';
import type { Repo } from '../repo/repo.js';
import { Transaction } from '../repo/transaction.js';
import { RepoLock } from '../repo/lock.js';
import { checkAllMatched, type CommitFilters } from './filters.js';
import { walkTree, type WalkDir, type WalkResult } from './walk.js';
import { MTree, writeMTree } from './mtree.js';
import { importTar, mergeStored, mergeWalk, type LayerContext } from './layers.js';
import { SizeTable } from './sizes.js';
import { bootableMetadata } from './bootable.js';
import { scanDevino } from './devino.js';
import { glibDictOrder } from '../format/glib-dict.js';
import { sha256Factory } from '../format/hash.js';
import { storeContentStream } from '../store/write-content.js';
import { decodeDirTree, type DirMeta, type DirTree, type FileHeader } from '../format/objects.js';
import { objectExists } from '../store/paths.js';
import { readMetadataSync } from '../store/read-metadata.js';
import { Batcher } from './batcher.js';
import { RepoIndex } from '../index/index.js';
import { recordObject } from '../index/catalogue.js';
import { addSignatures, encodeDict, signsAnything, type SignWith } from '../sign/signatures.js';
import { lookup as lookupStat, probe as probeStat, record as recordStat, type StatProbe } from '../index/stat-cache.js';
import { DeviceIdentities } from '../index/fs-identity.js';
import { FileFactsTable, ListingRecorder } from './listings.js';

/** One `--tree=` argument: a directory, a commit (ref=REV), or a tar archive ('-': standard input). */
export type TreeLayer = { kind: 'dir'; path: string } | { kind: 'ref'; rev: string } | { kind: 'tar'; path: string };

export interface CommitOptions {
  /** The directory to commit (the one layer when `layers` is not given). */
  tree?: string;
  /** Trees merged in order, each over the last (ostree's several --tree=); default [tree]. */
  layers?: TreeLayer[];
  /** `--base=REV`: start from this commit's tree; the layers are merged over it. */
  base?: string;
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
  /** `--keep-metadata`: keys copied from the parent commit's metadata (after `metadata`). */
  keepMetadata?: string[];
  /** Do not add `ostree.ref-binding` (nor `ostree.collection-binding`). */
  noBindings?: boolean;
  /** `--bind-ref`: more refs for `ostree.ref-binding`, besides the branch. */
  bindRefs?: string[];
  /** `--add-detached-metadata-string` and the like: the commit's detached metadata, in order. */
  detachedMetadata?: Array<[string, Variant]>;
  /** `--mode-ro-executables`. */
  roExecutables?: boolean;
  /** `--bootable`: record `ostree.bootable` and `ostree.linux`, requiring one kernel. */
  bootable?: boolean;
  /** `--generate-sizes`: record `ostree.sizes` (archive repositories only, as ostree). */
  generateSizes?: boolean;
  /** false: `--disable-fsync` (nothing waits for the disk). */
  fsync?: boolean;
  /** `--link-checkout-speedup`: recognise hardlinks into the repository by device and inode. */
  linkCheckoutSpeedup?: boolean;
  /** `-I`: take such hardlinks as their objects, without looking at them. Implies linkCheckoutSpeedup. */
  devinoCanonical?: boolean;
  /** `--tar-autocreate-parents`. */
  tarAutocreateParents?: boolean;
  /** `--tar-pathname-filter`: rewrites each path of a tar layer. */
  tarTranslate?: (p: string) => string;
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
  // A refspec, as ostree takes it: `REMOTE:REF` commits to the remote ref.
  if (opts.branch !== undefined) parseRefspec(opts.branch);
  let parent: string | null;
  if (opts.parent !== undefined) parent = opts.parent === null ? null : validateChecksum(opts.parent, '--parent');
  else if (opts.orphan || opts.branch === undefined) parent = null;
  else parent = await repo.resolveRev(opts.branch, { allowMissing: true });
  const parentCommit = parent === null ? null : await repo.loadCommit(parent);
  if ((opts.keepMetadata?.length ?? 0) > 0 && parentCommit === null) {
    throw new GroveError('GROVE_BAD_OPTION', 'Either --branch or --parent must be specified when using --keep-metadata');
  }
  const kept: Array<[string, Variant]> = (opts.keepMetadata ?? []).map((key) => {
    const v = parentCommit!.metadata.find(([k]) => k === key)?.[1];
    if (v === undefined) throw new GroveError('GROVE_BAD_OPTION', `Missing metadata key '${key}' from commit '${parent}'`);
    return [key, v];
  });
  const layers: TreeLayer[] = opts.layers ?? [{ kind: 'dir', path: opts.tree ?? '.' }];

  const canonical = opts.canonicalPermissions === true || repo.mode === 'bare-user-only';
  const filters: CommitFilters = {
    canonicalPermissions: canonical,
    modeAdds: new Map(opts.statOverride?.adds ?? []),
    modeOverrides: new Map(opts.statOverride?.overrides ?? []),
    skip: new Set(opts.skipList ?? []),
    roExecutables: opts.roExecutables === true,
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

  // ostree runs files through a commit modifier whenever an option changes metadata (and
  // always in bare-user-only): then a ref= layer is looked at file by file (layers.ts).
  const modifier = canonical || opts.noXattrs === true || opts.ownerUid !== undefined || opts.ownerGid !== undefined
    || opts.statOverride !== undefined || opts.skipList !== undefined || opts.roExecutables === true
    || opts.consume === true || opts.devinoCanonical === true || opts.generateSizes === true;
  const sizes = opts.generateSizes && repo.mode === 'archive' ? new SizeTable() : null;

  const pool = opts.pool ?? new WorkerPool();
  const index = opts.index === false ? null : await RepoIndex.open(repo.path);
  let tx: Transaction | undefined;
  try {
    tx = await Transaction.begin(repo, { fsync: opts.fsync !== false });
    const t = tx;
    const compress = opts.compress ?? defaultCompressBackend();
    const ctx: WriteContentTask['ctx'] = { ...tx.storeTarget(compress), hash: opts.hash ?? defaultHashBackend() };
    const progress = { filesDone: 0, bytesDone: 0, filesFound: 0, bytesFound: 0, walkDone: false };
    const devino = opts.linkCheckoutSpeedup || opts.devinoCanonical ? scanDevino(repo, opts.devinoCanonical === true) : undefined;
    const totals = { items: 0, files: 0, bytes: 0, cacheHits: 0 };
    const facts = index && ListingRecorder.wanted(repo) ? new FileFactsTable() : null;

    /** Walks one directory layer and stores its files in the pool. */
    const storeDir = async (dirPath: string): Promise<{ walk: WalkResult; checksums: string[] }> => {
      /** The stat cache's answer for each item, where it had one, until the item is settled. */
      const cachedSeen: Array<string | undefined> = [];
      /** What the stat cache needs of each item's stat, until its checksum is known and recorded. */
      const probes: Array<StatProbe | undefined> = [];
      // Each file's facts are recorded as soon as its checksum is known and then dropped: holding
      // them for a whole /usr (117k files) until the end cost about 100 MB. Recording before the
      // transaction commits is safe: the index is never trusted for existence, and a lost object
      // is hashed again.
      const batcher = new Batcher(pool, ctx, (items, indexes, links) => {
        for (const [j, target] of links) facts?.target(batcher.checksums[indexes[j]!]!, target);
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
        walk = await walkTree(dirPath, filters, {
          xattrs,
          ...(devino && { devino }),
          onItem: (item, st, i, fixed) => {
            let hit: string | null = fixed ?? null;
            // A file taken by device and inode is not described by its item (see listings.ts).
            if (fixed === undefined) facts?.note(i, item.mode, item.size);
            // An item whose metadata is not the file's own has no place in the stat cache.
            if (index && fixed === undefined && item.xattrs === undefined) {
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
      } catch (e) {
        walkFailed = e;
      } finally {
        await batcher.settle().catch((e: unknown) => { if (walkFailed === null) walkFailed = e; });
      }
      if (walkFailed !== null) throw walkFailed;
      totals.items += walk.itemCount;
      totals.files += walk.fileCount;
      totals.bytes += walk.totalBytes;
      totals.cacheHits += batcher.totals.cacheHits;
      t.stats.contentTotal += walk.itemCount;
      t.stats.contentWritten += batcher.totals.written;
      t.stats.contentBytesWritten += batcher.totals.bytesWritten;
      return { walk, checksums: batcher.checksums };
    };

    const writeMeta = async (type: 'dirtree' | 'dirmeta', bytes: Uint8Array): Promise<string> => {
      const c = await t.writeMetadata(type, bytes);
      sizes?.metadata(c, type, bytes.length);
      return c;
    };
    let rootTree: string;
    let rootMeta: string;
    if (opts.base === undefined && layers.length === 1 && layers[0]!.kind === 'dir') {
      // The common case, one directory: its walk is the tree.
      sizes?.reset();
      const { walk, checksums } = await storeDir(layers[0].path);
      checkAllMatched(filters);
      progress.walkDone = true;
      opts.onProgress?.({ ...progress });
      if (sizes) for (const c of checksums) sizes.file(c);
      const listings = facts && new ListingRecorder(index!, repo, facts);
      [rootTree, rootMeta] = await writeDirs(walk.root, checksums, writeMeta, listings);
      listings?.flush();
    } else {
      const sha = await sha256Factory(ctx.hash);
      const target = t.storeTarget(compress);
      const lctx: LayerContext = {
        repo,
        filters,
        modifier,
        xattrs,
        writeDirMeta: (m: DirMeta) => writeMeta('dirmeta', encodeDirMeta(m)),
        noteFile: (c) => sizes?.file(c),
        writeContent: async (h: FileHeader, size, chunks, where) => {
          const r = await storeContentStream(target, sha, h, size, chunks, { where });
          t.stats.contentTotal++;
          if (r.written) {
            t.stats.contentWritten++;
            t.stats.contentBytesWritten += r.bytes;
          }
          return r.checksum;
        },
      };
      let root: MTree;
      if (opts.base !== undefined) {
        const b = await repo.loadCommit((await repo.resolveRev(opts.base))!);
        root = MTree.fromStored(b.rootTree, b.rootMeta);
      } else {
        root = new MTree();
      }
      for (const layer of layers) {
        sizes?.reset();
        if (layer.kind === 'dir') {
          const { walk, checksums } = await storeDir(layer.path);
          await mergeWalk(lctx, root, walk.root, checksums);
        } else if (layer.kind === 'ref') {
          const c = await repo.loadCommit((await repo.resolveRev(layer.rev))!);
          await mergeStored(lctx, root, c.rootTree, c.rootMeta);
        } else {
          await importTar(lctx, root, layer.path, {
            autocreateParents: opts.tarAutocreateParents === true,
            ...(opts.tarTranslate && { translate: opts.tarTranslate }),
            xattrs: !(opts.noXattrs || repo.mode === 'bare-user-only'),
          });
        }
      }
      checkAllMatched(filters);
      progress.walkDone = true;
      opts.onProgress?.({ ...progress });
      [rootTree, rootMeta] = await writeMTree(repo, root, (bytes) => writeMeta('dirtree', bytes));
    }

    const finish = (checksum: string, skipped: boolean): CommitResult => ({
      checksum,
      skipped,
      stats: {
        files: totals.files,
        bytes: totals.bytes,
        contentWritten: t.stats.contentWritten,
        contentBytesWritten: t.stats.contentBytesWritten,
        metadataWritten: t.stats.metadataWritten,
        cacheHits: totals.cacheHits,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
      },
    });
    if (opts.skipIfUnchanged && parentCommit !== null && parentCommit.rootTree === rootTree && parentCommit.rootMeta === rootMeta) {
      await t.abort();
      return finish(parent!, true);
    }
    // ostree's order: the given metadata (strings, then typed values, then kept keys), the
    // bindings, then --bootable through a GVariantDict (whose hash order it then has), then sizes.
    let metadata: Array<[string, Variant]> = [...(opts.metadata ?? []), ...kept];
    if (!opts.noBindings) {
      // ostree binds every commit it writes, an --orphan one to the empty list of refs.
      const refs = [...(opts.branch !== undefined ? [opts.branch] : []), ...(opts.bindRefs ?? [])].sort(compareBytes);
      metadata.push(['ostree.ref-binding', new Variant('as', refs)]);
      const collection = repo.collectionId;
      if (collection !== null && !metadata.some(([k]) => k === 'ostree.collection-binding')) {
        metadata.push(['ostree.collection-binding', new Variant('s', collection)]);
      }
    }
    if (opts.bootable) {
      const staged = { objectsDir: t.stagingDir, mode: repo.mode };
      const load = async (c: string) => decodeDirTree(objectExists(staged.objectsDir, c, 'dirtree', repo.mode) ? readMetadataSync(staged, c, 'dirtree') : await repo.readMetadata(c, 'dirtree'), `dirtree ${c}`);
      metadata = glibDictOrder([...metadata, ...(await bootableMetadata(load, rootTree))]);
    }
    const sizesValue = sizes ? await sizes.encode(repo.objectsDir, t.stagingDir, repo.zlibLevel) : null;
    if (sizesValue) metadata.push(['ostree.sizes', sizesValue]);
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
    const checksum = await t.writeMetadata('commit', commitBytes);
    const signing = signsAnything(opts.sign);
    const detached = opts.detachedMetadata && opts.detachedMetadata.length > 0 ? opts.detachedMetadata : null;
    if (signing || detached !== null) {
      await t.stageDetachedMetadata(checksum, encodeDict(signing ? await addSignatures(detached, commitBytes, opts.sign!) : detached!));
    }
    // ostree moves the branch even with --orphan; --orphan only means "no parent".
    if (opts.branch !== undefined) t.setRef(opts.branch, checksum);
    await t.commit();
    const result = finish(checksum, false);
    if (opts.consume) {
      for (const l of layers) if (l.kind === 'dir') await fs.rm(l.path, { recursive: true, force: true });
    }
    return result;
  } catch (e) {
    await tx?.abort();
    throw e;
  } finally {
    if (index) await index.close();
    if (!opts.pool) await pool.close();
  }
}

/** strcmp order, as ostree sorts the refs of a binding. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Writes dirmeta and dirtree objects bottom-up, recording each directory's listing when given a
 * recorder; returns the root's (dirtree, dirmeta).
 */
async function writeDirs(
  dir: WalkDir,
  checksums: string[],
  write: (type: 'dirtree' | 'dirmeta', bytes: Uint8Array) => Promise<string>,
  listings: ListingRecorder | null,
): Promise<[string, string]> {
  const dirs: Array<[string, string, string]> = [];
  for (const [name, sub] of dir.dirs) {
    const [t, m] = await writeDirs(sub, checksums, write, listings);
    dirs.push([name, t, m]);
  }
  const tree: DirTree = { files: dir.files.map(([name, idx]) => [name, checksums[idx]!]), dirs };
  const treeChecksum = await write('dirtree', encodeDirTree(tree));
  listings?.tree(treeChecksum, tree, dir.files);
  const meta = await write('dirmeta', encodeDirMeta(dir.meta));
  return [treeChecksum, meta];
}
