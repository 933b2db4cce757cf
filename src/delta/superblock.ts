import { GroveError } from '../errors.js';
import { checksumFromBytes, fromHex, toHex } from '../format/checksum.js';
import { decode, encode } from '../format/gvariant.js';
import { COMMIT_TYPE, bswap32, bswap64, decodeCommit, type Commit, type ObjectType, Variant } from '../format/objects.js';
import type { GVariantValue } from '../format/gvariant.js';

/**
 * A static delta's superblock (`deltas/…/superblock`): what the delta leads to, the commit object
 * itself, and for each part its checksum, sizes and the objects it yields; then the objects to
 * fetch one by one instead (fallbacks). Layout from ostree 2022.7's
 * ostree-repo-static-delta-private.h. A signed superblock wraps the plain one with signatures:
 * `(t magic 'OSTSGNDT', ay superblock, a{sv} signatures)`.
 *
 * Integers: the timestamp is big-endian, as everywhere in ostree; the part and fallback sizes and
 * part versions are in the byte order of the machine that made the delta (a historical mistake
 * in ostree), which `ostree.endianness` in the metadata names ('l' or 'B'), else a heuristic.
 */
export const SUPERBLOCK_TYPE = `(a{sv}tayay${COMMIT_TYPE}aya(uayttay)a(yaytt))`;
export const SIGNED_SUPERBLOCK_TYPE = '(taya{sv})';
/** "OSTSGNDT" as a big-endian u64: the first 8 bytes of a signed superblock. */
export const SIGNED_MAGIC = Buffer.from('OSTSGNDT', 'latin1');
/** The highest part version ostree 2022.7 reads and writes. */
export const DELTAPART_VERSION = 0;
/** One byte of object type and 32 bytes of checksum per object a part yields. */
const OBJTYPE_CSUM_LEN = 33;

/** ostree's object type numbers, as in `ostree_object_type_to_string`. */
const OBJECT_TYPES: Record<number, ObjectType> = { 1: 'file', 2: 'dirtree', 3: 'dirmeta', 4: 'commit' };
export const OBJECT_TYPE_NUMBER: Record<string, number> = { file: 1, dirtree: 2, dirmeta: 3, commit: 4 };

export interface DeltaObject { type: ObjectType; checksum: string }

export interface PartEntry {
  version: number;
  /** SHA-256 of the part file's bytes, hex. */
  checksum: string;
  /** Bytes of the part file. */
  size: bigint;
  /** Bytes of the objects the part yields. */
  usize: bigint;
  objects: DeltaObject[];
}

export interface FallbackEntry { type: ObjectType; checksum: string; size: bigint; usize: bigint }

export type Endianness = 'little' | 'big' | 'invalid';

export interface Superblock {
  metadata: Array<[string, Variant]>;
  /** Seconds since the epoch. */
  timestamp: bigint;
  from: string | null;
  to: string;
  commit: Commit;
  /** The commit object's bytes as the delta holds them. */
  commitBytes: Uint8Array;
  /** Parent deltas to apply first (ostree makes none): pairs of checksums. */
  parents: number;
  parts: PartEntry[];
  fallbacks: FallbackEntry[];
  endianness: Endianness;
  /** Whether the endianness came from the heuristic rather than `ostree.endianness`. */
  endiannessGuessed: boolean;
  /** Signature kinds (`ed25519`) when the superblock is signed, else null. */
  signatures: Array<[string, Variant]> | null;
  /** The plain superblock's bytes (inside the signed wrapper when signed). */
  bytes: Uint8Array;
}

/** Whether `bytes` is a signed superblock. */
export function isSignedSuperblock(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && Buffer.from(bytes.buffer, bytes.byteOffset, 8).equals(SIGNED_MAGIC);
}

function corrupt(where: string, what: string): GroveError {
  return new GroveError('GROVE_CORRUPT_OBJECT', `${where}: ${what}`);
}

function objectList(bytes: Uint8Array, where: string): DeltaObject[] {
  if (bytes.length % OBJTYPE_CSUM_LEN !== 0) throw corrupt(where, `Invalid checksum array length ${bytes.length}`);
  const out: DeltaObject[] = [];
  for (let off = 0; off < bytes.length; off += OBJTYPE_CSUM_LEN) {
    const type = OBJECT_TYPES[bytes[off]!];
    if (type === undefined) throw corrupt(where, `Invalid object type '${bytes[off]}'`);
    out.push({ type, checksum: toHex(bytes.subarray(off + 1, off + OBJTYPE_CSUM_LEN)) });
  }
  return out;
}

/**
 * A superblock file taken apart without reading the superblock itself: the plain superblock's
 * bytes, and the signatures' dictionary when the file is signed (else null).
 */
export function unwrapSuperblock(file: Uint8Array, where: string): { bytes: Uint8Array; signatures: Array<[string, Variant]> | null } {
  if (!isSignedSuperblock(file)) return { bytes: file, signatures: null };
  const [, bytes, signatures] = decodeIn(SIGNED_SUPERBLOCK_TYPE, file, where) as [bigint, Uint8Array, Array<[string, Variant]>];
  return { bytes, signatures };
}

/** Whether a signed superblock's dictionary holds signatures of any engine (`ostree.sign.*`), as ostree asks. */
export function hasEngineSignatures(signatures: Array<[string, Variant]> | null): boolean {
  return signatures !== null && signatures.some(([k]) => k.startsWith('ostree.sign.'));
}

