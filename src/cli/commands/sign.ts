import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

interface SignOpts { repo?: string; signType: string; keysFile?: string; keysDir?: string; verify?: boolean; delete?: boolean }

export function registerSign(program: Command): void {
  verb(withRepo(program.command('sign')), { params: 'COMMIT KEY-ID...', missing: ['Need a COMMIT to sign or verify'] })
    .description('sign a commit (ed25519), or verify its signatures with --verify')
    .argument('[commit]', 'ref or checksum of the commit')
    .argument('[keys...]', 'base64 keys: secret keys to sign with, or public keys with --verify')
    // ostree 2022.7 (and later) parses -d/--delete but never reads it: the command signs as it
    // would without it. grove does the same, so a script behaves as it does under ostree.
    .option('-d, --delete', 'accepted as ostree accepts it, and ignored as ostree ignores it: the commit is signed')
    .option('--verify', 'verify the commit\'s signatures instead of signing')
    .option('-s, --sign-type <type>', 'signature type: ed25519, or ostree\'s test engine dummy', 'ed25519')
    .option('--keys-file <file>', 'file of base64 keys, one per line')
    .option('--keys-dir <dir>', 'with --verify: the directory of trusted.ed25519 and revoked.ed25519 instead of the system\'s')
    .action(async (rev: string | undefined, keys: string[], opts: SignOpts) => {
      // ostree 2022.7's order of checks, and its words (ot-builtin-sign.c).
      if (rev === undefined) throw new GroveError('GROVE_BAD_OPTION', 'Need a COMMIT to sign or verify');
      if (!opts.verify && opts.keysFile === undefined && keys.length === 0) throw new GroveError('GROVE_BAD_OPTION', 'Need at least one KEY-ID to sign with');
      const repo = await openRepo(opts);
      const commit = (await repo.resolveRev(rev))!;
      const [{ signEngine }, { readKeyLines, systemKeys }, { readDetached, signCommit, signaturesOf }] = await Promise.all([
        import('../../sign/engines.js'), import('../../sign/ed25519.js'), import('../../sign/signatures.js'),
      ]);
      const engine = signEngine(opts.signType);
      if (!opts.verify) {
        const all = [...keys, ...(opts.keysFile !== undefined ? readKeyLines(opts.keysFile) : [])];
        await signCommit(repo, commit, engine.name === 'dummy' ? { dummy: all } : { ed25519: all });
        return;
      }
      const data = await repo.readMetadata(commit, 'commit');
      const signatures = signaturesOf(await readDetached(repo, commit), engine.metadataKey);
      // Each key given is tried alone, and its failure passed over; the first that verifies wins.
      for (const k of keys) {
        try {
          process.stdout.write(`${engine.verify(data, signatures, [k])}\n`);
          return;
        } catch (e) {
          if (!(e instanceof GroveError)) throw e;
        }
      }
      // Then the keys of --keys-file, or with no keys at all the engine's default ones.
      if (keys.length === 0 || opts.keysFile !== undefined) {
        // --keys-dir stands in for /etc/ostree and /usr/share/ostree: its trusted.ed25519 and .d/.
        // The dummy engine loads no keys from anywhere (ostree: "not implemented").
        const from = engine.name === 'dummy' ? null : opts.keysFile !== undefined ? readKeyLines(opts.keysFile)
          : opts.keysDir !== undefined ? systemKeys('trusted', [opts.keysDir]).map((k) => k.toString('base64')) : null;
        process.stdout.write(`${engine.verify(data, signatures, from)}\n`);
        return;
      }
      throw new GroveError('GROVE_BAD_SIGNATURE', 'No valid signatures found');
    });

  verb(withRepo(program.command('gpg-sign')), { params: 'COMMIT KEY-ID...', missing: ['Need a COMMIT to sign', 'Need at least one GPG KEY-ID to sign with'] })
    .description('sign a commit with GPG keys')
    .argument('<commit>', 'ref or checksum of the commit')
    .argument('<keyids...>', 'GPG key ids')
    .option('-d, --delete', 'delete the signatures made by any of the KEY-IDs instead of signing')
    .option('--gpg-homedir <dir>', 'GPG home directory holding the keys')
    .action(async (rev: string, keyIds: string[], opts: { repo?: string; gpgHomedir?: string; delete?: boolean }) => {
      const repo = await openRepo(opts);
      const commit = (await repo.resolveRev(rev))!;
      if (opts.delete) {
        const { deleteGpgSignatures } = await import('../../sign/gpg-delete.js');
        process.stdout.write(`Signatures deleted: ${await deleteGpgSignatures(repo, commit, keyIds)}\n`);
        return;
      }
      const { signCommit } = await import('../../sign/signatures.js');
      await signCommit(repo, commit, { gpg: keyIds, ...(opts.gpgHomedir !== undefined && { gpgHomedir: opts.gpgHomedir }) });
    });
}

