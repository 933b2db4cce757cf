/**
 * The GLib keyfile format: ostree's repo `config`, deployment `.origin` files and remote
 * definitions. Pure code, no I/O.
 *
 * The model mirrors what GLib 2.74 keeps when it loads with KEEP_COMMENTS | KEEP_TRANSLATIONS,
 * because that is what makes `toString()` byte-identical to `g_key_file_to_data`:
 * - every comment or blank line belongs to the group whose header precedes it (lines before the
 *   first header belong to an unnamed head group), so a comment written above `[b]` is stored at
 *   the tail of the group before it;
 * - values are kept raw (still escaped) and decoded on read, so an escape that is invalid for
 *   `get` (`\;`) can still be valid for `getList`, as in GLib;
 * - a key that occurs twice keeps both lines; reads and writes see the last one.
 *
 * Golden vectors from the real GLib: fixtures/keyfile/make-vectors.py.
 */
import { GroveError } from '../errors.js';

const CODE = 'GROVE_BAD_KEYFILE';

/**
 * A keyfile that does not parse. `glib` is what GLib's g_key_file_load_from_data says of it,
 * for the messages that must read as ostree's (which quote GLib's error after their own prefix).
 */
export class KeyFileError extends GroveError {
  readonly glib: string;
  constructor(message: string, glib: string, opts: { hint?: string; path?: string }) {
    super(CODE, message, opts);
    this.glib = glib;
  }
}

/** A `key=value` line (key set) or a comment/blank line kept verbatim (key null). */
interface Entry {
  key: string | null;
  /** For a key: the raw, still-escaped value. For a comment: the whole line. */
  value: string;
  /** 1-based line in the parsed text, so that errors found on read can point at it. */
  line?: number;
}

interface Group {
  /** null only for the head group that holds lines before the first header. */
  name: string | null;
  entries: Entry[];
}

// g_ascii_isspace: no vertical tab. GLib uses it to trim lines, keys and values.
const GLIB_SPACE = ' \t\n\f\r';
// C isspace, which strtol skips before a number: includes vertical tab.
const C_SPACE_RE = /^[ \t\n\v\f\r]*/;

function isGlibSpace(c: string | undefined): boolean {
  return c !== undefined && c !== '' && GLIB_SPACE.includes(c);
}

function trimEndGlib(s: string): string {
  let end = s.length;
  while (end > 0 && isGlibSpace(s[end - 1])) end--;
  return s.slice(0, end);
}

/** GLib's group-name rule: non-empty, no brackets, no ASCII control characters. */
function isGroupName(name: string): boolean {
  return /^[^[\]\x00-\x1f\x7f]+$/.test(name);
}

// A base name without `=`, `[` or `]`, then an optional locale suffix of letters, digits and
// `-_.@` (`Name[sr@latin]`; GLib accepts an empty `Name[]` too).
const KEY_RE = /^([^=[\]]+)(?:\[[\p{L}\p{N}\-_.@]*\])?$/u;

/** GLib's key-name rule. Leading or trailing spaces of the base name would not survive a reload. */
function isKeyName(key: string): boolean {
  const m = KEY_RE.exec(key);
  return m !== null && !m[1]!.startsWith(' ') && !m[1]!.endsWith(' ');
}

/**
 * Escape a value the way g_key_file_set_string (list = false) or one element of
 * g_key_file_set_string_list (list = true) does. Leading spaces and tabs are escaped because the
 * parser strips them; GLib keeps treating space as "leading" across `\n` and `\r`, and after a
 * `;` in a list, and so do we, so that the bytes match.
 */
function escapeValue(value: string, list: boolean): string {
  let out = '';
  let leading = true;
  for (const c of value) {
    switch (c) {
      case ' ':
        out += leading ? '\\s' : ' ';
        break;
      case '\t':
        out += leading ? '\\t' : '\t';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\\':
        out += '\\\\';
        leading = false;
        break;
      default:
        if (list && c === ';') {
          out += '\\;';
          leading = true;
        } else {
          out += c;
          leading = false;
        }
    }
  }
  return out;
}

/**
 * A GLib keyfile, parsed or built up in memory. Comments, blank lines and order survive a
 * round trip; `toString()` produces what GLib's `g_key_file_to_data` would.
 */
