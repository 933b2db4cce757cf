import { CommanderError } from 'commander';
import { GroveError } from '../errors.js';
import { programName, resolveInvocation, UsageError } from './invocation.js';
import { buildProgram, verbOf } from './program.js';

/**
 * The command line: runs one invocation (`argv` without node and the script) and resolves to its
 * exit status. The bin, src/cli/grove.cts, calls it from the CLI's bundle or from this module.
 */
export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(verbOf(argv));
  let usage: (() => string) | undefined;
  try {
    const invocation = await resolveInvocation(program, argv, async (repo) => (await import('./repo-option.js')).openRepo({ repo }));
    if (invocation.kind === 'exit') {
      if (invocation.stdout) process.stdout.write(invocation.stdout);
      if (invocation.stderr) process.stderr.write(invocation.stderr);
      return invocation.code;
    }
    usage = invocation.usage;
    await program.parseAsync(await invocation.prepare(), { from: 'user' });
    // A verb that reported its failures itself (push, for each refused ref) set the status.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its message; only the status is ours.
      return e.exitCode === 0 ? 0 : 1;
    }
    // A progress line may be on screen: clear it so the error stands on its own line.
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    if (e instanceof UsageError && usage) process.stderr.write(`${usage()}${e.blankLine ? '\n' : ''}`);
    if (e instanceof GroveError) {
      const subject = e.subject !== undefined && programName() !== 'ostree' ? ` (${e.subject})` : '';
      process.stderr.write(`error: ${e.message}${subject}${e.hint ? ` (${e.hint})` : ''}\n`);
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
