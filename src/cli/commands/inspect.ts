import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { isLink } from '../../format/mode.js';
import { resolvePath } from '../../checkout/resolve-path.js';
import { describeCommit } from '../../inspect/describe.js';
import { logText } from '../../inspect/log.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

export function registerInspect(program: Command): void {
  verb(withRepo(program.command('log')), { params: 'REV', missing: ['A rev argument is required'] })
    .description('show a commit and its history')
    .argument('<rev>', 'ref or commit checksum')
    .action(async (rev: string, opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      process.stdout.write(await logText(repo, rev));
    });

  verb(withRepo(program.command('show')), { params: 'OBJECT', missing: ['An object argument is required'] })
    .description('show a commit')
    .argument('<rev>', 'ref or commit checksum')
    .action(async (rev: string, opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const csum = (await repo.resolveRev(rev))!;
      process.stdout.write(describeCommit(csum, await repo.loadCommit(csum)));
    });

  verb(withRepo(program.command('ls')), { params: 'COMMIT [PATH...]', missing: ['An COMMIT argument is required'] })
    .description('list paths of a commit')
    .argument('<rev>', 'ref or commit checksum')
    .argument('[paths...]', 'paths inside the commit (default: /)')
    .option('-R, --recursive', 'list directories recursively')
    .option('-C, --checksum', 'print checksums')
    .option('-d, --dironly', 'list a directory itself, not its contents')
    .action(async (rev: string, paths: string[], opts: { repo?: string; recursive?: boolean; checksum?: boolean; dironly?: boolean }) => {
      const repo = await openRepo(opts);
      const out: string[] = [];
      const flush = () => { process.stdout.write(out.join('')); out.length = 0; };
      const { lsLines } = await import('../../inspect/ls.js');
      for await (const line of lsLines(repo, rev, paths, { recursive: opts.recursive === true, checksums: opts.checksum === true, dirOnly: opts.dironly === true })) {
        out.push(`${line}\n`);
        if (out.length >= 1024) flush();
      }
      flush();
    });

  const catMissing = 'A COMMIT and at least one PATH argument are required';
  verb(withRepo(program.command('cat')), { params: 'COMMIT PATH...', missing: [catMissing, catMissing] })
    .description('print the content of files in a commit')
    .argument('<rev>', 'ref or commit checksum')
    .argument('<paths...>', 'files inside the commit')
    .action(async (rev: string, paths: string[], opts: { repo?: string }) => {
      const repo = await openRepo(opts);
      const commit = await repo.loadCommit((await repo.resolveRev(rev))!);
      const { openContent } = await import('../../store/read-content.js');
      for (const p of paths) {
        const e = await resolvePath(repo, commit, p);
        if (e.kind !== 'file') throw new GroveError('GROVE_NOT_FILE', `${p} is a directory`);
        const obj = await openContent(repo, e.checksum, { xattrs: false });
        if (isLink(obj.header.mode)) throw new GroveError('GROVE_NOT_FILE', `${p} is a symbolic link`);
        for await (const chunk of obj.chunks()) {
          if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
        }
      }
    });
}
