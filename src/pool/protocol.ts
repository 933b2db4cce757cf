import type { SerializedError } from '../errors.js';
import type { CompressBackend } from '../format/compress.js';
import type { HashBackend } from '../format/hash.js';
import type { DirMeta } from '../format/objects.js';
import type { RepoMode } from '../repo/mode.js';
import type { FetcherOptions, FetchStats } from '../net/fetcher.js';

/**
 * What crosses the thread boundary. Tasks are coarse (a batch of files), replies are plain data;
 * errors travel as {code, message, path} and are re-wrapped into GroveError on the main thread,
 * because structured clone does not keep classes.
 */

export interface RepoContext {
  repoMode: RepoMode;
  objectsDir: string;
  hash: HashBackend;
  compress: CompressBackend;
}

/** One file of a commit: where it is and the metadata to record (after overrides). */
export interface CommitItem {
  path: string;
  uid: number;
  gid: number;
  mode: number;
  size: number;
  readXattrs: boolean;
}

export interface WriteContentTask {
  kind: 'write-content';
  ctx: RepoContext & { stagingDir: string; zlibLevel: number };
  items: CommitItem[];
}

export interface WriteContentResult {
  checksums: string[];
  written: number;
  bytesWritten: number;
}

export type Overwrite = 'none' | 'union' | 'add';

/** A directory of the commit to check out, with everything under it; its parent exists. */
export interface CheckoutRoot { tree: string; meta: string; dest: string }

/** A directory a worker made but could not finish, because part of it went back to the queue. */
export interface UnfinishedDir { dir: string; meta: DirMeta }

export interface CheckoutTask {
  kind: 'checkout';
  ctx: RepoContext & {
    userMode: boolean;
    requireHardlink: boolean;
    forceCopy: boolean;
    overwrite: Overwrite;
    whiteouts: boolean;
    /** grove's index of the repository, whose object catalogue saves a stat per file; or null. */
    indexDir: string | null;
  };
  roots: CheckoutRoot[];
  /** Single files to place into existing directories (a checkout of one file's subpath). */
  files: Array<{ checksum: string; dest: string }>;
  /** Milliseconds after which the worker, at the next directory, hands back what is left. */
  budgetMs: number;
}

export interface CheckoutResult {
  linked: number;
  copied: number;
  skipped: number;
  /** Directories made (not counting those that already existed in a union checkout). */
  directories: number;
  /** Subtrees not started for lack of budget, for the main thread to hand out again. */
  deferred: CheckoutRoot[];
  /** Made directories whose final mode waits for the deferred subtrees. */
  unfinished: UnfinishedDir[];
  /** Objects the catalogue did not know, as [checksum, mode, size], for the main thread to record. */
  learned: Array<[string, number, number]>;
}

export interface VerifyTask {
  kind: 'verify-content';
  ctx: RepoContext;
  checksums: string[];
}

export interface VerifyResult {
  /** Objects that failed, with a one-line reason each. */
  bad: Array<{ checksum: string; message: string }>;
  bytes: number;
}

/** One content object arriving from elsewhere, with the checksum it must have. */
export interface ImportItem {
  checksum: string;
  /** An archive (`.filez`) object fetched whole. */
  bytes?: Uint8Array;
  /** An archive object downloaded to this file (large ones); the file is consumed. */
  archivePath?: string;
  /** Neither: the worker fetches it from the task's `remote`, or reads it from the source repository of a local pull. */
}

/** An archive repository behind HTTP(S) that workers fetch content objects from themselves. */
export interface RemoteFetch {
  /** Names this source for the workers, which keep one fetcher (and its connections) per id. */
  id: string;
  /** The repository's URL. */
  url: string;
  /** Retries, time-outs; `maxInFlight` is per thread. */
  options: FetcherOptions;
}

export interface ImportContentTask {
  kind: 'import-content';
  ctx: RepoContext & {
    stagingDir: string;
    zlibLevel: number;
    /** The repository a local pull reads from, or null for objects fetched from a server. */
    source: { objectsDir: string; mode: RepoMode } | null;
    /** Where the objects come from, for error messages ("remote origin"). */
    origin: string;
  };
  /** Set when the worker is to fetch the items (checksums only) from this server. */
  remote?: RemoteFetch;
  /**
   * Shared with the main thread, which sets element 0 when the pull has failed: a worker then
   * starts no more fetches and returns what it has stored.
   */
  cancelled?: Int32Array;
  items: ImportItem[];
}

export interface ImportContentResult {
  /** Checksums of the objects this task wrote into the staging directory. */
  written: string[];
  /** Uncompressed bytes of the objects written. */
  bytes: number;
  /** What a task with a `remote` fetched. */
  fetched?: FetchedTotals;
}

/** Objects fetched, with the requests made, bytes received and retries. */
export type FetchedTotals = FetchStats & { objects: number };

export type Task = WriteContentTask | CheckoutTask | VerifyTask | ImportContentTask;

export type Reply<T> = { ok: true; value: T } | { ok: false; error: SerializedError };
