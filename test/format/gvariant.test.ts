import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { GroveError } from '../../src/errors.js';
import { Variant, decode, encode, isValidType, type GVariantValue } from '../../src/format/gvariant.js';
import { parseType, type GType } from '../../src/format/gvariant/types.js';

// Produced by fixtures/gvariant/make-vectors.py with the real GLib; see its docstring.
interface Vectors {
  glib: string;
  vectors: { type: string; value: unknown; hex: string; decodeOnly?: boolean }[];
  invalid: { type: string; hex: string; why: string }[];
  mutants: { type: string; hex: string; normal: boolean; reserialized?: string }[];
}
const vectors = JSON.parse(
  readFileSync(new URL('../../../fixtures/gvariant/vectors.json', import.meta.url), 'utf8'),
) as Vectors;

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** The generator's JSON form back to grove's value model, driven by the type. */
function fromJson(t: GType, j: unknown): GVariantValue {
  switch (t.code) {
    case 'b':
      return j as boolean;
    case 'x':
    case 't':
      return BigInt(j as string);
    case 'd':
      return typeof j === 'string' ? Number(j) : (j as number);
    case 's':
    case 'o':
    case 'g':
      return j as string;
    case 'v': {
      const { type, value } = j as { type: string; value: unknown };
      return new Variant(type, fromJson(parseType(type), value));
    }
    case 'm':
      return j === null ? null : fromJson(t.elem!, j);
    case 'a':
      if (t.elem!.code === 'y') return fromHex(j as string);
      return (j as unknown[]).map((e) => fromJson(t.elem!, e));
    case '(':
    case '{':
      return (j as unknown[]).map((e, i) => fromJson(t.members[i]!, e));
    default:
      return j as number;
  }
}

function assertBad(fn: () => unknown, what: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof GroveError, `${what}: expected GroveError, got ${String(e)}`);
    assert.equal(e.code, 'GROVE_BAD_GVARIANT', what);
    return true;
  });
}

function label(type: string, hex: string): string {
  return `${type} ${hex.length > 40 ? `${hex.slice(0, 40)}…(${hex.length / 2} bytes)` : hex || '(empty)'}`;
}

describe(`GLib ${vectors.glib} golden vectors`, () => {
  for (const v of vectors.vectors) {
    it(label(v.type, v.hex), () => {
      const value = fromJson(parseType(v.type), v.value);
      const bytes = fromHex(v.hex);
      assert.deepEqual(decode(v.type, bytes), value);
      if (!v.decodeOnly) assert.equal(toHex(encode(v.type, value)), v.hex);
    });
  }

  it('include containers framed with 1-, 2- and 4-byte offsets', () => {
    const sizes = vectors.vectors.filter((v) => v.type === '(ss)' || v.type === 'as').map((v) => v.hex.length / 2);
    assert.ok(sizes.some((n) => n > 0 && n <= 0xff));
    assert.ok(sizes.some((n) => n > 0xff && n <= 0xffff));
    assert.ok(sizes.some((n) => n > 0xffff));
  });
});

describe('input GLib calls non-normal', () => {
  for (const v of vectors.invalid) {
    it(`${v.why}: ${label(v.type, v.hex)}`, () => {
      assertBad(() => decode(v.type, fromHex(v.hex)), v.why);
    });
  }
});

describe('GLib-judged corruptions', () => {
  // GLib calls a few inputs normal that it would never write: grove accepts exactly the bytes
  // GLib writes for the value it reads, since checksums are over those bytes.
  it(`agrees with GLib on ${vectors.mutants.length} mutants`, () => {
    const disagreements: string[] = [];
    for (const m of vectors.mutants) {
      const bytes = fromHex(m.hex);
      const canonical = m.normal && m.reserialized === m.hex;
      let decoded: GVariantValue | undefined;
      try {
        decoded = decode(m.type, bytes);
      } catch (e) {
        if (!(e instanceof GroveError) || e.code !== 'GROVE_BAD_GVARIANT') throw e;
        if (canonical) disagreements.push(`refused normal ${m.type} ${m.hex}: ${e.message}`);
        continue;
      }
      if (!canonical) disagreements.push(`accepted non-normal ${m.type} ${m.hex}`);
      else if (toHex(encode(m.type, decoded)) !== m.hex) disagreements.push(`no round trip ${m.type} ${m.hex}`);
    }
    assert.deepEqual(disagreements, []);
  });
});

