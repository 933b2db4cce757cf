import { isValidFileName } from '../format/names.js';
import { isLink } from '../format/mode.js';
import type { DirTree } from '../format/objects.js';

/**
 * A tree listing: one dirtree's entries together with what a hardlink checkout needs of each of
 * its files (mode, size, and a symlink's target), so that placing a directory costs one index
 * read instead of reading the dirtree object and, per file, a catalogue entry or an lstat and an
 * xattr (and, for a bare-user repository's symlinks, the object itself). Like the rest of the
 * catalogue it can never go stale: a dirtree's checksum fixes its entries, and a content
 * checksum fixes the object's mode, size and target. What it cannot say is whether the objects
 * are still there; the checkout still checks that (see walk-subtrees.ts).
 *
 * A compact binary form, not the index's default msgpack: decoding msgpack arrays per file was
 * a tenth of a hardlink checkout of /usr. Little-endian:
 *
 *     u8 version (1) · u8 0 · u16 0 · u32 files · u32 dirs
 *     per file: u16 name length · name (UTF-8) · 32-byte checksum · u32 mode · f64 size
 *               · u16 target length (0xffff: not known) · target (UTF-8)
 *     per dir:  u16 name length · name · 32-byte dirtree checksum · 32-byte dirmeta checksum
 *
 * The decoder checks every length and name and returns null for anything malformed, which the
 * checkout then treats as no listing (it reads the dirtree instead): the index lives in the
 * repository and is not trusted to keep a name from escaping the checkout.
 */

export interface FileFacts {
  mode: number;
  size: number;
  /** A symlink's target; null when not known (a bare repository's symlinks are hardlinked, not read). */
  target: string | null;
}

export type ListedFile = [name: string, checksum: string, facts: FileFacts];

export interface TreeListing {
  files: ListedFile[];
  dirs: DirTree['dirs'];
}

const VERSION = 1;
const HEADER = 12;
const UNKNOWN_TARGET = 0xffff;
const MAX_TARGET = UNKNOWN_TARGET - 1;

/**
 * Encodes `tree` with the facts of each of its files; null when a file's facts are not all
 * known (the listing would be incomplete) or a field does not fit the format.
 */
export function encodeTreeListing(tree: DirTree, factsOf: (checksum: string) => FileFacts | undefined): Uint8Array | null {
  // Two passes over the entries, sizing and then writing in place: building a Buffer per name
  // and target first made encoding a tenth of a checkout that learns the listings of /usr.
  const facts: FileFacts[] = new Array(tree.files.length);
  let size = HEADER;
  for (let i = 0; i < tree.files.length; i++) {
    const [name, checksum] = tree.files[i]!;
    const f = factsOf(checksum);
    if (f === undefined) return null;
    const n = Buffer.byteLength(name, 'utf8');
    const t = f.target === null ? 0 : Buffer.byteLength(f.target, 'utf8');
    if (n > 0xffff || t > MAX_TARGET) return null;
    facts[i] = f;
    size += 2 + n + 32 + 4 + 8 + 2 + t;
  }
  for (const [name] of tree.dirs) {
    const n = Buffer.byteLength(name, 'utf8');
    if (n > 0xffff) return null;
    size += 2 + n + 64;
  }
  const out = Buffer.allocUnsafe(size);
  out.writeUInt8(VERSION, 0);
  out.writeUInt8(0, 1);
  out.writeUInt16LE(0, 2);
  out.writeUInt32LE(tree.files.length, 4);
  out.writeUInt32LE(tree.dirs.length, 8);
  let off = HEADER;
  const text = (s: string): void => {
    const len = out.write(s, off + 2, 'utf8');
    out.writeUInt16LE(len, off);
    off += 2 + len;
  };
  for (let i = 0; i < tree.files.length; i++) {
    const [name, checksum] = tree.files[i]!;
    const f = facts[i]!;
    text(name);
    off += out.write(checksum, off, 32, 'hex');
    off = out.writeUInt32LE(f.mode >>> 0, off);
    off = out.writeDoubleLE(f.size, off);
    if (f.target === null) off = out.writeUInt16LE(UNKNOWN_TARGET, off);
    else text(f.target);
  }
  for (const [name, treeSum, metaSum] of tree.dirs) {
    text(name);
    off += out.write(treeSum, off, 32, 'hex');
    off += out.write(metaSum, off, 32, 'hex');
  }
  return off === size ? out : null;
}

/** Decodes a listing; null when it is malformed or of another version. */
export function decodeTreeListing(buf: Buffer): TreeListing | null {
  const end = buf.length;
  if (end < HEADER || buf[0] !== VERSION) return null;
  const nFiles = buf.readUInt32LE(4);
  const nDirs = buf.readUInt32LE(8);
  // Each file takes at least 49 bytes and each directory 67: a count beyond that is a lie.
  if (nFiles * 49 + nDirs * 67 > end - HEADER) return null;
  let off = HEADER;
  const name = (): string | null => {
    if (off + 2 > end) return null;
    const len = buf.readUInt16LE(off);
    off += 2;
    if (off + len > end) return null;
    const s = buf.toString('utf8', off, off + len);
    off += len;
    return isValidFileName(s) ? s : null;
  };
  const checksum = (): string => {
    const s = buf.toString('hex', off, off + 32);
    off += 32;
    return s;
  };
  const files: ListedFile[] = new Array(nFiles);
  for (let i = 0; i < nFiles; i++) {
    const n = name();
    if (n === null || off + 46 > end) return null;
    const c = checksum();
    const mode = buf.readUInt32LE(off);
    const size = buf.readDoubleLE(off + 4);
    const tlen = buf.readUInt16LE(off + 12);
    off += 14;
    let target: string | null = null;
    if (tlen !== UNKNOWN_TARGET) {
      if (off + tlen > end) return null;
      target = buf.toString('utf8', off, off + tlen);
      off += tlen;
    }
    if (!Number.isSafeInteger(size) || size < 0 || (target !== null && !isLink(mode))) return null;
    files[i] = [n, c, { mode, size, target }];
  }
  const dirs: DirTree['dirs'] = new Array(nDirs);
  for (let i = 0; i < nDirs; i++) {
    const n = name();
    if (n === null || off + 64 > end) return null;
    dirs[i] = [n, checksum(), checksum()];
  }
  return off === end ? { files, dirs } : null;
}
