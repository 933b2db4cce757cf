/**
 * GNU tar headers, byte for byte as libarchive's `gnutar` writer makes them: that is the format
 * `ostree export` hard-codes, so this is what an archive grove exports must contain to equal
 * ostree's.
 *
 * Written here rather than through a tar library: the kept npm ones (tar-stream, node-tar) write
 * POSIX ustar/pax — magic `ustar\0` + `00`, long names and link targets as pax `x` records —
 * while libarchive's gnutar writer uses the old GNU magic `ustar  \0`, `././@LongLink` records of
 * type `L` and `K`, zero-filled device fields, base-256 numbers past the octal range, and
 * `root`/`wheel` as the owner names of the long-name records. No option of those libraries
 * produces those bytes, and the format is one 512-byte record with a dozen fixed fields.
 *
 * The format has no place for extended attributes; libarchive's gnutar writer drops them, so
 * ostree's archives carry none and neither do grove's.
 */

/** A tar record. */
export const RECORD = 512;

/** libarchive's default block: what it pads an archive to unless it writes a regular file. */
export const BLOCK = 10240;

/** The end of an archive: two zero records. */
export const END_OF_ARCHIVE = new Uint8Array(2 * RECORD);

export type TarType = 'file' | 'symlink' | 'dir';

export interface TarEntry {
  /** As it goes into the archive, UTF-8; a directory's ends with `/` (added when missing). */
  path: string;
  type: TarType;
  /** Permission bits; anything above 0o7777 is dropped, as libarchive does. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of a regular file's data; ignored for other types (written as 0). */
  size: number;
  mtime: bigint;
  /** A symlink's target. */
  linkTarget?: string;
}

const utf8 = new TextEncoder();
const LONG_NAME = '././@LongLink';
const MAGIC = utf8.encode('ustar  \0');

const TYPEFLAG: Record<TarType, string> = { file: '0', symlink: '2', dir: '5' };

/**
 * The records that introduce `e`: a `K` record when the link target passes 100 bytes, an `L`
 * record when the path does, then the entry's own header. The data of a regular file
 * ({@link dataPadding} after it) follows.
 */
export function entryHeaders(e: TarEntry): Uint8Array {
  const pathStr = e.type === 'dir' && e.path !== '' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
  const name = utf8.encode(pathStr);
  const link = e.type === 'symlink' ? utf8.encode(e.linkTarget ?? '') : new Uint8Array(0);
  const parts: Uint8Array[] = [];
  if (link.length > 100) parts.push(...longRecord('K', link, link));
  if (name.length > 100) parts.push(...longRecord('L', name, link));
  const size = e.type === 'file' ? e.size : 0;
  parts.push(header({ name, link, type: TYPEFLAG[e.type], mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, size, mtime: e.mtime }));
  return concat(parts);
}

/** Zero bytes that complete the last record of `size` bytes of data. */
export function dataPadding(size: number): Uint8Array {
  return new Uint8Array((RECORD - (size % RECORD)) % RECORD);
}

/** A long name or target: a `././@LongLink` header, then the bytes and a NUL, in whole records. */
function longRecord(type: 'K' | 'L', value: Uint8Array, link: Uint8Array): Uint8Array[] {
  const length = value.length + 1;
  const h = header({
    name: utf8.encode(LONG_NAME), link, type, mode: 0, uid: 0, gid: 0, size: length, mtime: 0n,
    uname: 'root', gname: 'wheel', zeroMtime: true,
  });
  const body = new Uint8Array(length + dataPadding(length).length);
  body.set(value);
  return [h, body];
}

interface HeaderFields {
  name: Uint8Array;
  link: Uint8Array;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: bigint;
  uname?: string;
  gname?: string;
  zeroMtime?: boolean;
}

function header(f: HeaderFields): Uint8Array {
  const h = new Uint8Array(RECORD);
  h.set(f.name.subarray(0, 100), 0);
  octal(h, 100, 7, BigInt(f.mode));
  number(h, 108, 7, 8, BigInt(f.uid));
  number(h, 116, 7, 8, BigInt(f.gid));
  number(h, 124, 11, 12, BigInt(f.size));
  octal(h, 136, 11, f.zeroMtime ? 0n : f.mtime);
  h.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  h[156] = f.type.charCodeAt(0);
  h.set(f.link.subarray(0, 100), 157);
  h.set(MAGIC, 257);
  if (f.uname) h.set(utf8.encode(f.uname).subarray(0, 32), 265);
  if (f.gname) h.set(utf8.encode(f.gname).subarray(0, 32), 297);
  let sum = 0;
  for (const b of h) sum += b;
  octal(h, 148, 6, BigInt(sum));
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

/**
 * `width` octal digits (the field's NUL after them stays from the zeroed record); a value that
 * does not fit fills the field with 7s, and a negative one is written as 0, as libarchive does.
 */
function octal(h: Uint8Array, at: number, width: number, v: bigint): void {
  if (v < 0n) v = 0n;
  const s = v.toString(8);
  const text = s.length > width ? '7'.repeat(width) : s.padStart(width, '0');
  for (let i = 0; i < width; i++) h[at + i] = text.charCodeAt(i);
}

/** Octal when it fits in `width` digits, else GNU base-256 over the whole `max`-byte field. */
function number(h: Uint8Array, at: number, width: number, max: number, v: bigint): void {
  if (v < 1n << BigInt(width * 3)) {
    octal(h, at, width, v);
    return;
  }
  for (let i = max - 1; i >= 0; i--) {
    h[at + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  h[at] = h[at]! | 0x80;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
