import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { isValidRef, validateCollectionId } from '../../format/names.js';
import { FINDER_TYPE, refTable, type FinderName, type FinderResult, type RefPair } from '../../net/find-remotes/result.js';
import { UsageError, verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

const PARAMS = 'COLLECTION-ID REF [COLLECTION-ID REF...]';

interface FindRemotesCliOpts { repo?: string; cacheDir?: string; disableFsync?: boolean; finders?: string; pull?: boolean; mirror?: boolean }

/** `--finders=a,b`: ostree's checks, in its words (each finder once, none unknown, not empty). */
function parseFinders(v: string): FinderName[] {
  const list = v === '' ? [] : v.split(',');
  if (list.length === 0) throw new UsageError('List of finders in --finders option must not be empty');
  const seen = new Set<string>();
  for (const f of list) {
    if (seen.has(f) || (f !== 'config' && f !== 'lan' && f !== 'mount')) throw new UsageError(`Unknown or duplicate finder type given in --finders option: \u2018${f}\u2019`);
    seen.add(f);
  }
  // As an ostree built without Avahi refuses it (one with Avahi and no daemon running hangs when lan is alone).
  if (seen.has('lan')) throw new UsageError('LAN repo finder requested but grove has no Avahi support');
  return list as FinderName[];
}

/** `%FT%TZ` in UTC, as ostree prints a summary's last-modified time. */
function iso8601(secs: bigint): string {
  if (secs > 253402300799n) return 'invalid';
  return `${new Date(Number(secs) * 1000).toISOString().slice(0, 19)}Z`;
}

function describe(r: FinderResult, i: number): string {
  const refs = [...r.refs.entries()].map(([k, c]) => `    - (${k.id}, ${k.ref}) = ${c ?? '(not found)'}\n`).join('');
  return `Result ${i}: ${r.remote.url}\n - Finder: ${FINDER_TYPE[r.finder]}\n - Keyring: ${r.remote.keyringRemote}.trustedkeys.gpg\n`
    + ` - Priority: ${r.priority}\n - Summary last modified: ${r.summaryLastModified > 0n ? iso8601(r.summaryLastModified) : 'unknown'}\n - Refs:\n${refs}\n`;
}

/** `grove find-remotes COLLECTION-ID REF…`: `ostree find-remotes`, its report, checks and messages. */
export function registerFindRemotes(program: Command): void {
  verb(withRepo(program.command('find-remotes')), { params: PARAMS })
    .description('find remotes and mounted volumes that serve the given collection refs, and optionally pull them')
    .argument('[args...]', PARAMS)
    .option('--cache-dir <dir>', 'directory for cached summaries')
    .option('--disable-fsync', 'do not wait for the disk when pulling')
    .option('--finders <finders>', 'the finders to use, comma-separated: config, mount (lan is refused: grove has no Avahi)')
    .option('--pull', 'pull the refs found')
    .option('--mirror', 'with --pull, write each ref as its collection ref (refs/mirrors/COLLECTION-ID/REF), as pull --mirror')
    .action(async (args: string[], opts: FindRemotesCliOpts) => {
      const repo = await openRepo(opts);
      const [{ findRemotes, defaultFinders }, { pullFromResults }] = await Promise.all([import('../../net/find-remotes/find.js'), import('../../net/find-remotes/pull.js')]);
      let configured: FinderName[];
      try {
        configured = defaultFinders(repo);
      } catch (e) {
        // ostree checks the key whenever it opens a repository.
        if (e instanceof GroveError) throw new GroveError(e.code, `opening repo: ${e.message}`);
        throw e;
      }
      if (args.length < 2) throw new UsageError('At least one COLLECTION-ID REF pair must be specified');
      if (args.length % 2 !== 0) throw new UsageError('Only complete COLLECTION-ID REF pairs may be specified');
      if (opts.mirror && !opts.pull) throw new UsageError('When --mirror is specified, --pull must also be');
      // ostree opens the cache directory before it looks at the refs.
      if (opts.cacheDir !== undefined) (await import('../../net/summary-cache.js')).SummaryCache.open(opts.cacheDir, '', true);
      const refs: RefPair[] = [];
      for (let i = 0; i < args.length; i += 2) {
        validateCollectionId(args[i]!);
        if (!isValidRef(args[i + 1]!)) throw new GroveError('GROVE_BAD_REF', `Invalid ref name ${args[i + 1]!}`);
        refs.push({ id: args[i]!, ref: args[i + 1]! });
      }
      const finders = opts.finders === undefined ? undefined : parseFinders(opts.finders);
      const results = await findRemotes(repo, refs, { finders: finders ?? configured, ...(opts.cacheDir !== undefined && { cacheDir: opts.cacheDir }) });
      process.stdout.write(results.map(describe).join(''));
      if (results.length === 0) {
        process.stdout.write('No results.\n');
        return;
      }
      const found = refTable<true>();
      for (const r of results) for (const [k, c] of r.refs.entries()) if (c !== null) found.insert(k, true);
      let out = `${found.count}/${refs.length} refs were found.\n`;
      if (found.count !== refs.length) out += `Refs not found in any remote:\n${refs.filter((r) => !found.has(r)).map((r) => ` - (${r.id}, ${r.ref})\n`).join('')}`;
      process.stdout.write(out);
      if (!opts.pull) return;
      await pullFromResults(repo, results, { mirror: opts.mirror === true, fsync: opts.disableFsync !== true });
      process.stdout.write(`Pulled ${refs.length}/${refs.length} refs successfully.\n`);
    });
}
