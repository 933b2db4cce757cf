import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

interface SignOpts { repo?: string; signType: string; keysFile?: string; verify?: boolean; delete?: boolean }

export function registerSign(program: Command): void {
  verb(withRepo(program.command('sign')), { params: 'COMMIT KEY-ID...', missing: ['Need a COMMIT to sign or verify'] })
    .description('sign a commit (ed25519), or verify its signatures with --verify')
    .argument('[commit]', 'ref or checksum of the commit')
    .argument('[keys...]', 'base64 keys: secret keys to sign with, or public keys with --verify')
    // ostree 2022.7 (and later) parses -d/--delete but never reads it: the command signs as it
    // would without it. grove does the same, so a script behaves as it does under ostree.
    .option('-d, --delete', 'accepted as ostree accepts it, and ignored as ostree ignores it: the commit is signed')
    .option('--verify', 'verify the commit\'s signatures instead of signing')
    .option('-s, --sign-type <type>', 'signature type', 'ed25519')
    .option('--keys-file <file>', 'file of base64 keys, one per line')
    .action(async (rev: string | undefined, keyArgs: string[], opts: SignOpts) => {
      const [{ ED25519_KEY, parsePublicKey, readKeyLines, verifyEd25519 }, { readDetached, signCommit, signaturesOf }] = await Promise.all([import('../../sign/ed25519.js'), import('../../sign/signatures.js')]);
      // ostree's checks, in its order and words.
      if (rev === undefined) throw new GroveError('GROVE_BAD_OPTION', 'Need a COMMIT to sign or verify');
      if (!opts.verify && opts.keysFile === undefined && keyArgs.length === 0) throw new GroveError('GROVE_BAD_OPTION', 'Need at least one KEY-ID to sign with');
      const repo = await openRepo(opts);
      const commit = (await repo.resolveRev(rev))!;
      if (opts.signType !== 'ed25519') throw new GroveError('GROVE_BAD_OPTION', 'Requested signature type is not implemented');
      const keys = [...keyArgs, ...(opts.keysFile !== undefined ? readKeyLines(opts.keysFile) : [])];
      if (keys.length === 0) throw new GroveError('GROVE_BAD_OPTION', 'no keys given: pass them as arguments or with --keys-file');
      if (opts.verify) {
        const sigs = signaturesOf(await readDetached(repo, commit), ED25519_KEY);
        if (sigs.length === 0) throw new GroveError('GROVE_BAD_SIGNATURE', `commit ${commit} has no ed25519 signature`);
        const good = verifyEd25519(await repo.readMetadata(commit, 'commit'), sigs, keys.map((k, i) => parsePublicKey(k, `public key #${i + 1}`)));
        if (good === null) throw new GroveError('GROVE_BAD_SIGNATURE', `no valid ed25519 signature of commit ${commit} by the given keys`);
        process.stdout.write(`Signature verified successfully with key '${good}'\n`);
        return;
      }
      await signCommit(repo, commit, { ed25519: keys });
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
