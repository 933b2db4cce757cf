import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { validateRef } from '../../format/names.js';
import type { FetcherOptions } from '../../net/fetcher.js';
import type { PullOptions, PullProgress, PullResult, PullTarget } from '../../net/pull.js';
import { parseUint } from '../parse.js';
import { ProgressLine } from '../progress.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

interface CommonOpts { repo?: string; depth?: string; commitMetadataOnly?: boolean; subpath?: string; disableVerifyBindings?: boolean; json?: boolean }

interface NetworkOpts { networkRetries?: number; lowSpeedLimitBytes?: number; lowSpeedTimeSeconds?: number }

function parseDepth(v: string | undefined): number {
  if (v === undefined) return 0;
  if (!/^-?\d+$/.test(v) || Number(v) < -1) throw new GroveError('GROVE_BAD_OPTION', `--depth: '${v}' is not a number of parents (or -1 for all)`);
  return Number(v);
}

/** `pull: 1200/6000 objects, 120.0 MB, 35.2 MB/s` (the total grows as dirtrees arrive). */
function describePull(p: PullProgress, seconds: number): string {
  const rate = seconds > 0 ? p.bytesFetched / seconds / 1e6 : 0;
  return `pull: ${p.metadataFetched + p.contentFetched}/${p.objectsNeeded} objects, ${(p.bytesFetched / 1e6).toFixed(1)} MB, ${rate.toFixed(1)} MB/s`;
}

