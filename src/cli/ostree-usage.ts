import { GroveError } from '../errors.js';

/**
 * The verbs grove answers in place of `ostree` fail on misuse as ostree does: for some misuses
 * ostree prints its GLib help for the verb on stderr, a blank line, then the `error:` line, and a
 * script that captures stderr sees all of it. This lays the help out as GLib does (options in a
 * column two wider than the longest, every verb's `--repo`, `-v` and `--version` included).
 */
export interface VerbHelp {
  verb: string;
  /** What follows `[OPTION…]` on the usage line, e.g. `REF COMMIT`. */
  params: string;
  summary: string;
  /** `[--flag=ARG, description]` of the verb's own options, in ostree's order. */
  options: Array<[string, string]>;
  /** Whether the verb takes `--repo` (ostree checksum does not). */
  repo?: boolean;
}

export function ostreeHelp(h: VerbHelp): string {
  const app: Array<[string, string]> = [
    ...(h.repo === false ? [] : [['--repo=PATH', 'Path to OSTree repository (defaults to current directory or /sysroot/ostree/repo)'] as [string, string]]),
    ...h.options,
    ['-v, --verbose', 'Print debug information during command processing'],
    ['--version', 'Print version information and exit'],
  ];
  const helpOpt: [string, string] = ['-h, --help', 'Show help options'];
  const width = Math.max(...[helpOpt, ...app].map(([f]) => f.length)) + 4;
  const line = ([f, d]: [string, string]) => `  ${f.padEnd(width)} ${d}\n`;
  return `Usage:\n  ostree ${h.verb} [OPTION\u2026]${h.params ? ` ${h.params}` : ''}\n\n${h.summary}\n\n`
    + `Help Options:\n${line(helpOpt)}\nApplication Options:\n${app.map(line).join('')}\n`;
}

/** ostree's usage error: the help on stderr now; the returned error is the `error:` line. */
export function usageError(h: VerbHelp, message: string): GroveError {
  process.stderr.write(`${ostreeHelp(h)}\n`);
  return new GroveError('GROVE_USAGE', message);
}

/**
 * GLib's parse of an integer option (`G_OPTION_ARG_INT`): strtol base 0 (so `0x10` and `010`
 * are 16 and 8), the whole string, within a C int; its two messages.
 */
export function parseGInt(option: string): (v: string) => number {
  return (v) => {
    const m = /^[\t\n\v\f\r ]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(v);
    if (!m) throw new GroveError('GROVE_BAD_OPTION', `Cannot parse integer value \u201c${v}\u201d for ${option}`);
    const digits = m[2]!;
    const n = BigInt(/^0[0-7]+$/.test(digits) ? `0o${digits.slice(1)}` : digits) * (m[1] === '-' ? -1n : 1n);
    if (n > 2147483647n || n < -2147483648n) throw new GroveError('GROVE_BAD_OPTION', `Integer value \u201c${v}\u201d for ${option} out of range`);
    return Number(n);
  };
}
