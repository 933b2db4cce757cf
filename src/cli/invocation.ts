import path from 'node:path';
import type { Command, Option } from 'commander';
import { GroveError } from '../errors.js';
import { formatHelp, parseOptions, type OptionSpec, type ParsedOption } from './glib-options.js';
import { versionText } from './version.js';

/**
 * How ostree reads a command line, on top of commander's command tree: commander keeps each
 * verb's options, arguments and action in its own file; this module decides, the way ostree 2022.7
 * does, which verb a line names, parses the whole line with GLib's rules against that verb's
 * options (plus those of the verbs above it and the global ones), and hands commander a line in
 * a form it cannot misread: `[verb, …its options as --name=VALUE, sub-verb, …, '--', …operands]`.
 *
 * ostree's dispatch, which this follows:
 * - The verb is the first word that does not start with `-`, wherever it is (`ostree --repo=R
 *   log`, and also `ostree --repo R log`, where the verb is `R`).
 * - Families with sub-verbs (`admin`, `remote`, `admin kargs`) pick the sub-verb the same way, but
 *   a `--` there ends the line: it and everything after it are dropped.
 * - `config` is a verb whose first operand is the operation (`get`, `set`, `unset`), not a
 *   family: its options are parsed first, so `config --group G get KEY` means what it says.
 * - A verb's options are parsed with those of the verbs above it (`--sysroot` of `admin`) and the
 *   global `-v/--verbose` and `--version`; `--help` prints that verb's help on stdout, exit 0.
 * - Missing or unknown verbs print the family's usage on stderr and fail; so do parse errors
 *   there. Parse errors of a verb are one line.
 */

/** An error in how a verb was called: ostree prints the verb's usage on stderr before it. */
export class UsageError extends GroveError {
  /** ostree's ot_util_usage_error leaves a blank line after the usage; some callers do not. */
  readonly blankLine: boolean;
  constructor(message: string, opts: { blankLine?: boolean } = {}) {
    super('GROVE_USAGE', message);
    this.blankLine = opts.blankLine ?? true;
  }
}

export interface VerbMeta {
  /** What follows `[OPTION…]` in ostree's usage line (`COMMIT [DESTINATION]`); default: from the arguments. */
  params?: string;
  /** The usage error for each required argument, in order, when it is missing (default: `NAME must be specified`). */
  missing?: string[];
  /**
   * Whether the repository is opened, and a missing one reported, before the arguments are
   * checked, as ostree does while it parses options. Default: when the verb has `--repo`.
   */
  repoCheck?: boolean;
  /**
   * An admin verb whose sysroot ostree locks (`locked`) and loads (both) while it parses
   * options, so that a sysroot it cannot use is reported before a missing argument.
   */
  loadsSysroot?: 'locked' | 'unlocked';
  /**
   * Runs after the options are parsed, for this verb and every verb below it (`admin
   * --print-current-dir`): text to print on stdout and exit 0, or null to go on.
   */
  intercept?: (value: (long: string) => string | true | undefined) => Promise<string | null>;
  /**
   * A family that prints its own usage instead of GLib's help (ostree's `static-delta` lists its
   * sub-verbs without options), and its error when no sub-verb is named.
   */
  familyUsage?: { text: (cmd: Command) => string; noCommand: string };
}

const metas = new WeakMap<Command, VerbMeta>();

/** Records how ostree presents and checks `cmd` (see VerbMeta). */
export function verb<C extends Command>(cmd: C, meta: VerbMeta): C {
  metas.set(cmd, { ...metas.get(cmd), ...meta });
  return cmd;
}

export interface Spec extends OptionSpec {
  /** The command whose commander option this is; null for the global ones this module handles. */
  owner: Command | null;
}

/** ostree's global options, taken by every verb. */
export const GLOBAL_OPTIONS: readonly Spec[] = [
  { long: 'verbose', short: 'v', value: 'none', description: 'Accepted as ostree does; grove prints no debug output', owner: null },
  { long: 'version', value: 'none', description: 'Print the version and the features, then exit', owner: null },
];

function specOf(opt: Option, owner: Command): Spec {
  if (!opt.long) throw new Error(`option ${opt.flags} of ${owner.name()} has no long name`);
  const arg = /[<[]([^>\]]+)[>\]]/.exec(opt.flags)?.[1];
  return {
    long: opt.long.slice(2),
    ...(opt.short ? { short: opt.short.slice(1) } : {}),
    value: opt.required ? 'required' : opt.optional ? 'optional' : 'none',
    ...(arg ? { argName: arg.replace(/\.\.\.$/, '').toUpperCase() } : {}),
    description: opt.description,
    ...(opt.hidden ? { hidden: true } : {}),
    owner,
  };
}

