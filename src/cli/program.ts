import { Command } from 'commander';
import { registerInit } from './commands/init.js';
import { registerCommit } from './commands/commit.js';
import { registerCheckout } from './commands/checkout.js';
import { registerRefs } from './commands/refs.js';
import { registerInspect } from './commands/inspect.js';
import { registerFsck } from './commands/fsck.js';
import { registerConfig } from './commands/config.js';
import { registerIndex } from './commands/index-cmd.js';
import { registerServe } from './commands/serve.js';
import { registerSummary } from './commands/summary.js';
import { registerRemote } from './commands/remote.js';
import { registerPull } from './commands/pull.js';
import { registerSign } from './commands/sign.js';
import { registerAdmin } from './commands/admin.js';
import { registerExport } from './commands/export.js';
import { registerPrune } from './commands/prune.js';
import { registerReset } from './commands/reset.js';
import { registerChecksum } from './commands/checksum.js';
import { registerDiff } from './commands/diff.js';

/**
 * The `grove` command: commander holds each verb's options, arguments and action; invocation.ts
 * reads the command line the way ostree does and hands commander a line it cannot misread.
 * Every failure ends as one line on stderr, `error: …` naming what is at fault (after the verb's
 * usage where ostree prints it), and exit status 1.
 */
export function buildProgram(): Command {
  const program = new Command('grove')
    .description('OSTree-compatible content store for operating-system trees')
    .showHelpAfterError(false)
    .exitOverride();
  registerInit(program);
  registerCommit(program);
  registerCheckout(program);
  registerRefs(program);
  registerInspect(program);
  registerFsck(program);
  registerConfig(program);
  registerIndex(program);
  registerServe(program);
  registerSummary(program);
  registerRemote(program);
  registerPull(program);
  registerSign(program);
  registerAdmin(program);
  registerExport(program);
  registerPrune(program);
  registerReset(program);
  registerChecksum(program);
  registerDiff(program);
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

