import { serializeDirTree } from './dirtree-encode.js';
import { GroveError } from '../errors.js';
import { Variant, decode, encode, type GVariantValue } from './gvariant.js';
import { checksumFromBytes, fromHex } from './checksum.js';
import { validateFileName } from './names.js';

/**
 * The ostree object types and their GVariant encodings. ostree stores every integer in these
 * objects big-endian (it byte-swaps before serializing into little-endian GVariant), so the
 * helpers below swap on the way in and out; framing offsets stay little-endian.
 */
export type ObjectType = 'file' | 'dirtree' | 'dirmeta' | 'commit' | 'commitmeta';
export const METADATA_TYPES: readonly ObjectType[] = ['dirtree', 'dirmeta', 'commit', 'commitmeta'];

export const DIRMETA_TYPE = '(uuua(ayay))';
export const DIRTREE_TYPE = '(a(say)a(sayay))';
export const COMMIT_TYPE = '(a{sv}aya(say)sstayay)';
export const COMMITMETA_TYPE = 'a{sv}';
export const FILE_HEADER_TYPE = '(uuuusa(ayay))';
export const ARCHIVE_HEADER_TYPE = '(tuuuusa(ayay))';

/** An extended attribute: name (without the NUL ostree stores after it) and raw value. */
export type Xattr = [name: string, value: Uint8Array];

export interface DirMeta { uid: number; gid: number; mode: number; xattrs: Xattr[] }

export interface FileHeader {
  uid: number;
  gid: number;
  mode: number;
  rdev: number;
  symlinkTarget: string;
  xattrs: Xattr[];
}

export interface DirTree {
  /** (name, content checksum), sorted by name bytes. */
  files: Array<[name: string, checksum: string]>;
  /** (name, dirtree checksum, dirmeta checksum), sorted by name bytes. */
  dirs: Array<[name: string, tree: string, meta: string]>;
}

export interface Commit {
  metadata: Array<[string, Variant]>;
  parent: string | null;
  related: Array<[string, string]>;
  subject: string;
  body: string;
  /** Seconds since the epoch, UTC. */
  timestamp: bigint;
  rootTree: string;
  rootMeta: string;
}

/** Decodes untrusted object bytes; malformed framing is reported as corruption of `where`. */
export function decodeAt(type: string, bytes: Uint8Array, where: string): GVariantValue {
  try {
    return decode(type, bytes);
  } catch (e) {
    if (e instanceof GroveError) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where} is corrupt: ${e.message}`, { cause: e });
    throw e;
  }
}

/** ostree's integers are big-endian inside little-endian GVariant: these swap on the way in and out. */
export const bswap32 = (n: number): number =>
  (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | ((n >>> 24) & 0xff)) >>> 0;

export function bswap64(n: bigint): bigint {
  const b = new DataView(new ArrayBuffer(8));
  b.setBigUint64(0, n, true);
  return b.getBigUint64(0, false);
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Compares names the way ostree sorts them: by UTF-8 bytes (strcmp). */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-8 bytes sort as code points do, and UTF-16 code units as code points too except that
  // a surrogate (half of a code point above U+FFFF) sorts below U+E000-U+FFFF. So the first
  // code units that differ decide, with surrogates lifted above the rest of the BMP. Encoding
  // both names to compare them was a tenth of decoding a dirtree.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codeUnitRank(x) - codeUnitRank(y);
  }
  return a.length - b.length;
}

const codeUnitRank = (u: number): number => (u >= 0xd800 && u <= 0xdfff ? u + 0x10000 : u);

function encodeXattrs(xattrs: Xattr[]): GVariantValue {
  return [...xattrs]
    .sort((a, b) => compareNames(a[0], b[0]))
    .map(([name, value]) => {
      const n = utf8.encode(name);
      const withNul = new Uint8Array(n.length + 1);
      withNul.set(n);
      return [withNul, value];
    });
}

export function decodeXattrs(v: GVariantValue, where: string): Xattr[] {
  return (v as Array<[Uint8Array, Uint8Array]>).map(([name, value]) => {
    const end = name.length > 0 && name[name.length - 1] === 0 ? name.length - 1 : name.length;
    let s: string;
    try {
      s = utf8Strict.decode(name.subarray(0, end));
    } catch {
      throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: xattr name is not UTF-8`);
    }
    return [s, value];
  });
}

export function encodeDirMeta(m: DirMeta): Uint8Array {
  return encode(DIRMETA_TYPE, [bswap32(m.uid), bswap32(m.gid), bswap32(m.mode), encodeXattrs(m.xattrs)]);
}

export function decodeDirMeta(bytes: Uint8Array, where = 'dirmeta'): DirMeta {
  const [uid, gid, mode, xattrs] = decodeAt(DIRMETA_TYPE, bytes, where) as [number, number, number, GVariantValue];
  return { uid: bswap32(uid), gid: bswap32(gid), mode: bswap32(mode), xattrs: decodeXattrs(xattrs, where) };
}

export function encodeDirTree(t: DirTree): Uint8Array {
  return serializeDirTree(t.files, t.dirs);
}

/** The same bytes through the general GVariant encoder: the reference the fast one is tested on. */
export function encodeDirTreeGeneric(t: DirTree): Uint8Array {
  return encode(DIRTREE_TYPE, [
    t.files.map(([n, c]) => [n, fromHex(c)]),
    t.dirs.map(([n, tree, meta]) => [n, fromHex(tree), fromHex(meta)]),
  ]);
}