/** Decodes a superblock file's bytes, signed or not; `where` names it in messages. */
export function decodeSuperblock(file: Uint8Array, where: string): Superblock {
  const { bytes, signatures } = unwrapSuperblock(file, where);
  const [metadata, ts, from, to, commitValue, parents, parts, fallbacks] = decodeIn(SUPERBLOCK_TYPE, bytes, where) as [
    Array<[string, Variant]>, bigint, Uint8Array, Uint8Array, GVariantValue[], Uint8Array,
    Array<[number, Uint8Array, bigint, bigint, Uint8Array]>, Array<[number, Uint8Array, bigint, bigint]>,
  ];
  const commitBytes = encode(COMMIT_TYPE, commitValue);
  const { endianness, guessed } = endiannessOf(metadata, parts);
  // On this (little-endian) machine only a big-endian delta needs its sizes swapped.
  const swap = endianness === 'big';
  const u64 = (v: bigint) => (swap ? bswap64(v) : v);
  return {
    metadata,
    timestamp: bswap64(ts),
    from: from.length === 0 ? null : checksumFromBytes(from, `${where} (from)`),
    to: checksumFromBytes(to, `${where} (to)`),
    commit: decodeCommit(commitBytes, `${where} (commit)`),
    commitBytes,
    parents: Math.floor(parents.length / 64),
    parts: parts.map(([version, csum, size, usize, objects], i) => ({
      version: swap ? bswap32(version) : version,
      checksum: checksumFromBytes(csum, `${where} (part ${i})`),
      size: u64(size),
      usize: u64(usize),
      objects: objectList(objects, `${where} (part ${i})`),
    })),
    fallbacks: fallbacks.map(([type, csum, size, usize], i) => {
      const t = OBJECT_TYPES[type];
      if (t === undefined) throw corrupt(where, `Invalid object type '${type}' in fallback ${i}`);
      return { type: t, checksum: checksumFromBytes(csum, `${where} (fallback ${i})`), size: u64(size), usize: u64(usize) };
    }),
    endianness,
    endiannessGuessed: guessed,
    signatures,
    bytes,
  };
}

function decodeIn(type: string, bytes: Uint8Array, where: string): GVariantValue {
  try {
    return decode(type, bytes);
  } catch (e) {
    throw corrupt(where, `not a static delta superblock (${e instanceof Error ? e.message : String(e)})`);
  }
}

/**
 * ostree's `_ostree_delta_get_endianness`: `ostree.endianness` when present; otherwise a delta
 * whose parts are more than 1.2 times larger than what they yield, or whose average object is
 * over 4 GiB, is taken to be of the other byte order than this machine's.
 */
function endiannessOf(metadata: Array<[string, Variant]>, parts: Array<[number, Uint8Array, bigint, bigint, Uint8Array]>): { endianness: Endianness; guessed: boolean } {
  const v = metadata.find(([k]) => k === 'ostree.endianness')?.[1];
  if (v !== undefined && v.type === 'y') {
    const c = String.fromCharCode(v.value as number);
    return { endianness: c === 'l' ? 'little' : c === 'B' ? 'big' : 'invalid', guessed: false };
  }
  let size = 0n;
  let objects = 0n;
  let swapped = false;
  for (const [, , s, u, objs] of parts) {
    objects += BigInt(Math.floor(objs.length / OBJTYPE_CSUM_LEN));
    size += s;
    if (s > u && Number(s) / Number(u) > 1.2) {
      swapped = true;
      break;
    }
  }
  if (!swapped && objects > 0n && size / objects > 0xffffffffn) swapped = true;
  return { endianness: swapped ? 'big' : 'invalid', guessed: true };
}

/** A metadata value of the superblock by key. */
export function superblockMeta(sb: Superblock, key: string): Variant | undefined {
  return sb.metadata.find(([k]) => k === key)?.[1];
}

/** What {@link encodeSuperblock} needs: the decoded form, sizes in this machine's byte order. */
export type SuperblockFields = Pick<Superblock, 'metadata' | 'timestamp' | 'from' | 'to' | 'commitBytes' | 'parts' | 'fallbacks'>;

/**
 * The superblock's bytes, little-endian sizes (what ostree writes on this machine; callers put
 * `ostree.endianness` into the metadata as ostree does).
 */
export function encodeSuperblock(sb: SuperblockFields): Uint8Array {
  const objects = (list: DeltaObject[]) => {
    const out = new Uint8Array(list.length * OBJTYPE_CSUM_LEN);
    list.forEach((o, i) => {
      out[i * OBJTYPE_CSUM_LEN] = OBJECT_TYPE_NUMBER[o.type]!;
      out.set(fromHex(o.checksum), i * OBJTYPE_CSUM_LEN + 1);
    });
    return out;
  };
  return encode(SUPERBLOCK_TYPE, [
    sb.metadata,
    bswap64(sb.timestamp),
    sb.from === null ? new Uint8Array(0) : fromHex(sb.from),
    fromHex(sb.to),
    decode(COMMIT_TYPE, sb.commitBytes),
    new Uint8Array(0),
    sb.parts.map((p) => [p.version, fromHex(p.checksum), p.size, p.usize, objects(p.objects)]),
    sb.fallbacks.map((f) => [OBJECT_TYPE_NUMBER[f.type]!, fromHex(f.checksum), f.size, f.usize]),
  ]);
}