describe('malformed input', () => {
  it('refuses a 0-byte variable-size tuple, which GLib calls normal but writes with offsets', () => {
    assertBad(() => decode('(ayay)', new Uint8Array(0)), '(ayay) of 0 bytes');
    assertBad(() => decode('(a(say)a(sayay))', new Uint8Array(0)), 'dirtree of 0 bytes');
    assert.deepEqual(decode('(ayay)', Uint8Array.from([0])), [new Uint8Array(0), new Uint8Array(0)]);
    // With no framing offsets at all, 0 bytes is what GLib writes: '(as)' holding [].
    assert.deepEqual(encode('(as)', [[]]), new Uint8Array(0));
    assert.deepEqual(decode('(as)', new Uint8Array(0)), [[]]);
  });

  const commit = vectors.vectors.find((v) => v.type === '(a{sv}aya(say)sstayay)')!;

  it('refuses every truncation of a commit', () => {
    const bytes = fromHex(commit.hex);
    for (let n = 0; n < bytes.length; n++) {
      assertBad(() => decode(commit.type, bytes.subarray(0, n)), `commit truncated to ${n}`);
    }
  });

  it('refuses an offset pointing past the end', () => {
    assertBad(() => decode('as', fromHex('610062000409')), 'as');
    assertBad(() => decode('(sy)', fromHex('61000109')), '(sy)');
  });

  it('refuses strings without their NUL', () => {
    assertBad(() => decode('s', fromHex('616263')), 's');
    assertBad(() => decode('(ss)', fromHex('6100626302')), '(ss)');
  });

  it('refuses bad variant type strings', () => {
    for (const type of ['', 'z', 'ii', 'a', '(i', 'r', '?', '{vs}', 'a{sv']) {
      const bytes = Uint8Array.from([1, 0, ...Buffer.from(type, 'latin1')]);
      assertBad(() => decode('v', bytes), `variant type '${type}'`);
    }
    assertBad(() => decode('v', Uint8Array.from([1, 0, 0xe9])), 'non-ASCII type');
  });

  it('names the type and the fault in the message', () => {
    assert.throws(() => decode('(sy)', fromHex('61000109')), /GVariant '\(sy\)' at byte 0: .*offset|outside/);
    assert.throws(() => decode('s', fromHex('ff00')), /GVariant 's' at byte 0: string is not valid UTF-8/);
  });

  it('refuses variants nested past the depth limit', () => {
    let bytes = Uint8Array.from([7, 0, 0x79]);
    for (let i = 0; i < 70; i++) bytes = Uint8Array.from([...bytes, 0, 0x76]);
    assertBad(() => decode('v', bytes), 'deep variant');
    assert.ok(decode('v', Uint8Array.from([7, 0, 0x79, 0, 0x76])) instanceof Variant);
  });

  it('refuses type strings nested past the depth limit', () => {
    assert.equal(isValidType(`${'a'.repeat(64)}y`), true);
    assert.equal(isValidType(`${'a'.repeat(65)}y`), false);
    assert.equal(isValidType(`${'('.repeat(100000)}${')'.repeat(100000)}`), false);
    assertBad(() => decode(`${'m'.repeat(200)}y`, new Uint8Array(0)), 'deep maybe type');
  });

  it('works on offset tables full of empty elements without blowing up', () => {
    // 120000 zero bytes read as 30000 4-byte offsets of 0: 30000 empty inner arrays. Linear
    // work, and accepted, as GLib would.
    const bytes = new Uint8Array(120000);
    const out = decode('aas', bytes) as unknown[];
    assert.equal(out.length, 30000);
  });
});

