/**
 * GVariant type strings: the value model, parsing into a cached layout tree, and the string
 * checks ('o' object paths, 'g' signatures) shared by the encoder and the decoder.
 *
 * Layout facts (GVariant spec, Ryan Lortie): each type has an alignment and is either fixed-size
 * or variable-size. Containers are aligned to the largest alignment they hold, so a member's
 * position relative to its container start is aligned exactly when it is aligned absolutely:
 * both codecs rely on this and work in absolute positions from a root at offset 0.
 */
import { GroveError } from '../../errors.js';

/**
 * A JavaScript value for a GVariant, read through its type string:
 * 'b' boolean; 'y' 'n' 'q' 'i' 'u' 'h' 'd' number; 'x' 't' bigint; 's' 'o' 'g' string;
 * 'ay' Uint8Array; other arrays, tuples and dict entries ([key, value]) JS arrays;
 * 'v' a {@link Variant}; 'mX' null for Nothing, otherwise the inner value itself.
 */
export type GVariantValue =
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | GVariantValue[]
  | Variant
  | null;

/** A value of type 'v': a value together with its own type string. */
export class Variant {
  constructor(
    readonly type: string,
    readonly value: GVariantValue,
  ) {}
}

/**
 * Most levels of nested containers and variants, counted together, that grove encodes, decodes
 * or accepts in a type string. GLib allows 128; ostree objects use at most 4, and the limit keeps
 * hostile input from exhausting the stack.
 */
export const MAX_DEPTH = 64;

/** A parsed type string with its serialization layout. Immutable and shared via the cache. */
export interface GType {
  /** The complete type string, e.g. 'a{sv}'. */
  readonly str: string;
  /** The first character: a basic type letter, 'v', 'a', 'm', '(' or '{'. */
  readonly code: string;
  /** Alignment in bytes: 1, 2, 4 or 8. */
  readonly align: number;
  /** Serialized size for fixed-size types; 0 for variable-size ones. */
  readonly fixedSize: number;
  /** Element type of 'a' and 'm'. */
  readonly elem: GType | null;
  /** Members of '(' and '{'; empty otherwise. */
  readonly members: readonly GType[];
  /** Tuples and dict entries: how many framing offsets (variable-size members but the last). */
  readonly frameCount: number;
}

const FIXED_BASIC: Record<string, number> = { b: 1, y: 1, n: 2, q: 2, i: 4, u: 4, h: 4, x: 8, t: 8, d: 8 };
const BASIC = 'bynqiuxthdsog';

/** Bad data or a bad type: the one error the codec raises for anything a caller can cause. */
export function gvariantError(type: string, message: string): GroveError {
  return new GroveError('GROVE_BAD_GVARIANT', `GVariant '${shorten(type)}': ${message}`);
}