/** The options a verb takes: those of each verb on the way to it (outermost first), then the global ones. */
export function optionTable(chain: readonly Command[]): Spec[] {
  return [...chain.flatMap((c) => c.options.map((o) => specOf(o, c))), ...GLOBAL_OPTIONS];
}

/**
 * The name ostree would print: grove installed (or linked) as `ostree` says `ostree`; run as
 * `grove` or through its script (grove.cjs) it says `grove`. ostree prints its argv[0] as typed; a Node program
 * only sees the path of the script, so the base name is the nearest honest equivalent.
 */
export function programName(): string {
  const base = path.basename(process.argv[1] ?? 'grove');
  return /\.[cm]?js$/.test(base) ? 'grove' : base;
}

function argParams(cmd: Command): string {
  return cmd.registeredArguments.map((a) => {
    const n = `${a.name().toUpperCase()}${a.variadic ? '...' : ''}`;
    return a.required ? n : `[${n}]`;
  }).join(' ');
}

/** The help of the last verb of `chain` (the program itself when empty), in GLib's layout. */
export function helpFor(program: Command, chain: readonly Command[]): string {
  const cmd = chain.at(-1) ?? program;
  const meta = metas.get(cmd) ?? {};
  if (meta.familyUsage) return meta.familyUsage.text(cmd);
  const isFamily = cmd.commands.length > 0;
  // Hidden verbs (ostree's OSTREE_BUILTIN_FLAG_HIDDEN: those its systemd units run) are not listed.
  const listed = cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
  const list = isFamily ? listed.map((c) => `\n  ${c.name().padEnd(18)}${c.description()}`).join('') : '';
  const heading = chain.length === 0 ? 'Builtin Commands:' : `Builtin "${chain.map((c) => c.name()).join(' ')}" Commands:`;
  const summary = [chain.length > 0 ? cmd.description() : '', isFamily ? `${heading}${list}` : ''].filter(Boolean).join('\n\n');
  return formatHelp({
    command: [programName(), ...chain.map((c) => c.name())].join(' '),
    params: meta.params ?? (isFamily ? 'COMMAND' : argParams(cmd)),
    ...(summary ? { summary } : {}),
    table: optionTable(chain),
  });
}

/** What the command line asks for. */
export type Invocation =
  | { kind: 'exit'; code: number; stdout?: string; stderr?: string }
  | {
    kind: 'run';
    /** The verb's usage, printed before a UsageError. */
    usage: () => string;
    /**
     * Makes the checks ostree makes before the verb runs (repository, arguments; may throw, a
     * UsageError among others), then returns the line for commander.
     */
    prepare: () => Promise<string[]>;
  };

const exit = (code: number, out: { stdout?: string; stderr?: string }): Invocation => ({ kind: 'exit', code, ...out });

/**
 * Resolves `argv` (the words after the program name) against `program`'s commands as ostree
 * would. `openRepo` opens the repository a `--repo` value names (or the default one), for the
 * check ostree makes while it parses options.
 */
