import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { GroveError, isErrno } from '../../errors.js';
import { validateRef } from '../../format/names.js';
import { formatSize } from '../../format/size.js';
import type { FetcherOptions } from '../../net/fetcher.js';
import type { PullOptions, PullProgress, PullResult, PullTarget } from '../../net/pull.js';
import { collect, parseUint } from '../parse.js';
import { ProgressLine } from '../progress.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

interface CommonOpts {
  repo?: string; depth?: string; commitMetadataOnly?: boolean; subpath?: string[]; disableVerifyBindings?: boolean; json?: boolean;
  disableFsync?: boolean; perObjectFsync?: boolean; untrusted?: boolean; bareuseronlyFiles?: boolean; requireStaticDeltas?: boolean;
}

interface NetworkOpts { networkRetries?: number; lowSpeedLimitBytes?: number; lowSpeedTimeSeconds?: number; httpHeader?: Array<[string, string]> }

/** What `pull` takes beyond what it shares with `pull-local`. */
interface PullOpts {
  mirror?: boolean;
  maxOutstandingFetcherRequests: string;
  cacheDir?: string;
  disableStaticDeltas?: boolean;
  httpTrusted?: boolean;
  dryRun?: boolean;
  url?: string;
  updateFrequency?: number;
  localcacheRepo?: string[];
  timestampCheck?: boolean;
  timestampCheckFromRev?: string;
}

/** What `pull-local` takes beyond what it shares with `pull`. */
interface LocalOpts { remote?: string; gpgVerify?: boolean; gpgVerifySummary?: boolean }

/** `--http-header NAME=VALUE` (repeatable), checked where it enters: a token name, no line breaks. */
function parseHeader(v: string, prev: Array<[string, string]> | undefined): Array<[string, string]> {
  const eq = v.indexOf('=');
  if (eq < 0) throw new GroveError('GROVE_BAD_OPTION', "Missing '=' in --http-header");
  const name = v.slice(0, eq);
  const value = v.slice(eq + 1);
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new GroveError('GROVE_BAD_OPTION', `--http-header: '${name}' is not an HTTP header name`);
  if (/[\r\n\0]/.test(value)) throw new GroveError('GROVE_BAD_OPTION', `--http-header: the value of ${name} holds a line break`);
  return [...(prev ?? []), [name, value]];
}

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
  process.stdout.write(`${pullSummary(r.stats)}\n`);
}

/**
 * The line ostree 2022.7 ends a pull with (ostree-repo-pull.c), which scripts match on: what was
 * fetched or, from a repository on this machine, imported; the objects a local cache gave; the
 * bytes transferred and the whole seconds taken; the content bytes written.
 */
export function pullSummary(s: PullResult['stats']): string {
  const meta = s.metadataFetched - s.metadataLocal + s.detachedRequests;
  const content = s.contentFetched - s.contentLocal;
  let line = s.local ? `${meta} metadata, ${content} content objects imported`
    : s.deltaParts > 0 ? `${s.deltaParts} delta parts, ${meta + content} loose fetched` : `${meta} metadata, ${content} content objects fetched`;
  if (!s.local && (s.metadataLocal > 0 || s.contentLocal > 0)) line += ` (${s.metadataLocal} meta, ${s.contentLocal} content local)`;
  if (!s.local && s.bytesFetched > 0) {
    line += s.bytesFetched < 1024 ? `; ${s.bytesFetched} B` : `; ${Math.floor(s.bytesFetched / 1024)} KiB`;
    line += ` transferred in ${Math.floor(s.seconds)} seconds`;
  }
  return `${line}; ${formatSize(s.contentBytesWritten)} content written`;
}

async function withProgress(json: boolean | undefined, run: (onProgress: PullOptions['onProgress']) => Promise<PullResult>, intervalMs?: number): Promise<PullResult> {
  const progress = json ? new ProgressLine(false) : new ProgressLine(undefined, intervalMs);
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
    fsync: opts.disableFsync !== true,
    bareUserOnlyFiles: opts.bareuseronlyFiles === true,
  };
}

/** The options `pull` and `pull-local` share that mean the same in both, declared once. */
function withSharedFlags(cmd: Command): Command {
  return cmd
    .option('--bareuseronly-files', 'refuse regular files with mode bits outside 0775 (setuid, world-writable…)')
    .option('--untrusted', 'verify checksums of local sources (grove verifies every object of every source)')
    .option('--disable-fsync', 'do not wait for the disk')
    .option('--per-object-fsync', 'accepted; grove makes objects durable in batches as the pull goes, which does not stall others either');
}

