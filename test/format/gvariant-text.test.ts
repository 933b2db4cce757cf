import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { GroveError } from '../../src/errors.js';
import { Variant, decode, encode } from '../../src/format/gvariant.js';
import { parseVariantText, printVariant } from '../../src/format/gvariant/text.js';

// Produced by fixtures/gvariant-text/generate.py with the real GLib; see its docstring.
interface Vectors {
  glib: string;
  accepted: { text: string; type: string; hex: string; print: string; printAnnotated: string }[];
  rejected: { text: string; error: string }[];
  unsupported: { text: string; type: string; hex: string; why: string }[];
}
const vectors = JSON.parse(
  readFileSync(new URL('../../../fixtures/gvariant-text/vectors.json', import.meta.url), 'utf8'),
) as Vectors;

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function label(text: string): string {
  const s = JSON.stringify(text);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

function assertRefused(text: string, why: string): GroveError {
  let error: unknown;
  assert.throws(
    () => parseVariantText(text),
    (e: unknown) => {
      error = e;
      return true;
    },
  );
  assert.ok(error instanceof GroveError, `${why}: expected GroveError, got ${String(error)}`);
  assert.equal(error.code, 'GROVE_BAD_OPTION', why);
  assert.doesNotMatch(error.message, /\n/, 'one line');
  return error;
}

describe(`parseVariantText against GLib ${vectors.glib}`, () => {
  for (const v of vectors.accepted) {
    it(`reads ${label(v.text)} as ${v.type}`, () => {
      const parsed = parseVariantText(v.text);
      assert.equal(parsed.type, v.type);
      assert.equal(toHex(encode(parsed.type, parsed.value)), v.hex);
    });
  }

  for (const v of vectors.rejected) {
    it(`refuses ${label(v.text)} (GLib: ${v.error})`, () => {
      assertRefused(v.text, v.error);
    });
  }

  for (const v of vectors.unsupported) {
    it(`refuses ${label(v.text)}, which GLib reads: ${v.why}`, () => {
      assertRefused(v.text, v.why);
    });
  }
});

describe(`printVariant against GLib ${vectors.glib}`, () => {
  for (const v of vectors.accepted) {
    const hex = v.hex.length > 40 ? `${v.hex.slice(0, 40)}…` : v.hex || '(empty)';
    it(`prints ${v.type} ${hex} (from ${label(v.text)})`, () => {
      const value = new Variant(v.type, decode(v.type, Buffer.from(v.hex, 'hex')));
      assert.equal(printVariant(value), v.print);
      assert.equal(printVariant(value, { typeAnnotate: true }), v.printAnnotated);
    });
  }
});

describe('parseVariantText errors', () => {
  it('name the text and the part at fault', () => {
    const e = assertRefused("{'a': 1, 'b': 'x'}", 'mismatch');
    assert.match(e.message, /^GVariant text "\{'a': 1, 'b': 'x'\}": .* at "'x'" \(offset 14\)$/);
  });

  it('hint at quotes for a bare word, the usual --add-metadata mistake', () => {
    const e = assertRefused('version=1.0', 'bare word');
    assert.match(e.message, /unknown keyword at "version"/);
    assert.match(e.hint ?? '', /quotes/);
  });

  it('keep a hostile text to one short line', () => {
    const e = assertRefused(`'${'x\n'.repeat(10000)}`, 'long');
    assert.ok(e.message.length < 300, e.message);
  });

  it('refuse what a GLib C string cannot hold', () => {
    assertRefused('5\0', 'NUL');
    assertRefused("'\uD800'", 'lone surrogate');
    assertRefused("'\uDC00x'", 'lone low surrogate');
    assert.equal(parseVariantText("'\uD83D\uDE00'").value, '\u{1F600}');
  });

  it('refuse deep nesting without exhausting the stack', () => {
    for (const [open, close] of [
      ['[', ']'],
      ['<', '>'],
      ['(', ',)'],
      ['just ', ''],
      ['@mi ', ''],
    ]) {
      assertRefused(`${open!.repeat(100000)}1${close!.repeat(100000)}`, `deep ${open}`);
    }
  });
});

describe('printVariant', () => {
  it('refuses a value that does not fit its type', () => {
    assert.throws(() => printVariant(new Variant('as', [1])), (e: unknown) => e instanceof GroveError);
  });

  it('rounds 17-digit ties to even, as printf does', () => {
    assert.equal(printVariant(new Variant('d', 123456789012345.125)), '123456789012345.12');
    assert.equal(printVariant(new Variant('d', 123456789012345.375)), '123456789012345.38');
  });

  it('accepts numbers for int64 and uint64, as encode does', () => {
    assert.equal(printVariant(new Variant('t', 5), { typeAnnotate: true }), 'uint64 5');
  });
});
