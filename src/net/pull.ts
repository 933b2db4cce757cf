import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { GroveError, isErrno } from '../errors.js';
import { defaultCompressBackend, type CompressBackend } from '../format/compress.js';
import { defaultHashBackend, type HashBackend } from '../format/hash.js';
import { decodeCommit, decodeDirTree, type ObjectType } from '../format/objects.js';
import { WorkerPool } from '../pool/pool.js';
import type { ImportContentTask, RemoteFetch } from './import-task.js';
import { readMetadataSync } from '../store/read-metadata.js';
import { clearCommitPartial, isCommitPartial, markCommitPartial } from '../repo/partial.js';
import { objectExists } from '../store/paths.js';
import type { Repo } from '../repo/repo.js';
import type { RepoMode } from '../repo/mode.js';
import { Transaction } from '../repo/transaction.js';
import { RepoLock } from '../repo/lock.js';
import { DEFAULT_IN_FLIGHT } from './fetcher.js';
import { ImportQueue } from './import-queue.js';
import { RefBindings } from './ref-binding.js';
import { sourceSummary, type ObjectSource } from './sources.js';
import { SUMMARY_KEY, collectionMapOf } from '../format/summary.js';
import { collectionRefFile } from '../repo/collection-refs.js';

/** What a pull must check before it keeps a commit or trusts a summary (signatures). */
export interface PullPolicy {
  /** Throws unless the commit (its bytes and detached metadata) is acceptable. */
  verifyCommit?(checksum: string, commit: Uint8Array, detached: Uint8Array | null): Promise<void>;
  /** Throws unless the summary (and its signatures) is acceptable; `summary` is null when the source has none. */
  verifySummary?(summary: Uint8Array | null, sig: Uint8Array | null): Promise<void>;
}

export interface PullTarget {
  /** A ref name at the source, or a commit checksum. */
  from: string;
  /** The ref to move here (`REMOTE:REF`, or `REF` for mirrors and local pulls); null for a bare checksum. */
  to: string | null;
  /**
   * A pull by collection–ref (ostree's `collection-refs`): ref `ref` of collection `id` at the
   * source, where `from` is that ref's name or the commit to take for it. The source resolves it
   * from its summary (the main list for its own collection ID, else the collection map), or
   * without one from its refs. With `to` null the ref written here is the collection ref itself,
   * as a mirror pull writes it: refs/mirrors/ID/REF, or refs/heads/REF when ID is this
   * repository's own collection ID.
   */
  collection?: { id: string; ref: string };
}

export interface PullOptions {
  /** Parent commits to follow: 0 none (default), -1 all. */
  depth?: number;
  commitMetadataOnly?: boolean;
  /** Only the objects under this path (or these paths) of each commit (the commit is marked partial). */
  subpath?: string | string[];
  pool?: WorkerPool;
  hash?: HashBackend;
  compress?: CompressBackend;
  policy?: PullPolicy;
  /** Accept commits whose `ostree.ref-binding` lacks the ref pulled (ostree's --disable-verify-bindings). */
  disableVerifyBindings?: boolean;
  /**
   * `--timestamp-check`: a commit pulled by ref must not be older than the commit that ref names
   * here now (equal timestamps pass, as in ostree). Only without `depth`.
   */
  timestampCheck?: boolean;
  /** `--timestamp-check-from-rev`: every commit pulled must not be older than this commit of the repository. */
  timestampCheckFromRev?: string;
  /** `--bareuseronly-files`: refuse regular files with mode bits outside 0775. */
  bareUserOnlyFiles?: boolean;
  /** `--localcache-repo`: repositories to take objects from, when they have them, instead of the source. */
  localCaches?: Repo[];
  /** false: `--disable-fsync` (nothing waits for the disk). */
  fsync?: boolean;
  /**
   * Static deltas: used where the source offers a fitting one (default for remote sources),
   * never (`--disable-static-deltas`; the default for local sources, as in ostree, so that the
   * exact object files are copied), or required (`--require-static-deltas`: a commit no delta
   * leads to fails the pull).
   */
  staticDeltas?: 'auto' | 'disable' | 'require';
  onProgress?: (p: PullProgress) => void;
}

