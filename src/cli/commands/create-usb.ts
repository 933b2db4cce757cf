import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { openRepo, withRepo } from '../repo-option.js';
import { UsageError, verb } from '../invocation.js';

const PARAMS = 'MOUNT-PATH COLLECTION-ID REF [COLLECTION-ID REF...]';

interface CreateUsbCliOpts { repo?: string; disableFsync: boolean; destinationRepo?: string; commit?: string }

/** `grove create-usb MOUNT-PATH COLLECTION-ID REF…`: `ostree create-usb`, with its checks and report line. */
export function registerCreateUsb(program: Command): void {
  verb(withRepo(program.command('create-usb')), { params: PARAMS })
    .description('copy collection refs into an archive repository on a mounted volume, for peers to find and pull from')
    .argument('[args...]', PARAMS)
    .option('--disable-fsync', 'do not wait for the volume to have the data', false)
    .option('--destination-repo <dest>', 'the repository inside the mount (default .ostree/repo)')
    .option('--commit <commit>', 'copy this commit for the one COLLECTION-ID REF pair')
    .action(async (args: string[], opts: CreateUsbCliOpts) => {
      const repo = await openRepo(opts);
      if (args.length < 1) throw new UsageError('A MOUNT-PATH must be specified');
      if (args.length < 3) throw new UsageError('At least one COLLECTION-ID REF pair must be specified');
      if (args.length % 2 === 0) throw new UsageError('Only complete COLLECTION-ID REF pairs may be specified');
      if (opts.commit !== undefined && args.length > 3) throw new UsageError('The --commit option can only be used when a single COLLECTION-ID REF pair is specified');
      const [mountPath, ...rest] = args as [string, ...string[]];
      const refs = [];
      for (let i = 0; i < rest.length; i += 2) refs.push({ collectionId: rest[i]!, ref: rest[i + 1]! });
      const { createUsb, CreateUsbUsageError } = await import('../../net/create-usb.js');
      let dest: string;
      try {
        dest = await createUsb(repo, mountPath, refs, {
          fsync: !opts.disableFsync,
          ...(opts.destinationRepo !== undefined && { destination: opts.destinationRepo }),
          ...(opts.commit !== undefined && { commit: opts.commit }),
        });
      } catch (e) {
        if (e instanceof CreateUsbUsageError) throw new UsageError(e.message);
        // create-usb has no --disable-verify-bindings to suggest: ostree's words alone.
        if (e instanceof GroveError && e.code === 'GROVE_BAD_BINDING') throw new GroveError(e.code, e.message);
        throw e;
      }
      process.stdout.write(`Copied ${refs.length}/${refs.length} refs successfully from \u2018${repo.path}\u2019 to \u2018${dest}\u2019 repository in \u2018${mountPath}\u2019.\n`);
    });
}
