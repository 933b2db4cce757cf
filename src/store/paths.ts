import fs from 'node:fs';
import type { ObjectType } from '../format/objects.js';
import type { RepoMode } from '../repo/mode.js';

/**
 * A repository's object store as plain data: its `objects/` directory and its mode. It crosses
 * to worker threads as it is, and every reader and writer of objects takes it.
 */
export interface StoreRef { objectsDir: string; mode: RepoMode }

/**
 * The one place that knows where objects live: `objects/XX/YYYY….TYPE`, first two hex digits of
 * the checksum as the directory. Content objects are `.filez` in archive repositories and
 * `.file` otherwise.
 */
export function objectRelPath(checksum: string, type: ObjectType, mode: RepoMode): string {
  const ext = type === 'file' ? (mode === 'archive' ? 'filez' : 'file') : type;
  return `${checksum.slice(0, 2)}/${checksum.slice(2)}.${ext}`;
}

/** Absolute path of an object under `objectsDir` (the repo's `objects/` or a staging dir). */
export function objectPath(objectsDir: string, checksum: string, type: ObjectType, mode: RepoMode): string {
  // Concatenated, not path.join()ed: this runs once per file of every commit and checkout, and
  // join's normalisation was most of its cost (57 ms of a 6.7k-file checkout).
  return objectsDir.endsWith('/') ? objectsDir + objectRelPath(checksum, type, mode) : `${objectsDir}/${objectRelPath(checksum, type, mode)}`;
}

/**
 * Where ostree puts the tombstone of a deleted commit (`core.tombstone-commits`): a
 * `.tombstone-commit` object named by the commit's checksum, holding `{'commit': <checksum>}`.
 */
export function tombstonePath(objectsDir: string, checksum: string): string {
  return `${objectsDir.replace(/\/$/, '')}/${checksum.slice(0, 2)}/${checksum.slice(2)}.tombstone-commit`;
}

/** Parses a loose object file name back into (checksum, type); null for anything else. */
export function parseObjectName(dir: string, file: string): { checksum: string; type: ObjectType } | null {
  const m = /^([0-9a-f]{62})\.(file|filez|dirtree|dirmeta|commit|commitmeta)$/.exec(file);
  if (!m || !/^[0-9a-f]{2}$/.test(dir)) return null;
  const ext = m[2]!;
  return { checksum: dir + m[1]!, type: ext === 'filez' ? 'file' : (ext as ObjectType) };
}

/**
 * Whether the object is in the store under `objectsDir`, synchronously (callers make thousands
 * of these checks, where a trip through libuv's thread pool cost more than the call). Where
 * every object is a regular file (archive, bare-user), existsSync, which builds no Stats: 10 ms
 * against 17-26 ms for lstat over minbase's 6.2k objects. bare and bare-user-only store
 * symlinks as symlinks, which existsSync would follow: one lstat there.
 */
export function objectExists(objectsDir: string, checksum: string, type: ObjectType, mode: RepoMode): boolean {
  const p = objectPath(objectsDir, checksum, type, mode);
  if (mode === 'archive' || mode === 'bare-user') return fs.existsSync(p);
  return fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}

/**
 * Files libostree keeps among the objects that grove does not read as objects: a
 * `.tombstone-commit` records a deleted commit (`core.tombstone-commits`), a `.payload-link`
 * links a large bare file by its payload checksum. Prune lists, keeps and deletes them as
 * ostree does.
 */
export type SideFileType = 'tombstone-commit' | 'payload-link';

export function sideFilePath(objectsDir: string, checksum: string, type: SideFileType): string {
  return `${objectsDir.endsWith('/') ? objectsDir : `${objectsDir}/`}${checksum.slice(0, 2)}/${checksum.slice(2)}.${type}`;
}
