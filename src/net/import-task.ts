import type { HashBackend } from '../format/hash.js';
import type { StoreRef } from '../store/paths.js';
import type { StoreTarget } from '../store/write-content.js';
import type { FetcherOptions, FetchStats } from './fetcher.js';

/**
 * The pull's worker task: check and store content objects arriving from elsewhere (see
 * import-content.ts), fetching them first when the task names a server (fetch-content.ts).
 */

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
  ctx: StoreTarget & {
    hash: HashBackend;
    /** The repository a local pull reads from, or null for objects fetched from a server. */
    source: StoreRef | null;
    /** Where the objects come from, for error messages ("remote origin"). */
    origin: string;
    /** `pull --bareuseronly-files`: refuse regular files with mode bits outside 0775. */
    bareUserOnlyFiles?: boolean;
    /**
     * The source repository's objects may be hardlinked in (same mode, same owner): see
     * linkContentFrom. Each is still checked; one on another file system is copied.
     */
    linkFromSource?: boolean;
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
