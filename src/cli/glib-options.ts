/**
 * Command-line options as GLib's `g_option_context_parse` reads them (GLib 2.74, which ostree
 * 2022.7 uses), so that every command line ostree accepts means the same to grove and every one
 * it refuses fails with the same message. What GLib does, checked against the real ostree:
 *
 * - Options may come anywhere: before, between and after positional arguments.
 * - `--` ends the options; everything after it is positional. ostree then drops that first `--`
 *   (GLib sometimes keeps it), so a later `--` is an ordinary argument.
 * - `-` alone and the empty string are positional.
 * - `--name` takes its value from the next argument whatever it looks like (`--subject -x`);
 *   `--name=VALUE` from the same one. A flag accepts `--flag=ANYTHING` and ignores the value
 *   (`--orphan=0` still sets --orphan).
 * - `-abc` sets each flag in turn; a short option that takes a value takes the *next argument*,
 *   never the rest of the group (`-bmain` takes the next argument as the branch, then fails on
 *   `-m`), and a second one in the same group fails with `Error parsing option -X`.
 * - `--help`, `--help-all`, `-?` and `-h` (unless an option owns `-h`) print the help at the
 *   point they are met: an error earlier on the line wins, anything later is never looked at.
 * - Messages: `Unknown option ARG` (the whole argument, `--repo=R` or `-Uq`), `Missing argument
 *   for --name` / `-x`.
 */

export interface OptionSpec {
  /** Long name without the dashes (`branch`, `no-xattrs`). */
  long: string;
  /** One-character short name, if any. */
  short?: string;
  value: 'none' | 'required' | 'optional';
  /** Name of the value in the help (`PATH`, `KEY=VALUE`). */
  argName?: string;
  description: string;
  /** Accepted but left out of the help, as GLib's G_OPTION_FLAG_HIDDEN. */
  hidden?: boolean;
}

export interface ParsedOption<S extends OptionSpec = OptionSpec> {
  spec: S;
  /** The value for options that take one; undefined for flags (and an absent optional value). */
  value: string | undefined;
}

export type ParseResult<S extends OptionSpec = OptionSpec> =
  | { kind: 'ok'; options: Array<ParsedOption<S>>; positionals: string[] }
  | { kind: 'help' }
  | { kind: 'error'; message: string };

/** Parses `args` (the words after the verb) against `table`, as GLib does. */
export function parseOptions<S extends OptionSpec>(args: readonly string[], table: readonly S[]): ParseResult<S> {
  const options: Array<ParsedOption<S>> = [];
  const positionals: string[] = [];
  const hIsHelp = !table.some((s) => s.short === 'h');
  let stopped = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (stopped || arg.length < 2 || arg[0] !== '-') {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      stopped = true;
      continue;
    }
    if (arg[1] === '-') {
      const name = arg.slice(2);
      if (name === 'help' || name === 'help-all') return { kind: 'help' };
      const eq = name.indexOf('=');
      const key = eq < 0 ? name : name.slice(0, eq);
      const spec = table.find((s) => s.long === key);
      if (!spec) return { kind: 'error', message: `Unknown option ${arg}` };
      if (spec.value === 'none') {
        options.push({ spec, value: undefined });
      } else if (eq >= 0) {
        options.push({ spec, value: name.slice(eq + 1) });
      } else if (i + 1 < args.length && (spec.value === 'required' || args[i + 1]![0] !== '-')) {
        options.push({ spec, value: args[++i]! });
      } else if (spec.value === 'optional') {
        options.push({ spec, value: undefined });
      } else {
        return { kind: 'error', message: `Missing argument for --${spec.long}` };
      }
      continue;
    }
    // A group of short options: flags apply in turn; the first that takes a value takes the next argument.
    let next = i;
    for (const ch of arg.slice(1)) {
      if (ch === '?' || (ch === 'h' && hIsHelp)) return { kind: 'help' };
      const spec = table.find((s) => s.short === ch);
      if (!spec) return { kind: 'error', message: `Unknown option ${arg}` };
      if (spec.value === 'none') {
        options.push({ spec, value: undefined });
        continue;
      }
      if (next > i) return { kind: 'error', message: `Error parsing option -${ch}` };
      if (i + 1 < args.length && (spec.value === 'required' || args[i + 1]![0] !== '-')) {
        next = i + 1;
        options.push({ spec, value: args[next]! });
      } else if (spec.value === 'optional') {
        options.push({ spec, value: undefined });
      } else {
        return { kind: 'error', message: `Missing argument for -${ch}` };
      }
    }
    i = next;
  }
  return { kind: 'ok', options, positionals };
}

export interface HelpText {
  /** The program and verbs: `ostree admin status`. */
  command: string;
  /** What follows `[OPTION…]` on the usage line: `COMMIT [DESTINATION]`. */
  params: string;
  /** The paragraph under the usage line (a description, a list of sub-verbs). */
  summary?: string;
  table: readonly OptionSpec[];
}

/** Help in GLib's layout: usage line, summary, help options, then the options in table order. */
export function formatHelp(h: HelpText): string {
  // As GLib: a short name two options share (`summary -v` is --view, and the global -v) is shown for the first only.
  const seen = new Set<string>();
  const visible = h.table.map((s) => {
    if (s.short === undefined) return s;
    if (seen.has(s.short)) return { ...s, short: undefined };
    seen.add(s.short);
    return s;
  }).filter((s) => !s.hidden);
  const helpShort = h.table.some((s) => s.short === 'h') ? '?' : 'h';
  const left = (s: OptionSpec) => `${s.short !== undefined ? `-${s.short}, ` : ''}--${s.long}${s.value !== 'none' && s.argName ? `=${s.argName}` : ''}`;
  const width = Math.max('-h, --help'.length, ...visible.map((s) => left(s).length - 2));
  let out = `Usage:\n  ${h.command} [OPTION…]${h.params ? ` ${h.params}` : ''}\n\n`;
  if (h.summary) out += `${h.summary}\n\n`;
  out += `Help Options:\n  -${helpShort}, --${'help'.padEnd(width)} Show help options\n\n`;
  if (visible.length > 0) {
    out += 'Application Options:\n';
    for (const s of visible) out += `  ${left(s).padEnd(width + 6)} ${s.description}\n`;
    out += '\n';
  }
  return out;
}
