import { GroveError } from '../errors.js';

/**
 * Applies a bsdiff patch as ostree's static deltas carry it: the raw stream of Colin Percival's
 * bsdiff in Matthew Endsley's form (no header, no compression; the delta part is compressed as a
 * whole). The stream is a sequence of control triples, each three 8-byte sign-magnitude
 * little-endian integers (diff length, extra length, seek in the old file), each followed by
 * `diff` bytes added bytewise to the old file's and `extra` bytes copied as they are.
 *
 * Written here rather than taken from a package: the npm bsdiff packages read and write the
 * BSDIFF40 file format (bzip2-compressed blocks), not this stream, and applying it is the forty
 * lines below. Every length is checked against both buffers (ostree asserts instead, and aborts
 * on a hostile patch).
 */
export function bspatch(old: Uint8Array, patch: Uint8Array, newSize: number, where: string): Uint8Array {
  const out = new Uint8Array(newSize);
  const view = new DataView(patch.buffer, patch.byteOffset, patch.byteLength);
  const bad = (what: string) => new GroveError('GROVE_CORRUPT_OBJECT', `${where}: bsdiff patch failed (${what})`);
  let p = 0;
  let oldPos = 0;
  let newPos = 0;
  const offtin = () => {
    if (p + 8 > patch.length) throw bad('truncated control block');
    const lo = view.getUint32(p, true);
    const hiRaw = view.getUint32(p + 4, true);
    p += 8;
    const magnitude = (hiRaw & 0x7fffffff) * 0x100000000 + lo;
    if (magnitude > Number.MAX_SAFE_INTEGER) throw bad('length out of range');
    return hiRaw & 0x80000000 ? -magnitude : magnitude;
  };
  while (newPos < newSize) {
    const diff = offtin();
    const extra = offtin();
    const seek = offtin();
    if (diff < 0 || extra < 0 || newPos + diff > newSize) throw bad('diff length out of range');
    if (p + diff > patch.length) throw bad('truncated diff block');
    for (let i = 0; i < diff; i++) {
      const o = oldPos + i;
      out[newPos + i] = (patch[p + i]! + (o >= 0 && o < old.length ? old[o]! : 0)) & 0xff;
    }
    p += diff;
    newPos += diff;
    oldPos += diff;
    if (newPos + extra > newSize) throw bad('extra length out of range');
    if (p + extra > patch.length) throw bad('truncated extra block');
    out.set(patch.subarray(p, p + extra), newPos);
    p += extra;
    newPos += extra;
    oldPos += seek;
  }
  return out;
}
