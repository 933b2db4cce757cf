/**
 * GVariant text format, read as GLib's g_variant_parse() reads it with no expected type: the
 * values users give `ostree commit --add-metadata=KEY=VALUE`, such as `uint64 5`, `['a', 'b']`,
 * `@as []` or `{'k': <1>}`. printVariant (text-print.ts) writes the same format.
 *
 * Three passes, following GLib's semantics: the text becomes a syntax tree; each node says which
 * types it could take (a {@link Pattern}), array elements unify theirs into one; the type that
 * results is pushed back down and every literal is read as the type it landed in, so `[1, 1.5]`
 * is 'ad' and `[1, uint64 2]` is 'at'.
 */
import { GroveError } from '../../errors.js';
import {
  MAX_DEPTH,
  type GType,
  type GVariantValue,
  Variant,
  isObjectPath,
  isSignature,
  parseType,
  shorten,
} from './types.js';
import { isFloatToken, readDouble, readInteger, unescapeBytes, unescapeString } from './text-literals.js';

export { printVariant } from './text-print.js';

/**
 * Parses GVariant text into a value and its inferred type, as g_variant_parse(NULL, text) does:
 * unannotated integers are 'i', numbers with a '.', an 'e', `inf` or `nan` are 'd', strings 's',
 * `b'…'` 'ay'; `@TYPE` and keywords (`uint64 5`) fix a type; array elements must agree.
 * Deliberately refused though GLib accepts them: `-nan`, Just(Nothing) in nested maybes
 * (`@mmi just nothing`), which grove's value model cannot hold, and nesting past 64 levels.
 * @throws GroveError GROVE_BAD_OPTION naming the text and the part of it at fault.
 */
export function parseVariantText(text: string): Variant {
  const p = new Parser(text);
  p.skipSpace();
  const node = p.value(0);
  p.skipSpace();
  if (p.pos < text.length) throw p.fail(p.pos, p.pos + 1, 'expected end of input');
  return p.resolve(node);
}

interface Span {
  start: number;
  end: number;
}

type NodeBody =
  | { kind: 'array' | 'tuple'; items: Node[] }
  | { kind: 'dict'; keys: Node[]; values: Node[] }
  | { kind: 'entry'; key: Node; value: Node }
  | { kind: 'variant' | 'just'; inner: Node }
  | { kind: 'typed'; type: GType; inner: Node }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'number'; token: string }
  | { kind: 'string'; value: string }
  | { kind: 'bytes'; value: Uint8Array }
  | { kind: 'nothing' };

/** A syntax tree node, with where its text starts and ends, for messages. */
type Node = Span & NodeBody;

/**
 * The types a node could take: a type letter or opening bracket, or '*' (any type), 'N' (any
 * number type, 'i' unless unified with another) or 'S' ('s', 'o' or 'g'). `wrap` marks literals
 * that also fit any number of maybes around their type (`@mmi 5` is Just(Just(5))).
 */
interface Pattern {
  code: string;
  wrap: boolean;
  children: Pattern[];
}

const KEYWORDS: Record<string, string> = {
  boolean: 'b',
  byte: 'y',
  int16: 'n',
  uint16: 'q',
  int32: 'i',
  uint32: 'u',
  handle: 'h',
  int64: 'x',
  uint64: 't',
  double: 'd',
  string: 's',
  objectpath: 'o',
  signature: 'g',
};

// GLib skips these between tokens; not '\v', nor any non-ASCII space.
const SPACE = ' \t\n\f\r';
const NUMERIC = 'ynqiuxthd';
const CLOSERS: Record<string, string> = { '(': ')', '{': '}' };

class Parser {
  pos = 0;
  constructor(readonly text: string) {
    // GLib reads C strings of UTF-8: a NUL would end the text, a lone surrogate cannot occur.
    const bad = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(text);
    if (bad) throw this.fail(bad.index, bad.index + 1, bad[0] === '\0' ? 'NUL character' : 'lone UTF-16 surrogate');
  }

  fail(start: number, end: number, why: string, hint?: string): GroveError {
    const at = this.text.slice(start, end);
    const where = at === '' ? `at offset ${start}` : `at ${JSON.stringify(shorten(at, 40))} (offset ${start})`;
    const text = JSON.stringify(shorten(this.text));
    return new GroveError('GROVE_BAD_OPTION', `GVariant text ${text}: ${why} ${where}`, { hint });
  }