export async function resolveInvocation(program: Command, argv: readonly string[], openRepo: (repo: string | undefined) => Promise<unknown>): Promise<Invocation> {
  const chain: Command[] = [];
  let rest = [...argv];
  // Sub-verb dispatch for families whose sub-verbs are words (the program, admin, remote, …).
  for (let family = program; family.commands.length > 0;) {
    if (chain.length > 0) {
      const cut = rest.indexOf('--');
      if (cut >= 0) rest = rest.slice(0, cut);
    }
    const at = rest.findIndex((a) => a[0] !== '-');
    const name = at >= 0 ? rest[at]! : undefined;
    const sub = name === undefined ? undefined : family.commands.find((c) => c.name() === name);
    const own = metas.get(family)?.familyUsage;
    // ostree's static-delta parses no options until it has a sub-verb: it looks for the first
    // word, stopping at a -h or --help before it (then its own usage, whatever follows).
    if (own && (name === undefined ? rest : rest.slice(0, at)).some((a) => a === '-h' || a === '--help')) {
      return exit(0, { stdout: helpFor(program, chain) });
    }
    if (at >= 0) rest.splice(at, 1);
    if (sub) {
      chain.push(sub);
      family = sub;
      continue;
    }
    const usage = helpFor(program, chain);
    if (own) {
      const names = chain.map((c) => c.name()).join(' ');
      return exit(1, { stderr: `${usage}error: ${name === undefined ? own.noCommand : `Unknown "${names}" subcommand '${name}'`}\n` });
    }
    const parsed = parseOptions(rest, optionTable(chain));
    if (parsed.kind === 'help') return exit(0, { stdout: usage });
    if (parsed.kind === 'error') return exit(1, { stderr: `${usage}error: ${parsed.message}\n` });
    if (parsed.options.some((o) => o.spec.owner === null && o.spec.long === 'version')) return exit(0, { stdout: versionText() });
    try {
      const out = await runIntercepts(chain, parsed.options);
      if (out !== null) return exit(0, { stdout: out });
    } catch (e) {
      if (!(e instanceof GroveError)) throw e;
      return exit(1, { stderr: `${usage}error: ${e.message}\n` });
    }
    const names = chain.map((c) => c.name()).join(' ');
    const noSub = `No "${names}" subcommand specified`;
    const message = chain.length === 0
      ? (name === undefined ? 'No command specified' : `Unknown command '${name}'`)
      : (name === undefined ? noSub : `Unknown "${names}" subcommand '${name}'`);
    return exit(1, { stderr: `${usage}error: ${message}\n` });
  }

  const parsed = parseOptions(rest, optionTable(chain));
  if (parsed.kind === 'help') return exit(0, { stdout: helpFor(program, chain) });
  if (parsed.kind === 'error') return exit(1, { stderr: `error: ${parsed.message}\n` });
  if (parsed.options.some((o) => o.spec.owner === null && o.spec.long === 'version')) return exit(0, { stdout: versionText() });
  const out = await runIntercepts(chain, parsed.options);
  if (out !== null) return exit(0, { stdout: out });

  const leaf = chain.at(-1)!;
  const meta = metas.get(leaf) ?? {};
  const operands = parsed.positionals;
  const repo = lastValue(parsed.options, 'repo');
  const prepare = async (): Promise<string[]> => {
    if (meta.repoCheck ?? optionTable(chain).some((s) => s.long === 'repo')) await openRepo(typeof repo === 'string' ? repo : undefined);
    if (meta.loadsSysroot) await loadSysrootFirst(lastValue(parsed.options, 'sysroot'), meta.loadsSysroot);
    leaf.registeredArguments.forEach((a, i) => {
      if (a.required && operands.length <= i) throw new UsageError(meta.missing?.[i] ?? `${a.name().toUpperCase()} must be specified`);
    });
    return commanderLine(chain, parsed.options, operands);
  };
  return { kind: 'run', usage: () => helpFor(program, chain), prepare };
}

async function loadSysrootFirst(sysroot: string | true | undefined, how: 'locked' | 'unlocked'): Promise<void> {
  const [{ checkLockable, openSysroot }, { loadSysroot }] = await Promise.all([import('../deploy/sysroot-read.js'), import('../deploy/deployments.js')]);
  const root = openSysroot(typeof sysroot === 'string' ? sysroot : '/');
  if (how === 'locked') checkLockable(root);
  loadSysroot(root);
}

function lastValue(options: readonly ParsedOption<Spec>[], long: string): string | true | undefined {
  let v: string | true | undefined;
  for (const o of options) if (o.spec.long === long) v = o.value ?? true;
  return v;
}

async function runIntercepts(chain: readonly Command[], options: readonly ParsedOption<Spec>[]): Promise<string | null> {
  for (const c of chain) {
    const hook = metas.get(c)?.intercept;
    if (!hook) continue;
    const out = await hook((long) => lastValue(options.filter((o) => o.spec.owner === c), long));
    if (out !== null) return out;
  }
  return null;
}

/** `[verb, --opt=V…, sub-verb, --opt…, '--', …operands]`: each option goes to the verb that owns it. */
function commanderLine(chain: readonly Command[], options: readonly ParsedOption<Spec>[], operands: readonly string[]): string[] {
  const line: string[] = [];
  for (const c of chain) {
    line.push(c.name());
    for (const o of options) {
      if (o.spec.owner !== c) continue;
      line.push(o.value === undefined ? `--${o.spec.long}` : `--${o.spec.long}=${o.value}`);
    }
  }
  return [...line, '--', ...operands];
}
