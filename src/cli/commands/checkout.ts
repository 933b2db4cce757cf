import fs from 'node:fs/promises';
import type { Command } from 'commander';
import { GroveError, isErrno } from '../../errors.js';
import type { CheckoutOptions, CheckoutStats } from '../../checkout/checkout.js';
import { parseBoolean } from '../parse.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';
import { describeCheckoutProgress, ProgressLine } from '../progress.js';

interface Opts {
  repo?: string;
  userMode?: boolean;
  disableCache?: boolean;
  requireHardlinks?: boolean;
  forceCopy?: boolean;
  forceCopyZerosized?: boolean;
  bareuseronlyDirs?: boolean;
  union?: boolean;
  unionAdd?: boolean;
  unionIdentical?: boolean;
  subpath?: string;
  whiteouts?: boolean;
  processPassthroughWhiteouts?: boolean;
  allowNoent?: boolean;
  fromStdin?: boolean;
  fromFile?: string;
  fsync?: boolean;
  skipList?: string;
  selinuxPolicy?: string;
  selinuxPrefix?: string;
  json?: boolean;
}

export function registerCheckout(program: Command): void {
  verb(withRepo(program.command('checkout')), { params: 'COMMIT [DESTINATION]', missing: ['COMMIT must be specified'] })
    .description('check out a commit into a new directory')
    .argument('<rev>', 'ref or commit checksum (with --from-file/--from-stdin: the destination)')
    .argument('[destination]', 'directory to create (default: the ref name)')
    .option('-U, --user-mode', 'do not change file ownership; hardlink from bare-user repositories')
    .option('--disable-cache', 'do not use the uncompressed object cache (grove keeps none)')
    .option('-H, --require-hardlinks', 'fail rather than copy when a file cannot be hardlinked')
    .option('-C, --force-copy', 'never hardlink, always copy')
    .option('-z, --force-copy-zerosized', 'do not hardlink empty files (grove, like ostree, never does)')
    .option('-M, --bareuseronly-dirs', 'mask directory modes to 0775 (no setuid, setgid, sticky or world-writable directories)')
    .option('--union', 'check out over an existing tree, replacing files')
    .option('--union-add', 'check out over an existing tree, keeping existing files')
    .option('--union-identical', 'check out over an existing tree, failing where a file differs (needs -H)')
    .option('--subpath <path>', 'check out only this path of the commit')
    .option('--whiteouts', 'process .wh.NAME files as deletions of NAME')
    .option('--process-passthrough-whiteouts', 'make each .ostree-wh.NAME file an overlayfs whiteout NAME (a 0:0 character device)')
    .option('--allow-noent', 'succeed without checking out anything if the subpath does not exist')
    .option('--from-stdin', 'check out many REV, SUBPATH pairs (NUL-separated) from standard input into REV-argument')
    .option('--from-file <file>', 'check out many REV, SUBPATH pairs (NUL-separated) from FILE')
    .option('--fsync <policy>', 'accepted as ostree accepts it (its checkout never fsyncs)', parseBoolean)
    .option('--skip-list <file>', 'file of paths to leave out, one per line (directories with a trailing /)')
    .option('--selinux-policy <path>', 'label files with the SELinux policy of PATH; implies --force-copy (grove refuses a policy that labels)')
    .option('--selinux-prefix <prefix>', 'prefix paths with PREFIX when labelling')
    .option('--json', 'print statistics as JSON')
    .action(async (rev: string, dest: string | undefined, opts: Opts) => {
      const repo = await openRepo(opts);
      const { checkoutTree } = await import('../../checkout/checkout.js');
      const one = async (commit: string, subpath: string | undefined, destination: string): Promise<CheckoutStats> => {
        const options = await checkoutOptions(opts, subpath);
        const progress = new ProgressLine(opts.json ? false : undefined);
        try {
          return await checkoutTree(repo, commit, destination, {
            ...options,
            onProgress: (p) => progress.show(() => describeCheckoutProgress(p, progress.seconds)),
          });
        } finally {
          progress.done();
        }
      };
      if (opts.fromStdin || opts.fromFile !== undefined) {
        // As ostree: the one argument is the destination, and every listed tree goes into it.
        for (const [r, sub] of await readPairs(opts.fromFile)) {
          const commit = (await repo.resolveRev(r))!;
          try {
            const stats = await one(commit, sub, rev);
            if (opts.json) process.stdout.write(`${JSON.stringify(stats)}\n`);
          } catch (e) {
            if (e instanceof GroveError) throw new GroveError(e.code, `Processing tree ${commit}: ${e.message}`, { hint: e.hint, path: e.path, cause: e });
            throw e;
          }
        }
        return;
      }
      const commit = (await repo.resolveRev(rev))!;
      const stats = await one(commit, opts.subpath, dest ?? rev);
      if (opts.json) process.stdout.write(`${JSON.stringify(stats)}\n`);
    });
}