describe('encode refuses values that do not fit the type', () => {
  const cases: [string, GVariantValue][] = [
    ['b', 1],
    ['y', 256],
    ['y', -1],
    ['y', 1.5],
    ['n', 32768],
    ['q', -1],
    ['i', 2 ** 31],
    ['u', 2 ** 32],
    ['h', '1'],
    ['x', 2n ** 63n],
    ['x', 2 ** 60],
    ['t', -1n],
    ['t', 2n ** 64n],
    ['d', 1n],
    ['s', 5],
    ['s', 'a\0b'],
    ['s', 'é\0'],
    ['s', 'lone \uD800 surrogate'],
    ['o', 'no/slash'],
    ['o', '/trailing/'],
    ['g', 'ms'],
    ['g', 'a'],
    ['ay', [1, 2]],
    ['as', 'abc'],
    ['(ss)', ['a']],
    ['(ss)', ['a', 'b', 'c']],
    ['{sv}', ['k', 1]],
    ['v', 'plain'],
    ['v', new Variant('z', 1)],
    ['mi', 'x'],
  ];
  for (const [type, value] of cases) {
    it(`${type} ${typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value)}`, () => {
      assertBad(() => encode(type, value), type);
    });
  }

  it('refuses a variant that contains itself', () => {
    const items: GVariantValue[] = [];
    const loop = new Variant('av', items);
    items.push(loop);
    assertBad(() => encode('v', loop), 'cyclic variant');
  });

  it('refuses invalid types', () => {
    assertBad(() => encode('', 1), 'empty type');
    assertBad(() => encode('ii', 1), 'two types');
    assertBad(() => decode('q?', new Uint8Array(2)), 'indefinite');
  });
});

describe('isValidType', () => {
  it('accepts complete definite types', () => {
    for (const t of ['y', 'ay', 'a{sv}', '()', '(())', 'mmv', '(a(say)a(sayay))', '{yv}', 'a{s(ii)}', 'h']) {
      assert.equal(isValidType(t), true, t);
    }
  });
  it('refuses the rest', () => {
    for (const t of ['', 'a', 'm', '(', ')', '{s}', '{sss}', '{vs}', '{(s)s}', 'ii', 'r', '*', '?', 'a{sv}x', 'z', 'aR']) {
      assert.equal(isValidType(t), false, t);
    }
  });
});

describe('value model details', () => {
  it("returns 'ay' as a plain copy, even from a Buffer", () => {
    const input = Buffer.from([1, 2, 3]);
    const out = decode('ay', input) as Uint8Array;
    assert.equal(Object.getPrototypeOf(out), Uint8Array.prototype);
    input[0] = 9;
    assert.deepEqual(out, Uint8Array.from([1, 2, 3]));
  });

  it('decodes from a view at any byte offset of a larger buffer', () => {
    const inner = encode('(yt)', [1, 2n]);
    const host = new Uint8Array(inner.length + 3);
    host.set(inner, 3);
    assert.deepEqual(decode('(yt)', host.subarray(3)), [1, 2n]);
  });

  it("accepts safe-integer numbers for 'x' and 't', returning bigint", () => {
    assert.deepEqual(encode('t', 5), encode('t', 5n));
    assert.deepEqual(encode('x', -5), encode('x', -5n));
    assert.equal(decode('t', encode('t', 5)), 5n);
  });

  it("maps nested maybes ambiguously: Just(Nothing) of 'mmi' reads as null", () => {
    assert.equal(decode('mmi', Uint8Array.from([0])), null);
    assert.deepEqual(encode('mmi', null), new Uint8Array(0));
  });

  it('returns fresh results that do not alias the scratch buffer', () => {
    const a = encode('s', 'first');
    const b = encode('s', 'second');
    assert.equal(Buffer.from(a).toString('latin1'), 'first\0');
    assert.equal(Buffer.from(b).toString('latin1'), 'second\0');
  });
});

