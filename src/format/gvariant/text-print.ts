/**
 * GVariant text output, character for character what GLib's g_variant_print() writes: ostree
 * prints metadata it has no special format for this way (`ostree show --print-metadata-key`,
 * `ostree summary --view`), and scripts compare against that output.
 */
import { encode } from './encode.js';
import { type GType, type GVariantValue, Variant, parseType } from './types.js';

/**
 * Formats `v` as g_variant_print(v, typeAnnotate) does. With `typeAnnotate`, values whose type
 * the text alone would not give back carry it: `uint64 5`, `@as []`, `@mi 5`; inside an array only
 * the first element does, as in GLib. Without it, only variants' contents are annotated.
 * Doubles are printed with 17 significant digits (`0.10000000000000001`), strings in single
 * quotes unless they hold one, 'ay' as `b'…'` when it is one NUL-terminated C string.
 * @throws GroveError GROVE_BAD_GVARIANT when the value does not fit its type (as encode()).
 */
export function printVariant(v: Variant, opts: { typeAnnotate?: boolean } = {}): string {
  // Validates the whole value against its type once, so the walk below can trust it.
  encode(v.type, v.value);
  return print(parseType(v.type), v.value, opts.typeAnnotate ?? false);
}

const PREFIXES: Record<string, string> = {
  n: 'int16 ',
  q: 'uint16 ',
  u: 'uint32 ',
  x: 'int64 ',
  t: 'uint64 ',
  h: 'handle ',
  o: 'objectpath ',
  g: 'signature ',
};

function print(t: GType, v: GVariantValue, annotate: boolean): string {
  const prefix = annotate ? (PREFIXES[t.code] ?? '') : '';
  const declared = annotate ? `@${t.str} ` : '';
  switch (t.code) {
    case 'b':
      return v ? 'true' : 'false';
    case 'y':
      return `${annotate ? 'byte ' : ''}0x${(v as number).toString(16).padStart(2, '0')}`;
    case 'd':
      return formatDouble(v as number);
    case 's':
    case 'o':
    case 'g':
      return prefix + quote(v as string);
    case 'v': {
      const inner = v as Variant;
      return `<${print(parseType(inner.type), inner.value, true)}>`;
    }
    case 'm':
      // Just(x) is x itself in grove's model, so the `just` GLib writes only before a nested
      // Nothing never arises.
      return declared + (v === null ? 'nothing' : print(t.elem!, v, false));
    case 'a':
      return printArray(t, v, annotate, declared);
    case '(': {
      const members = (v as GVariantValue[]).map((m, i) => print(t.members[i]!, m, annotate));
      return `(${members.join(', ')}${members.length === 1 ? ',' : ''})`;
    }
    case '{': {
      const [key, value] = v as GVariantValue[];
      return `{${print(t.members[0]!, key!, annotate)}, ${print(t.members[1]!, value!, annotate)}}`;
    }
    default:
      return prefix + String(v);
  }
}

function printArray(t: GType, v: GVariantValue, annotate: boolean, declared: string): string {
  const elem = t.elem!;
  if (elem.code === 'y' && isCString(v as Uint8Array)) return quoteBytes(v as Uint8Array);
  const items = elem.code === 'y' ? Array.from(v as Uint8Array) : (v as GVariantValue[]);
  if (items.length === 0) return declared + (elem.code === '{' ? '{}' : '[]');
  if (elem.code === '{') {
    const entries = items.map((entry, i) => {
      const [key, value] = entry as GVariantValue[];
      const first = annotate && i === 0;
      return `${print(elem.members[0]!, key!, first)}: ${print(elem.members[1]!, value!, first)}`;
    });
    return `{${entries.join(', ')}}`;
  }
  return `[${items.map((item, i) => print(elem, item, annotate && i === 0)).join(', ')}]`;
}

/** One NUL, at the end: what g_variant_get_bytestring() can hand back whole. */
function isCString(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes.indexOf(0) === bytes.length - 1;
}

const NAMED: Record<number, string> = {
  7: '\\a',
  8: '\\b',
  9: '\\t',
  10: '\\n',
  11: '\\v',
  12: '\\f',
  13: '\\r',
  0x5c: '\\\\',
};

// What GLib's g_unichar_isprint() calls unprintable: controls, format characters, unassigned
// code points and surrogates. "Unassigned" follows the Unicode version of the tables: GLib 2.74
// has Unicode 14, so it escapes characters added since that Node's newer ICU prints as they are.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cn}\p{Cs}]/u;

/** Single quotes unless the string holds one; unprintable characters as \uXXXX or \UXXXXXXXX. */
function quote(s: string): string {
  const q = s.includes("'") ? '"' : "'";
  let out = q;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === q) out += `\\${q}`;
    else if (NAMED[cp] !== undefined) out += NAMED[cp];
    else if (UNPRINTABLE.test(ch)) out += cp > 0xffff ? `\\U${hex(cp, 8)}` : `\\u${hex(cp, 4)}`;
    else out += ch;
  }
  return out + q;
}

/** `b'…'` escaped as GLib's g_strescape() does: octal for anything outside printable ASCII. */
function quoteBytes(bytes: Uint8Array): string {
  const body = bytes.subarray(0, bytes.length - 1);
  const q = body.includes(0x27) ? '"' : "'";
  let out = `b${q}`;
  for (const b of body) {
    if (b === 0x22) out += '\\"';
    else if (NAMED[b] !== undefined && b !== 7) out += NAMED[b]; // g_strescape has no \a
    else if (b < 0x20 || b >= 0x7f) out += `\\${b.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return out + q;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** printf's `%.17g`, then `.0` appended if that reads as an integer, as GLib does. */
function formatDouble(x: number): string {
  let s: string;
  if (Number.isNaN(x)) s = 'nan';
  else if (!Number.isFinite(x)) s = x > 0 ? 'inf' : '-inf';
  else s = formatG17(x);
  return /[.en]/.test(s) ? s : `${s}.0`;
}

/**
 * `%.17g` from the exact decimal expansion, rounded half to even as glibc does; JavaScript's
 * toPrecision rounds exact ties up, which differs for doubles such as 123456789012345.125.
 */
function formatG17(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const sign = x < 0 ? '-' : '';
  let [digits, exp] = exactDecimal(Math.abs(x));
  if (digits.length > 17) {
    const rest = digits.slice(17);
    let head = BigInt(digits.slice(0, 17));
    const tie = rest[0] === '5' && /^50*$/.test(rest);
    if (rest[0]! > '5' || (rest[0] === '5' && !tie) || (tie && (head & 1n) === 1n)) head++;
    digits = head.toString();
    if (digits.length > 17) exp++;
  }
  digits = digits.replace(/0+$/, '');
  if (exp < -4 || exp >= 17) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = digits.slice(exp + 1);
  return sign + int + (frac === '' ? '' : `.${frac}`);
}

/** All significant digits of a positive finite double, and the power of ten of the first. */
function exactDecimal(x: number): [string, number] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number(bits >> 52n);
  const mantissa = (bits & ((1n << 52n) - 1n)) | (biased === 0 ? 0n : 1n << 52n);
  const e = (biased === 0 ? 1 : biased) - 1075; // x = mantissa × 2^e
  if (e >= 0) {
    const digits = (mantissa << BigInt(e)).toString();
    return [digits, digits.length - 1];
  }
  // mantissa × 2^e = mantissa × 5^-e × 10^e
  const digits = (mantissa * 5n ** BigInt(-e)).toString();
  return [digits, digits.length - 1 + e];
}
