import fs from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Database, RootDatabase } from 'lmdb';

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
 * - `stat`: (device, inode) -> the file's stat signature and content checksum, so that a
 *   re-commit of an unchanged file costs a stat instead of a read and a hash.
 * - `objects`: the catalogue, content checksum -> the object's mode and size (see catalogue.ts),
 *   so that a hardlink checkout decides without a stat and an xattr read per file.
 *
 * LMDB serialises writers across processes itself; grove writes only from the main thread, and
 * lmdb-js batches puts into one transaction per event-loop turn.
 */
export class RepoIndex {
  private constructor(
    private readonly root: RootDatabase,
    readonly stat: Database<StatEntry, string>,
    readonly objects: Database<ObjectFacts, string>,
    readonly dir: string,
  ) {}

  static dirOf(repoPath: string): string {
    return path.join(repoPath, 'grove', 'index');
  }

  /** Opens (creating) the index; a damaged one is discarded and rebuilt empty. */
  static async open(repoPath: string): Promise<RepoIndex> {
    const dir = RepoIndex.dirOf(repoPath);
    // LMDB maps the file and trusts it: opening garbage can crash the process instead of
    // failing. A file without LMDB's meta-page magic is therefore discarded before opening.
    if (!(await looksLikeLmdb(path.join(dir, 'data.mdb')))) await fs.rm(dir, { recursive: true, force: true });
    try {
      return await RepoIndex.openAt(dir);
    } catch {
      await fs.rm(dir, { recursive: true, force: true });
      return RepoIndex.openAt(dir);
    }
  }

  private static async openAt(dir: string): Promise<RepoIndex> {
    await fs.mkdir(dir, { recursive: true });
    const { root, stat, objects } = openEnvironment(dir);
    // Touch the databases so corruption surfaces here, where it can be recovered from.
    stat.getKeysCount({ limit: 1 });
    objects.getKeysCount({ limit: 1 });
    return new RepoIndex(root, stat, objects, dir);
  }

  /** Deletes every entry (`grove index rebuild` starts so). */
  async clear(): Promise<void> {
    await this.stat.clearAsync();
    await this.objects.clearAsync();
  }

  async close(): Promise<void> {
    await this.root.close();
  }

  /** Waits until queued writes are committed. */
  async flush(): Promise<void> {
    await this.root.flushed;
  }
}

/**
 * Opens the LMDB environment at `dir` and its databases, from any thread: lmdb-js shares one
 * environment among a process's threads when they open it with the same options, these.
 */
export function openEnvironment(dir: string): { root: RootDatabase; stat: Database<StatEntry, string>; objects: Database<ObjectFacts, string> } {
  const root = open({ path: dir, compression: false, noSubdir: false, maxDbs: 4 });
  return { root, stat: root.openDB<StatEntry, string>('stat', {}), objects: root.openDB<ObjectFacts, string>('objects', {}) };
}

/** What the catalogue knows of a content object: [mode (type and permission bits), size]. */
export type ObjectFacts = [mode: number, size: number];

/** What the stat cache remembers about one file. */
export interface StatEntry {
  /** size:mtimeNs:ctimeNs:mode:uid:gid as seen on disk, plus the metadata the commit recorded. */
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
