import { GroveError } from '../errors.js';

/**
 * A kernel command line as ostree edits it: an ordered list of `key` or `key=value` words, where a
 * key may repeat (`console=tty0 console=ttyS0`). The operations keep ostree 2022.7's semantics,
 * because the order they leave is what ends up, word for word, in the boot entries both tools
 * write:
 * - `replace` (`--karg`): drops every word with that key and puts the new one where the first
 *   of them was, or at the end when the key is new;
 * - `append` (`--karg-append`): always adds at the end, even a duplicate;
 * - `delete` (`--karg-delete`): a key with one value goes whatever value is named; with several,
 *   the exact `key=value` must be named.
 */
interface Word { key: string; value: string | null }

function splitWord(arg: string): Word {
  const eq = arg.indexOf('=');
  return eq < 0 ? { key: arg, value: null } : { key: arg.slice(0, eq), value: arg.slice(eq + 1) };
}

function joinWord(w: Word): string {
  return w.value === null ? w.key : `${w.key}=${w.value}`;
}

export class KernelArgs {
  private words: Word[] = [];

  /** Split on single spaces, as ostree does (`a  b` keeps an empty word between). */
  static parse(options: string | undefined | null): KernelArgs {
    const k = new KernelArgs();
    if (options) for (const arg of options.split(' ')) k.append(arg);
    return k;
  }

  static of(args: readonly string[]): KernelArgs {
    const k = new KernelArgs();
    for (const a of args) k.append(a);
    return k;
  }

  append(arg: string): this {
    this.words.push(splitWord(arg));
    return this;
  }

  /** `append` unless the key is already there (`kargs edit-in-place --append-if-missing`). */
  appendIfMissing(arg: string): this {
    if (!this.has(splitWord(arg).key)) this.append(arg);
    return this;
  }

  replace(arg: string): this {
    const w = splitWord(arg);
    const first = this.words.findIndex((x) => x.key === w.key);
    if (first < 0) {
      this.words.push(w);
    } else {
      this.words = this.words.filter((x, i) => i === first || x.key !== w.key);
      this.words[first] = w;
    }
    return this;
  }

  delete(arg: string): this {
    const w = splitWord(arg);
    const matching = this.words.filter((x) => x.key === w.key);
    if (matching.length === 0) throw new GroveError('GROVE_BAD_OPTION', `no kernel argument '${w.key}' to delete`);
    if (matching.length === 1) {
      if (w.value !== null && matching[0]!.value !== w.value) throw new GroveError('GROVE_BAD_OPTION', `no kernel argument '${arg}' to delete`);
      this.words = this.words.filter((x) => x !== matching[0]);
      return this;
    }
    const exact = matching.find((x) => x.value === w.value);
    if (!exact) {
      throw new GroveError('GROVE_BAD_OPTION', w.value === null ? `kernel argument '${arg}' has several values; name the one to delete` : `no kernel argument '${arg}' to delete`);
    }
    this.words = this.words.filter((x) => x !== exact);
    return this;
  }

  has(key: string): boolean {
    return this.words.some((x) => x.key === key);
  }

  /** The value of the last word with `key` (null for a bare key), or undefined without one. */
  lastValue(key: string): string | null | undefined {
    for (let i = this.words.length - 1; i >= 0; i--) if (this.words[i]!.key === key) return this.words[i]!.value;
    return undefined;
  }

  /** Every word but those with `key`. */
  without(key: string): KernelArgs {
    const k = new KernelArgs();
    k.words = this.words.filter((x) => x.key !== key);
    return k;
  }

  toArray(): string[] {
    return this.words.map(joinWord);
  }

  toString(): string {
    return this.toArray().join(' ');
  }
}

/** `/proc/cmdline` minus what bootloaders add themselves (`--karg-proc-cmdline`). */
export function procCmdlineArgs(cmdline: string): string[] {
  return cmdline.replace(/\s+$/, '').split(' ').filter((a) => !a.startsWith('BOOT_IMAGE=') && !a.startsWith('initrd='));
}
