import type { CompressBackend } from '../format/compress.js';
import type { DirMeta } from '../format/objects.js';
import type { StoreRef } from '../store/paths.js';

/** The checkout's worker task: place whole subtrees of a commit (see walk-subtrees.ts). */

/**
 * What to do with an existing file: refuse (`none`), replace (`--union`), keep (`--union-add`),
 * or keep it only if it is the very file of the commit and refuse otherwise (`--union-identical`).
 */
export type Overwrite = 'none' | 'union' | 'add' | 'identical';

/** A directory of the commit to check out, with everything under it; its parent exists. */
export interface CheckoutRoot {
  tree: string;
  meta: string;
  dest: string;
  /** Dirtrees on the way down to this one, for refusing a tree that contains itself. */
  above: string[];
}

/** A directory a worker made but could not finish, because part of it went back to the queue. */
export interface UnfinishedDir { dir: string; meta: DirMeta }

export interface CheckoutTask {
  kind: 'checkout';
  ctx: StoreRef & {
    compress: CompressBackend;
    userMode: boolean;
    requireHardlink: boolean;
    forceCopy: boolean;
    overwrite: Overwrite;
    whiteouts: boolean;
    /** `--process-passthrough-whiteouts`: `.ostree-wh.NAME` becomes the overlayfs whiteout NAME (a 0:0 character device). */
    passthroughWhiteouts: boolean;
    /** `-M` (and always for bare-user-only): directory modes masked to 0775. */
    bareUserOnlyDirs: boolean;
    /** `--skip-list`: paths below the checked-out root (`/a/file`, `/a/dir/`) left out; null for none. */
    skip: string[] | null;
    /** The checkout's destination, which `skip` paths are relative to. */
    top: string;
    /** This process's umask: a whiteout device made in user mode keeps it, as ostree's mknodat does. */
    umask: number;
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
  /** Tree listings learnt of directories read the slow way, as [dirtree checksum, listing], to record. */
  learnedTrees: Array<[string, Uint8Array]>;
}
