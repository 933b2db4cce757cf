import fs from 'node:fs';
import { fromHex } from '../format/checksum.js';
import { isLink } from '../format/mode.js';
import { archiveHeader, Variant } from '../format/objects.js';
import { ZlibSizer } from '../format/zlib-size.js';
import { objectPath } from '../store/paths.js';
import { openArchive } from '../store/read-content.js';

/**
 * `--generate-sizes`: ostree's `ostree.sizes` commit metadata, an `aay` with one entry per
 * object the commit wrote (content, dirtree, dirmeta), sorted by checksum: the 32 checksum
 * bytes, the archived size and the unpacked size as protobuf varints, and the object type
 * (1 file, 2 dirtree, 3 dirmeta). ostree records sizes only in archive repositories, and only
 * for the objects of the last `--tree=` layer plus the dirtrees it writes at the end: each
 * layer starts the table afresh.
 *
 * A content object's archived size is the size of the `.filez` ostree writes: its header and
 * zlib's deflate of the bytes. grove's own objects are compressed by Node's zlib, whose output
 * differs, so the size is computed by zlib's algorithm (format/zlib-size.ts), not read off disk.
 */
export class SizeTable {
  private readonly entries = new Map<string, { type: 1 | 2 | 3; unpacked?: number; archived?: number }>();

  /** A new layer: what earlier layers wrote is forgotten, as in ostree. */
  reset(): void {
    this.entries.clear();
  }

  metadata(checksum: string, type: 'dirtree' | 'dirmeta', bytes: number): void {
    if (!this.entries.has(checksum)) this.entries.set(checksum, { type: type === 'dirtree' ? 2 : 3, unpacked: bytes, archived: bytes });
  }

  file(checksum: string): void {
    if (!this.entries.has(checksum)) this.entries.set(checksum, { type: 1 });
  }

  /**
   * The metadata value, or null when nothing was recorded. Content sizes come from the objects
   * (staged in `stagingDir`, or already in `objectsDir`): the unpacked size, and the size of the
   * `.filez` ostree would write at zlib `level`.
   */
  async encode(objectsDir: string, stagingDir: string, level: number): Promise<Variant | null> {
    if (this.entries.size === 0) return null;
    const out: Uint8Array[] = [];
    for (const checksum of [...this.entries.keys()].sort()) {
      const e = this.entries.get(checksum)!;
      let { unpacked, archived } = e;
      if (e.type === 1) [unpacked, archived] = await contentSizes(checksum, objectsDir, stagingDir, level);
      out.push(Uint8Array.from([...fromHex(checksum), ...varint(archived!), ...varint(unpacked!), e.type]));
    }
    return new Variant('aay', out);
  }
}

/**
 * [unpacked, archived] of a content object: its bytes (a symlink: its target's length), and the
 * archive header plus zlib's deflate of the bytes (a symlink's `.filez` is the header alone).
 */
async function contentSizes(checksum: string, objectsDir: string, stagingDir: string, level: number): Promise<[number, number]> {
  const staged = objectPath(stagingDir, checksum, 'file', 'archive');
  const p = fs.existsSync(staged) ? staged : objectPath(objectsDir, checksum, 'file', 'archive');
  const obj = openArchive(p, `file object ${checksum}`);
  const head = archiveHeader(obj.header, BigInt(obj.size)).length;
  if (isLink(obj.header.mode)) return [Buffer.byteLength(obj.header.symlinkTarget), head];
  const z = new ZlibSizer(level);
  for await (const c of obj.chunks()) z.update(c);
  return [obj.size, head + z.finish()];
}

/** Protobuf-style unsigned varint (ostree's _ostree_write_varuint64). */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
