#!/usr/bin/env node
import nodeModule from 'node:module';
import { Command, CommanderError } from 'commander';
import { GroveError } from '../errors.js';
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
 * The `grove` command: a thin commander front over the library. Every failure ends as one line
 * on stderr, `error: …` naming what is at fault, and exit status 1.
 */
export function buildProgram(): Command {
  const program = new Command('grove')
    .description('OSTree-compatible content store for operating-system trees')
    .version('0.1.0')
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
  cmd.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const sub of cmd.commands) configure(sub);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its message (or the help); only the status is ours.
      return e.exitCode === 0 ? 0 : 1;
    }
    // A progress line may be on screen: clear it so the error stands on its own line.
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    if (e instanceof GroveError) {
      process.stderr.write(`error: ${e.message}${e.hint ? ` (${e.hint})` : ''}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === 'string' && err.syscall) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`error: internal error: ${err?.stack ?? String(e)}\n`);
    return 70;
  }
}

// Node 22.1+ can keep compiled code between runs; grove starts often (build farms script it),
// and most of its start-up is compiling modules. Older Node simply lacks the function.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
const code = await main(process.argv.slice(2));
process.exitCode = code;