export interface PullProgress {
  metadataFetched: number;
  contentFetched: number;
  /** Objects found so far that must be fetched (grows as dirtrees arrive). */
  objectsNeeded: number;
  bytesFetched: number;
  done: boolean;
}

export interface PullResult {
  refs: Array<{ ref: string | null; checksum: string; changed: boolean }>;
  stats: PullProgress & {
    requests: number; retries: number; contentWritten: number; contentBytesWritten: number; seconds: number;
    /** Whether the source is a repository on this machine (ostree then says "imported", not "fetched"). */
    local: boolean;
    /** Delta parts applied or found already applied (ostree then says "N delta parts, N loose fetched"). */
    deltaParts: number;
    /** Of the objects counted fetched, those taken from a local cache repository (`--localcache-repo`). */
    metadataLocal: number;
    contentLocal: number;
    /**
     * Requests to a server for a commit's detached metadata, found or not: ostree's closing line
     * counts each as a metadata object fetched.
     */
    detachedRequests: number;
  };
}

type Work =
  | { kind: 'commit'; checksum: string; depth: number }
  | { kind: 'dirtree'; checksum: string; path: string }
  | { kind: 'dirmeta'; checksum: string }
  | { kind: 'content'; checksum: string };

/**
 * Objects are published early (see Transaction.checkpoint) after this long or once this many
 * bytes are written since the last time. Each checkpoint's syncfs also starts the disk writing
 * while the pull goes on, rather than all of it in the final sync: on minbase (200 MB) that
 * final sync took 0.6 s.
 */
const CHECKPOINT_MS = 10_000;
const CHECKPOINT_BYTES = 48 << 20;

/**
 * Pulls commits from `source` into `repo`: reads or fetches each commit, verifies it (policy),
 * then walks its dirtrees, fetching every object the repository lacks with many requests in
 * flight. Each metadata object's SHA-256 is checked on arrival; content objects are checked and
 * converted to this repository's mode in the worker pool. Refs move only in the final
 * transaction commit, after everything they reach is durable. Objects complete before a failure
 * are kept, so a rerun fetches only the rest.
 */
