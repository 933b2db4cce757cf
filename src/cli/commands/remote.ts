import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { parseKeyValue } from '../parse.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

interface AddOpts {
  repo?: string; set?: Array<[string, string]>; gpgVerify?: boolean; signVerify?: string[]; noSignVerify?: boolean;
  ifNotExists?: boolean; force?: boolean; gpgImport?: string;
}

/** The library, loaded on use: every grove command pays for what the CLI imports up front. */
async function lib() {
  const [remotes, source, summary] = await Promise.all([import('../../net/remotes.js'), import('../../net/remote-source.js'), import('../../net/summary.js')]);
  return { ...remotes, ...source, ...summary };
}

export function registerRemote(program: Command): void {
  const remote = program.command('remote').description('manage remote repositories');

  // ostree checks the arguments of add and delete before it opens the repository.
  verb(withRepo(remote.command('add')), { params: 'NAME URL [BRANCH...]', missing: ['NAME and URL must be specified', 'NAME and URL must be specified'], repoCheck: false })
    .description('add a remote repository')
    .argument('<name>')
    .argument('<url>')
    .argument('[branches...]', 'refs to pull when none are named')
    .option('--set <key=value>', 'set a config option of the remote (repeatable)', parseKeyValue('--set'))
    .option('--no-gpg-verify', 'do not require GPG signatures')
    .option('--no-sign-verify', 'do not require any signatures')
    // Shares its property with --no-sign-verify, whose default (true) is not a list yet.
    .option('--sign-verify <spec>', 'require signatures: ed25519=inline:PUBKEY or ed25519=file:PATH (repeatable)', (v: string, prev: unknown) => [...(Array.isArray(prev) ? prev as string[] : []), v])
    .option('--gpg-import <file>', 'trust the GPG public keys in FILE for this remote')
    .option('--if-not-exists', 'do nothing if the remote exists')
    .option('--force', 'replace the remote if it exists')
    .action(async (name: string, url: string, branches: string[], opts: AddOpts) => {
      const l = await lib();
      if (opts.ifNotExists && opts.force) throw new GroveError('GROVE_BAD_OPTION', 'cannot specify both --if-not-exists and --force');
      const repo = await openRepo(opts);
      // --sign-verify and --no-sign-verify share one property: a list, false, or commander's default.
      const sv = (opts as { signVerify?: unknown }).signVerify;
      const noSignVerify = sv === false;
      await l.addRemote(repo, name, url, {
        branches,
        set: opts.set ?? [],
        noGpgVerify: opts.gpgVerify === false,
        noSignVerify,
        signVerify: Array.isArray(sv) ? (sv as string[]) : [],
        ifNotExists: opts.ifNotExists === true,
        force: opts.force === true,
      });
      if (opts.gpgImport !== undefined) await l.importRemoteGpgKeys(repo, name, opts.gpgImport);
    });

  verb(withRepo(remote.command('gpg-import')), { params: 'NAME [KEY-ID...]' })
    .description('trust GPG public keys for a remote')
    .argument('<name>')
    .requiredOption('-k, --keyring <file>', 'file of public keys (armored or binary)')
    .action(async (name: string, opts: { repo?: string; keyring: string }) => {
      const l = await lib();
      await l.importRemoteGpgKeys(await openRepo(opts), name, opts.keyring);
    });

  verb(withRepo(remote.command('delete')), { repoCheck: false })
    .description('delete a remote repository')
    .argument('<name>')
    .option('--if-exists', 'do nothing if the remote does not exist')
    .action(async (name: string, opts: { repo?: string; ifExists?: boolean }) => {
      const l = await lib();
      await l.deleteRemote(await openRepo(opts), name, { ifExists: opts.ifExists === true });
    });

  withRepo(remote.command('list'))
    .description('list remote repository names')
    .option('-u, --show-urls', 'show URLs too')
    .action(async (opts: { repo?: string; showUrls?: boolean }) => {
      const l = await lib();
      const repo = await openRepo(opts);
      const names = l.listRemotes(repo);
      const width = Math.max(0, ...names.map((n) => n.length));
      for (const n of names) process.stdout.write(opts.showUrls ? `${n.padEnd(width)}  ${l.getRemote(repo, n).url}\n` : `${n}\n`);
    });

  withRepo(remote.command('show-url'))
    .description('show the URL of a remote')
    .argument('<name>')
    .action(async (name: string, opts: { repo?: string }) => {
      const l = await lib();
      process.stdout.write(`${l.getRemote(await openRepo(opts), name).url}\n`);
    });

  withRepo(remote.command('refs'))
    .description("list a remote's refs (from its summary)")
    .argument('<name>')
    .action(async (name: string, opts: { repo?: string }) => {
      const l = await lib();
      const repo = await openRepo(opts);
      const summary = await l.fetchRemoteSummary(repo, l.getRemote(repo, name));
      process.stdout.write(summary.refs.map((ref) => `${name}:${ref.name}\n`).join(''));
    });

  withRepo(remote.command('summary'))
    .description("show a remote's summary")
    .argument('<name>')
    .action(async (name: string, opts: { repo?: string }) => {
      const l = await lib();
      const repo = await openRepo(opts);
      process.stdout.write(l.describeSummary(await l.fetchRemoteSummary(repo, l.getRemote(repo, name))));
    });
}
