/**
 * GVariant serialization in one append-only pass: a container writes its members first and its
 * framing offsets last, and the offset width depends only on what was written before it, so no
 * size pre-pass is needed.
 */
import {
  MAX_DEPTH,
  type GType,
  type GVariantValue,
  Variant,
  gvariantError,
  isObjectPath,
  isSignature,
  parseType,
  shorten,
} from './types.js';

/** A growable byte buffer; positions are absolute from the root value at 0. */
class Writer {
  buf = new Uint8Array(4096);
  view = new DataView(this.buf.buffer);
  pos = 0;

  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Zero-fills up to `end`: the buffer is reused, and GVariant padding must be zero. */
  zeroTo(end: number): void {
    if (end <= this.pos) return;
    this.ensure(end - this.pos);
    this.buf.fill(0, this.pos, end);
    this.pos = end;
  }

  pad(align: number): void {
    if (align > 1) this.zeroTo((this.pos + align - 1) & ~(align - 1));
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
}

// One writer reused across calls: dirtree and header encodes are small and frequent, and the
// result is copied out at its exact size anyway. A buffer grown by a huge value is dropped.
let scratch: Writer | null = null;
const SCRATCH_KEEP = 1 << 20;

/**
 * Serializes `value` as GVariant type `type`, exactly as GLib's g_variant_get_data() would.
 * 'x' and 't' also accept a safe-integer number for convenience; decode always returns bigint.
 * @returns a fresh Uint8Array of exactly the serialized size.
 * @throws GroveError GROVE_BAD_GVARIANT when the type is invalid or the value does not fit it
 *   (wrong JS type, integer out of range, string with a NUL or a lone surrogate, bad 'o'/'g').
 */
export function encode(type: string, value: GVariantValue): Uint8Array {
  const t = parseType(type);
  const w = scratch ?? new Writer();
  w.pos = 0;
  try {
    writeValue(w, t, value, 0);
    return w.buf.slice(0, w.pos);
  } finally {
    scratch = w.buf.length <= SCRATCH_KEEP ? w : null;
  }
}

function writeValue(w: Writer, t: GType, v: GVariantValue, depth: number): void {
  switch (t.code) {
    case 'b':
      if (typeof v !== 'boolean') throw mismatch(t, 'a boolean', v);
      w.byte(v ? 1 : 0);
      return;
    case 'y':
      w.byte(int(t, v, 0, 0xff));
      return;
    case 'n':
      w.ensure(2);
      w.view.setInt16(w.pos, int(t, v, -0x8000, 0x7fff), true);
      w.pos += 2;
      return;
    case 'q':
      w.ensure(2);
      w.view.setUint16(w.pos, int(t, v, 0, 0xffff), true);
      w.pos += 2;
      return;
    case 'i':
    case 'h':
      w.ensure(4);
      w.view.setInt32(w.pos, int(t, v, -0x80000000, 0x7fffffff), true);
      w.pos += 4;
      return;
    case 'u':
      w.ensure(4);
      w.view.setUint32(w.pos, int(t, v, 0, 0xffffffff), true);
      w.pos += 4;
      return;
    case 'x':
      w.ensure(8);
      w.view.setBigInt64(w.pos, int64(t, v, INT64_MIN, INT64_MAX), true);
      w.pos += 8;
      return;
    case 't':
      w.ensure(8);
      w.view.setBigUint64(w.pos, int64(t, v, 0n, UINT64_MAX), true);
      w.pos += 8;
      return;
    case 'd':
      if (typeof v !== 'number') throw mismatch(t, 'a number', v);
      w.ensure(8);
      w.view.setFloat64(w.pos, v, true);
      w.pos += 8;
      return;
    case 's':
    case 'o':
    case 'g':
      if (typeof v !== 'string') throw mismatch(t, 'a string', v);
      if (t.code === 'o' && !isObjectPath(v)) throw gvariantError('o', `'${shorten(v)}' is not a D-Bus object path`);
      if (t.code === 'g' && !isSignature(v)) throw gvariantError('g', `'${shorten(v)}' is not a type signature`);
      writeString(w, t, v);
      return;
    case 'v':
      writeVariant(w, v, depth);
      return;
    case 'a':
      writeArray(w, t, v, depth);
      return;
    case 'm':
      if (v === null) return; // Nothing is zero bytes whatever the element type.
      enter(t, depth);
      writeValue(w, t.elem!, v, depth + 1);
      // A variable-size Just needs a byte so that Just("") differs from Nothing.
      if (t.elem!.fixedSize === 0) w.byte(0);
      return;
    default:
      writeTuple(w, t, v, depth);
  }
}

function enter(t: { str: string }, depth: number): void {
  if (depth >= MAX_DEPTH) throw gvariantError(t.str, `value nested deeper than ${MAX_DEPTH} levels`);
}

function writeString(w: Writer, t: GType, s: string): void {
  const n = s.length;
  w.ensure(n + 1);
  const buf = w.buf;
  let p = w.pos;
  // Names, refs and checksums are ASCII; a char loop beats TextEncoder for these short strings.
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c === 0) break;
    buf[p++] = c;
  }
  if (i < n) {
    if (s.includes('\0')) throw gvariantError(t.str, 'strings cannot contain NUL');
    // TextEncoder would silently turn a lone surrogate into U+FFFD: refuse instead of altering.
    if (LONE_SURROGATE.test(s)) throw gvariantError(t.str, 'string holds a lone UTF-16 surrogate');
    w.pos = p;
    const rest = s.slice(i);
    w.ensure(rest.length * 3 + 1);
    p = w.pos + encoder.encodeInto(rest, w.buf.subarray(w.pos)).written;
  }
  w.buf[p++] = 0;
  w.pos = p;
}