export class KeyFile {
  private readonly source: string | undefined;
  /** groups[0] is the unnamed head group. */
  private readonly list: Group[] = [{ name: null, entries: [] }];
  private readonly byName = new Map<string, Group>();

  /** An empty keyfile; `source` names it in error messages. */
  constructor(source?: string) {
    this.source = source;
  }

  /**
   * Parse keyfile text as GLib's g_key_file_load_from_data does with comments and translations
   * kept. Lines end at `\n`; a `\r` before it is dropped. A repeated group is merged into its
   * first occurrence; a repeated key keeps both lines and the last one wins on read. Value
   * escapes are checked on read, not here, as GLib does.
   *
   * @param source names the file in error messages (and as the error's `path`).
   * @throws GroveError GROVE_BAD_KEYFILE naming `source:line` for a line that is not a
   *   comment, group header or key=value, a key before any group, an invalid group or key
   *   name, or an `Encoding` other than UTF-8 in the first group.
   */
  static parse(text: string, source?: string): KeyFile {
    const kf = new KeyFile(source);
    const lines = text.split('\n');
    // A final '\n' ends the last line; it does not start an empty one.
    const count = lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
    let current = kf.list[0]!;
    let first: Group | undefined;
    for (let i = 0; i < count; i++) {
      let line = lines[i]!;
      // GLib drops '\r' only in front of '\n', so an unterminated last line keeps it.
      if (i < lines.length - 1 && line.endsWith('\r')) line = line.slice(0, -1);
      const lineNo = i + 1;
      let start = 0;
      while (isGlibSpace(line[start])) start++;
      const rest = line.slice(start);

      if (rest === '' || rest.startsWith('#')) {
        current.entries.push({ key: null, value: line });
        continue;
      }

      const close = rest.indexOf(']');
      if (rest.startsWith('[') && close > 0 && /^[ \t]*$/.test(rest.slice(close + 1))) {
        const name = rest.slice(1, close);
        if (!isGroupName(name)) kf.fail(lineNo, `invalid group name "${name}"`, undefined, `Invalid group name: ${name}`);
        current = kf.byName.get(name) ?? kf.addGroup(name);
        first ??= current;
        continue;
      }

      const eq = rest.indexOf('=');
      if (eq <= 0) {
        kf.fail(lineNo, `line "${line}" is not a comment, [group] header or key=value`,
          rest.startsWith('[') ? 'a group header is [name] with nothing after the ] but spaces' : undefined,
          `Key file contains line \u201c${line}\u201d which is not a key-value pair, group, or comment`);
      }
      if (current.name === null) {
        kf.fail(lineNo, `key=value line "${line}" comes before any [group] header`, undefined, 'Key file does not start with a group');
      }
      const key = trimEndGlib(rest.slice(0, eq));
      if (!isKeyName(key)) kf.fail(lineNo, `invalid key name "${key}"`, undefined, `Invalid key name: ${key}`);
      let v = eq + 1;
      while (isGlibSpace(rest[v])) v++;
      const value = rest.slice(v);
      // GLib refuses a file whose first group declares any encoding but UTF-8.
      if (current === first && key === 'Encoding' && !/^UTF-8$/i.test(value)) {
        kf.fail(lineNo, `unsupported encoding "${value}"`, 'only UTF-8 keyfiles are supported', `Key file contains unsupported encoding \u201c${value}\u201d`);
      }
      current.entries.push({ key, value, line: lineNo });
    }
    return kf;
  }

  /**
   * The text g_key_file_to_data produces: each line as stored, a `[name]` line per group, and
   * a blank line before a group header unless the text so far already ends in one (so a comment
   * directly above a header gets a blank line between them, as in GLib).
   */
  toString(): string {
    let out = '';
    for (const g of this.list) {
      if (out.length >= 2 && out[out.length - 2] !== '\n') out += '\n';
      if (g.name !== null) out += `[${g.name}]\n`;
      for (const e of g.entries) out += e.key === null ? `${e.value}\n` : `${e.key}=${e.value}\n`;
    }
    return out;
  }

  /** Group names in file order (a merged group sits where it first appeared). */
  groups(): string[] {
    return this.list.flatMap((g) => (g.name === null ? [] : [g.name]));
  }