/** Decodes a dirtree and validates every name and checksum in it (it may come from a server). */
export function decodeDirTree(bytes: Uint8Array, where = 'dirtree'): DirTree {
  const [files, dirs] = decodeAt(DIRTREE_TYPE, bytes, where) as [Array<[string, Uint8Array]>, Array<[string, Uint8Array, Uint8Array]>];
  const out: DirTree = {
    files: files.map(([n, c]) => [validateFileName(n, where), checksumFromBytes(c, where)]),
    dirs: dirs.map(([n, t, m]) => [validateFileName(n, where), checksumFromBytes(t, where), checksumFromBytes(m, where)]),
  };
  checkSorted(out.files.map((f) => f[0]), where);
  checkSorted(out.dirs.map((d) => d[0]), where);
  // A name that is both a file and a directory would let a hostile tree place a symlink and
  // then write "through" it on checkout.
  if (out.files.length > 0 && out.dirs.length > 0) {
    const fileNames = new Set(out.files.map((f) => f[0]));
    const both = out.dirs.find(([n]) => fileNames.has(n));
    if (both) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: ${JSON.stringify(both[0])} is both a file and a directory`);
  }
  return out;
}

function checkSorted(names: string[], where: string): void {
  for (let i = 1; i < names.length; i++) {
    if (compareNames(names[i - 1]!, names[i]!) >= 0) {
      throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: entries not sorted or duplicated at ${JSON.stringify(names[i])}`);
    }
  }
}

export function encodeCommit(c: Commit): Uint8Array {
  return encode(COMMIT_TYPE, [
    c.metadata,
    c.parent === null ? new Uint8Array(0) : fromHex(c.parent),
    c.related.map(([n, csum]) => [n, fromHex(csum)]),
    c.subject,
    c.body,
    bswap64(c.timestamp),
    fromHex(c.rootTree),
    fromHex(c.rootMeta),
  ]);
}

export function decodeCommit(bytes: Uint8Array, where = 'commit'): Commit {
  const [metadata, parent, related, subject, body, ts, tree, meta] = decodeAt(COMMIT_TYPE, bytes, where) as [
    Array<[string, Variant]>, Uint8Array, Array<[string, Uint8Array]>, string, string, bigint, Uint8Array, Uint8Array,
  ];
  return {
    metadata,
    parent: parent.length === 0 ? null : checksumFromBytes(parent, where),
    related: related.map(([n, c]) => [n, checksumFromBytes(c, where)]),
    subject,
    body,
    timestamp: bswap64(ts),
    rootTree: checksumFromBytes(tree, where),
    rootMeta: checksumFromBytes(meta, where),
  };
}

/** Looks up a commit metadata key. */
export function commitMetaValue(c: Commit, key: string): Variant | undefined {
  return c.metadata.find(([k]) => k === key)?.[1];
}

function headerTuple(h: FileHeader): GVariantValue[] {
  return [bswap32(h.uid), bswap32(h.gid), bswap32(h.mode), bswap32(h.rdev), h.symlinkTarget, encodeXattrs(h.xattrs)];
}

/** Frames a serialized header as ostree does: u32 BE length, 4 zero bytes, the header. */
function frame(header: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + header.length);
  new DataView(out.buffer).setUint32(0, header.length, false);
  out.set(header, 8);
  return out;
}

/**
 * The bytes a content checksum starts with: SHA-256(fileHeaderPrefix(h) || file bytes) is the
 * object's checksum.
 */
export function fileHeaderPrefix(h: FileHeader): Uint8Array {
  return frame(encode(FILE_HEADER_TYPE, headerTuple(h)));
}

/** The start of an archive `.filez` object; raw deflate of the content follows. */
export function archiveHeader(h: FileHeader, size: bigint): Uint8Array {
  return frame(encode(ARCHIVE_HEADER_TYPE, [bswap64(size), ...headerTuple(h)]));
}

/** Largest header we accept from disk or network; real ones are a few hundred bytes. */
export const MAX_HEADER_SIZE = 1 << 20;

/** Parses the start of a `.filez` object: the header, the uncompressed size, and where deflate begins. */
export function parseArchiveHeader(bytes: Uint8Array, where: string): { header: FileHeader; size: bigint; dataOffset: number } {
  if (bytes.length < 8) throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: truncated archive header`);
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, false);
  if (len > MAX_HEADER_SIZE || 8 + len > bytes.length) {
    throw new GroveError('GROVE_CORRUPT_OBJECT', `${where}: archive header length ${len} exceeds the object`);
  }
  const [size, uid, gid, mode, rdev, target, xattrs] = decodeAt(ARCHIVE_HEADER_TYPE, bytes.subarray(8, 8 + len), where) as [
    bigint, number, number, number, number, string, GVariantValue,
  ];
  return {
    header: { uid: bswap32(uid), gid: bswap32(gid), mode: bswap32(mode), rdev: bswap32(rdev), symlinkTarget: target, xattrs: decodeXattrs(xattrs, where) },
    size: bswap64(size),
    dataOffset: 8 + len,
  };
}

/** Encodes the `user.ostreemeta` xattr of a bare-user object: `(uuua(ayay))`, big-endian. */
export function encodeBareUserMeta(h: { uid: number; gid: number; mode: number; xattrs: Xattr[] }): Uint8Array {
  return encodeDirMeta(h);
}

export function decodeBareUserMeta(bytes: Uint8Array, where: string): DirMeta {
  return decodeDirMeta(bytes, where);
}

export { Variant };
