import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { KeyFile } from '../../src/format/keyfile.js';
import { GroveError } from '../../src/errors.js';

/** What GLib said about one key; null where GLib reported an error. */
interface KeyVector {
  key: string;
  string: string | null;
  list: string[] | null;
  boolean: boolean | null;
  integer: number | null;
}
interface GroupVector {
  group: string;
  keys: KeyVector[];
}
type Op =
  | ['set', string, string, string]
  | ['setBoolean', string, string, boolean]
  | ['setInteger', string, string, number]
  | ['setList', string, string, string[]]
  | ['remove', string, string]
  | ['removeGroup', string];
interface Vectors {
  glib: string;
  parse: { name: string; input: string; groups: GroupVector[]; output: string; stable: boolean }[];
  errors: { name: string; input: string; line: number; glib: string }[];
  ops: {
    name: string;
    input: string | null;
    ops: Op[];
    results: (boolean | null)[];
    output: string;
    groups: GroupVector[];
  }[];
}

const vectors = JSON.parse(
  readFileSync(new URL('../../../fixtures/keyfile/vectors.json', import.meta.url), 'utf8'),
) as Vectors;

/** A getter's answer, or null where it threw GROVE_BAD_KEYFILE (GLib's error). */
function attempt<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch (e) {
    assert.ok(e instanceof GroveError, `expected GroveError, got ${String(e)}`);
    assert.equal(e.code, 'GROVE_BAD_KEYFILE');
    return null;
  }
}

/** Assert grove reads `kf` exactly as GLib read the same file. */
function assertMatchesGlib(kf: KeyFile, groups: GroupVector[], label: string): void {
  assert.deepEqual(kf.groups(), groups.map((g) => g.group), `${label}: groups`);
  for (const g of groups) {
    assert.ok(kf.hasGroup(g.group), `${label}: hasGroup ${g.group}`);
    // GLib's get_keys lists a repeated key once per line; grove lists each key once.
    const unique = [...new Set(g.keys.map((k) => k.key))];
    assert.deepEqual(kf.keys(g.group), unique, `${label}: keys of [${g.group}]`);
    for (const k of g.keys) {
      const at = `${label}: [${g.group}] ${k.key}`;
      assert.deepEqual(attempt(() => kf.get(g.group, k.key)), k.string, `${at} get`);
      assert.deepEqual(attempt(() => kf.getList(g.group, k.key)), k.list, `${at} getList`);
      assert.deepEqual(attempt(() => kf.getBoolean(g.group, k.key)), k.boolean, `${at} getBoolean`);
      assert.deepEqual(attempt(() => kf.getInteger(g.group, k.key)), k.integer, `${at} getInteger`);
    }
  }
}

test(`vectors were made by GLib (${vectors.glib})`, () => {
  assert.ok(vectors.parse.length > 30 && vectors.errors.length > 20 && vectors.ops.length > 20);
});

for (const v of vectors.parse) {
  test(`parse matches GLib: ${v.name}`, () => {
    const kf = KeyFile.parse(v.input, 'vector');
    assertMatchesGlib(kf, v.groups, v.name);
    assert.equal(kf.toString(), v.output, 'to_data');
    if (v.stable) assert.equal(KeyFile.parse(v.output).toString(), v.output, 'reserialized output is stable');
  });
}

for (const v of vectors.errors) {
  test(`rejects what GLib rejects: ${v.name}`, () => {
    assert.throws(
      () => KeyFile.parse(v.input, 'repo/config'),
      (e: unknown) => {
        assert.ok(e instanceof GroveError);
        assert.equal(e.code, 'GROVE_BAD_KEYFILE');
        assert.ok(e.message.startsWith(`repo/config:${v.line}: `), `${e.message} (GLib: ${v.glib})`);
        assert.equal(e.path, 'repo/config');
        return true;
      },
    );
  });
}

for (const v of vectors.ops) {
  test(`edits match GLib: ${v.name}`, () => {
    const kf = v.input === null ? new KeyFile() : KeyFile.parse(v.input);
    const results = v.ops.map((op): boolean | null => {
      switch (op[0]) {
        case 'set':
          kf.set(op[1], op[2], op[3]);
          return null;
        case 'setBoolean':
          kf.setBoolean(op[1], op[2], op[3]);
          return null;
        case 'setInteger':
          kf.setInteger(op[1], op[2], op[3]);
          return null;
        case 'setList':
          kf.setList(op[1], op[2], op[3]);
          return null;
        case 'remove':
          return kf.remove(op[1], op[2]);
        case 'removeGroup':
          return kf.removeGroup(op[1]);
      }
    });
    assert.deepEqual(results, v.results, 'return values');
    assert.equal(kf.toString(), v.output, 'to_data');
    assertMatchesGlib(kf, v.groups, v.name);
    assertMatchesGlib(KeyFile.parse(kf.toString()), v.groups, `${v.name} (reloaded)`);
  });
}

