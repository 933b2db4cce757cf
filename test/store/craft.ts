import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { toHex } from '../../src/format/checksum.js';
import { sha256 } from '../../src/format/hash.js';
import {
  Variant, archiveHeader, decodeCommit, decodeDirTree, encodeCommit, encodeDirTreeGeneric, fileHeaderPrefix,
  type Commit, type DirTree, type FileHeader,
} from '../../src/format/objects.js';

/**
 * Hand-made objects for the store's hostile-input tests: whatever bytes a test wants, filed under
 * the name a test wants (their true checksum unless told otherwise), in a repository on disk, so
 * that only grove's own checks stand between them and the store.
 */

export function objectFile(repo: string, checksum: string, ext: string): string {
  return path.join(repo, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.${ext}`);
}

/** Writes `bytes` as object `name.ext` (default name: their SHA-256); returns the name. */
export async function putObject(repo: string, ext: string, bytes: Uint8Array, name = toHex(sha256(bytes))): Promise<string> {
  const p = objectFile(repo, name, ext);
  await fs.mkdir(path.dirname(p), { recursive: true });
  await fs.writeFile(p, bytes);
  return name;
}

export const checksumOf = (header: FileHeader, data: Uint8Array = new Uint8Array(0)): string =>
  toHex(sha256(Buffer.concat([fileHeaderPrefix(header), data])));

/** An archive content object with its true checksum (over whatever header it is given). */
export function filez(header: FileHeader, data: Uint8Array = new Uint8Array(0)): { checksum: string; bytes: Uint8Array } {
  return { checksum: checksumOf(header, data), bytes: Buffer.concat([archiveHeader(header, BigInt(data.length)), zlib.deflateRawSync(data)]) };
}

export const fileHeader = (mode: number, symlinkTarget = ''): FileHeader => ({ uid: 0, gid: 0, mode, rdev: 0, symlinkTarget, xattrs: [] });

export async function loadCommit(repo: string, checksum: string): Promise<Commit> {
  return decodeCommit(await fs.readFile(objectFile(repo, checksum, 'commit')));
}

export async function loadTree(repo: string, checksum: string): Promise<DirTree> {
  return decodeDirTree(await fs.readFile(objectFile(repo, checksum, 'dirtree')));
}

/** The commit `ref` of `repo` names, decoded. */
export async function readCommit(repo: string, ref: string): Promise<{ checksum: string; commit: Commit }> {
  const checksum = (await fs.readFile(path.join(repo, 'refs/heads', ref), 'utf8')).trim();
  return { checksum, commit: await loadCommit(repo, checksum) };
}

/**
 * A commit like `base` but with the given root, bound to `ref` (so ref bindings pass), written
 * into `repo` and pointed at by `refs/heads/REF`; returns its checksum.
 */
export async function putCommit(repo: string, base: Commit, ref: string, root: { tree: string; meta: string }, parent: string | null = null): Promise<string> {
  const commit: Commit = { ...base, parent, metadata: [['ostree.ref-binding', new Variant('as', [ref])]], rootTree: root.tree, rootMeta: root.meta, subject: ref };
  const checksum = await putObject(repo, 'commit', encodeCommit(commit));
  await fs.mkdir(path.dirname(path.join(repo, 'refs/heads', ref)), { recursive: true });
  await fs.writeFile(path.join(repo, 'refs/heads', ref), `${checksum}\n`);
  return checksum;
}

export async function putDirTree(repo: string, tree: DirTree, name?: string): Promise<string> {
  return putObject(repo, 'dirtree', encodeDirTreeGeneric(tree), name);
}

/**
 * A raw deflate stream of `mib` MiB of zeros, made without compressing them all: a fully flushed
 * deflate of one MiB of zeros refers to nothing before it, so copies of it in a row are a valid
 * stream, closed by an empty final block. 2 GiB of zeros take about 2 MB.
 */
export function zeroBomb(mib: number): Buffer {
  // Finished with a full flush instead of a final block: non-final blocks ending on a byte boundary.
  const block = zlib.deflateRawSync(Buffer.alloc(1 << 20), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
  return Buffer.concat([...Array.from({ length: mib }, () => block), Buffer.from([0x03, 0x00])]);
}
