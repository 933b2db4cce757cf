/**
 * The unsigned varints of static delta operations: 7 bits a byte, least significant first, the
 * high bit set on every byte but the last (protobuf's varint64; ostree-varint.c). At most 10
 * bytes; grove also refuses values past 2^53, which no offset into a buffer can reach.
 */
const MAX_VARINT_BYTES = 10;

/** Reads a varint at `buf[pos.at]`, advancing `pos.at`; null at a truncated or overlong one. */
export function readVarint(buf: Uint8Array, pos: { at: number }): number | null {
  let result = 0;
  let scale = 1;
  for (let count = 0; count < MAX_VARINT_BYTES; count++) {
    if (pos.at >= buf.length) return null;
    const b = buf[pos.at++]!;
    result += (b & 0x7f) * scale;
    if (result > Number.MAX_SAFE_INTEGER) return null;
    if ((b & 0x80) === 0) return result;
    scale *= 128;
  }
  return null;
}

/** Appends `n` as a varint. */
export function writeVarint(out: number[], n: number): void {
  let v = n;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}
