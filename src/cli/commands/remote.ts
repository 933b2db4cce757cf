import type { Command } from 'commander';
import { collect, parseKeyValue } from '../parse.js';
import { UsageError, verb } from '../invocation.js';
import { openRepo, openSysrootOrRepo, withRepo, withSysroot } from '../repo-option.js';
import { registerCookies } from './remote-cookies.js';

interface AddOpts {
  repo?: string; sysroot?: string; set?: Array<[string, string]>; gpgVerify?: boolean; signVerify?: string[]; noSignVerify?: boolean;
  ifNotExists?: boolean; force?: boolean; gpgImport?: string; customBackend?: string; contenturl?: string; collectionId?: string;
}

/** ostree's report after an import. */
function printImported(n: number, name: string): void {
  process.stdout.write(`Imported ${n} GPG key${n === 1 ? '' : 's'} to remote "${name}"\n`);
}

/** The library, loaded on use: every grove command pays for what the CLI imports up front. */
async function lib() {
  const [remotes, source, summary, keys] = await Promise.all([
    import('../../net/remotes.js'), import('../../net/remote-source.js'), import('../../net/summary.js'), import('../../net/remote-keys.js'),
  ]);
  return { ...remotes, ...source, ...summary, ...keys };
}

export function registerRemote(program: Command): void {
  const remote = program.command('remote').description('manage remote repositories');

  // ostree opens the repository (or loads the sysroot) before it checks the arguments.
  verb(withSysroot(withRepo(remote.command('add'))), { params: 'NAME [metalink=|mirrorlist=]URL [BRANCH...]', repoCheck: false })
    .description('add a remote repository')
    .argument('[name]')
    .argument('[url]')
    .argument('[branches...]', 'refs to pull when none are named')
    .option('--set <key=value>', 'set a config option of the remote (repeatable)', parseKeyValue('--set'))
    .option('--no-gpg-verify', 'do not require GPG signatures')
    .option('--no-sign-verify', 'do not require any signatures')
    // Shares its property with --no-sign-verify, whose default (true) is not a list yet.
    .option('--sign-verify <spec>', 'require signatures: ed25519=inline:PUBKEY or ed25519=file:PATH (repeatable)', (v: string, prev: unknown) => [...(Array.isArray(prev) ? prev as string[] : []), v])
    .option('--if-not-exists', 'do nothing if the remote exists')
    .option('--force', 'replace the remote if it exists')
    .option('--gpg-import <file>', 'trust the GPG public keys in FILE for this remote')
    .option('--custom-backend <name>', 'the remote is fetched by NAME, not by grove or ostree (URL optional)')
    .option('--contenturl <url>', 'fetch objects from URL (the summary, refs and config still come from the remote URL)')
    .option('--collection-id <id>', "the remote's collection ID")
    .action(async (name: string | undefined, url: string | undefined, branches: string[], opts: AddOpts) => {
      const l = await lib();
      const repo = await openSysrootOrRepo(opts);
      if (name === undefined || (url === undefined && opts.customBackend === undefined)) {
        throw new UsageError(opts.customBackend === undefined ? 'NAME and URL must be specified' : 'NAME must be specified');
      }
      if (opts.ifNotExists && opts.force) throw new UsageError('Can only specify one of --if-not-exists and --force');
      // --sign-verify and --no-sign-verify share one property: a list, false, or commander's default.
      const sv = (opts as { signVerify?: unknown }).signVerify;
      const noSignVerify = sv === false;
      await l.addRemote(repo, name, url ?? null, {
        branches,
        set: opts.set ?? [],
        noGpgVerify: opts.gpgVerify === false,
        noSignVerify,
        signVerify: Array.isArray(sv) ? (sv as string[]) : [],
        ifNotExists: opts.ifNotExists === true,
        force: opts.force === true,
        ...(opts.contenturl !== undefined && { contentUrl: opts.contenturl }),
        ...(opts.customBackend !== undefined && { customBackend: opts.customBackend }),
        ...(opts.collectionId !== undefined && { collectionId: opts.collectionId }),
      });
      if (opts.gpgImport !== undefined) {
        const keys = await l.readKeySource([opts.gpgImport]);
        printImported(await l.importRemoteGpgKeys(repo, name, keys), name);
      }
    });

  verb(withRepo(remote.command('gpg-import')), { params: 'NAME [KEY-ID...]' })
    .description('trust GPG public keys for a remote')
    .argument('<name>')
    .argument('[keyids...]', 'import only these keys')
    .option('-k, --keyring <file>', 'import the keys of FILE, armored or binary (repeatable)', collect)
    .option('--stdin', 'import the keys on standard input')
    .action(async (name: string, keyIds: string[], opts: { repo?: string; keyring?: string[]; stdin?: boolean }) => {
      const l = await lib();
      const repo = await openRepo(opts);
      if (opts.stdin && opts.keyring !== undefined) throw new UsageError('--keyring and --stdin are mutually exclusive');
      const keys = opts.stdin ? await l.readStdin() : await l.readKeySource(opts.keyring ?? []);
      printImported(await l.importRemoteGpgKeys(repo, name, keys, keyIds.length > 0 ? keyIds : null), name);
    });

  verb(withSysroot(withRepo(remote.command('delete'))), { params: 'NAME', repoCheck: false })
    .description('delete a remote repository')
    .argument('[name]')
    .option('--if-exists', 'do nothing if the remote does not exist')
    .action(async (name: string | undefined, opts: { repo?: string; sysroot?: string; ifExists?: boolean }) => {
      const l = await lib();
      const repo = await openSysrootOrRepo(opts);
      if (name === undefined) throw new UsageError('NAME must be specified');
      await l.deleteRemote(repo, name, { ifExists: opts.ifExists === true });
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
    .option('--cache-dir <dir>', 'keep the summary cache in DIR instead of the repository')
    .action(async (name: string, opts: { repo?: string; cacheDir?: string }) => {
      const l = await lib();
      const repo = await openRepo(opts);
      const { summary } = await l.fetchRemoteSummary(repo, l.getRemote(repo, name), { ...cacheDir(opts), noSummary: 'Remote refs not available; server has no summary file' });
      const names = summary.refs.map((ref) => ref.name).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      process.stdout.write(names.map((n) => `${name}:${n}\n`).join(''));
    });

  withRepo(remote.command('summary'))
    .description("show a remote's summary")
    .argument('<name>')
    .option('--cache-dir <dir>', 'keep the summary cache in DIR instead of the repository')
    .option('--raw', 'print the summary as a GVariant')
    .action(async (name: string, opts: { repo?: string; cacheDir?: string; raw?: boolean }) => {
      const l = await lib();
      const repo = await openRepo(opts);
      const r = l.getRemote(repo, name);
      const { summary, bytes, sig } = await l.fetchRemoteSummary(repo, r, cacheDir(opts));
      if (opts.raw) {
        const { rawSummaryText } = await import('../../net/summary.js');
        process.stdout.write(rawSummaryText(bytes));
        return;
      }
      process.stdout.write(l.describeSummary(summary));
      // As ostree: with gpg-verify-summary (already verified by the fetch), its account of the signatures; never with --raw.
      if (r.gpgVerifySummary && sig !== null) {
        const [{ decodeDict, signaturesOf }, { GPG_KEY }, { gpgVerifyResult, formatVerifyResult }] = await Promise.all([
          import('../../sign/signatures.js'), import('../../sign/gpg.js'), import('../../sign/gpg-verify-result.js'),
        ]);
        const sigs = signaturesOf(decodeDict(sig, `summary.sig of remote ${name}`), GPG_KEY);
        process.stdout.write(`\n${formatVerifyResult(await gpgVerifyResult(bytes, sigs, l.remoteGpgKeySources(repo, r, true)))}`);
      }
    });

  verb(withRepo(remote.command('gpg-list-keys')), { params: 'NAME' })
    .description('show the GPG keys a remote trusts (without NAME: the global ones)')
    .argument('[name]')
    .action(async (name: string | undefined, opts: { repo?: string }) => {
      const [l, { formatGpgKeys }] = await Promise.all([lib(), import('../../sign/gpg-key-text.js')]);
      process.stdout.write(formatGpgKeys(await l.listRemoteGpgKeys(await openRepo(opts), name ?? null)));
    });

  registerCookies(remote);
}

/** `--cache-dir`, relative to the current directory as ostree opens it. */
const cacheDir = (opts: { cacheDir?: string }): { cacheDir?: string } => (opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {});
