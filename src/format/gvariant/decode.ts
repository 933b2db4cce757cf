/**
 * GVariant deserialization for bytes that may be hostile. Only normal-form data is accepted:
 * GLib reads non-normal data by substituting defaults, but grove addresses objects by the
 * checksum of their bytes, so anything that would not re-encode to the same bytes is refused.
 *
 * Every member is found inside its container's range and after its predecessor, so no byte is
 * read twice at one nesting level and the work is bounded by size times depth.
 */
import {
  MAX_DEPTH,
  type GType,
  type GVariantValue,
  Variant,
  alignUp,
  gvariantError,
  isObjectPath,
  isSignature,
  offsetSizeFor,
  parseType,
  shorten,
} from './types.js';
import { GroveError } from '../../errors.js';

class Reader {
  private dv: DataView | null = null;
  constructor(readonly bytes: Uint8Array) {}

  // Made on first use: most values need only bytes and small integers, and a DataView costs
  // about as much to create as decoding a small tuple.
  get view(): DataView {
    return (this.dv ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength));
  }

  u16(p: number): number {
    const b = this.bytes;
    return b[p]! | (b[p + 1]! << 8);
  }

  u32(p: number): number {
    const b = this.bytes;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }
}

/**
 * Parses `bytes` as one complete GVariant of type `type`.
 * 'ay' values are returned as copies, never views of `bytes`: callers may transfer or reuse the
 * input buffer (Piscina `move` detaches it) without corrupting decoded values.
 * Nested maybes are ambiguous in the value model: Just(Nothing) of 'mmX' decodes to null, the
 * same as Nothing, so it does not re-encode to the same bytes.
 * @throws GroveError GROVE_BAD_GVARIANT when the type is invalid or the bytes are not a
 *   normal-form serialization of it (bad size or framing, missing NUL, invalid UTF-8, bad
 *   variant type, non-zero padding, a boolean other than 0 or 1, nesting past 64 levels).
 */
export function decode(type: string, bytes: Uint8Array): GVariantValue {
  const t = parseType(type);
  // A plain view, so slices are plain Uint8Array copies even when `bytes` is a Buffer.
  const plain =
    Object.getPrototypeOf(bytes) === Uint8Array.prototype
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return readValue(new Reader(plain), t, 0, plain.length, 0);
}

function readValue(r: Reader, t: GType, start: number, end: number, depth: number): GVariantValue {
  const len = end - start;
  if (t.fixedSize !== 0 && len !== t.fixedSize) {
    throw bad(t, start, `expected ${t.fixedSize} bytes, got ${len}`);
  }
  switch (t.code) {
    case 'b': {
      const b = r.bytes[start]!;
      if (b > 1) throw bad(t, start, `boolean byte is ${b}, not 0 or 1`);
      return b === 1;
    }
    case 'y':
      return r.bytes[start]!;
    case 'n':
      return (r.u16(start) << 16) >> 16;
    case 'q':
      return r.u16(start);
    case 'i':
    case 'h':
      return r.u32(start) | 0;
    case 'u':
      return r.u32(start);
    case 'x':
      return r.view.getBigInt64(start, true);
    case 't':
      return r.view.getBigUint64(start, true);
    case 'd':
      return r.view.getFloat64(start, true);
    case 's':
    case 'o':
    case 'g':
      return readString(r, t, start, end);
    case 'v':
      return readVariant(r, start, end, depth);
    case 'a':
      return readArray(r, t, start, end, depth);
    case 'm':
      enter(t, start, depth);
      if (len === 0) return null;
      if (t.elem!.fixedSize !== 0) return readValue(r, t.elem!, start, end, depth + 1);
      if (r.bytes[end - 1] !== 0) throw bad(t, start, 'a Just of variable size does not end in a zero byte');
      return readValue(r, t.elem!, start, end - 1, depth + 1);
    default:
      return readTuple(r, t, start, end, depth);
  }
}