// --- random round trips --------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASIC = 'bynqiuxthdsog';

function randomType(rnd: () => number, depth: number, maybeOk = true): string {
  const r = rnd();
  if (depth > 3 || r < 0.45) return BASIC[Math.floor(rnd() * BASIC.length)]!;
  if (r < 0.55) return 'v';
  if (r < 0.7) return `a${randomType(rnd, depth + 1)}`;
  // 'mm' is left out: Just(Nothing) has no distinct JS value.
  if (r < 0.78 && maybeOk) return `m${randomType(rnd, depth + 1, false)}`;
  if (r < 0.86) return `{${BASIC[Math.floor(rnd() * BASIC.length)]}${randomType(rnd, depth + 1)}}`;
  const n = Math.floor(rnd() * 5);
  let s = '(';
  for (let i = 0; i < n; i++) s += randomType(rnd, depth + 1);
  return `${s})`;
}

const WORDS = ['', 'a', 'usr', 'héllo', '✓😀', 'x'.repeat(120), 'y'.repeat(300)];

function randomValue(rnd: () => number, t: GType, depth: number): GVariantValue {
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  switch (t.code) {
    case 'b':
      return rnd() < 0.5;
    case 'y':
      return int(0, 255);
    case 'n':
      return int(-0x8000, 0x7fff);
    case 'q':
      return int(0, 0xffff);
    case 'i':
    case 'h':
      return int(-0x80000000, 0x7fffffff);
    case 'u':
      return int(0, 0xffffffff);
    case 'x':
      return BigInt.asIntN(64, (BigInt(int(0, 0xffffffff)) << 32n) | BigInt(int(0, 0xffffffff)));
    case 't':
      return BigInt.asUintN(64, (BigInt(int(0, 0xffffffff)) << 32n) | BigInt(int(0, 0xffffffff)));
    case 'd':
      return [0, -0, 1.5, -1e300, Infinity, NaN, rnd()][int(0, 6)]!;
    case 's':
      return WORDS[int(0, WORDS.length - 1)]!;
    case 'o':
      return ['/', '/a', '/org/x_1/Y'][int(0, 2)]!;
    case 'g':
      return ['', 'a{sv}', '(ii)v'][int(0, 2)]!;
    case 'v': {
      const inner = parseType(depth > 4 ? 'u' : randomType(rnd, 2));
      return new Variant(inner.str, randomValue(rnd, inner, depth + 1));
    }
    case 'm':
      return rnd() < 0.3 ? null : randomValue(rnd, t.elem!, depth + 1);
    case 'a': {
      const n = depth > 3 ? int(0, 2) : int(0, 12);
      if (t.elem!.code === 'y') return Uint8Array.from({ length: n * 7 }, () => int(0, 255));
      return Array.from({ length: n }, () => randomValue(rnd, t.elem!, depth + 1));
    }
    default:
      return t.members.map((m) => randomValue(rnd, m, depth + 1));
  }
}

describe('random round trips', () => {
  it('decode(encode(v)) equals v and re-encodes to the same bytes, for 3000 values', () => {
    const rnd = mulberry32(0x6c1b);
    for (let i = 0; i < 3000; i++) {
      const type = randomType(rnd, 0);
      const value = randomValue(rnd, parseType(type), 0);
      const bytes = encode(type, value);
      const back = decode(type, bytes);
      assert.deepEqual(back, value, `${type} #${i}`);
      assert.equal(toHex(encode(type, back)), toHex(bytes), `${type} #${i}`);
      // Every strict prefix is refused or, where the type allows it, decodes to something else.
      if (bytes.length > 0 && bytes.length < 64) {
        const cut = bytes.subarray(0, bytes.length - 1);
        try {
          const other = decode(type, cut);
          assert.notDeepEqual(other, value, `${type} #${i} prefix`);
        } catch (e) {
          assert.ok(e instanceof GroveError && e.code === 'GROVE_BAD_GVARIANT', String(e));
        }
      }
    }
  });
});