  skipSpace(): void {
    while (this.pos < this.text.length && SPACE.includes(this.text[this.pos]!)) this.pos++;
  }

  /** The next token without consuming it: what GLib's tokenizer would cut at `pos`. */
  peek(): string {
    this.skipSpace();
    const s = this.text;
    const start = this.pos;
    const c = s[start];
    if (c === undefined) return '';
    let end = start + 1;
    if (c === "'" || c === '"' || (c === 'b' && (s[end] === "'" || s[end] === '"'))) {
      if (c === 'b') end++;
      const quote = s[end - 1]!;
      while (s[end] !== quote) {
        if (end >= s.length || (s[end] === '\\' && ++end >= s.length)) {
          throw this.fail(start, s.length, 'unterminated string constant');
        }
        end++;
      }
      end++;
    } else if (/[A-Za-z]/.test(c)) {
      while (end < s.length && /[A-Za-z0-9]/.test(s[end]!)) end++;
    } else if (/[0-9+\-.]/.test(c)) {
      while (end < s.length && /[A-Za-z0-9+\-.]/.test(s[end]!)) end++;
    } else if (c === '@') {
      // A type runs to a space, ',', ':', '>', ']', or a ')' or '}' it did not open.
      let open = 0;
      for (; end < s.length && !SPACE.includes(s[end]!) && !',:>]'.includes(s[end]!); end++) {
        if (s[end] === '(' || s[end] === '{') open++;
        else if ((s[end] === ')' || s[end] === '}') && open-- === 0) break;
      }
    } else if (c.codePointAt(0)! > 0xffff) {
      end++;
    }
    return s.slice(start, end);
  }

  take(token: string): boolean {
    if (this.peek() !== token) return false;
    this.pos += token.length;
    return true;
  }

  require(token: string, what: string): void {
    if (!this.take(token)) throw this.fail(this.pos, this.pos + this.peek().length, `expected ${what}`);
  }

  value(depth: number): Node {
    const token = this.peek();
    const start = this.pos;
    if (token === '') throw this.fail(start, start, 'expected value');
    if (depth > MAX_DEPTH) throw this.fail(start, start + 1, `nested deeper than ${MAX_DEPTH} levels`);
    const c = token[0]!;
    this.pos += token.length;
    const at = (body: NodeBody): Node => ({ ...body, start, end: this.pos });
    if (c === '[') {
      const items: Node[] = [];
      while (!this.take(']')) {
        if (items.length > 0) this.require(',', "',' or ']' to follow an array element");
        items.push(this.value(depth + 1));
      }
      return at({ kind: 'array', items });
    }
    if (c === '(') {
      const items: Node[] = [];
      if (!this.take(')')) {
        items.push(this.value(depth + 1));
        this.require(',', "',' after the first tuple element");
        while (!this.take(')')) {
          if (items.length > 1) this.require(',', "',' or ')' to follow a tuple element");
          items.push(this.value(depth + 1));
        }
      }
      return at({ kind: 'tuple', items });
    }
    if (c === '<') {
      const inner = this.value(depth + 1);
      this.require('>', "'>' to follow the variant value");
      return at({ kind: 'variant', inner });
    }
    if (c === '{') return this.dict(start, depth);
    if (token === 'true' || token === 'false') return at({ kind: 'boolean', value: token === 'true' });
    if (token === 'nothing') return at({ kind: 'nothing' });
    if (token === 'just') return at({ kind: 'just', inner: this.value(depth + 1) });
    if (/^[0-9+\-.]/.test(token) || token === 'inf' || token === 'nan') return at({ kind: 'number', token });
    if (c === "'" || c === '"') {
      return at({ kind: 'string', value: unescapeString(token, (why) => this.fail(start, this.pos, why)) });
    }
    if (c === 'b' && (token[1] === "'" || token[1] === '"')) return at({ kind: 'bytes', value: unescapeBytes(token) });
    if (c === '@' || /^[a-z]{2}/.test(token)) {
      const code = c === '@' ? token.slice(1) : KEYWORDS[token];
      if (code === undefined) {
        throw this.fail(start, this.pos, 'unknown keyword', "strings need quotes in GVariant text: 'text'");
      }
      let type: GType;
      try {
        type = parseType(code);
      } catch (e) {
        if (!(e instanceof GroveError)) throw e;
        throw this.fail(start, this.pos, 'invalid type declaration');
      }
      return at({ kind: 'typed', type, inner: this.value(depth + 1) });
    }
    this.pos = start;
    throw this.fail(start, start + token.length, 'expected value', "strings need quotes in GVariant text: 'text'");
  }

