import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { isErrno } from '../errors.js';
import { sha256 } from '../format/hash.js';
import { toHex } from '../format/checksum.js';
import type { ObjectType } from '../format/objects.js';
import { objectExists, objectPath } from '../store/paths.js';
import { readObjectFile } from '../store/object-file.js';
import { MAX_METADATA_SIZE } from '../store/read-metadata.js';
import { checkMetadata, stageMetadata, type MetadataWrite } from '../store/write-metadata.js';
import type { StoreTarget } from '../store/write-content.js';
import type { CompressBackend } from '../format/compress.js';
import { RepoLock } from './lock.js';
import { ATOMIC_TEMP_PREFIX, ensureDir, fsyncDir, syncFilesystem } from './fsutil.js';
import { moveRefFiles, refFilePath } from './refs.js';
import { collectionRefFile } from './collection-refs.js';
import { parseRefspec } from '../format/names.js';
import type { Repo } from './repo.js';

/**
 * Not ostree's `staging-` prefix: at the end of each transaction ostree removes every
 * `tmp/staging-*` directory whose own lock file (`staging-*.lock`) it can lock, and grove does
 * not take those per-directory locks, so ostree would delete a running grove commit's staging
 * directory. Other names in `tmp/` it leaves alone until they are a day old
 * (`[core] tmp-expiry-secs`).
 */
const STAGING_PREFIX = 'grove-staging-';

/**
 * A write transaction, the ostree way: new objects go to a private staging directory under
 * `tmp/`, invisible to readers; {@link commit} makes them all durable with one syncfs, renames
 * them into `objects/` (commit objects last), syncs the object directories, and only then moves
 * refs. A crash at any point leaves at worst a stale staging directory, never a ref to a missing
 * object nor a partial object under its checksum. Concurrent transactions each have their own
 * staging directory and hold the repository lock shared.
 */
export class Transaction {
  private readonly refUpdates = new Map<string, string | null>();
  /** Collection refs to move, by `(COLLECTION-ID, REF)`: no refspec names them. */
  private readonly collectionRefUpdates = new Map<string, { file: string; checksum: string | null }>();
  private done = false;
  /** Metadata written in this transaction, so repeats are free. */
  private readonly staged = new Set<string>();
  private readonly stagedDirs = new Set<string>();
  /** Object directories made (or found) by an earlier checkpoint. */
  private readonly objectDirs = new Set<string>();
  stats = { metadataTotal: 0, metadataWritten: 0, contentTotal: 0, contentWritten: 0, contentBytesWritten: 0 };

  private constructor(readonly repo: Repo, readonly stagingDir: string, private readonly lock: RepoLock, private readonly fsync: boolean) {}

  /**
   * `fsync: false` is ostree's `--disable-fsync` / `--fsync=false`: objects and refs are still
   * published in the same order, but nothing waits for the disk (a crash may lose them).
   */
  static async begin(repo: Repo, opts: { fsync?: boolean } = {}): Promise<Transaction> {
    const lock = await RepoLock.acquire(repo, 'shared');
    try {
      await removeStaleStaging(repo.tmpDir);
      const dir = await fs.mkdtemp(path.join(repo.tmpDir, `${STAGING_PREFIX}${process.pid}-`));
      return new Transaction(repo, dir, lock, opts.fsync !== false);
    } catch (e) {
      await lock.release();
      throw e;
    }
  }

  /** Where this transaction's content objects go, as the store's writers (and worker threads) take it. */
  storeTarget(compress: CompressBackend): StoreTarget {
    return { objectsDir: this.repo.objectsDir, mode: this.repo.mode, stagingDir: this.stagingDir, zlibLevel: this.repo.zlibLevel, compress };
  }

  /** Where a new object of this transaction is written before commit. */
  stagedPath(checksum: string, type: ObjectType): string {
    return objectPath(this.stagingDir, checksum, type, this.repo.mode);
  }

  /** Whether the object is staged in this transaction or already in the repository. */
  hasStagedOrStored(checksum: string, type: ObjectType): boolean {
    return fsSync.existsSync(this.stagedPath(checksum, type)) || objectExists(this.repo.objectsDir, checksum, type, this.repo.mode);
  }