  /**
   * Key names of `group` in file order, each once (GLib lists a repeated key twice; we do not),
   * or [] when the group does not exist.
   */
  keys(group: string): string[] {
    const seen = new Set<string>();
    for (const e of this.byName.get(group)?.entries ?? []) if (e.key !== null) seen.add(e.key);
    return [...seen];
  }

  /** Whether `group` exists. */
  hasGroup(group: string): boolean {
    return this.byName.has(group);
  }

  /**
   * The unescaped string value (`\s \n \t \r \\`), or undefined when the group or key is
   * missing. Leading spaces were trimmed by the parser; trailing ones are kept.
   * @throws GroveError GROVE_BAD_KEYFILE on any other escape, including `\;` (list-only).
   */
  get(group: string, key: string): string | undefined {
    const e = this.lookup(group, key);
    return e === undefined ? undefined : this.decode(group, e, false).join('');
  }

  /**
   * A boolean value: `true`/`1` or `false`/`0`, case-sensitive, trailing whitespace allowed.
   * @throws GroveError GROVE_BAD_KEYFILE on anything else.
   */
  getBoolean(group: string, key: string): boolean | undefined {
    const e = this.lookup(group, key);
    if (e === undefined) return undefined;
    // GLib reads the raw value: `\strue` is not a boolean.
    const v = trimEndGlib(e.value);
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    this.badValue(group, e, 'is not a boolean', 'use true or false');
  }

  /**
   * A 32-bit signed decimal integer, read as GLib does with strtol: an optional sign, leading
   * whitespace skipped, and anything after the digits ignored if it starts with whitespace
   * (`12 abc` is 12, `12abc` is an error). No hex, no fractions.
   * @throws GroveError GROVE_BAD_KEYFILE when the value is not such an integer.
   */
  getInteger(group: string, key: string): number | undefined {
    const e = this.lookup(group, key);
    if (e === undefined) return undefined;
    const body = e.value.slice(C_SPACE_RE.exec(e.value)![0].length);
    const m = /^[+-]?[0-9]+/.exec(body);
    if (m === null || !(body.length === m[0].length || isGlibSpace(body[m[0].length]))) {
      this.badValue(group, e, 'is not an integer');
    }
    const n = Number(m[0]);
    if (n < -0x80000000 || n > 0x7fffffff) this.badValue(group, e, 'is out of the 32-bit integer range');
    return n === 0 ? 0 : n; // no -0 from "-0"
  }

  /**
   * A `;`-separated list with `\;` for a literal semicolon and the string escapes. A trailing
   * `;` ends the last element rather than adding an empty one: `a;b;` and `a;b` are [a, b],
   * `` is [], `;` is [''].
   * @throws GroveError GROVE_BAD_KEYFILE on an invalid escape.
   */
  getList(group: string, key: string): string[] | undefined {
    const e = this.lookup(group, key);
    return e === undefined ? undefined : this.decode(group, e, true);
  }

  /**
   * Set a string value, escaping as g_key_file_set_string does. An existing key is changed in
   * place; a new key goes at the very end of its group (after any trailing comments or blank
   * lines, as GLib 2.74 does); a new group goes at the end of the file.
   * @throws GroveError GROVE_BAD_KEYFILE when the group or key name cannot be written.
   */
  set(group: string, key: string, value: string): void {
    this.put(group, key, escapeValue(value, false));
  }

  /** Set `true` or `false`. */
  setBoolean(group: string, key: string, value: boolean): void {
    this.put(group, key, value ? 'true' : 'false');
  }

