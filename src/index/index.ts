import fs from 'node:fs/promises';
import { existsSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Database, RootDatabase, TransactionFlags } from 'lmdb';
import { GroveError } from '../errors.js';

/**
 * lmdb through require(): its CommonJS build loads in two thirds of the time of the ES one. And
 * only when an index is opened: a checkout of a repository without one (any ostree-made
 * repository, a sysroot's) would otherwise pay about 30 ms to load it for nothing.
 */
let lmdbOpen: typeof import('lmdb').open | undefined;
function open(...args: Parameters<typeof import('lmdb').open>): ReturnType<typeof import('lmdb').open> {
  lmdbOpen ??= (createRequire(import.meta.url)('lmdb') as typeof import('lmdb')).open;
  return lmdbOpen(...args);
}

/**
 * grove's LMDB index inside the repository (`REPO/grove/index/`). It is a cache: deleting it
 * loses nothing, and nothing in it is trusted without a check against the object store, so a
 * foreign writer (the real ostree pruning the same repository) cannot make it lie.
 *
 * - `stat`: (device, inode) -> the file's stat signature (with its file system instance's tag)
 *   and content checksum, so that a re-commit of an unchanged file costs a stat instead of a
 *   read and a hash.
 * - `objects`: the catalogue, content checksum -> the object's mode and size (see catalogue.ts),
 *   so that a hardlink checkout decides without a stat and an xattr read per file.
 * - `trees`: dirtree checksum -> its tree listing (see tree-listing.ts), so that a hardlink
 *   checkout reads one entry per directory instead of the dirtree and an entry per file.
 *
 * LMDB serialises writers across processes itself; grove writes only from the main thread, in
 * synchronous transactions of queued puts (see {@link write}). Not lmdb-js's asynchronous puts:
 * when one of their transactions fails (a full disk) it prints the error itself, rejects
 * internal promises nobody can catch (the process dies of an unhandled rejection) and never
 * settles `flushed`. A synchronous commit throws where it is called; with NO_SYNC_FLUSH it costs
 * the main thread what the asynchronous puts did (50,000 puts in 50 transactions: 150-300 ms
 * either way, on this machine).
 */
export class RepoIndex {
  private queued: Array<[Database<unknown, string>, string, unknown]> = [];
  private scheduled: NodeJS.Immediate | undefined;
  private depth = 0;
  private failed: GroveError | null = null;

  private constructor(
    private readonly root: RootDatabase,
    readonly stat: Database<StatEntry, string>,
    readonly objects: Database<ObjectFacts, string>,
    readonly trees: Database<Buffer, string>,
    readonly dir: string,
  ) {}

  static dirOf(repoPath: string): string {
    return path.join(repoPath, 'grove', 'index');
  }

  /**
   * Opens (creating) the index, for commit and `grove index rebuild`; a damaged one is discarded
   * and rebuilt empty. Throws GROVE_INDEX_WRITE when it cannot be made (a full disk).
   */
  static async open(repoPath: string): Promise<RepoIndex> {
    const dir = RepoIndex.dirOf(repoPath);
    // LMDB maps the file and trusts it: opening garbage can crash the process instead of
    // failing. A file without LMDB's meta-page magic is therefore discarded before opening.
    if (!(await looksLikeLmdb(path.join(dir, 'data.mdb')))) await fs.rm(dir, { recursive: true, force: true });
    try {
      await fs.mkdir(dir, { recursive: true });
      assertRoomForLockFile(dir);
      return RepoIndex.openAt(dir);
    } catch (e) {
      // A full disk is not damage: keep what the index holds.
      if (e instanceof GroveError) throw e;
      if (isSpaceError(dir, e)) throw writeFailure(dir, e);
      await fs.rm(dir, { recursive: true, force: true });
      try {
        await fs.mkdir(dir, { recursive: true });
        assertRoomForLockFile(dir);
        return RepoIndex.openAt(dir);
      } catch (e2) {
        if (e2 instanceof GroveError) throw e2;
        throw writeFailure(dir, e2);
      }
    }
  }

