/**
 * Literal tokens of the GVariant text format, read as GLib reads them. GLib hands numbers to
 * the C library (strtoull for integers, strtod for doubles), so its quirks are theirs: a leading
 * 0 is octal, `0x1.8p1` is a double, and `-` alone is the integer 0.
 */
import type { GroveError } from '../../errors.js';

type Fail = (why: string) => GroveError;

/** GLib's test for a floating-point literal, which then fits only 'd'; `0x1e` is an integer. */
export function isFloatToken(token: string): boolean {
  return (
    token.includes('.') ||
    (!token.startsWith('0x') && token.includes('e')) ||
    token.includes('inf') ||
    token.includes('nan')
  );
}

const INT_RANGES: Record<string, [bigint, bigint]> = {
  y: [0n, 0xffn],
  n: [-0x8000n, 0x7fffn],
  q: [0n, 0xffffn],
  i: [-0x80000000n, 0x7fffffffn],
  h: [-0x80000000n, 0x7fffffffn],
  u: [0n, 0xffffffffn],
  x: [-(1n << 63n), (1n << 63n) - 1n],
  t: [0n, (1n << 64n) - 1n],
};

/**
 * An integer token as type `code` (a letter of 'ynqiuxth'): an optional '-', then what strtoull
 * reads in base 0 (its own sign, then 0x… hex, 0… octal or decimal), all of the token.
 * @returns a bigint for 'x' and 't', a number otherwise.
 */
export function readInteger(token: string, code: string, fail: Fail): number | bigint {
  const negative = token.startsWith('-');
  const body = negative ? token.slice(1) : token;
  const m = /^([+-]?)(?:0[xX]([0-9a-fA-F]+)|0([0-7]*)|([1-9][0-9]*))/.exec(body);
  let n = 0n;
  // strtoull reading nothing at all is 0, and fine if nothing follows: so `-` is 0.
  if (m === null ? body !== '' : m[0].length !== body.length) throw fail('invalid character in number');
  if (m !== null) {
    if (m[2] !== undefined) n = BigInt(`0x${m[2]}`);
    else if (m[3] !== undefined) n = m[3] === '' ? 0n : BigInt(`0o${m[3]}`);
    else n = BigInt(m[4]!);
    if (n >= 1n << 64n) throw fail('integer too big for any type');
    // strtoull negates in unsigned arithmetic: `--5` is 2^64-5 negated, out of every range.
    if (m[1] === '-' && n !== 0n) n = (1n << 64n) - n;
  }
  if (negative) n = -n;
  const [min, max] = INT_RANGES[code]!;
  if (n < min || n > max) throw fail(`number out of range for type '${code}'`);
  return code === 'x' || code === 't' ? n : Number(n);
}

// What strtod consumes: a sign, then inf, infinity, nan, hex with an optional binary exponent,
// or decimal with an optional exponent; an exponent with no digits is not consumed.
const STRTOD = new RegExp(
  [
    '^[+-]?(?:inf(?:inity)?|nan',
    '0x(?:[0-9a-f]+\\.?[0-9a-f]*|\\.[0-9a-f]+)(?:p[+-]?[0-9]+)?',
    '(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:e[+-]?[0-9]+)?)',
  ].join('|'),
  'i',
);
const MIN_NORMAL = 2 ** -1022;

/**
 * A token as type 'd', as strtod reads it (decimal, hex with a binary exponent, inf, infinity,
 * nan, any case). Like GLib, refuses results strtod flags as out of range: overflow to infinity
 * and inexact results below the smallest normal double (an exact subnormal is fine, as is 0).
 */
export function readDouble(token: string, fail: Fail): number {
  const m = STRTOD.exec(token);
  if (m === null || m[0].length !== token.length) throw fail('invalid character in number');
  const negative = token.startsWith('-');
  const body = /^[+-]/.test(token) ? token.slice(1) : token;
  const lower = body.toLowerCase();
  if (lower.startsWith('inf')) return negative ? -Infinity : Infinity;
  if (lower === 'nan') {
    // strtod gives -nan a sign bit that a JS number cannot be trusted to keep.
    if (negative) throw fail('-nan is not supported by grove');
    return NaN;
  }
  const { value, tinyInexact } = lower.startsWith('0x') ? hexValue(lower.slice(2)) : decimalValue(body);
  if (!Number.isFinite(value)) throw fail('number too big for a double');
  if (value !== 0 && tinyInexact) throw fail('number too small for a double (it would lose precision)');
  return negative ? -value : value;
}