/** ostree's --network-retries counts retries; the fetcher counts attempts, the first included. */
function fetcherOptions(opts: NetworkOpts, inFlight: number): FetcherOptions {
  return {
    maxInFlight: inFlight,
    ...(opts.networkRetries !== undefined && { attempts: opts.networkRetries + 1 }),
    ...(opts.lowSpeedLimitBytes !== undefined && { lowSpeedLimitBytes: opts.lowSpeedLimitBytes }),
    ...(opts.lowSpeedTimeSeconds !== undefined && { lowSpeedTimeSeconds: opts.lowSpeedTimeSeconds }),
    ...(opts.httpHeader && { headers: opts.httpHeader }),
  };
}

/** `--cache-dir`: ostree opens it (and fails on a missing one) even when it caches nothing there. */
async function checkCacheDir(dir: string): Promise<void> {
  const st = await fs.stat(dir).catch((e: unknown) => {
    if (isErrno(e, 'ENOENT')) throw new GroveError('GROVE_NOT_FOUND', `opendir(${dir}): No such file or directory`, { path: dir });
    throw e;
  });
  if (!st.isDirectory()) throw new GroveError('GROVE_NOT_DIRECTORY', `opendir(${dir}): Not a directory`, { path: dir });
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
  verb(withSharedFlags(withRepo(program.command('pull'))), { params: 'REMOTE [BRANCH...]' })
    .description('download refs and the objects they reach from a remote')
    .argument('<remote>', 'REMOTE, or REMOTE:REF')
    .argument('[refs...]', 'refs (or commit checksums) to pull; default: the remote\'s branches (with --mirror and none configured: every ref in its summary)')
    .option('--depth <n>', 'parent commits to pull too (-1: all)', '0')
    .option('--commit-metadata-only', 'fetch commit objects only')
    .option('--mirror', 'write refs/heads/REF (refs/mirrors/COLLECTION-ID/REF for a remote with a collection ID) instead of refs/remotes/REMOTE/REF; with no refs named or configured, pull every ref in the summary')
    .option('--subpath <path>', 'fetch only this path of each commit (repeatable)', collect)
    .option('--max-outstanding-fetcher-requests <n>', 'requests in flight at most', '32')
    .option('--network-retries <n>', 'times each download is retried upon error (default: 4)', parseUint('--network-retries'))
    .option('--low-speed-limit-bytes <n>', 'a download slower than N bytes/s for --low-speed-time-seconds fails (default: 1000; 0: off)', parseUint('--low-speed-limit-bytes'))
    .option('--low-speed-time-seconds <n>', 'seconds below --low-speed-limit-bytes before a download fails (default: 30; 0: off)', parseUint('--low-speed-time-seconds'))
    .option('--disable-verify-bindings', 'do not verify commit bindings')
    .option('--url <url>', "pull from this URL instead of the remote's configured one")
    .option('--http-header <name=value>', 'send this header with every request (repeatable)', parseHeader)
    .option('-T, --timestamp-check', 'refuse a commit older than the one its ref names here now')
    .option('--timestamp-check-from-rev <rev>', 'refuse any commit older than REV')
    .option('-L, --localcache-repo <repo>', 'take objects from this repository when it has them (repeatable)', collect)
    .option('--http-trusted', 'accepted; grove verifies the checksums of HTTP sources all the same')
    .option('--cache-dir <dir>', 'directory for cached summaries (grove caches none, but checks it as ostree does)')
    .option('--update-frequency <ms>', 'progress redraw interval in milliseconds (0: 1000)', parseUint('--update-frequency'))
    .option('--disable-static-deltas', 'do not use static deltas; fetch objects only')
    .option('--require-static-deltas', 'fail unless static deltas lead to every commit pulled')
    .option('--dry-run', 'refused: grove does not yet print delta sizes without applying them')
    .option('--json', 'print the result as JSON')
    .action(async (remoteArg: string, refArgs: string[], opts: CommonOpts & NetworkOpts & PullOpts) => {
      // ostree's order: --dry-run needs --require-static-deltas, checked before anything is read.
      if (opts.dryRun && !opts.requireStaticDeltas) throw new GroveError('GROVE_BAD_OPTION', '--dry-run requires --require-static-deltas');
      if (opts.dryRun) throw new GroveError('GROVE_UNSUPPORTED', '--dry-run: grove does not print delta sizes without applying them yet');
      if (opts.cacheDir !== undefined) await checkCacheDir(opts.cacheDir);
      // The library loads on use: every grove command pays for what the CLI imports up front.
      const [{ pullInto, summaryRefsForMirror }, { checkPullable, getRemote }, { openSource, remotePolicy }] = await Promise.all([
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
      checkPullable(repo, name);
      const configured = getRemote(repo, name);
      const remote = opts.url !== undefined ? { ...configured, url: opts.url } : configured;
      const policy = remotePolicy(repo, remote);
      const { Repo } = await import('../../repo/repo.js');
      const localCaches = await Promise.all((opts.localcacheRepo ?? []).map((p) => Repo.open(p)));
      // As ostree: no refs named means the remote's `branches`; only a mirror pull takes every
      // ref of the summary instead, and it needs one.
      const all = refs.length === 0 && remote.branches.length === 0;
      if (all && !opts.mirror) throw new GroveError('GROVE_NO_REF', `No configured branches for remote ${name}`);
      const source = await openSource(repo, remote, fetcherOptions(opts, inFlight));
      try {
        const wanted = refs.length > 0 ? refs : remote.branches.length > 0 ? remote.branches : await summaryRefsForMirror(source, policy);
        let targets = targetsFor(wanted, (ref) => (opts.mirror ? ref : `${name}:${ref}`));
        const mirror = opts.mirror ? await import('../../net/mirror-targets.js') : null;
        if (mirror !== null) targets = await mirror.mirrorTargets(source, targets, all, policy);
        const pullOpts: PullOptions = {
          ...sharedOptions(opts),
          policy,
          timestampCheck: opts.timestampCheck === true,
          ...(opts.timestampCheckFromRev !== undefined && { timestampCheckFromRev: opts.timestampCheckFromRev }),
          localCaches,
          // Unset: deltas from HTTP sources, objects from local ones (ostree's defaults).
          ...(opts.requireStaticDeltas ? { staticDeltas: 'require' as const } : opts.disableStaticDeltas ? { staticDeltas: 'disable' as const } : {}),
        };
        const interval = opts.updateFrequency === undefined ? undefined : opts.updateFrequency === 0 ? 1000 : opts.updateFrequency;
        const r = await withProgress(opts.json, (onProgress) => pullInto(repo, source, targets, { ...pullOpts, ...(onProgress && { onProgress }) }), interval);
        if (mirror !== null && all) await mirror.keepMirrorSummary(repo, source, policy);
        report(r, opts.json);
      } finally {
        source.close();
      }
    });

  // "DESTINATION" is what ostree 2022.7 says when SRC_REPO is missing.
  verb(withSharedFlags(withRepo(program.command('pull-local'))), { params: 'SRC_REPO [REFS...]', missing: ['DESTINATION must be specified'] })
    .description('copy refs and the objects they reach from another repository on this machine')
    .argument('<src-repo>', 'path of the source repository (any mode)')
    .argument('[refs...]', 'refs (or commit checksums) to pull; default: every ref of the source')
    .option('--depth <n>', 'parent commits to pull too (-1: all)', '0')
    .option('--commit-metadata-only', 'copy commit objects only')
    .option('--subpath <path>', 'copy only this path of each commit (repeatable)', collect)
    .option('--remote <name>', 'write the refs as REMOTE:REF')
    .option('--disable-verify-bindings', 'do not verify commit bindings')
    .option('--require-static-deltas', 'use the source\'s static deltas (local pulls otherwise copy objects), and fail unless they lead to every commit pulled')
    .option('--gpg-verify', 'verify the GPG signatures of commits with the keys of --remote')
    .option('--gpg-verify-summary', 'verify the GPG signature of the summary with the keys of --remote')
    .option('--json', 'print the result as JSON')
    .action(async (src: string, refArgs: string[], opts: CommonOpts & LocalOpts) => {
      const [{ pullInto, sourceRefs }, { LocalSource }, { localPullPolicy }] = await Promise.all([
        import('../../net/pull.js'), import('../../net/sources.js'), import('../../net/remote-source.js'),
      ]);
      const repo = await openRepo(opts);
      // ostree's order: the source is opened first only to list its refs.
      const listed = refArgs.length > 0 ? null : await sourceRefs(await LocalSource.open(src));
      if ((opts.gpgVerify || opts.gpgVerifySummary) && opts.remote === undefined) throw new GroveError('GROVE_BAD_OPTION', 'Must specify remote name to enable gpg verification');
      const targets = targetsFor(listed ?? refArgs, (ref) => (opts.remote !== undefined ? `${opts.remote}:${ref}` : ref));
      if (opts.requireStaticDeltas) (await import('../../net/static-deltas.js')).precheckRequiredStaticDeltas(repo, src);
      const source = await LocalSource.open(src);
      const policy = opts.remote === undefined ? undefined
        : localPullPolicy(repo, opts.remote, pathToFileURL(path.resolve(src)).href, { commits: opts.gpgVerify === true, summary: opts.gpgVerifySummary === true });
      const r = await withProgress(opts.json, (onProgress) => pullInto(repo, source, targets, {
        ...sharedOptions(opts), ...(policy && { policy }), ...(onProgress && { onProgress }), ...(opts.requireStaticDeltas && { staticDeltas: 'require' as const }),
      }));
      report(r, opts.json);
    });
}