  /**
   * Opens the index only if there is a healthy one, and never repairs it: for checkout, which
   * must not create, delete or recreate the index. Null when there is none or it looks damaged;
   * a damaged one stays exactly as it is, for the next commit to discard.
   */
  static async openExisting(repoPath: string): Promise<RepoIndex | null> {
    const dir = RepoIndex.dirOf(repoPath);
    const file = path.join(dir, 'data.mdb');
    try {
      await fs.access(file);
    } catch {
      return null;
    }
    if (!(await looksLikeLmdb(file))) return null;
    try {
      assertRoomForLockFile(dir);
      return RepoIndex.openAt(dir);
    } catch {
      return null;
    }
  }

  private static openAt(dir: string): RepoIndex {
    const { root, stat, objects, trees } = openEnvironment(dir);
    try {
      // Touch the databases so corruption surfaces here, where it can be recovered from.
      stat.getKeysCount({ limit: 1 });
      objects.getKeysCount({ limit: 1 });
      trees.getKeysCount({ limit: 1 });
    } catch (e) {
      void root.close().catch(() => {});
      throw e;
    }
    return new RepoIndex(root, stat, objects, trees, dir);
  }

  /** The first write that failed, if any; the index takes no writes after it. */
  get failure(): GroveError | null {
    return this.failed;
  }

  /**
   * Queues a put, committed with the others of {@link write}'s callback, or else at the end of
   * this turn of the event loop (a failure there is kept in {@link failure}).
   */
  put<V>(db: Database<V, string>, key: string, value: V): void {
    if (this.failed) return;
    this.queued.push([db as Database<unknown, string>, key, value]);
    if (this.depth === 0 && this.scheduled === undefined) {
      this.scheduled = setImmediate(() => {
        this.scheduled = undefined;
        try {
          this.commitQueued();
        } catch {
          // kept in this.failed; the next write() or flush() reports it
        }
      });
    }
  }

  /**
   * Runs `fn` and commits the puts it queued in one transaction before returning. Throws
   * GROVE_INDEX_WRITE, naming the index, when they cannot be written (a full disk), and on every
   * later call.
   *
   * A commit lets that failure end it, before its transaction publishes anything, rather than
   * carry on without the index: the index shares the repository's file system, so a disk too
   * full for the index is too full for the dirtrees, the commit object and the ref that come
   * next, which would fail a moment later under a name that hides the cause (a staging file);
   * the aborted transaction gives back the space its staged objects took; no ref moves, so the
   * repository stays as it was; and the CLI has no warning channel through which a commit that
   * went on without its index could say why every later commit re-reads every file.
   */
  write<T>(fn: () => T): T {
    if (this.failed) throw this.failed;
    this.depth++;
    let result: T;
    try {
      result = fn();
    } finally {
      this.depth--;
    }
    if (this.depth === 0) this.commitQueued();
    return result;
  }

  private commitQueued(): void {
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    if (this.failed) {
      this.queued = [];
      throw this.failed;
    }
    if (this.queued.length === 0) return;
    const puts = this.queued;
    this.queued = [];
    try {
      // Non-abortable (no child transactions), committed before returning, flushed to disk in
      // the background: the index is a cache, and LMDB keeps it consistent across a crash.
      this.root.transactionSync(() => {
        for (const [db, key, value] of puts) db.putSync(key, value);
      }, SYNC_COMMIT_NO_SYNC_FLUSH);
    } catch (e) {
      this.failed = writeFailure(this.dir, e);
      throw this.failed;
    }
  }

  /** Deletes every entry (`grove index rebuild` starts so). */
  async clear(): Promise<void> {
    this.commitQueued();
    try {
      this.stat.clearSync();
      this.objects.clearSync();
      this.trees.clearSync();
    } catch (e) {
      this.failed = writeFailure(this.dir, e);
      throw this.failed;
    }
  }

  /**
   * Commits queued puts and closes the index. A failed write does not fail the close: whoever
   * needed the writes learnt of it from {@link write} or {@link flush}.
   */
  async close(): Promise<void> {
    try {
      this.commitQueued();
    } catch {
      // see above
    }
    await this.root.close();
  }

  /** Commits queued puts and waits until they are on disk; throws the first failed write. */
  async flush(): Promise<void> {
    this.commitQueued();
    await this.root.flushed;
  }
}

/** lmdb-js TransactionFlags.SYNCHRONOUS_COMMIT | NO_SYNC_FLUSH (what its putSync uses). */
const SYNC_COMMIT_NO_SYNC_FLUSH = 0x10002 as TransactionFlags;

