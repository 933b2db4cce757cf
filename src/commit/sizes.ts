import fs from 'node:fs';
import { fromHex } from '../format/checksum.js';
import { isLink } from '../format/mode.js';
import { parseArchiveHeader, Variant } from '../format/objects.js';
import { objectPath } from '../store/paths.js';

/**
 * `--generate-sizes`: ostree's `ostree.sizes` commit metadata, an `aay` with one entry per
 * object the commit wrote (content, dirtree, dirmeta), sorted by checksum: the 32 checksum
 * bytes, the archived size and the unpacked size as protobuf varints, and the object type
 * (1 file, 2 dirtree, 3 dirmeta). ostree records sizes only in archive repositories, and only
 * for the objects of the last `--tree=` layer plus the dirtrees it writes at the end: each
 * layer starts the table afresh.
 *
 * A content object's archived size is the size of its `.filez`; grove's deflate must therefore
 * produce zlib's bytes for these to match ostree's (test/interop covers it).
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
   * The metadata value, or null when nothing was recorded. Content sizes are read from the
   * objects now (staged in `stagingDir`, or already in `objectsDir`).
   */
  encode(objectsDir: string, stagingDir: string): Variant | null {
    if (this.entries.size === 0) return null;
    const out: Uint8Array[] = [];
    for (const checksum of [...this.entries.keys()].sort()) {
      const e = this.entries.get(checksum)!;
      let { unpacked, archived } = e;
      if (e.type === 1) [unpacked, archived] = contentSizes(checksum, objectsDir, stagingDir);
      out.push(Uint8Array.from([...fromHex(checksum), ...varint(archived!), ...varint(unpacked!), e.type]));
    }
    return new Variant('aay', out);
  }
}

/** [unpacked, archived] of an archive-mode content object: bytes (or symlink target length), and its .filez size. */
function contentSizes(checksum: string, objectsDir: string, stagingDir: string): [number, number] {
  let p = objectPath(stagingDir, checksum, 'file', 'archive');
  let st = fs.statSync(p, { throwIfNoEntry: false });
  if (st === undefined) {
    p = objectPath(objectsDir, checksum, 'file', 'archive');
    st = fs.statSync(p);
  }
  const fd = fs.openSync(p, 'r');
  try {
    const head = Buffer.alloc(Math.min(st.size, 1 << 16));
    fs.readSync(fd, head, 0, head.length, 0);
    let h = parseArchiveHeaderSafe(head, checksum);
    if (h === null) {
      const all = fs.readFileSync(p);
      h = parseArchiveHeader(all, `file object ${checksum}`);
    }
    const unpacked = isLink(h.header.mode) ? Buffer.byteLength(h.header.symlinkTarget) : Number(h.size);
    return [unpacked, st.size];
  } finally {
    fs.closeSync(fd);
  }
}

function parseArchiveHeaderSafe(head: Uint8Array, checksum: string): ReturnType<typeof parseArchiveHeader> | null {
  const len = head.length >= 4 ? new DataView(head.buffer, head.byteOffset).getUint32(0) : Infinity;
  if (8 + len > head.length) return null;
  return parseArchiveHeader(head, `file object ${checksum}`);
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