export async function pullInto(repo: Repo, source: ObjectSource, targets: PullTarget[], opts: PullOptions = {}): Promise<PullResult> {
  const started = process.hrtime.bigint();
  const partial = opts.commitMetadataOnly === true || opts.subpath !== undefined;
  const subpaths = opts.subpath === undefined ? null : (Array.isArray(opts.subpath) ? opts.subpath : [opts.subpath]).map(normalizeSubpath);
  const progress: PullProgress = { metadataFetched: 0, contentFetched: 0, objectsNeeded: 0, bytesFetched: 0, done: false };

  if (opts.timestampCheck && (opts.depth ?? 0) !== 0) throw new GroveError('GROVE_BAD_OPTION', '--timestamp-check cannot be combined with --depth');
  // The transaction's lock holder starts while the targets are resolved (the summary fetched).
  RepoLock.prepare(repo);
  const resolved = await resolveTargets(source, targets, opts.policy);
  const bindings = new RefBindings(targets, resolved, source.collectionId ?? null, opts.disableVerifyBindings === true);
  // What each ref pulled by name names here now, for --timestamp-check (ostree looks the remote's
  // ref name up as a local rev: refs/heads, then refs/remotes, then any remote's).
  const original = new Map<string, string | null>();
  if (opts.timestampCheck) {
    for (const [i, t] of targets.entries()) {
      const name = t.collection?.ref ?? (/^[0-9a-f]{64}$/.test(t.from) ? null : t.from);
      if (name !== null) original.set(resolved[i]!.checksum, await localRevOf(repo, name));
    }
  }
  let fromRev: { checksum: string; timestamp: bigint } | null = null;
  if (opts.timestampCheckFromRev !== undefined) {
    const c = (await repo.resolveRev(opts.timestampCheckFromRev))!;
    fromRev = { checksum: c, timestamp: (await repo.loadCommit(c)).timestamp };
  }
  const deltas = opts.staticDeltas ?? (source.local ? 'disable' : 'auto');
  if (deltas === 'require' && repo.mode === 'archive') throw new GroveError('GROVE_BAD_OPTION', "Can't use static deltas in an archive repo");
  const useDeltas = deltas !== 'disable' && repo.mode !== 'archive' && opts.commitMetadataOnly !== true;
  const deltaStats = { deltaParts: 0, metadataFetched: 0, bytesFetched: 0, contentWritten: 0, contentBytesWritten: 0 };
  // Threads that fetch hold two tasks each, so one's network waits are filled by the other's work.
  const pool = opts.pool ?? new WorkerPool({ tasksPerThread: source.remote ? 2 : 1 });
  let tx: Transaction | undefined;
  try {
    tx = await Transaction.begin(repo, { fsync: opts.fsync !== false });
    const t = tx;
    const ctx: ImportContentTask['ctx'] = {
      ...t.storeTarget(opts.compress ?? defaultCompressBackend()),
      hash: opts.hash ?? defaultHashBackend(),
      source: source.local,
      origin: source.description,
      bareUserOnlyFiles: opts.bareUserOnlyFiles === true,
      linkFromSource: source.local !== null && mayLinkFrom(source.local, repo),
    };
    /** Non-commit objects complete in staging, waiting for the next checkpoint. */
    let ready: Array<{ checksum: string; type: ObjectType }> = [];
    const remote = source.remote && perThread(source.remote, pool.threads);
    const imports = new ImportQueue(pool, ctx, (written, bytes, fetched) => {
      for (const c of written) ready.push({ checksum: c, type: 'file' });
      if (fetched) {
        progress.contentFetched += fetched.objects;
        progress.bytesFetched += fetched.bytes;
      }
      writtenSinceCheckpoint += bytes;
      maybeCheckpoint();
    }, remote);
    // One queue per local cache repository, which the workers read as a local source.
    const caches = (opts.localCaches ?? []).map((cache) => ({
      repo: cache,
      queue: new ImportQueue(pool, { ...ctx, source: { objectsDir: cache.objectsDir, mode: cache.mode }, origin: `local cache ${cache.path}`, linkFromSource: mayLinkFrom(cache, repo) }, (written, bytes) => {
        for (const c of written) ready.push({ checksum: c, type: 'file' });
        progress.contentFetched += written.length;
        local.content += written.length;
        writtenSinceCheckpoint += bytes;
        maybeCheckpoint();
      }),
    }));
    const queues = [imports, ...caches.map((c) => c.queue)];
    const local = { metadata: 0, content: 0, detachedRequests: 0 };
    const seen = new Set<string>();
    const metaQueue: Work[] = [];
    const contentQueue: Work[] = [];
    const commitsToMark: string[] = [];
    const commitsCompleted: string[] = [];

    const enqueue = (w: Work): void => {
      const key = `${w.checksum}.${w.kind}`;
      if (seen.has(key)) return;
      seen.add(key);
      if (w.kind === 'content') {
        if (objectExists(repo.objectsDir, w.checksum, 'file', repo.mode)) return;
        progress.objectsNeeded++;
        contentQueue.push(w);
      } else {
        metaQueue.push(w);
      }
    };

    const have = (checksum: string, type: ObjectType): boolean => objectExists(repo.objectsDir, checksum, type, repo.mode);

    /**
     * A metadata object this repository lacks, from the source, into the transaction on arrival:
     * the store checks it there, before anything of it is used (its checksum, and that it is a
     * valid object of its type: a dirmeta that is not a directory, say, is refused). A staged
     * commit becomes visible only when the transaction commits, so one that fails its
     * signature or binding checks below is never published; all else may be published early.
     */
    const fetchMetadata = async (checksum: string, type: ObjectType): Promise<Uint8Array> => {
      progress.objectsNeeded++;
      const cached = caches.find((c) => objectExists(c.repo.objectsDir, checksum, type, c.repo.mode));
      if (cached !== undefined) local.metadata++;
      const bytes = cached !== undefined ? readMetadataSync(cached.repo, checksum, type) : await source.metadata(checksum, type);
      if (bytes === null) throw new GroveError('GROVE_MISSING_OBJECT', `${type} object ${checksum} is missing from ${source.description}`);
      await t.writeMetadata(type, bytes, { expected: checksum, where: `${type} object ${checksum} from ${source.description}` });
      if (type !== 'commit') ready.push({ checksum, type });
      progress.metadataFetched++;
      progress.bytesFetched += bytes.length;
      return bytes;
    };

    // Commits a static delta brought, still staged: checked and written already, their objects in place.
    let viaDelta = new Map<string, Uint8Array>();
    const process1 = async (w: Work): Promise<void> => {
      switch (w.kind) {
        case 'commit': {
          const fromDelta = viaDelta.get(w.checksum);
          const present = fromDelta === undefined && have(w.checksum, 'commit');
          const bytes = fromDelta ?? (present ? readMetadataSync(repo, w.checksum, 'commit') : await fetchMetadata(w.checksum, 'commit'));
          const commit = decodeCommit(bytes, `commit ${w.checksum} from ${source.description}`);
          if (original.has(w.checksum) && w.depth === (opts.depth ?? 0)) {
            const orig = original.get(w.checksum)!;
            if (orig !== null) checkNotOlder(orig, (await repo.loadCommit(orig)).timestamp, w.checksum, commit.timestamp);
          }
          if (fromRev !== null) checkNotOlder(fromRev.checksum, fromRev.timestamp, w.checksum, commit.timestamp);
          // As ostree: signatures first, then bindings, also of a commit already here.
          if (present) bindings.verify(w.checksum, commit);
          if (fromDelta !== undefined) {
            // The scan still walks it, fetching what the delta did not bring (its fallbacks). No
            // pool warm-up: usually nothing is left to fetch, and the threads start on demand.
            commitsCompleted.push(w.checksum);
            enqueue({ kind: 'dirmeta', checksum: commit.rootMeta });
            enqueue({ kind: 'dirtree', checksum: commit.rootTree, path: '/' });
          } else if (!present || isCommitPartial(repo.path, w.checksum)) {
            // A commit taken from a local cache brings its detached metadata from there, as ostree's import does.
            const cache = caches.find((c) => objectExists(c.repo.objectsDir, w.checksum, 'commit', c.repo.mode));
            const detached = cache !== undefined
              ? (objectExists(cache.repo.objectsDir, w.checksum, 'commitmeta', cache.repo.mode) ? readMetadataSync(cache.repo, w.checksum, 'commitmeta') : null)
              : await source.metadata(w.checksum, 'commitmeta');
            if (detached !== null) progress.bytesFetched += detached.length;
            if (cache === undefined && source.local === null) local.detachedRequests++;
            await opts.policy?.verifyCommit?.(w.checksum, bytes, detached);
            if (!present) bindings.verify(w.checksum, commit);
            if (detached !== null) await t.stageDetachedMetadata(w.checksum, detached);
            if (partial) commitsToMark.push(w.checksum);
            else commitsCompleted.push(w.checksum);
            if (!opts.commitMetadataOnly) {
              // Content will follow: the threads load their code while the dirtrees arrive.
              pool.start();
              enqueue({ kind: 'dirmeta', checksum: commit.rootMeta });
              enqueue({ kind: 'dirtree', checksum: commit.rootTree, path: '/' });
            }
          }
          if (w.depth !== 0 && commit.parent !== null) enqueue({ kind: 'commit', checksum: commit.parent, depth: w.depth - 1 });
          return;
        }
        case 'dirmeta': {
          if (!have(w.checksum, 'dirmeta')) await fetchMetadata(w.checksum, 'dirmeta');
          return;
        }
        case 'dirtree': {
          // A dirtree already here is read, not trusted as complete: an interrupted pull may have
          // kept it without everything below it.
          const present = have(w.checksum, 'dirtree');
          const bytes = present ? readMetadataSync(repo, w.checksum, 'dirtree') : await fetchMetadata(w.checksum, 'dirtree');
          const tree = decodeDirTree(bytes, `dirtree ${w.checksum} from ${source.description}`);
          const inside = subpaths === null || subpaths.some((sp) => isWithin(w.path, sp));
          if (inside) for (const [, c] of tree.files) enqueue({ kind: 'content', checksum: c });
          for (const [name, treeCsum, metaCsum] of tree.dirs) {
            const p = w.path === '/' ? `/${name}` : `${w.path}/${name}`;
            if (!inside && !subpaths!.some((sp) => isWithin(sp, p))) continue;
            enqueue({ kind: 'dirmeta', checksum: metaCsum });
            enqueue({ kind: 'dirtree', checksum: treeCsum, path: p });
          }
          return;
        }
        case 'content': {
          const cache = caches.find((c) => objectExists(c.repo.objectsDir, w.checksum, 'file', c.repo.mode));
          if (cache !== undefined) {
            await cache.queue.add({ checksum: w.checksum });
            return;
          }
          const item = await source.content(w.checksum);
          if (item === null) throw new GroveError('GROVE_MISSING_OBJECT', `file object ${w.checksum} is missing from ${source.description}`);
          // A remote's objects are counted as the workers report them fetched.
          if (!source.remote) progress.contentFetched++;
          await imports.add(item);
          return;
        }
      }
    };

    let failure: unknown = null;
    let lastCheckpoint = Date.now();
    let checkpointing: Promise<void> = Promise.resolve();
    let writtenSinceCheckpoint = 0;
    const checkpoint = (): Promise<void> => {
      const batch = ready;
      ready = [];
      lastCheckpoint = Date.now();
      writtenSinceCheckpoint = 0;
      checkpointing = checkpointing.then(() => t.checkpoint(batch));
      return checkpointing;
    };
    const maybeCheckpoint = (): void => {
      if (Date.now() - lastCheckpoint > CHECKPOINT_MS || writtenSinceCheckpoint > CHECKPOINT_BYTES) void checkpoint().catch((e: unknown) => { failure ??= e; });
    };

    if (useDeltas) {
      const { pullDeltas } = await import('../delta/pull-deltas.js');
      viaDelta = await pullDeltas({
        repo, tx: t, source, summary: await sourceSummary(source, opts.policy), require: deltas === 'require', stats: deltaStats, pool,
        verifyCommit: async (checksum, bytes, detached) => {
          await opts.policy?.verifyCommit?.(checksum, bytes, detached);
          bindings.verify(checksum, decodeCommit(bytes, `commit ${checksum} from ${source.description}`));
        },
      }, resolved.map((r, i) => ({ ref: /^[0-9a-f]{64}$/.test(targets[i]!.from) ? null : targets[i]!.from, localRef: r.to, checksum: r.checksum })));
      progress.bytesFetched += deltaStats.bytesFetched;
      progress.metadataFetched += deltaStats.metadataFetched;
    }
    for (const r of resolved) enqueue({ kind: 'commit', checksum: r.checksum, depth: opts.depth ?? 0 });
    let busy = 0;
    let wake: (() => void) | null = null;
    const runner = async (): Promise<void> => {
      for (;;) {
        if (failure !== null) return;
        const w = metaQueue.shift() ?? contentQueue.shift();
        if (w === undefined) {
          if (busy === 0) { wake?.(); return; }
          // Others may still discover work: wait for one of them to finish an item.
          await new Promise<void>((r) => { const prev = wake; wake = () => { prev?.(); r(); }; });
          continue;
        }
        busy++;
        try {
          await process1(w);
        } catch (e) {
          failure ??= e;
        } finally {
          busy--;
          const wk = wake as (() => void) | null;
          wake = null;
          wk?.();
        }
        opts.onProgress?.({ ...progress });
        maybeCheckpoint();
      }
    };
    const runners = Math.max(1, Math.min(64, source.local ? 8 : 48));
    await Promise.all(Array.from({ length: runners }, runner));
    if (failure !== null) for (const q of queues) q.cancel();
    for (const q of queues) await q.settle().catch((e: unknown) => { failure ??= e; });
    // Whatever is complete is kept, even when the pull failed: a rerun will not fetch it again.
    await checkpoint().catch((e: unknown) => { failure ??= e; });
    if (failure !== null) throw failure;

    for (const c of commitsToMark) await markCommitPartial(repo.path, c);
    const results: PullResult['refs'] = [];
    for (const r of resolved) {
      if (r.to === null && r.collection !== undefined) {
        const { id, ref } = r.collection;
        const current = await readRefAt(collectionRefFile(repo, id, ref));
        results.push({ ref: `(${id}, ${ref})`, checksum: r.checksum, changed: current !== r.checksum });
        if (current !== r.checksum) t.setCollectionRef(id, ref, r.checksum);
        continue;
      }
      if (r.to === null) {
        results.push({ ref: null, checksum: r.checksum, changed: true });
        continue;
      }
      const current = await repo.resolveRev(r.to, { allowMissing: true });
      results.push({ ref: r.to, checksum: r.checksum, changed: current !== r.checksum });
      if (current !== r.checksum) t.setRef(r.to, r.checksum);
    }
    await t.commit();
    for (const c of commitsCompleted) await clearCommitPartial(repo.path, c);
    progress.done = true;
    opts.onProgress?.({ ...progress });
    return {
      refs: results,
      stats: {
        ...progress,
        requests: source.stats.requests + imports.fetched.requests,
        retries: source.stats.retries + imports.fetched.retries,
        contentWritten: queues.reduce((n, q) => n + q.totals.written, deltaStats.contentWritten),
        contentBytesWritten: queues.reduce((n, q) => n + q.totals.bytes, deltaStats.contentBytesWritten),
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
        // A local pull that must use deltas reads the source as ostree's fetcher does, not by import.
        local: source.local !== null && deltas !== 'require',
        deltaParts: deltaStats.deltaParts,
        metadataLocal: local.metadata,
        contentLocal: local.content,
        detachedRequests: local.detachedRequests,
      },
    };
  } catch (e) {
    await tx?.abort();
    throw e;
  } finally {
    if (!opts.pool) await pool.close();
  }
}