const ENOSPC = 28;
const EIO = 5;
const EDQUOT = 122;

/**
 * True for an LMDB or Node error that means the file system is full. LMDB reports a short write
 * as EIO ("short write, filesystem full?" in its source), and a full tmpfs writes short rather
 * than failing; so an EIO with less than {@link FULL_BYTES} left on the index's file system is
 * taken for what it is.
 */
function isSpaceError(dir: string, e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === ENOSPC || code === 'ENOSPC') return true;
  if (code !== EIO && code !== 'EIO') return false;
  try {
    const st = statfsSync(dir);
    const free = (process.getuid?.() === 0 ? st.bfree : st.bavail) * st.bsize;
    return free < FULL_BYTES;
  } catch {
    return false;
  }
}
const FULL_BYTES = 1 << 20;

/**
 * LMDB makes its lock file with ftruncate and writes it through a shared mapping: on a file
 * system with no room for its pages the first write kills the process with SIGBUS, before any
 * error can be caught. So a missing lock file is made only with room to spare.
 */
function assertRoomForLockFile(dir: string): void {
  if (existsSync(path.join(dir, 'lock.mdb'))) return;
  let free: number;
  try {
    const st = statfsSync(dir);
    free = (process.getuid?.() === 0 ? st.bfree : st.bavail) * st.bsize;
  } catch {
    return;
  }
  if (free < LOCK_FILE_ROOM) throw writeFailure(dir, Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
}
/** The lock file takes 8,272 bytes with lmdb-js's 126 readers; the first meta pages take 8 KiB. */
const LOCK_FILE_ROOM = 64 << 10;

/** The one-line error for an index that cannot be written, naming it. */
function writeFailure(dir: string, e: unknown): GroveError {
  const code = (e as { code?: unknown } | null)?.code;
  let what: string;
  if (isSpaceError(dir, e)) what = 'no space left on device';
  else if (code === EDQUOT || code === 'EDQUOT') what = 'disk quota exceeded';
  else what = String((e as Error | null)?.message ?? e).split('\n')[0]!.replace(/^\w/, (c) => c.toLowerCase());
  return new GroveError('GROVE_INDEX_WRITE', `${dir}: ${what} while writing grove's index`, {
    path: dir,
    hint: 'free space on that file system; the index is only a cache and may also be deleted',
    cause: e,
  });
}

/**
 * Opens the LMDB environment at `dir` and its databases, from any thread: lmdb-js shares one
 * environment among a process's threads when they open it with the same options, these.
 */
export function openEnvironment(dir: string): IndexDatabases {
  const root = open({ path: dir, compression: false, noSubdir: false, maxDbs: 4 });
  return {
    root,
    stat: root.openDB<StatEntry, string>('stat', {}),
    objects: root.openDB<ObjectFacts, string>('objects', {}),
    trees: root.openDB<Buffer, string>('trees', { encoding: 'binary' }),
  };
}

interface IndexDatabases {
  root: RootDatabase;
  stat: Database<StatEntry, string>;
  objects: Database<ObjectFacts, string>;
  trees: Database<Buffer, string>;
}

/** What the catalogue knows of a content object: [mode (type and permission bits), size]. */
export type ObjectFacts = [mode: number, size: number];

/** What the stat cache remembers about one file. */
export interface StatEntry {
  /**
   * size:mtimeNs:ctimeNs:mode:uid:gid as seen on disk, plus the metadata the commit recorded and
   * the file system instance's tag (see stat-cache.ts).
   */
  sig: string;
  checksum: string;
}

/** LMDB's meta page magic (0xBEEFC0DE, little-endian), where lmdb-js's build places it. */
const LMDB_MAGIC = Buffer.from([0xde, 0xc0, 0xef, 0xbe]);
const MAGIC_OFFSET = 24;

/** True for a missing file (a new index) or one that starts like an LMDB environment. */
async function looksLikeLmdb(file: string): Promise<boolean> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
  try {
    const head = Buffer.alloc(MAGIC_OFFSET + 4);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return bytesRead === head.length && head.subarray(MAGIC_OFFSET).equals(LMDB_MAGIC) && (await fh.stat()).size >= 8192;
  } finally {
    await fh.close();
  }
}
