import { GroveError } from '../errors.js';
import { toHex } from '../format/checksum.js';
import { decode } from '../format/gvariant.js';
import { sha256 } from '../format/hash.js';
import { bswap32, decodeXattrs, type Xattr } from '../format/objects.js';
import type { WorkerPool } from '../pool/pool.js';
import { inflateXzOn } from './xz.js';

/**
 * A static delta part: one byte of compression type (0 none, 'x' xz), then the payload
 * `(a(uuu) modes, aa(ayay) xattrs, ay raw data, ay operations)` (ostree 2022.7,
 * OSTREE_STATIC_DELTA_PART_PAYLOAD_FORMAT_V0). The part file's SHA-256 is in the superblock.
 *
 * xz goes through liblzma (lzma-native), the library ostree itself links: its preset 8 with a
 * CRC64 check gives ostree's bytes. The pure-JS and Rust xz packages tried first compress
 * nothing (1 MB of zeros stayed 1 MB) and bound no output.
 */
export const PART_PAYLOAD_TYPE = '(a(uuu)aa(ayay)ayay)';

export interface PartPayload {
  /** (uid, gid, mode) triples, already in host byte order. */
  modes: Array<[number, number, number]>;
  xattrs: Xattr[][];
  data: Uint8Array;
  ops: Uint8Array;
}

export { lzma } from './xz.js';

/**
 * The most a part's payload may inflate to: what the part says it yields, plus room for its
 * operations, modes, xattrs and bsdiff control words. A part that inflates to more is an xz bomb
 * and is refused as soon as the output passes this, with nothing held beyond it.
 */
export function payloadLimit(usize: bigint, objects: number): number {
  const limit = usize + BigInt(objects) * 4096n + (16n << 20n);
  return limit > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(limit);
}

function corrupt(where: string, what: string): GroveError {
  return new GroveError('GROVE_CORRUPT_OBJECT', `${where}: ${what}`);
}

/**
 * Checks a part's bytes against `expected` (null for an inline part, which the superblock holds
 * and covers) before anything of it is read, then decompresses it within `limit` and decodes the
 * payload.
 */
export async function openPart(bytes: Uint8Array, expected: string | null, limit: number, where: string, pool?: WorkerPool): Promise<PartPayload> {
  if (expected !== null) {
    const actual = toHex(sha256(bytes));
    if (actual !== expected) throw corrupt(where, `Checksum mismatch in static delta part; expected=${expected} actual=${actual}`);
  }
  if (bytes.length === 0) throw corrupt(where, 'empty static delta part');
  const type = bytes[0]!;
  let payload: Uint8Array;
  if (type === 0) payload = bytes.subarray(1);
  else if (type === 0x78) payload = await inflateXzOn(pool, bytes.subarray(1), limit, where);
  else throw corrupt(where, `Invalid compression type '${type}'`);
  if (payload.length > limit) throw corrupt(where, `part payload is ${payload.length} bytes, more than the ${limit} its objects allow`);
  let value;
  try {
    value = decode(PART_PAYLOAD_TYPE, payload) as [Array<[number, number, number]>, Array<Array<[Uint8Array, Uint8Array]>>, Uint8Array, Uint8Array];
  } catch (e) {
    throw corrupt(where, `not a static delta part payload (${e instanceof Error ? e.message : String(e)})`);
  }
  const [modes, xattrs, data, ops] = value;
  return {
    // Stored big-endian, as in every ostree object.
    modes: modes.map(([u, g, m]) => [bswap32(u), bswap32(g), bswap32(m)]),
    xattrs: xattrs.map((list) => decodeXattrs(list, where)),
    data,
    ops,
  };
}
