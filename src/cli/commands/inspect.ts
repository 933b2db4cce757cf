import path from 'node:path';
import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { isLink } from '../../format/mode.js';
import { UsageError, verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

interface ShowOpts {
  repo?: string;
  printRelated?: boolean;
  printVariantType?: string;
  printMetadataKey?: string;
  printDetachedMetadataKey?: string;
  printSizes?: boolean;
  raw?: boolean;
  byteswap?: boolean;
  gpgHomedir?: string;
  gpgVerifyRemote?: string;
}

interface LsOpts { repo?: string; recursive?: boolean; checksum?: boolean; dironly?: boolean; xattrs?: boolean; nulFilenamesOnly?: boolean }

export function registerInspect(program: Command): void {
  verb(withRepo(program.command('log')), { params: 'REV', missing: ['A rev argument is required'] })
    .description('show a commit and its history')
    .argument('[rev]', 'ref or commit checksum')
    .option('--raw', 'show raw variant data')
    .action(async (rev: string | undefined, opts: { repo?: string; raw?: boolean }) => {
      if (rev === undefined) throw new UsageError('A rev argument is required');
      const repo = await openRepo(opts);
      const { logText } = await import('../../inspect/log.js');
      process.stdout.write(await logText(repo, rev, { raw: opts.raw === true }));
    });

  verb(withRepo(program.command('show')), { params: 'OBJECT', missing: ['An object argument is required'] })
    .description('show a commit, or any metadata or content object by checksum')
    .argument('[object]', 'ref, commit checksum, or checksum of a dirtree, dirmeta or content object')
    .option('--print-related', 'show the "related" commits')
    .option('--print-variant-type <type>', 'read OBJECT (in this case a filename) as a GVariant of TYPE')
    .option('--print-metadata-key <key>', 'print the value of metadata key KEY')
    .option('--print-detached-metadata-key <key>', 'print the value of detached metadata key KEY')
    .option('--print-sizes', 'show the commit size metadata (ostree.sizes)')
    .option('--raw', 'show raw variant data')
    .option('-B, --no-byteswap', 'do not convert variant data from big endian')
    // GPG options are accepted as ostree accepts them; a commit without GPG signatures shows the
    // same either way. grove does not print ostree's "Found N signatures" block.
    .option('--gpg-homedir <dir>', 'GPG home directory to use when looking for keyrings')
    .option('--gpg-verify-remote <remote>', 'use REMOTE for GPG configuration')
    .action(async (rev: string | undefined, opts: ShowOpts) => {
      if (rev === undefined) throw new UsageError('An object argument is required');
      const repo = await openRepo(opts);
      const show = await import('../../inspect/show.js');
      const noByteswap = opts.byteswap === false;
      const key = opts.printDetachedMetadataKey ?? opts.printMetadataKey;
      let out: string;
      // ostree's order: a metadata key, else related, else a variant file, else sizes.
      if (key !== undefined) {
        const csum = (await repo.resolveRev(rev))!;
        out = await show.metadataKeyText(repo, csum, key, { detached: opts.printDetachedMetadataKey !== undefined, noByteswap });
      } else if (opts.printRelated) {
        out = await show.relatedText(repo, (await repo.resolveRev(rev))!);
      } else if (opts.printVariantType !== undefined) {
        out = await show.variantFileText(opts.printVariantType, rev);
      } else if (opts.printSizes) {
        out = await show.sizesText(repo, (await repo.resolveRev(rev))!);
      } else {
        out = await show.showObject(repo, rev, { raw: opts.raw === true, noByteswap });
      }
      process.stdout.write(out);
    });

  verb(withRepo(program.command('ls')), { params: 'COMMIT [PATH...]', missing: ['An COMMIT argument is required'] })
    .description('list paths of a commit')
    .argument('<rev>', 'ref or commit checksum')
    .argument('[paths...]', 'paths inside the commit (default: /)')
    .option('-R, --recursive', 'list directories recursively')
    .option('-C, --checksum', 'print checksums')
    .option('-d, --dironly', 'list a directory itself, not its contents')
    .option('-X, --xattrs', 'print extended attributes')
    .option('--nul-filenames-only', 'print only filenames, each followed by a NUL')
    .action(async (rev: string, paths: string[], opts: LsOpts) => {
      const repo = await openRepo(opts);
      const out: string[] = [];
      const flush = () => { process.stdout.write(out.join('')); out.length = 0; };
      const [{ lsLines }, { formatXattrs }] = await Promise.all([import('../../inspect/ls.js'), import('../../inspect/show.js')]);
      const end = opts.nulFilenamesOnly ? '\0' : '\n';
      const lsOpts = {
        recursive: opts.recursive === true,
        checksums: opts.checksum === true,
        dirOnly: opts.dironly === true,
        pathsOnly: opts.nulFilenamesOnly === true,
        ...(opts.xattrs && { formatXattrs }),
      };
      for await (const line of lsLines(repo, rev, paths, lsOpts)) {
        out.push(`${line}${end}`);
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
      const { resolvePath } = await import('../../checkout/resolve-path.js');
      for (const p of paths) {
        // As ostree, a symlink is followed inside the commit: an absolute target from its root,
        // a relative one from the link's directory. ostree takes `..` for a name (and fails) and
        // recurses forever on a loop; grove resolves `..` and stops after 40 links, as the kernel does.
        let at = p;
        let obj;
        for (let hops = 0; ; hops++) {
          const e = await resolvePath(repo, commit, at);
          // ostree's words (GIO's, opening a directory for reading).
          if (e.kind !== 'file') throw new GroveError('GROVE_NOT_FILE', "Can't open directory", { subject: at });
          obj = await openContent(repo, e.checksum, { xattrs: false });
          if (!isLink(obj.header.mode)) break;
          if (hops === 40) throw new GroveError('GROVE_LOOP', `${p}: Too many levels of symbolic links`);
          const target = obj.header.symlinkTarget;
          at = path.posix.resolve(target.startsWith('/') ? '/' : path.posix.dirname(path.posix.resolve('/', at)), target);
        }
        for await (const chunk of obj.chunks()) {
          if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
        }
      }
    });
}
