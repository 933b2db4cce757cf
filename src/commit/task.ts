import type { HashBackend } from '../format/hash.js';
import type { StoreTarget } from '../store/write-content.js';

/**
 * The commit's worker task: hash a batch of the tree's files as content objects and store those
 * the repository lacks (see store-files.ts).
 */

/** One file of a commit: where it is, which inode the walk saw there, and the metadata to record (after overrides). */
export interface CommitItem {
  path: string;
  /** `DEV:INO` of the file the walk saw: the worker reads this inode or nothing. */
  id: string;
  uid: number;
  gid: number;
  mode: number;
  size: number;
  readXattrs: boolean;
  /** The xattrs to record instead of the file's own (a bare-user object's recorded ones). */
  xattrs?: Array<[string, Uint8Array]>;
}

export interface WriteContentTask {
  kind: 'write-content';
  ctx: StoreTarget & { hash: HashBackend };
  items: CommitItem[];
}

export interface WriteContentResult {
  checksums: string[];
  /** (position in `items`, target) of each symlink stored: what its object holds. */
  links: Array<[number, string]>;
  written: number;
  bytesWritten: number;
}