test('a bad escape is reported on read, naming the file, line, group and key', () => {
  const kf = KeyFile.parse('[core]\nmode=bare\n\n[remote "o"]\nurl=http://x\\q\n', '/srv/repo/config');
  assert.equal(kf.get('core', 'mode'), 'bare');
  assert.throws(() => kf.get('remote "o"', 'url'), (e: unknown) => {
    assert.ok(e instanceof GroveError);
    assert.equal(e.code, 'GROVE_BAD_KEYFILE');
    assert.match(e.message, /^\/srv\/repo\/config:5: /);
    assert.match(e.message, /"\\q"/);
    assert.match(e.message, /url/);
    assert.match(e.message, /remote "o"/);
    assert.equal(e.path, '/srv/repo/config');
    return true;
  });
});

test('a value that is not a boolean or integer names its line', () => {
  const kf = KeyFile.parse('[core]\n\nrepo_version=one\ngpg-verify=yes\n', 'config');
  assert.throws(() => kf.getInteger('core', 'repo_version'), { code: 'GROVE_BAD_KEYFILE', message: /^config:3: / });
  assert.throws(() => kf.getBoolean('core', 'gpg-verify'), { code: 'GROVE_BAD_KEYFILE', message: /^config:4: / });
});

test('error messages without a source still name the line', () => {
  assert.throws(() => KeyFile.parse('[a]\nk=v\noops\n'), { code: 'GROVE_BAD_KEYFILE', message: /^keyfile:3: / });
});

test('missing groups and keys read as undefined', () => {
  const kf = KeyFile.parse('[core]\nmode=bare\n');
  assert.equal(kf.get('core', 'nope'), undefined);
  assert.equal(kf.get('nope', 'mode'), undefined);
  assert.equal(kf.getBoolean('core', 'nope'), undefined);
  assert.equal(kf.getInteger('core', 'nope'), undefined);
  assert.equal(kf.getList('core', 'nope'), undefined);
  assert.deepEqual(kf.keys('nope'), []);
  assert.equal(kf.hasGroup('nope'), false);
});

test('remove drops every line of a repeated key, so it cannot come back on reload', () => {
  const kf = KeyFile.parse('[a]\nx=1\ny=2\nx=3\n');
  assert.equal(kf.remove('a', 'x'), true);
  assert.equal(kf.get('a', 'x'), undefined);
  assert.deepEqual(kf.keys('a'), ['y']);
  assert.equal(kf.toString(), '[a]\ny=2\n');
});

test('set refuses names that cannot be written back', () => {
  const kf = new KeyFile();
  for (const group of ['', 'a]b', 'a[b', 'a\nb']) {
    assert.throws(() => kf.set(group, 'k', 'v'), { code: 'GROVE_BAD_KEYFILE' }, JSON.stringify(group));
  }
  for (const key of ['', ' k', 'k ', '\tk', 'a=b', 'a]b', '[x]', 'n[de', 'n[de]x', 'a\nb']) {
    assert.throws(() => kf.set('g', key, 'v'), { code: 'GROVE_BAD_KEYFILE' }, JSON.stringify(key));
  }
  assert.equal(kf.toString(), '');
});

test('setInteger refuses what is not a 32-bit integer', () => {
  const kf = new KeyFile();
  for (const n of [1.5, NaN, Infinity, 2 ** 31, -(2 ** 31) - 1]) {
    assert.throws(() => kf.setInteger('g', 'k', n), RangeError, String(n));
  }
  kf.setInteger('g', 'k', -0);
  assert.equal(kf.toString(), '[g]\nk=0\n');
});

test('a string written by set reads back unchanged, whatever it holds', () => {
  const samples = ['', ' ', '  x  ', '\t\tx', 'a\\b', '\\s', 'a;b', '\\;', '\r\n', 'ü 😀', ' \n \t', '#', '=', '[x]'];
  const kf = new KeyFile();
  samples.forEach((s, i) => kf.set('g', `k${i}`, s));
  kf.setList('g', 'list', samples);
  const back = KeyFile.parse(kf.toString());
  samples.forEach((s, i) => assert.equal(back.get('g', `k${i}`), s, JSON.stringify(s)));
  assert.deepEqual(back.getList('g', 'list'), samples);
  kf.setList('g', 'empties', ['', '']);
  assert.deepEqual(KeyFile.parse(kf.toString()).getList('g', 'empties'), ['', '']);
});