  /**
   * A metadata object's bytes from what this transaction staged or the repository has (at most
   * the metadata limit, never through a symlink); null when neither has it. For checks that walk
   * a tree before its objects are published.
   */
  readStagedOrStored(checksum: string, type: ObjectType): Uint8Array | null {
    for (const p of [this.stagedPath(checksum, type), this.repo.objectPath(checksum, type)]) {
      try {
        return readObjectFile(p, `${type} object ${checksum}`, MAX_METADATA_SIZE);
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e;
      }
    }
    return null;
  }

  /**
   * Writes a metadata object (unless the repository or this transaction has it), checked by the
   * store (valid for its type, and with `expected`, of that checksum); returns its checksum.
   */
  async writeMetadata(type: ObjectType, bytes: Uint8Array, opts: MetadataWrite = {}): Promise<string> {
    this.stats.metadataTotal++;
    const checksum = opts.expected ?? toHex(sha256(bytes));
    const key = `${checksum}.${type}`;
    if (this.staged.has(key) || (await this.repo.hasObject(checksum, type))) {
      // Already stored: an expected checksum still has to be these bytes'.
      if (opts.expected !== undefined) checkMetadata(type, bytes, opts);
      return checksum;
    }
    checkMetadata(type, bytes, opts);
    stageMetadata(this.stagingDir, this.repo.mode, checksum, type, bytes, this.stagedDirs);
    this.staged.add(key);
    this.stats.metadataWritten++;
    return checksum;
  }

  /**
   * Publishes objects that are complete in the staging directory before the transaction ends,
   * durable first: a pull calls this as it goes, so that an interrupted pull keeps what it had
   * fetched and a rerun fetches only the rest. Objects a worker may still be writing must not be
   * listed, and commit objects never are (a commit is visible only once everything it reaches is).
   */
  async checkpoint(objects: ReadonlyArray<{ checksum: string; type: ObjectType }>): Promise<void> {
    if (this.done) throw new Error('transaction already finished');
    if (objects.length === 0) return;
    if (this.fsync) await syncFilesystem(this.stagingDir);
    const touched = new Set<string>();
    // Synchronous renames: each takes the kernel microseconds, and a round trip through libuv's
    // thread pool per object made publishing the 6.2k objects of a pull take 0.6 s, not 0.1 s.
    for (const { checksum, type } of objects) {
      if (type === 'commit' || type === 'commitmeta') throw new Error('checkpoint: commit objects are published by commit()');
      const to = objectPath(this.repo.objectsDir, checksum, type, this.repo.mode);
      const dir = path.dirname(to);
      if (!this.objectDirs.has(dir)) {
        await ensureDir(dir);
        this.objectDirs.add(dir);
      }
      touched.add(dir);
      try {
        fsSync.renameSync(this.stagedPath(checksum, type), to);
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e; // published by an earlier checkpoint
      }
    }
    await this.syncDirs(touched);
  }

  /**
   * Stages a commit's detached metadata (signatures), published with the commit. It is named by
   * the commit's checksum, not its own, and replaces any detached metadata already there.
   */
  async stageDetachedMetadata(commit: string, bytes: Uint8Array): Promise<void> {
    checkMetadata('commitmeta', bytes, { where: `detached metadata of commit ${commit}` });
    stageMetadata(this.stagingDir, this.repo.mode, commit, 'commitmeta', bytes, this.stagedDirs);
  }

  /** Queues a ref move (or deletion with null) for {@link commit}. */
  setRef(refspec: string, checksum: string | null): void {
    this.refUpdates.set(refspec, checksum);
  }

  /**
   * Queues a move of collection ref (`collectionId`, `ref`) for {@link commit}, as ostree's
   * `transaction_set_collection_ref`: it lands in refs/heads when `collectionId` is this
   * repository's own collection ID, else in `refs/mirrors/COLLECTION-ID/REF`.
   */
  setCollectionRef(collectionId: string, ref: string, checksum: string | null): void {
    this.collectionRefUpdates.set(`(${collectionId}, ${ref})`, { file: collectionRefFile(this.repo, collectionId, ref), checksum });
  }

