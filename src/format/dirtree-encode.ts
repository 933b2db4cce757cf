/**
 * A dedicated serializer for dirtree objects, GVariant type `(a(say)a(sayay))`, byte-identical to
 * the general encoder in gvariant/ (a test compares the two on random trees). Commits write one
 * dirtree per directory — tens of thousands for a large root filesystem — and the general,
 * type-driven encoder spent most of a re-commit's metadata time here.
 *
 * The layout, from the GVariant serialization rules: every member here has alignment 1. A tuple
 * stores, after its members, the end offset of each variable-size member except the last, the
 * last such member's offset first (reverse order). An array of variable-size elements stores the
 * elements back to back, then the end offset of each element in order. Offsets in a container
 * take the fewest bytes (1, 2, 4 or 8) that can express the container's total size.
 */

const CHECKSUM_BYTES = 32;

/** Bytes per framing offset for a container of `body` bytes holding `count` offsets. */
function offsetSize(body: number, count: number): number {
  if (body + count <= 0xff) return 1;
  if (body + 2 * count <= 0xffff) return 2;
  if (body + 4 * count <= 0xffffffff) return 4;
  return 8;
}

function writeOffset(out: Buffer, at: number, value: number, size: number): void {
  if (size === 1) out[at] = value;
  else if (size === 2) out.writeUInt16LE(value, at);
  else if (size === 4) out.writeUInt32LE(value, at);
  else out.writeBigUInt64LE(BigInt(value), at);
}

/** Body bytes of a `(s ay…)` tuple with a name of `nameLen` bytes and `sums` checksums. */
const tupleBody = (nameLen: number, sums: number) => nameLen + 1 + sums * CHECKSUM_BYTES;
/** Total bytes of that tuple: every checksum but the last is framed, and so is the name. */
const tupleSize = (nameLen: number, sums: number) => tupleBody(nameLen, sums) + sums * offsetSize(tupleBody(nameLen, sums), sums);

/**
 * Writes one array of `(s ay…)` tuples, each a name and `width` checksums, at `at`; returns the
 * end. `nameLens` holds each name's UTF-8 length, measured once by the caller.
 */
function writeArray(out: Buffer, at: number, entries: ReadonlyArray<readonly string[]>, nameLens: number[], width: number): number {
  let pos = at;
  const ends: number[] = new Array<number>(entries.length);
  for (let e = 0; e < entries.length; e++) {
    const entry = entries[e]!;
    const start = pos;
    const nameLen = nameLens[e]!;
    const w = offsetSize(tupleBody(nameLen, width), width);
    pos += out.write(entry[0]!, pos, nameLen, 'utf8');
    out[pos++] = 0;
    const nameEnd = pos - start;
    for (let i = 1; i <= width; i++) pos += out.write(entry[i]!, pos, CHECKSUM_BYTES, 'hex');
    // Framing offsets in reverse member order: the first checksum's end (for sayay), the name's.
    if (width === 2) {
      writeOffset(out, pos, nameEnd + CHECKSUM_BYTES, w);
      pos += w;
    }
    writeOffset(out, pos, nameEnd, w);
    pos += w;
    ends[e] = pos - at;
  }
  const w = offsetSize(pos - at, entries.length);
  for (const end of ends) {
    writeOffset(out, pos, end, w);
    pos += w;
  }
  return pos;
}

function arraySize(nameLens: number[], width: number): number {
  let body = 0;
  for (const n of nameLens) body += tupleSize(n, width);
  return body + nameLens.length * offsetSize(body, nameLens.length);
}

/** Serializes a dirtree: files as (name, content checksum), dirs as (name, dirtree, dirmeta). */
export function serializeDirTree(files: ReadonlyArray<readonly [string, string]>, dirs: ReadonlyArray<readonly [string, string, string]>): Uint8Array {
  const fileLens = files.map(([n]) => Buffer.byteLength(n, 'utf8'));
  const dirLens = dirs.map(([n]) => Buffer.byteLength(n, 'utf8'));
  const a1 = arraySize(fileLens, 1);
  const body = a1 + arraySize(dirLens, 2);
  // The outer tuple frames its first member (the files array); the dirs array is last.
  const w = offsetSize(body, 1);
  const out = Buffer.alloc(body + w);
  const pos = writeArray(out, writeArray(out, 0, files, fileLens, 1), dirs, dirLens, 2);
  writeOffset(out, pos, a1, w);
  // A plain Uint8Array, like every other encoder's result.
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