  /** `{}`, `{k: v, …}` (a dictionary) or `{k, v}` (a lone dict entry); the '{' is consumed. */
  private dict(start: number, depth: number): Node {
    const keys: Node[] = [];
    const values: Node[] = [];
    if (!this.take('}')) {
      keys.push(this.value(depth + 1));
      if (this.take(',')) {
        const value = this.value(depth + 1);
        this.require('}', "'}' to follow a dictionary entry");
        return { kind: 'entry', key: keys[0]!, value, start, end: this.pos };
      }
      this.require(':', "':' or ',' to follow a dictionary key");
      values.push(this.value(depth + 1));
      while (!this.take('}')) {
        this.require(',', "',' or '}' to follow a dictionary entry");
        keys.push(this.value(depth + 1));
        this.require(':', "':' to follow a dictionary key");
        values.push(this.value(depth + 1));
      }
    }
    return { kind: 'dict', keys, values, start, end: this.pos };
  }

  /** The tree's type from its pattern, then its value read as that type. */
  resolve(node: Node): Variant {
    const type = typeOf(patternOf(this, node), () => this.fail(node.start, node.end, 'unable to infer the type'));
    let t: GType;
    try {
      t = parseType(type);
    } catch (e) {
      if (!(e instanceof GroveError)) throw e;
      throw this.fail(node.start, node.end, `type '${shorten(type)}' nests deeper than ${MAX_DEPTH} levels`);
    }
    return new Variant(type, this.read(node, t));
  }

  private read(node: Node, t: GType): GVariantValue {
    // Literals fit any maybe of their type; Just(x) is x in the value model.
    if (t.code === 'm' && node.kind !== 'typed' && node.kind !== 'just' && node.kind !== 'nothing') {
      return this.read(node, t.elem!);
    }
    const wrong = (): GroveError => this.fail(node.start, node.end, `cannot be read as type '${shorten(t.str)}'`);
    switch (node.kind) {
      case 'typed':
        // GLib lets an enclosing type override a declaration: `@t int64 5` is 't'.
        return this.read(node.inner, t);
      case 'nothing':
        if (t.code !== 'm') throw wrong();
        return null;
      case 'just': {
        if (t.code !== 'm') throw wrong();
        const inner = this.read(node.inner, t.elem!);
        if (inner === null) throw this.fail(node.start, node.end, 'Just(Nothing) is not supported by grove');
        return inner;
      }
      case 'boolean':
        if (t.code !== 'b') throw wrong();
        return node.value;
      case 'number':
        if (t.code === 'd') return readDouble(node.token, (why) => this.fail(node.start, node.end, why));
        if (!NUMERIC.includes(t.code)) throw wrong();
        return readInteger(node.token, t.code, (why) => this.fail(node.start, node.end, why));
      case 'string': {
        if (!'sog'.includes(t.code)) throw wrong();
        const s = node.value;
        if (t.code === 'o' && !isObjectPath(s)) throw this.fail(node.start, node.end, 'not a valid object path');
        if (t.code === 'g' && !isSignature(s)) throw this.fail(node.start, node.end, 'not a valid signature');
        return s;
      }
      case 'bytes':
        if (t.str !== 'ay') throw wrong();
        return node.value;
      case 'variant':
        if (t.code !== 'v') throw wrong();
        return this.resolve(node.inner);
      case 'array': {
        if (t.code !== 'a') throw wrong();
        const items = node.items.map((item) => this.read(item, t.elem!));
        return t.elem!.code === 'y' ? Uint8Array.from(items as number[]) : items;
      }
      case 'dict': {
        if (t.code !== 'a' || t.elem!.code !== '{') throw wrong();
        const [key, value] = t.elem!.members as [GType, GType];
        return node.keys.map((k, i) => [this.read(k, key), this.read(node.values[i]!, value)]);
      }
      case 'entry':
        if (t.code !== '{') throw wrong();
        return [this.read(node.key, t.members[0]!), this.read(node.value, t.members[1]!)];
      case 'tuple':
        if (t.code !== '(' || t.members.length !== node.items.length) throw wrong();
        return node.items.map((item, i) => this.read(item, t.members[i]!));
    }
  }
}

