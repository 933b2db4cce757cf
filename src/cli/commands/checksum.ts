import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { verb } from '../invocation.js';

/** `grove checksum PATH`: `ostree checksum`, the checksum a commit would give PATH. */
export function registerChecksum(program: Command): void {
  verb(program.command('checksum'), { params: 'PATH' })
    .description('print the checksum ostree gives PATH: its content object, or a directory\'s dirmeta')
    .argument('[path...]', 'the file, symlink or directory (ostree reads the first and ignores any more)')
    .option('--ignore-xattrs', "don't include xattrs in checksum")
    .action(async (paths: string[], opts: { ignoreXattrs?: boolean }) => {
      if (paths.length === 0) throw new GroveError('GROVE_USAGE', 'A filename must be given');
      const { checksumPath } = await import('../../commit/checksum-path.js');
      const checksum = await checksumPath(paths[0]!, opts.ignoreXattrs ? { xattrs: false, errors: 'glnx' } : {});
      process.stdout.write(`${checksum}\n`);
    });
}