function report(r: PullResult, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ refs: r.refs, ...r.stats })}\n`);
    return;
  }
  const s = r.stats;
  const fetched = s.metadataFetched + s.contentFetched;
  process.stdout.write(fetched === 0 ? 'no changes\n' : `${fetched} objects fetched (${s.metadataFetched} metadata, ${s.contentFetched} content), ${(s.bytesFetched / 1e6).toFixed(1)} MB in ${s.seconds.toFixed(1)} s\n`);
}

async function withProgress(json: boolean | undefined, run: (onProgress: PullOptions['onProgress']) => Promise<PullResult>): Promise<PullResult> {
  const progress = json ? new ProgressLine(false) : new ProgressLine();
  try {
    return await run((p) => progress.show(() => describePull(p, progress.seconds)));
  } finally {
    progress.done();
  }
}

/** The options `pull` and `pull-local` share, as pullInto takes them. */
function sharedOptions(opts: CommonOpts): PullOptions {
  return {
    depth: parseDepth(opts.depth),
    commitMetadataOnly: opts.commitMetadataOnly === true,
    ...(opts.subpath !== undefined && { subpath: opts.subpath }),
    disableVerifyBindings: opts.disableVerifyBindings === true,
  };
}

/** ostree's --network-retries counts retries; the fetcher counts attempts, the first included. */
function fetcherOptions(opts: NetworkOpts, inFlight: number): FetcherOptions {
  return {
    maxInFlight: inFlight,
    ...(opts.networkRetries !== undefined && { attempts: opts.networkRetries + 1 }),
    ...(opts.lowSpeedLimitBytes !== undefined && { lowSpeedLimitBytes: opts.lowSpeedLimitBytes }),
    ...(opts.lowSpeedTimeSeconds !== undefined && { lowSpeedTimeSeconds: opts.lowSpeedTimeSeconds }),
  };
}

/** What to pull for each argument: a checksum moves no ref; a ref moves `dest(ref)`. */
function targetsFor(refs: string[], dest: (ref: string) => string): PullTarget[] {
  return refs.map((ref) => {
    if (/^[0-9a-f]{64}$/.test(ref)) return { from: ref, to: null };
    validateRef(ref);
    return { from: ref, to: dest(ref) };
  });
}

export function registerPull(program: Command): void {
  verb(withRepo(program.command('pull')), { params: 'REMOTE [BRANCH...]' })
    .description('download refs and the objects they reach from a remote')
    .argument('<remote>', 'REMOTE, or REMOTE:REF')
    .argument('[refs...]', 'refs (or commit checksums) to pull; default: the remote\'s branches, else every ref in its summary')
    .option('--depth <n>', 'parent commits to pull too (-1: all)', '0')
    .option('--commit-metadata-only', 'fetch commit objects only')
    .option('--mirror', 'write refs/heads/REF instead of refs/remotes/REMOTE/REF')
    .option('--subpath <path>', 'fetch only this directory of each commit')
    .option('--max-outstanding-fetcher-requests <n>', 'requests in flight at most', '32')
    .option('--network-retries <n>', 'times each download is retried upon error (default: 4)', parseUint('--network-retries'))
    .option('--low-speed-limit-bytes <n>', 'a download slower than N bytes/s for --low-speed-time-seconds fails (default: 1000; 0: off)', parseUint('--low-speed-limit-bytes'))
    .option('--low-speed-time-seconds <n>', 'seconds below --low-speed-limit-bytes before a download fails (default: 30; 0: off)', parseUint('--low-speed-time-seconds'))
    .option('--disable-verify-bindings', 'do not verify commit bindings')
    .option('--json', 'print the result as JSON')
    .action(async (remoteArg: string, refArgs: string[], opts: CommonOpts & NetworkOpts & { mirror?: boolean; maxOutstandingFetcherRequests: string }) => {
      // The library loads on use: every grove command pays for what the CLI imports up front.
      const [{ pullInto, sourceRefs }, { getRemote }, { openSource, remotePolicy }] = await Promise.all([
        import('../../net/pull.js'), import('../../net/remotes.js'), import('../../net/remote-source.js'),
      ]);
      const repo = await openRepo(opts);
      let name = remoteArg;
      const refs = [...refArgs];
      const colon = remoteArg.indexOf(':');
      if (colon >= 0) {
        name = remoteArg.slice(0, colon);
        refs.unshift(remoteArg.slice(colon + 1));
      }
      const inFlight = Number(opts.maxOutstandingFetcherRequests);
      if (!Number.isInteger(inFlight) || inFlight < 1 || inFlight > 1024) throw new GroveError('GROVE_BAD_OPTION', '--max-outstanding-fetcher-requests must be 1..1024');
      const remote = getRemote(repo, name);
      const policy = remotePolicy(repo, remote);
      const source = await openSource(remote, fetcherOptions(opts, inFlight));
      try {
        const wanted = refs.length > 0 ? refs : remote.branches.length > 0 ? remote.branches : await sourceRefs(source, policy);
        const targets = targetsFor(wanted, (ref) => (opts.mirror ? ref : `${name}:${ref}`));
        const r = await withProgress(opts.json, (onProgress) => pullInto(repo, source, targets, { ...sharedOptions(opts), policy, ...(onProgress && { onProgress }) }));
        report(r, opts.json);
      } finally {
        source.close();
      }
    });

  // "DESTINATION" is what ostree 2022.7 says when SRC_REPO is missing.
  verb(withRepo(program.command('pull-local')), { params: 'SRC_REPO [REFS...]', missing: ['DESTINATION must be specified'] })
    .description('copy refs and the objects they reach from another repository on this machine')
    .argument('<src-repo>', 'path of the source repository (any mode)')
    .argument('[refs...]', 'refs (or commit checksums) to pull; default: every ref of the source')
    .option('--depth <n>', 'parent commits to pull too (-1: all)', '0')
    .option('--commit-metadata-only', 'copy commit objects only')
    .option('--subpath <path>', 'copy only this directory of each commit')
    .option('--remote <name>', 'write the refs as REMOTE:REF')
    .option('--disable-verify-bindings', 'do not verify commit bindings')
    .option('--json', 'print the result as JSON')
    .action(async (src: string, refArgs: string[], opts: CommonOpts & { remote?: string }) => {
      const [{ pullInto, sourceRefs }, { LocalSource }] = await Promise.all([import('../../net/pull.js'), import('../../net/sources.js')]);
      const repo = await openRepo(opts);
      const source = await LocalSource.open(src);
      const wanted = refArgs.length > 0 ? refArgs : await sourceRefs(source);
      const targets = targetsFor(wanted, (ref) => (opts.remote !== undefined ? `${opts.remote}:${ref}` : ref));
      const r = await withProgress(opts.json, (onProgress) => pullInto(repo, source, targets, { ...sharedOptions(opts), ...(onProgress && { onProgress }) }));
      report(r, opts.json);
    });
}