function enter(t: GType, start: number, depth: number): void {
  if (depth >= MAX_DEPTH) throw bad(t, start, `nested deeper than ${MAX_DEPTH} levels`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function readString(r: Reader, t: GType, start: number, end: number): string {
  const bytes = r.bytes;
  if (end === start || bytes[end - 1] !== 0) throw bad(t, start, 'string is not NUL-terminated');
  const last = end - 1;
  // Names and checksums are short ASCII; building those directly skips TextDecoder's call cost.
  let s = '';
  let i = start;
  if (last - start <= 64) {
    for (; i < last; i++) {
      const c = bytes[i]!;
      if (c >= 0x80 || c === 0) break;
      s += String.fromCharCode(c);
    }
  }
  if (i < last) {
    if (bytes.indexOf(0, i) !== last) throw bad(t, start, 'string contains a NUL before its end');
    try {
      s = utf8.decode(bytes.subarray(start, last));
    } catch (e) {
      throw new GroveError('GROVE_BAD_GVARIANT', `GVariant '${t.str}' at byte ${start}: string is not valid UTF-8`, {
        cause: e,
      });
    }
  }
  if (t.code === 'o' && !isObjectPath(s)) throw bad(t, start, `'${shorten(s)}' is not a D-Bus object path`);
  if (t.code === 'g' && !isSignature(s)) throw bad(t, start, `'${shorten(s)}' is not a type signature`);
  return s;
}

function readVariant(r: Reader, start: number, end: number, depth: number): Variant {
  const bytes = r.bytes;
  // The type string holds no zero byte, so the last zero separates it from the value.
  let sep = end - 1;
  while (sep >= start && bytes[sep] !== 0) sep--;
  if (sep < start) throw bad({ str: 'v' }, start, 'no zero byte before the type string');
  let typeStr = '';
  for (let i = sep + 1; i < end; i++) typeStr += String.fromCharCode(bytes[i]!);
  let inner: GType;
  try {
    inner = parseType(typeStr);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new GroveError('GROVE_BAD_GVARIANT', `GVariant 'v' at byte ${start}: bad type string (${why})`, { cause: e });
  }
  if (depth >= MAX_DEPTH) throw bad({ str: 'v' }, start, `nested deeper than ${MAX_DEPTH} levels`);
  return new Variant(inner.str, readValue(r, inner, start, sep, depth + 1));
}

function readArray(r: Reader, t: GType, start: number, end: number, depth: number): GVariantValue {
  const elem = t.elem!;
  if (elem.code === 'y') return r.bytes.slice(start, end);
  enter(t, start, depth);
  const len = end - start;
  const out: GVariantValue[] = [];
  if (elem.fixedSize !== 0) {
    const size = elem.fixedSize;
    if (len % size !== 0) throw bad(t, start, `${len} bytes is not a multiple of the ${size}-byte element`);
    for (let p = start; p < end; p += size) out.push(readValue(r, elem, p, p + size, depth + 1));
    return out;
  }
  if (len === 0) return out;
  // The last offset is the end of the last element, hence where the offset table starts.
  const os = offsetSizeFor(len);
  const tableStart = start + readOffset(r, end - os, os);
  if (tableStart > end - os || (end - tableStart) % os !== 0) {
    throw bad(t, start, `offset table start ${tableStart - start} does not fit a ${len}-byte array`);
  }
  let pos = start;
  for (let p = tableStart; p < end; p += os) {
    const s = alignFrom(r, t, start, pos, elem.align, tableStart);
    const e = start + readOffset(r, p, os);
    if (e < s || e > tableStart) {
      throw bad(t, start, `element end ${e - start} is outside ${s - start}..${tableStart - start}`);
    }
    out.push(readValue(r, elem, s, e, depth + 1));
    pos = e;
  }
  return out;
}

function readTuple(r: Reader, t: GType, start: number, end: number, depth: number): GVariantValue[] {
  enter(t, start, depth);
  const members = t.members;
  const n = members.length;
  if (n === 0) {
    // Size is already checked to be 1; the spec's unit is one zero byte.
    if (r.bytes[start] !== 0) throw bad(t, start, 'unit byte is not zero');
    return [];
  }
  const len = end - start;
  const os = offsetSizeFor(len);
  const dataEnd = end - t.frameCount * os;
  // GLib calls a 0-byte tuple with framing offsets normal (its offsets read as 0) but always
  // writes the offsets, so those bytes never come from GLib and would not re-encode the same.
  if (dataEnd < start || (len === 0 && t.frameCount > 0)) {
    throw bad(t, start, `${len} bytes cannot hold ${t.frameCount} framing offsets`);
  }
  let frame = end;
  let pos = start;
  const out = new Array<GVariantValue>(n);
  for (let i = 0; i < n; i++) {
    const m = members[i]!;
    const s = alignFrom(r, t, start, pos, m.align, dataEnd);
    let e: number;
    if (m.fixedSize !== 0) e = s + m.fixedSize;
    else if (i === n - 1) e = dataEnd;
    else {
      frame -= os;
      e = start + readOffset(r, frame, os);
    }
    if (e < s || e > dataEnd) {
      throw bad(t, start, `member ${i} end ${e - start} is outside ${s - start}..${dataEnd - start}`);
    }
    out[i] = readValue(r, m, s, e, depth + 1);
    pos = e;
  }
  if (t.fixedSize !== 0) {
    checkZero(r, t, start, pos, end); // Padding up to the tuple's alignment.
  } else if (pos !== dataEnd) {
    throw bad(t, start, `${dataEnd - pos} stray bytes after the last member`);
  }
  return out;
}

/** Aligns `pos` (relative to the container at `start`), checking the skipped bytes are zero. */
function alignFrom(r: Reader, t: GType, start: number, pos: number, align: number, limit: number): number {
  const s = start + alignUp(pos - start, align);
  if (s > limit) throw bad(t, start, `member at ${s - start} starts past the data end ${limit - start}`);
  checkZero(r, t, start, pos, s);
  return s;
}

function checkZero(r: Reader, t: GType, start: number, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    if (r.bytes[i] !== 0) throw bad(t, start, `padding byte at ${i - start} is not zero`);
  }
}

/** Reads one little-endian framing offset; callers range-check it against their container. */
function readOffset(r: Reader, at: number, os: number): number {
  if (os === 1) return r.bytes[at]!;
  if (os === 2) return r.u16(at);
  if (os === 4) return r.u32(at);
  // Past 2^53 this loses precision, but any such offset is out of range anyway.
  return r.u32(at) + r.u32(at + 4) * 0x100000000;
}

function bad(t: { str: string }, start: number, message: string): GroveError {
  return gvariantError(t.str, `at byte ${start}: ${message}`);
}