/** Keeps hostile type strings and values from producing megabyte-long messages. */
export function shorten(s: string, max = 80): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(${s.length} chars)`;
}

// Hostile data can carry any number of distinct variant type strings; the cache is cleared when
// it grows past this, which costs a re-parse and never correctness.
const CACHE_LIMIT = 4096;
const cache = new Map<string, GType>();

/**
 * Parses a single complete, definite type string, from the cache when possible.
 * @throws GroveError GROVE_BAD_GVARIANT when `type` is not exactly one valid type.
 */
export function parseType(type: string): GType {
  const hit = cache.get(type);
  if (hit !== undefined) return hit;
  if (typeof type !== 'string') throw badType(String(type), 'not a string');
  const p = new TypeParser(type);
  const t = p.parse(0);
  if (p.pos !== type.length) throw badType(type, `unexpected '${type[p.pos]}' after a complete type at ${p.pos}`);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(type, t);
  return t;
}

/** True when `type` is a single complete definite type string ('r', '*', '?' are not). */
export function isValidType(type: string): boolean {
  if (typeof type !== 'string') return false;
  try {
    parseType(type);
    return true;
  } catch (e) {
    if (e instanceof GroveError) return false;
    throw e;
  }
}

function badType(type: string, why: string): GroveError {
  return new GroveError('GROVE_BAD_GVARIANT', `invalid GVariant type string '${shorten(type)}': ${why}`);
}

class TypeParser {
  pos = 0;
  constructor(private readonly s: string) {}

  parse(depth: number): GType {
    const s = this.s;
    const start = this.pos;
    if (start >= s.length) throw badType(s, s.length === 0 ? 'empty' : 'ends inside a container');
    const c = s[start]!;
    this.pos++;
    const fixed = FIXED_BASIC[c];
    if (fixed !== undefined) return leaf(c, fixed, fixed);
    switch (c) {
      case 's':
      case 'o':
      case 'g':
        return leaf(c, 1, 0);
      case 'v':
        return leaf(c, 8, 0);
      case 'a':
      case 'm': {
        if (depth >= MAX_DEPTH) throw badType(s, `nested deeper than ${MAX_DEPTH} levels`);
        const elem = this.parse(depth + 1);
        return {
          str: s.slice(start, this.pos),
          code: c,
          align: elem.align,
          fixedSize: 0,
          elem,
          members: [],
          frameCount: 0,
        };
      }
      case '(':
      case '{': {
        if (depth >= MAX_DEPTH) throw badType(s, `nested deeper than ${MAX_DEPTH} levels`);
        const close = c === '(' ? ')' : '}';
        const members: GType[] = [];
        while (s[this.pos] !== close) {
          if (this.pos >= s.length) throw badType(s, `missing '${close}'`);
          if (c === '{' && members.length === 0 && !BASIC.includes(s[this.pos]!)) {
            throw badType(s, `dict entry key at ${this.pos} is not a basic type`);
          }
          members.push(this.parse(depth + 1));
        }
        this.pos++;
        if (c === '{' && members.length !== 2) throw badType(s, 'a dict entry has exactly a key and a value');
        return tupleType(s.slice(start, this.pos), c, members);
      }
      default:
        throw badType(s, `'${c}' at ${start} is not a definite type`);
    }
  }
}

function leaf(code: string, align: number, fixedSize: number): GType {
  return { str: code, code, align, fixedSize, elem: null, members: [], frameCount: 0 };
}

function tupleType(str: string, code: string, members: GType[]): GType {
  let align = 1;
  let size = 0;
  let fixed = true;
  let frameCount = 0;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    if (m.align > align) align = m.align;
    if (m.fixedSize === 0) {
      fixed = false;
      if (i < members.length - 1) frameCount++;
    } else {
      size = alignUp(size, m.align) + m.fixedSize;
    }
  }
  // A fixed-size tuple is padded to its own alignment so that arrays of it stay aligned; the
  // unit '()' would be zero bytes, which the spec makes one so every value has a size.
  let fixedSize = 0;
  if (fixed) fixedSize = members.length === 0 ? 1 : alignUp(size, align);
  return { str, code, align, fixedSize, elem: null, members, frameCount };
}

export function alignUp(n: number, align: number): number {
  return (n + align - 1) & ~(align - 1);
}

/** Framing offset width for a container of `size` bytes, as both GLib and grove read it. */
export function offsetSizeFor(size: number): number {
  if (size === 0) return 0;
  if (size <= 0xff) return 1;
  if (size <= 0xffff) return 2;
  if (size <= 0xffffffff) return 4;
  return 8;
}

const OBJECT_PATH = /^\/(?:[A-Za-z0-9_]+(?:\/[A-Za-z0-9_]+)*)?$/;

/** D-Bus object path syntax, which GLib requires of every 'o'. */
export function isObjectPath(s: string): boolean {
  return OBJECT_PATH.test(s);
}

/**
 * A 'g' value: zero or more complete types, D-Bus letters only. GLib rejects 'm' here because
 * signatures travel over D-Bus, which has no maybe type.
 */
export function isSignature(s: string): boolean {
  if (!/^[ybnqiuxthdvasog(){}]*$/.test(s)) return false;
  const p = new TypeParser(s);
  try {
    while (p.pos < s.length) p.parse(0);
  } catch (e) {
    if (e instanceof GroveError) return false;
    throw e;
  }
  return true;
}
