import { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Each verb's module, loaded only when its verb runs: a command line names one verb, and loading
 * the modules of all of them (and what they import) was a third of grove's start-up. In the
 * order the verbs are registered, and so listed, when the whole program is built.
 */
const MODULES: ReadonlyArray<{ verbs: readonly string[]; load: () => Promise<Register> }> = [
  { verbs: ['init'], load: async () => (await import('./commands/init.js')).registerInit },
  { verbs: ['commit'], load: async () => (await import('./commands/commit.js')).registerCommit },
  { verbs: ['checkout'], load: async () => (await import('./commands/checkout.js')).registerCheckout },
  { verbs: ['refs', 'rev-parse'], load: async () => (await import('./commands/refs.js')).registerRefs },
  { verbs: ['log', 'show', 'ls', 'cat'], load: async () => (await import('./commands/inspect.js')).registerInspect },
  { verbs: ['fsck'], load: async () => (await import('./commands/fsck.js')).registerFsck },
  { verbs: ['config'], load: async () => (await import('./commands/config.js')).registerConfig },
  { verbs: ['index'], load: async () => (await import('./commands/index-cmd.js')).registerIndex },
  { verbs: ['serve'], load: async () => (await import('./commands/serve.js')).registerServe },
  { verbs: ['push'], load: async () => (await import('./commands/push.js')).registerPush },
  { verbs: ['summary'], load: async () => (await import('./commands/summary.js')).registerSummary },
  { verbs: ['remote'], load: async () => (await import('./commands/remote.js')).registerRemote },
  { verbs: ['pull', 'pull-local'], load: async () => (await import('./commands/pull.js')).registerPull },
  { verbs: ['sign', 'gpg-sign'], load: async () => (await import('./commands/sign.js')).registerSign },
  { verbs: ['admin'], load: async () => (await import('./commands/admin.js')).registerAdmin },
  { verbs: ['export'], load: async () => (await import('./commands/export.js')).registerExport },
  { verbs: ['prune'], load: async () => (await import('./commands/prune.js')).registerPrune },
  { verbs: ['reset'], load: async () => (await import('./commands/reset.js')).registerReset },
  { verbs: ['checksum'], load: async () => (await import('./commands/checksum.js')).registerChecksum },
  { verbs: ['find-remotes'], load: async () => (await import('./commands/find-remotes.js')).registerFindRemotes },
  { verbs: ['create-usb'], load: async () => (await import('./commands/create-usb.js')).registerCreateUsb },
  { verbs: ['diff'], load: async () => (await import('./commands/diff.js')).registerDiff },
  { verbs: ['static-delta'], load: async () => (await import('./commands/static-delta.js')).registerStaticDelta },
];

/**
 * The verb modules a command line needs: the one of the verb it names, as ostree finds the verb
 * (its first word that does not start with `-`, see invocation.ts); none for a plain `--version`
 * (with `-v` at most), which prints without any verb; else all of them (a missing or unknown
 * verb prints the program's usage, which lists them).
 */
export function verbOf(argv: readonly string[]): string | null | undefined {
  const word = argv.find((a) => a[0] !== '-');
  if (word === undefined && argv.includes('--version') && argv.every((a) => a === '--version' || a === '-v' || a === '--verbose')) return null;
  return MODULES.some((m) => m.verbs.includes(word ?? '')) ? word : undefined;
}

/**
 * The `grove` command: commander holds each verb's options, arguments and action; invocation.ts
 * reads the command line the way ostree does and hands commander a line it cannot misread.
 * Every failure ends as one line on stderr, `error: …` naming what is at fault (after the verb's
 * usage where ostree prints it), and exit status 1.
 *
 * With `only`, just the module of that verb is loaded and registered (what a run needs); with
 * null, none; without, every verb (the program's own usage lists them all).
 */
export async function buildProgram(only?: string | null): Promise<Command> {
  const program = new Command('grove')
    .description('OSTree-compatible content store for operating-system trees')
    .showHelpAfterError(false)
    .exitOverride();
  const wanted = only === undefined ? MODULES : MODULES.filter((m) => only !== null && m.verbs.includes(only));
  for (const register of await Promise.all(wanted.map((m) => m.load()))) register(program);
  for (const cmd of program.commands) configure(cmd);
  return program;
}

function configure(cmd: Command): void {
  cmd.exitOverride();
  // ostree's verbs ignore arguments they do not use; those that care check for themselves.
  cmd.allowExcessArguments();
  cmd.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const sub of cmd.commands) configure(sub);
}