function patternOf(p: Parser, node: Node): Pattern {
  const wrapped = (code: string, ...children: Pattern[]): Pattern => ({ code, wrap: true, children });
  switch (node.kind) {
    case 'typed':
      return typePattern(node.type);
    case 'nothing':
      return { code: 'm', wrap: false, children: [ANY] };
    case 'just':
      return { code: 'm', wrap: false, children: [patternOf(p, node.inner)] };
    case 'boolean':
      return wrapped('b');
    case 'number':
      return wrapped(isFloatToken(node.token) ? 'd' : 'N');
    case 'string':
      return wrapped('S');
    case 'bytes':
      return wrapped('a', typePattern(parseType('y')));
    case 'variant':
      return wrapped('v');
    case 'array':
      return wrapped('a', common(p, node.items));
    case 'tuple':
      return wrapped('(', ...node.items.map((item) => patternOf(p, item)));
    case 'entry':
      return wrapped('{', keyPattern(p, [node.key], node), patternOf(p, node.value));
    case 'dict': {
      if (node.keys.length === 0) return wrapped('a', wrapped('{', ANY, ANY));
      // Keys must agree with each other; GLib takes the value type from the first entry alone.
      return wrapped('a', wrapped('{', keyPattern(p, node.keys, node), patternOf(p, node.values[0]!)));
    }
  }
}

const ANY: Pattern = { code: '*', wrap: false, children: [] };

function typePattern(t: GType): Pattern {
  const children = t.elem ? [t.elem] : t.members;
  return { code: t.code, wrap: false, children: children.map(typePattern) };
}

function keyPattern(p: Parser, keys: Node[], dict: Node): Pattern {
  const key = common(p, keys);
  if (!'bynqiuxthdsogNS'.includes(key.code)) {
    throw p.fail(dict.start, dict.end, 'dictionary keys must have basic types');
  }
  return { ...key, wrap: false };
}

/** The one pattern all of `nodes` fit, as an array's elements must. */
function common(p: Parser, nodes: Node[]): Pattern {
  let acc = ANY;
  for (const node of nodes) {
    const next = unify(acc, patternOf(p, node));
    if (next === null) {
      const first = nodes[0]!;
      const what = `'${p.text.slice(first.start, first.end)}' and '${p.text.slice(node.start, node.end)}'`;
      throw p.fail(first.start, node.end, `no common type for ${shorten(what, 80)}`);
    }
    acc = next;
  }
  return acc;
}

function unify(a: Pattern, b: Pattern): Pattern | null {
  if (a.code === '*') return b;
  if (b.code === '*') return a;
  // A wrappable literal meeting a maybe goes inside it, still wrappable: `[@mmi 5, 6]` is 'ammi'.
  if (a.wrap && b.code === 'm') return maybeOf(unify(a, b.children[0]!));
  if (b.wrap && a.code === 'm') return maybeOf(unify(a.children[0]!, b));
  const wrap = a.wrap && b.wrap;
  if (a.code === 'N' && NUMERIC.includes(b.code)) return { ...b, wrap };
  if (b.code === 'N' && NUMERIC.includes(a.code)) return { ...a, wrap };
  if (a.code === 'S' && 'sog'.includes(b.code)) return { ...b, wrap };
  if (b.code === 'S' && 'sog'.includes(a.code)) return { ...a, wrap };
  if (a.code !== b.code || a.children.length !== b.children.length) return null;
  const children: Pattern[] = [];
  for (let i = 0; i < a.children.length; i++) {
    const child = unify(a.children[i]!, b.children[i]!);
    if (child === null) return null;
    children.push(child);
  }
  return { code: a.code, wrap, children };
}

function maybeOf(elem: Pattern | null): Pattern | null {
  return elem === null ? null : { code: 'm', wrap: false, children: [elem] };
}

function typeOf(pattern: Pattern, unknown: () => GroveError): string {
  if (pattern.code === '*') throw unknown();
  if (pattern.code === 'N') return 'i';
  if (pattern.code === 'S') return 's';
  const inner = pattern.children.map((c) => typeOf(c, unknown)).join('');
  return pattern.code + inner + (CLOSERS[pattern.code] ?? '');
}
