import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import type { Variant } from '../../format/gvariant.js';
import { collect, signOptions } from '../parse.js';
import { openRepo, withRepo } from '../repo-option.js';

interface SummaryOpts {
  repo?: string; update?: boolean; view?: boolean; raw?: boolean; addMetadata?: string[];
  gpgSign?: string[]; gpgHomedir?: string; sign?: string[]; signType: string;
}

/** `--add-metadata=KEY=VALUE`, VALUE in GVariant text format as ostree parses it (`'text'`, `uint64 5`, `true`). */
async function parseMetadataArg(arg: string): Promise<[string, Variant]> {
  const { parseVariantText } = await import('../../format/gvariant/text.js');
  const eq = arg.indexOf('=');
  if (eq < 0) throw new GroveError('GROVE_BAD_OPTION', `--add-metadata: missing '=' in KEY=VALUE metadata '${arg}'`);
  return [arg.slice(0, eq), parseVariantText(arg.slice(eq + 1))];
}

export function registerSummary(program: Command): void {
  withRepo(program.command('summary'))
    .description('write or show the repository summary that pull clients read first')
    .option('-u, --update', 'regenerate the summary from the current refs')
    .option('-v, --view', 'print the summary')
    .option('--raw', 'print the summary as a GVariant')
    .option('-m, --add-metadata <key=value>', 'extra summary metadata, VALUE in GVariant text format (repeatable)', collect)
    .option('--gpg-sign <keyid>', 'sign the summary with this GPG key (repeatable)', collect)
    .option('--gpg-homedir <dir>', 'GPG home directory holding the --gpg-sign keys')
    .option('--sign <key>', 'sign the summary with this secret key (base64 for ed25519; repeatable)', collect)
    .option('--sign-type <type>', 'signature type for --sign', 'ed25519')
    .action(async (opts: SummaryOpts) => {
      const { describeSummary, rawSummaryText, readLocalSummary } = await import('../../net/summary.js');
      const repo = await openRepo(opts);
      if (opts.update) {
        const additional = await Promise.all((opts.addMetadata ?? []).map(parseMetadataArg));
        const sign = signOptions(opts);
        await (await import('../../net/publish-summary.js')).publishSummary(repo, { additional, sign });
        return;
      }
      if (opts.view || opts.raw) {
        const { summary, bytes } = await readLocalSummary(repo);
        if (opts.raw) process.stdout.write(rawSummaryText(bytes));
        else process.stdout.write(describeSummary(summary));
        return;
      }
      throw new GroveError('GROVE_BAD_OPTION', 'no option specified; use -u to update the summary or --view to print it');
    });
}