  /** Set a 32-bit signed integer. @throws RangeError for anything else (a programmer error). */
  setInteger(group: string, key: string, value: number): void {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
      throw new RangeError(`keyfile integer ${group}.${key} must be a 32-bit signed integer, got ${value}`);
    }
    this.put(group, key, String(value));
  }

  /** Set a list: each element escaped (`;` as `\;`) and followed by `;`, as GLib writes it. */
  setList(group: string, key: string, values: string[]): void {
    this.put(group, key, values.map((v) => `${escapeValue(v, true)};`).join(''));
  }

  /**
   * Remove every occurrence of `key` from `group` (GLib would unlink only the last of repeated
   * lines and leave the earlier one to reappear on reload). Comments above it stay.
   * @returns whether anything was removed.
   */
  remove(group: string, key: string): boolean {
    const g = this.byName.get(group);
    if (g === undefined) return false;
    const before = g.entries.length;
    g.entries = g.entries.filter((e) => e.key !== key);
    return g.entries.length !== before;
  }

  /**
   * Remove a group with all its lines, including trailing comments (which, as in GLib, are the
   * ones written above the next group's header).
   * @returns whether the group existed.
   */
  removeGroup(group: string): boolean {
    const g = this.byName.get(group);
    if (g === undefined) return false;
    this.byName.delete(group);
    const at = this.list.indexOf(g);
    this.list.splice(at, 1);
    // The blank lines that separated the group from the one before it go with it when it was
    // the last: ostree (which keeps no blank lines and writes one between groups) ends the file
    // at the last key.
    if (at === this.list.length) {
      const last = this.list[at - 1]!.entries;
      while (last.length > 0 && last.at(-1)!.key === null && last.at(-1)!.value.trim() === '') last.pop();
    }
    return true;
  }

  private addGroup(name: string): Group {
    const g: Group = { name, entries: [] };
    this.list.push(g);
    this.byName.set(name, g);
    return g;
  }

  /** The line a read sees: the last one with that key. */
  private lookup(group: string, key: string): Entry | undefined {
    const entries = this.byName.get(group)?.entries;
    if (entries === undefined) return undefined;
    for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.key === key) return entries[i];
    return undefined;
  }

  private put(group: string, key: string, raw: string): void {
    if (!isGroupName(group)) {
      throw new GroveError(CODE, `invalid keyfile group name "${group}"`, {
        hint: 'a group name must be non-empty and contain no [, ] or control characters',
      });
    }
    // Beyond GLib's rule: whitespace at either end or a line break would not survive a reload.
    if (!isKeyName(key) || /[\r\n]/.test(key) || isGlibSpace(key[0]) || isGlibSpace(key[key.length - 1])) {
      throw new GroveError(CODE, `invalid keyfile key name "${key}" in group "${group}"`, {
        hint: 'a key must be non-empty, with no =, [ or ] except a [locale] suffix, and no surrounding whitespace',
      });
    }
    const existing = this.lookup(group, key);
    if (existing !== undefined) {
      existing.value = raw;
      delete existing.line;
      return;
    }
    (this.byName.get(group) ?? this.addGroup(group)).entries.push({ key, value: raw });
  }

  /** Unescape a raw value; as a list, split at unescaped `;` (see getList for the ends). */
  private decode(group: string, e: Entry, list: boolean): string[] {
    const raw = e.value;
    const pieces: string[] = [];
    let cur = '';
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i]!;
      if (c === ';' && list) {
        pieces.push(cur);
        cur = '';
      } else if (c !== '\\') {
        cur += c;
      } else {
        const n = raw[++i];
        if (n === 's') cur += ' ';
        else if (n === 'n') cur += '\n';
        else if (n === 't') cur += '\t';
        else if (n === 'r') cur += '\r';
        else if (n === '\\') cur += '\\';
        else if (n === ';' && list) cur += ';';
        else if (n === undefined) this.badValue(group, e, 'ends with a lone backslash', 'write \\\\ for a backslash');
        else {
          const seq = `\\${String.fromCodePoint(raw.codePointAt(i)!)}`;
          this.badValue(group, e, `has invalid escape sequence "${seq}"`,
            n === ';' ? '\\; is only valid in a list value' : 'valid escapes are \\s \\n \\t \\r \\\\ (and \\; in lists)');
        }
      }
    }
    if (!list) return [cur];
    if (cur !== '') pieces.push(cur);
    return pieces;
  }

  private where(line?: number): string {
    const name = this.source ?? 'keyfile';
    return line === undefined ? name : `${name}:${line}`;
  }

  private fail(line: number, what: string, hint: string | undefined, glib: string): never {
    throw new KeyFileError(`${this.where(line)}: ${what}`, glib, this.errorOpts(hint));
  }

  private badValue(group: string, e: Entry, what: string, hint?: string): never {
    throw new GroveError(CODE, `${this.where(e.line)}: value "${e.value}" of key "${e.key}" in group "${group}" ${what}`,
      this.errorOpts(hint));
  }

  private errorOpts(hint?: string): { hint?: string; path?: string } {
    const opts: { hint?: string; path?: string } = {};
    if (hint !== undefined) opts.hint = hint;
    if (this.source !== undefined) opts.path = this.source;
    return opts;
  }
}