  /**
   * Makes every staged object durable and visible, then moves the refs. Commit objects are
   * published last, once everything else is renamed into place and those renames are durable:
   * `ostree fsck` checks every commit object it finds, so a commit must never be visible before
   * an object it reaches, even if the process dies half way through the renames.
   */
  async commit(): Promise<void> {
    if (this.done) throw new Error('transaction already finished');
    try {
      // 1. The bytes of every staged object reach the disk before any becomes visible.
      if (this.fsync) await syncFilesystem(this.stagingDir);
      // 2. Publish them under their checksums, commits last; each step's renames reach the
      //    disk before the next step (and any ref) depends on them.
      await this.syncDirs(await this.publishStaged((name) => !isCommitName(name)));
      await this.syncDirs(await this.publishStaged(isCommitName));
      // Nested in this transaction's shared lock: only counted, and each new commit checked.
      await moveRefFiles(this.repo, [
        ...[...this.refUpdates].map(([refspec, checksum]) => ({ refspec, checksum, file: refFilePath(this.repo.path, parseRefspec(refspec)) })),
        ...[...this.collectionRefUpdates].map(([refspec, u]) => ({ refspec, ...u })),
      ]);
    } finally {
      await this.finish();
    }
  }

  /**
   * Makes the renames into `touched` durable: an fsync of each directory, or past
   * SYNCFS_FROM_DIRS of them one syncfs of the repository's file system, which commits the
   * journal once where hundreds of directory fsyncs queue on it.
   */
  private async syncDirs(touched: Set<string>): Promise<void> {
    if (touched.size === 0 || !this.fsync) return;
    if (touched.size >= SYNCFS_FROM_DIRS) return syncFilesystem(this.repo.objectsDir);
    // Concurrent fsyncs of many directories share journal commits.
    await Promise.all([...touched].map((d) => fsyncDir(d)));
    await fsyncDir(this.repo.objectsDir);
  }

  /** Discards everything staged; nothing becomes visible. */
  async abort(): Promise<void> {
    if (this.done) return;
    await this.finish();
  }

  private async finish(): Promise<void> {
    this.done = true;
    try {
      await fs.rm(this.stagingDir, { recursive: true, force: true });
    } finally {
      await this.lock.release();
    }
  }

  /**
   * Renames the staged objects whose file name passes `which` into `objects/`; returns the
   * directories touched. Synchronous, as in checkpoint(): renames within one directory take
   * its lock in turn, so running them through libuv's pool only added a round trip each
   * (bare-user commit of minbase's 6.2k objects, 2-core Xeon VM, two profiled runs each: from
   * the first rename to the last, directory fsyncs included, 145–204 ms before, 113–127 ms
   * after, of which renaming is 45–60 ms of the main thread's time).
   */
  private async publishStaged(which: (name: string) => boolean): Promise<Set<string>> {
    const touched = new Set<string>();
    for (const sub of fsSync.readdirSync(this.stagingDir)) {
      const from = path.join(this.stagingDir, sub);
      const to = path.join(this.repo.objectsDir, sub);
      const names = fsSync.readdirSync(from).filter(which);
      if (names.length === 0) continue;
      if (!this.objectDirs.has(to)) {
        await ensureDir(to);
        this.objectDirs.add(to);
      }
      touched.add(to);
      for (const n of names) fsSync.renameSync(path.join(from, n), path.join(to, n));
    }
    return touched;
  }
}

/** Directories touched from which {@link Transaction.syncDirs} syncs the file system instead. */
const SYNCFS_FROM_DIRS = 16;

const isCommitName = (name: string): boolean => name.endsWith('.commit') || name.endsWith('.commitmeta');

/**
 * Removes what grove processes that no longer exist (killed mid-commit) left in `tmp/`: their
 * staging directories and the temp files of interrupted atomic writes (refs, config). Both
 * carry the writer's pid in their name.
 */
async function removeStaleStaging(tmpDir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(tmpDir);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  for (const name of names) {
    const prefix = name.startsWith(STAGING_PREFIX) ? STAGING_PREFIX : name.startsWith(ATOMIC_TEMP_PREFIX) ? ATOMIC_TEMP_PREFIX : null;
    if (prefix === null) continue;
    const pidText = name.slice(prefix.length).split('-')[0]!;
    const pid = Number(pidText);
    if (!/^\d+$/.test(pidText) || pid === process.pid || isAlive(pid)) continue;
    await fs.rm(path.join(tmpDir, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return !isErrno(e, 'ESRCH');
  }
}
