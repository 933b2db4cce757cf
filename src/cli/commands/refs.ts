import fs from 'node:fs';
import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { isValidRef, parseRefspec } from '../../format/names.js';
import { listRefs, listRefsUnder, moveRefFiles, updateRefs } from '../../repo/refs.js';
import type { Repo } from '../../repo/repo.js';
import { UsageError, verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

interface RefsOpts { repo?: string; create?: string; delete?: boolean; list?: boolean; force?: boolean; alias?: boolean; collections?: boolean }

/**
 * `refs`, as ostree 2022.7 runs it: each PREFIX argument (or none) in turn lists, creates or
 * deletes; `--alias` works on aliases (symlinked refs), `--collections` on refs by collection ID.
 * ostree lists from a hash table, so the order of listed lines is not something to rely on.
 */
export function registerRefs(program: Command): void {
  verb(withRepo(program.command('refs')), { params: '[PREFIX]' })
    .description('list, create or delete refs')
    .argument('[prefix...]', 'list refs under PREFIX (REF-PREFIX, REMOTE: or REMOTE:REF-PREFIX), named relative to it; with --collections, a collection ID')
    .option('--list', 'do not remove the prefix from listed refs')
    .option('--create <newref>', 'create NEWREF pointing at the commit the one argument names')
    .option('--force', 'with --create, replace an existing ref')
    .option('--delete', 'delete the refs under each PREFIX')
    .option('-A, --alias', 'with --create, make NEWREF an alias of the ref argument; otherwise list aliases')
    .option('-c, --collections', 'list (create, delete) refs with their collection IDs')
    .action(async (args: string[], opts: RefsOpts) => {
      const repo = await openRepo(opts);
      if (args.length > 0) {
        if (opts.create !== undefined && args.length > 1) throw new GroveError('GROVE_BAD_OPTION', 'You must specify only 1 existing ref when creating a new ref');
        for (const prefix of args) await doRef(repo, prefix, opts);
        return;
      }
      // A prefix is required when deleting, to help avoid accidents (as ostree).
      if (opts.delete) throw new GroveError('GROVE_BAD_OPTION', 'At least one PREFIX is required when deleting refs');
      if (opts.create !== undefined) throw new GroveError('GROVE_BAD_OPTION', 'You must specify a revision when creating a new ref');
      await doRef(repo, undefined, opts);
    });

  verb(withRepo(program.command('rev-parse')), { params: 'REV' })
    .description('print the commit checksum each REV names')
    .argument('[revs...]', 'ref, REMOTE:REF, checksum, optionally followed by ^ for parents')
    .option('-S, --single', 'if the repository has exactly one commit, print it; any other case is an error')
    .action(async (revs: string[], opts: { repo?: string; single?: boolean }) => {
      const repo = await openRepo(opts);
      if (opts.single) {
        if (revs.length > 0) throw new GroveError('GROVE_BAD_OPTION', 'Cannot specify arguments with --single');
        let found: string | null = null;
        for await (const o of repo.looseObjects()) {
          if (o.type !== 'commit') continue;
          if (found !== null) throw new GroveError('GROVE_AMBIGUOUS', 'Multiple commit objects found');
          found = o.checksum;
        }
        if (found === null) throw new GroveError('GROVE_NOT_FOUND', 'No commit objects found');
        process.stdout.write(`${found}\n`);
        return;
      }
      if (revs.length === 0) throw new UsageError('REV must be specified');
      // Each is printed as it resolves: the ones before a failing rev are printed, as by ostree.
      for (const rev of revs) process.stdout.write(`${await repo.resolveRev(rev)}\n`);
    });
}

const print = (lines: string[]) => process.stdout.write(lines.map((l) => `${l}\n`).join(''));

async function doRef(repo: Repo, prefix: string | undefined, opts: RefsOpts): Promise<void> {
  if (opts.collections) return doCollectionRef(repo, prefix, opts);
  const { listAliases, writeAlias } = await import('../../repo/ref-aliases.js');
  if (!opts.delete && opts.create === undefined) {
    if (opts.alias) {
      print([...(await listAliases(repo.path, prefix))].map(([name, target]) => `${name} -> ${target}`));
    } else if (prefix === undefined) {
      print([...(await listRefs(repo.path)).keys()]);
    } else {
      print([...(await listRefsUnder(repo.path, prefix, { keepPrefix: opts.list === true })).keys()]);
    }
    return;
  }
  if (opts.create !== undefined) {
    const target = prefix!;
    const existing = await repo.resolveRev(opts.create, { allowMissing: true });
    const replacingAlias = opts.alias === true && (await listAliases(repo.path)).has(opts.create);
    if (!replacingAlias && !opts.force && existing !== null) {
      throw new GroveError('GROVE_EXISTS', `--create specified but ref ${opts.create} already exists`);
    }
    const loc = parseRefspec(opts.create);
    if (opts.alias) {
      if (loc.remote !== null) throw new GroveError('GROVE_BAD_REF', `Cannot create alias to remote ref: ${loc.remote}`);
      if (!(await listRefs(repo.path)).has(target)) throw new GroveError('GROVE_NO_REF', `Cannot create alias to non-existent ref: ${target}`);
      await writeAlias(repo, loc.ref, target);
      return;
    }
    // A checksum resolves to itself: updateRefs refuses it, under the lock, if the commit is not there.
    await updateRefs(repo, [[opts.create, (await repo.resolveRev(target))!]]);
    return;
  }
  const aliases = await listAliases(repo.path);
  const doomed = opts.alias
    ? [...(await listAliases(repo.path, prefix)).keys()]
    : [...(await listRefsUnder(repo.path, prefix!)).values()].map((r) => r.refspec);
  for (const refspec of doomed) {
    const { ref } = parseRefspec(refspec);
    for (const [alias, target] of aliases) {
      if (target === ref) throw new GroveError('GROVE_HAS_ALIAS', `Ref '${ref}' has an active alias: '${alias}'`);
    }
  }
  await updateRefs(repo, doomed.map((refspec) => [refspec, null] as const));
}

async function doCollectionRef(repo: Repo, prefix: string | undefined, opts: RefsOpts): Promise<void> {
  const { collectionRefFile, listCollectionRefs, validateCollectionId } = await import('../../repo/collection-refs.js');
  const refs = await listCollectionRefs(repo, opts.create === undefined && prefix !== undefined ? { match: prefix } : {});
  if (!opts.delete && opts.create === undefined) {
    print(refs.map((r) => `(${r.collectionId}, ${r.ref})`));
    return;
  }
  if (opts.create !== undefined) {
    const existing = await repo.resolveRev(opts.create, { allowMissing: true });
    if (!opts.force && existing !== null) throw new GroveError('GROVE_EXISTS', `--create specified but ref ${opts.create} already exists`);
    const checksum = (await repo.resolveRev(prefix!))!;
    // As ostree: COLLECTION-ID:REF, split at the first colon.
    const colon = opts.create.indexOf(':');
    const id = colon < 0 ? opts.create : opts.create.slice(0, colon);
    const ref = colon < 0 ? '' : opts.create.slice(colon + 1);
    validateCollectionId(id);
    if (!isValidRef(ref)) throw new GroveError('GROVE_BAD_REF', `Invalid ref name ${ref}`);
    await moveRefFiles(repo, [{ refspec: `(${id}, ${ref})`, file: collectionRefFile(repo, id, ref), checksum }]);
    return;
  }
  // A remote's collection refs would be looked for among the mirrors, where they are not: ostree
  // deletes nothing for them either.
  const doomed = refs
    .map((r) => ({ refspec: `(${r.collectionId}, ${r.ref})`, file: collectionRefFile(repo, r.collectionId, r.ref), checksum: null }))
    .filter((m) => fs.lstatSync(m.file, { throwIfNoEntry: false }) !== undefined);
  await moveRefFiles(repo, doomed);
}