/**
 * ostree's refusal of a downgrade (`_ostree_compare_timestamps`): newer passes, and so does an
 * equal timestamp, whatever the commit.
 */
function checkNotOlder(current: string, currentTs: bigint, next: string, nextTs: bigint): void {
  if (nextTs >= currentTs || current === next) return;
  throw new GroveError('GROVE_DOWNGRADE', `Upgrade target revision '${next}' with timestamp '${glibDateC(nextTs)}' is chronologically older than current revision '${current}' with timestamp '${glibDateC(currentTs)}'; use --allow-downgrade to permit`);
}

/** GLib's `%c` in the C locale, in UTC: `Tue Nov 14 22:13:20 2023`. */
function glibDateC(seconds: bigint): string {
  const d = new Date(Number(seconds) * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** `name` as ostree resolves a rev with remote fallback: refs/heads, refs/remotes/NAME, then REMOTE/NAME of any remote. */
async function localRevOf(repo: Repo, name: string): Promise<string | null> {
  const direct = await repo.resolveRev(name, { allowMissing: true });
  if (direct !== null) return direct;
  const remotesDir = path.join(repo.path, 'refs', 'remotes');
  let remotes: string[] = [];
  try {
    remotes = (await fs.readdir(remotesDir)).sort();
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  for (const r of remotes) {
    const c = await repo.resolveRev(`${r}:${name}`, { allowMissing: true }).catch(() => null);
    if (c !== null) return c;
  }
  return null;
}

/** The remote as each worker thread fetches from it: its share of the requests in flight. */
function perThread(remote: RemoteFetch, threads: number): RemoteFetch {
  const total = remote.options.maxInFlight ?? DEFAULT_IN_FLIGHT;
  return { ...remote, options: { ...remote.options, maxInFlight: Math.max(1, Math.ceil(total / threads)) } };
}

type Resolved = { to: string | null; checksum: string; collection?: { id: string; ref: string } };

/** Each target's commit checksum: from the summary when the source has one, else from its ref file. */
export async function resolveTargets(source: ObjectSource, targets: PullTarget[], policy?: PullPolicy): Promise<Resolved[]> {
  const out: Resolved[] = [];
  for (const t of targets) {
    if (/^[0-9a-f]{64}$/.test(t.from)) {
      out.push({ to: t.to, checksum: t.from, ...(t.collection && { collection: t.collection }) });
      continue;
    }
    if (t.collection !== undefined) {
      out.push({ to: t.to, checksum: await resolveCollectionRef(source, t.collection, policy), collection: t.collection });
      continue;
    }
    const s = await sourceSummary(source, policy);
    let checksum: string | null;
    if (s !== null) {
      checksum = s.refs.find((r) => r.name === t.from)?.checksum ?? null;
      if (checksum === null) throw new GroveError('GROVE_NO_REF', `No such branch '${t.from}' in repository summary`);
    } else {
      checksum = await source.ref(t.from);
      // ostree's words: its fetcher's for the ref file a server lacks, its rev-parse's in a local source.
      if (checksum === null) throw new GroveError('GROVE_NO_REF', source.remote !== null ? 'Server returned HTTP 404' : `Refspec '${t.from}' not found`, { subject: `ref ${t.from} of ${source.description}` });
    }
    out.push({ to: t.to, checksum });
  }
  return out;
}

/**
 * The commit of collection ref (`id`, `ref`) at the source, as ostree's pull finds it: in the
 * summary when the source has one (its main ref list when `id` is the summary's collection ID,
 * else the collection map), else in the source's refs. Messages are ostree's.
 */
async function resolveCollectionRef(source: ObjectSource, c: { id: string; ref: string }, policy?: PullPolicy): Promise<string> {
  const s = await sourceSummary(source, policy);
  if (s !== null) {
    const main = s.metadata.find(([k]) => k === SUMMARY_KEY.collectionId)?.[1];
    const refs = main?.type === 's' && main.value === c.id ? s.refs : collectionMapOf(s, `summary of ${source.description}`).find(([id]) => id === c.id)?.[1];
    const checksum = refs?.find((r) => r.name === c.ref)?.checksum;
    if (checksum === undefined) throw new GroveError('GROVE_NO_REF', `No such branch (${c.id}, ${c.ref}) in repository summary`);
    return checksum;
  }
  const checksum = await source.collectionRef(c.id, c.ref);
  if (checksum === null) throw new GroveError('GROVE_NO_REF', `Collection–ref (${c.id}, ${c.ref}) not found`);
  return checksum;
}

/** The checksum in a ref file, or null when there is none. */
async function readRefAt(file: string): Promise<string | null> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return null;
    throw e;
  }
}

/** Every ref in the summary of a remote a mirror pull takes all of (ostree's message when it has none). */
export async function summaryRefsForMirror(source: ObjectSource, policy?: PullPolicy): Promise<string[]> {
  const s = await sourceSummary(source, policy);
  if (s === null) throw new GroveError('GROVE_NO_SUMMARY', 'Fetching all refs was requested in mirror mode, but remote repository does not have a summary');
  return s.refs.map((r) => r.name);
}

/** Every ref the source offers (its summary's, or for a local source its refs). */
export async function sourceRefs(source: ObjectSource, policy?: PullPolicy): Promise<string[]> {
  const s = await sourceSummary(source, policy);
  if (s !== null) return s.refs.map((r) => r.name);
  if (source.refs) return [...(await source.refs()).keys()];
  throw new GroveError('GROVE_NO_SUMMARY', `${source.description} has no summary, so its refs cannot be listed`, { hint: 'name the refs to pull, or run summary -u on the server' });
}

function normalizeSubpath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) throw new GroveError('GROVE_BAD_OPTION', `--subpath: '${p}' must not contain '..'`);
  return `/${parts.join('/')}`;
}

/** True when `p` is `dir` or below it. */
function isWithin(p: string, dir: string): boolean {
  return dir === '/' || p === dir || p.startsWith(`${dir}/`);
}

/**
 * Whether a local source's objects may be hardlinked into `repo` rather than copied, as ostree's
 * local pulls do (import_via_reflink_is_possible, import_one_object_direct): the same mode, and
 * repositories of the same owner, since the two then share each object's inode. Another file
 * system is found out by the link itself, which then copies.
 */
function mayLinkFrom(source: { objectsDir: string; mode: RepoMode }, repo: Repo): boolean {
  if (source.mode !== repo.mode) return false;
  const a = fsSync.statSync(source.objectsDir, { throwIfNoEntry: false });
  const b = fsSync.statSync(repo.objectsDir, { throwIfNoEntry: false });
  return a !== undefined && b !== undefined && a.uid === b.uid;
}