const encoder = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function writeVariant(w: Writer, v: GVariantValue, depth: number): void {
  if (!(v instanceof Variant)) throw mismatch({ str: 'v' }, 'a Variant', v);
  enter({ str: 'v' }, depth);
  const inner = parseType(v.type);
  // The variant itself is 8-aligned, so its value starts aligned whatever its type.
  writeValue(w, inner, v.value, depth + 1);
  w.byte(0);
  const s = inner.str;
  w.ensure(s.length);
  for (let i = 0; i < s.length; i++) w.buf[w.pos++] = s.charCodeAt(i);
}

function writeArray(w: Writer, t: GType, v: GVariantValue, depth: number): void {
  const elem = t.elem!;
  if (elem.code === 'y') {
    if (!(v instanceof Uint8Array)) throw mismatch(t, 'a Uint8Array', v);
    w.ensure(v.length);
    w.buf.set(v, w.pos);
    w.pos += v.length;
    return;
  }
  if (!Array.isArray(v)) throw mismatch(t, 'an array', v);
  enter(t, depth);
  if (elem.fixedSize !== 0) {
    // Fixed-size elements are multiples of their alignment: no padding, no offsets.
    for (let i = 0; i < v.length; i++) writeValue(w, elem, v[i] as GVariantValue, depth + 1);
    return;
  }
  const start = w.pos;
  const ends: number[] = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) {
    w.pad(elem.align);
    writeValue(w, elem, v[i] as GVariantValue, depth + 1);
    ends[i] = w.pos - start;
  }
  writeOffsets(w, start, ends, false);
}

function writeTuple(w: Writer, t: GType, v: GVariantValue, depth: number): void {
  const members = t.members;
  if (!Array.isArray(v) || v.length !== members.length) {
    throw mismatch(t, `an array of ${members.length} member${members.length === 1 ? '' : 's'}`, v);
  }
  enter(t, depth);
  const start = w.pos;
  const ends: number[] = [];
  const last = members.length - 1;
  for (let i = 0; i <= last; i++) {
    const m = members[i]!;
    w.pad(m.align);
    writeValue(w, m, v[i] as GVariantValue, depth + 1);
    // The last member's end is the start of the offsets, so it needs no offset of its own.
    if (m.fixedSize === 0 && i < last) ends.push(w.pos - start);
  }
  if (t.fixedSize !== 0) w.zeroTo(start + t.fixedSize);
  else writeOffsets(w, start, ends, true);
}

/**
 * Appends framing offsets (member ends relative to `start`) at the smallest width in which the
 * whole container, offsets included, can address itself. Tuples store them in reverse order.
 */
function writeOffsets(w: Writer, start: number, ends: number[], reverse: boolean): void {
  const k = ends.length;
  if (k === 0) return;
  const body = w.pos - start;
  const size = body + k <= 0xff ? 1 : body + 2 * k <= 0xffff ? 2 : body + 4 * k <= 0xffffffff ? 4 : 8;
  w.ensure(k * size);
  const view = w.view;
  for (let j = 0; j < k; j++) {
    const off = ends[reverse ? k - 1 - j : j]!;
    const p = w.pos;
    if (size === 1) w.buf[p] = off;
    else if (size === 2) view.setUint16(p, off, true);
    else if (size === 4) view.setUint32(p, off, true);
    else view.setBigUint64(p, BigInt(off), true);
    w.pos = p + size;
  }
}

function int(t: GType, v: GVariantValue, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw mismatch(t, `an integer ${min}..${max}`, v);
  }
  return v;
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

function int64(t: GType, v: GVariantValue, min: bigint, max: bigint): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
  else throw mismatch(t, `a bigint ${min}..${max}`, v);
  if (b < min || b > max) throw mismatch(t, `a bigint ${min}..${max}`, v);
  return b;
}

function mismatch(t: { str: string }, expected: string, v: unknown): Error {
  return gvariantError(t.str, `expected ${expected}, got ${describe(v)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Uint8Array) return `a Uint8Array of ${v.length}`;
  if (v instanceof Variant) return `a Variant of '${shorten(v.type)}'`;
  if (typeof v === 'string') return `'${shorten(v, 40)}'`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return typeof v;
}