/**
 * The library's options for one checkout, checked in ostree's order. Like ostree, the options
 * that need its newer checkout code (everything but -U, --union and --subpath) also turn
 * --allow-noent off: there a missing subpath is an error.
 */
async function checkoutOptions(opts: Opts, subpath: string | undefined): Promise<CheckoutOptions> {
  const advanced = opts.disableCache || opts.whiteouts || opts.requireHardlinks || opts.unionAdd || opts.forceCopy
    || opts.forceCopyZerosized || opts.bareuseronlyDirs || opts.unionIdentical || opts.skipList !== undefined
    || opts.selinuxPolicy !== undefined || opts.selinuxPrefix !== undefined || opts.processPassthroughWhiteouts;
  const base: CheckoutOptions = {
    userMode: opts.userMode === true,
    ...(subpath !== undefined && { subpath }),
  };
  if (!advanced) return { ...base, overwrite: opts.union ? 'union' : 'none', allowNoent: opts.allowNoent === true };
  let forceCopy = opts.forceCopy === true;
  if (opts.selinuxPolicy !== undefined) forceCopy = true;
  const fail = (m: string) => new GroveError('GROVE_BAD_OPTION', m);
  if (opts.union && opts.unionAdd) throw fail('Cannot specify both --union and --union-add');
  if (opts.union && opts.unionIdentical) throw fail('Cannot specify both --union and --union-identical');
  if (opts.unionAdd && opts.unionIdentical) throw fail('Cannot specify both --union-add and --union-identical');
  if (opts.requireHardlinks && forceCopy) throw fail('Cannot specify both --require-hardlinks and --force-copy');
  if (opts.selinuxPrefix !== undefined && opts.selinuxPolicy === undefined) throw fail('Cannot specify --selinux-prefix without --selinux-policy');
  if (opts.unionIdentical && !opts.requireHardlinks) throw fail('--union-identical requires --require-hardlinks');
  if (opts.selinuxPolicy !== undefined) {
    const { refuseSelinuxPolicy } = await import('../../xattr/selinux.js');
    refuseSelinuxPolicy(opts.selinuxPolicy, '--selinux-policy');
    // With no policy to label by, ostree's labelling checkout of a file as root dereferences the
    // missing label and crashes; grove refuses that case instead.
    if (!opts.userMode) throw fail(`--selinux-policy: ${opts.selinuxPolicy} has no SELinux policy to label files with; use -U, or leave the option out`);
  }
  return {
    ...base,
    overwrite: opts.union ? 'union' : opts.unionAdd ? 'add' : opts.unionIdentical ? 'identical' : 'none',
    requireHardlink: opts.requireHardlinks === true,
    forceCopy,
    whiteouts: opts.whiteouts === true,
    passthroughWhiteouts: opts.processPassthroughWhiteouts === true,
    bareUserOnlyDirs: opts.bareuseronlyDirs === true,
    ...(opts.skipList !== undefined && { skipList: await readSkipList(opts.skipList) }),
  };
}

async function readSkipList(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    // ostree's words, which scripts may match.
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `openat(${file}): No such file or directory`, { path: file });
    throw e;
  }
  return text.split('\n').filter((l) => l.length > 0);
}

/** `--from-file`/`--from-stdin`: REV NUL SUBPATH NUL pairs, until an empty REV or the end. */
async function readPairs(file: string | undefined): Promise<Array<[string, string]>> {
  let bytes: Buffer;
  if (file === undefined) {
    const parts: Buffer[] = [];
    for await (const c of process.stdin) parts.push(c as Buffer);
    bytes = Buffer.concat(parts);
  } else {
    try {
      bytes = await fs.readFile(file);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `Error opening file “${file}”: No such file or directory`, { path: file });
      throw e;
    }
  }
  const fields = bytes.toString('utf8').split('\0');
  const out: Array<[string, string]> = [];
  for (let i = 0; i < fields.length; i += 2) {
    const r = fields[i]!;
    if (r === '') break;
    out.push([r, fields[i + 1] ?? '']);
  }
  return out;
}