/** A hex mantissa `h.h` with optional `pN`, rounded to nearest, ties to even. */
function hexValue(s: string): { value: number; tinyInexact: boolean } {
  const [mantissa, exp = '0'] = s.split('p') as [string, string?];
  const [int, frac = ''] = mantissa.split('.') as [string, string?];
  const m = BigInt(`0x0${int}${frac}`);
  if (m === 0n) return { value: 0, tinyInexact: false };
  // Past this bound the result is 0 or infinity whatever the mantissa; keeps the shifts bounded.
  const bound = 4 * mantissa.length + 2200;
  const e = Math.max(-bound, Math.min(bound, Number(exp))) - 4 * frac.length;
  const top = m.toString(2).length + e; // m × 2^e lies in [2^(top-1), 2^top)
  const lsb = Math.max(top - 53, -1074); // weight of the last bit a double keeps there
  if (top > 1024) return { value: Infinity, tinyInexact: false };
  const shift = lsb - e;
  if (shift <= 0) return { value: Number(m << BigInt(-shift)) * 2 ** lsb, tinyInexact: false };
  let q = m >> BigInt(shift);
  const rest = m - (q << BigInt(shift));
  const half = 1n << BigInt(shift - 1);
  if (rest > half || (rest === half && (q & 1n) === 1n)) q++;
  return { value: Number(q) * 2 ** lsb, tinyInexact: rest !== 0n && top <= -1022 };
}

/** A decimal literal: JavaScript rounds as strtod does; only tiny results need an exact look. */
function decimalValue(s: string): { value: number; tinyInexact: boolean } {
  const value = Number(s);
  if (value === 0 || value > MIN_NORMAL) return { value, tinyInexact: false };
  // value = k × 2^-1074 exactly; the literal is digits × 10^exp. Compare them as integers.
  const [mantissa, exp = '0'] = s.toLowerCase().split('e') as [string, string?];
  const [int, frac = ''] = mantissa.split('.') as [string, string?];
  const digits = BigInt(`0${int}${frac}`);
  const e10 = Number(exp) - frac.length;
  const k = BigInt(value / 2 ** -1074);
  const exact = (e10 >= 0 ? digits * 10n ** BigInt(e10) : digits) << 1074n;
  const rounded = e10 >= 0 ? k : k * 10n ** BigInt(-e10);
  // Tiny means below the smallest normal before rounding, even if it rounds up to it.
  return { value, tinyInexact: exact !== rounded && (value < MIN_NORMAL || exact < rounded) };
}

// A backslash before a newline continues the line.
const NAMED_ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\n': '',
};

/** A quoted string token's contents: named escapes, \uXXXX, \UXXXXXXXX; `\c` is c otherwise. */
export function unescapeString(token: string, fail: Fail): string {
  let out = '';
  for (let i = 1; i < token.length - 1; i++) {
    const c = token[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = token[++i]!;
    if (e === 'u' || e === 'U') {
      const digits = e === 'u' ? 4 : 8;
      const hex = token.slice(i + 1, i + 1 + digits);
      const cp = hex.length === digits && /^[0-9a-fA-F]+$/.test(hex) ? parseInt(hex, 16) : -1;
      // GLib refuses \u0000 itself; surrogates and code points past U+10FFFF fail its UTF-8 check.
      if (cp <= 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        throw fail(`invalid ${digits}-character unicode escape '\\${e}${hex}'`);
      }
      out += String.fromCodePoint(cp);
      i += digits;
    } else {
      out += NAMED_ESCAPES[e] ?? e;
    }
  }
  return out;
}

const utf8 = new TextEncoder();

/**
 * A `b'…'` token's bytes: named escapes and one to three octal digits (`\377`, taken modulo 256)
 * but no \u. GLib builds it as a C string, so it ends at the first NUL, and keeps that NUL.
 */
export function unescapeBytes(token: string): Uint8Array {
  const out: number[] = [];
  for (let i = 2; i < token.length - 1; i++) {
    const escaped = token[i] === '\\';
    if (escaped) i++;
    const c = String.fromCodePoint(token.codePointAt(i)!);
    i += c.length - 1;
    const octal = escaped ? /^[0-7]{1,3}/.exec(token.slice(i, i + 3)) : null;
    if (octal) {
      out.push(parseInt(octal[0], 8) & 0xff);
      i += octal[0].length - 1;
    } else {
      out.push(...utf8.encode(escaped ? (NAMED_ESCAPES[c] ?? c) : c));
    }
  }
  const nul = out.indexOf(0);
  if (nul >= 0) out.length = nul;
  out.push(0);
  return Uint8Array.from(out);
}
