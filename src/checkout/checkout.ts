import path from 'node:path';
import fs from 'node:fs';
import { GroveError } from '../errors.js';
import { catalogueReader, recordObject, recordTree, type CatalogueReader } from '../index/catalogue.js';
import { RepoIndex } from '../index/index.js';
import { defaultCompressBackend, type CompressBackend } from '../format/compress.js';
import { WorkerPool } from '../pool/pool.js';
import type { CheckoutResult, CheckoutRoot, CheckoutTask, Overwrite, UnfinishedDir } from './task.js';
import type { Repo } from '../repo/repo.js';
import { finishDir, makeDir } from './make-dir.js';
import { hardlinkable, hardlinkRefusal } from './place-files.js';
import { runCheckoutTask } from './walk-subtrees.js';
import { resolvePath } from './resolve-path.js';

export interface CheckoutOptions {
  /** `-U`: no ownership, no setuid bits, and hardlinks from bare-user repositories. */
  userMode?: boolean;
  /** `-H`: fail rather than copy when a file cannot be hardlinked. */
  requireHardlink?: boolean;
  /** `-C`: always copy. */
  forceCopy?: boolean;
  /** `--union` replaces existing files, `--union-add` keeps them; default refuses. */
  overwrite?: Overwrite;
  /** Check out only this path of the commit (`--subpath`). */
  subpath?: string;
  /** `--whiteouts`: a file `.wh.NAME` deletes NAME instead of being checked out. */
  whiteouts?: boolean;
  /** `--process-passthrough-whiteouts`: a file `.ostree-wh.NAME` becomes the overlayfs whiteout NAME. */
  passthroughWhiteouts?: boolean;
  /** `-M`: directory modes masked to 0775 (always so for bare-user-only). */
  bareUserOnlyDirs?: boolean;
  /** `--skip-list`: paths below the checked-out root to leave out, directories with a trailing `/`. */
  skipList?: Iterable<string>;
  /** `--allow-noent`: a subpath the commit lacks checks out nothing, successfully. */
  allowNoent?: boolean;
  /**
   * Make the repository's grove index when it has none, so that later checkouts of the same
   * trees read tree listings instead of dirtrees and an lstat per file. For the writer that
   * owns the repository (`admin deploy`, whose sysroot repository ostree or a pull filled);
   * a plain checkout only uses an index that exists.
   */
  createIndex?: boolean;
  pool?: WorkerPool;
  compress?: CompressBackend;
  /** Called as tasks finish. */
  onProgress?: (p: CheckoutProgress) => void;
}

export interface CheckoutProgress { files: number; directories: number }

export interface CheckoutStats extends Omit<CheckoutResult, 'deferred' | 'unfinished' | 'learned' | 'learnedTrees'> {
  seconds: number;
}

/**
 * Milliseconds a task works before handing back what is left of its subtrees, checked at each
 * directory. Time rather than a count of files, because a file costs a few microseconds to
 * hardlink on a fast disk and a millisecond to inflate and write on a slow one: long enough to
 * amortise the trip to a worker (a fraction of a millisecond), short enough that a thread that
 * runs dry waits for little. The first task runs on the main thread; a checkout that fits in it
 * never starts the pool.
 */
const FIRST_BUDGET_MS = 10;
const BUDGET_MS = 20;
/** Subtrees per task at most, and tasks in flight per thread (one running, one queued). */
const MAX_ROOTS = 16;
const TASKS_PER_THREAD = 2;
/**
 * A hardlink checkout starts the pool only once this thread has worked this long. Linking is
 * syscall-bound and this thread places all of minbase (5.3k files, 780 directories) in about
 * 250 ms; a worker costs some 40 ms to start and then contends for the same directories and
 * journal. Measured on minbase (bare-user, 2-core EPYC, 9 alternating runs, 2026-12-02): the pool
 * from the start 0.53 s, after 40 ms 0.52 s, after 300 ms (so never, there) 0.46 s. With tree
 * listings (2-core Xeon, 2026-12-03, 3 alternating runs): minbase 0.55–0.68 s from the start,
 * 0.41–0.57 s after 300 ms, 0.45–0.62 s never; /usr 3.0–3.1 s after 300 ms, 3.2–3.3 s never. A
 * copying checkout (inflating archive objects) has the work to repay it at once.
 */
const HARDLINK_POOL_AFTER_MS = 300;
/** Bytes of learnt index entries held before they are written (see {@link Learnt}). */
const LEARNT_FLUSH_BYTES = 8 << 20;

/**
 * Checks out commit `rev` (or its `subpath`) into `dest`. The workers walk the tree themselves
 * (see walk-subtrees.ts) and hand back, once their budget is spent, the subtrees they did not
 * start; the main thread only keeps the queue of those subtrees full across the pool, and at the
 * end finishes the few directories whose subtrees were split across tasks, deepest first.
 */
export async function checkoutTree(repo: Repo, rev: string, dest: string, opts: CheckoutOptions = {}): Promise<CheckoutStats> {
  const started = process.hrtime.bigint();
  const commitId = (await repo.resolveRev(rev))!;
  const commit = await repo.loadCommit(commitId);
  let target;
  try {
    target = await resolvePath(repo, commit, opts.subpath ?? '/');
  } catch (e) {
    if (opts.allowNoent && e instanceof GroveError && e.code === 'GROVE_NOT_FOUND') return { linked: 0, copied: 0, skipped: 0, directories: 0, seconds: 0 };
    throw e;
  }
  const skip = opts.skipList === undefined ? null : [...opts.skipList];
  const ctx: CheckoutTask['ctx'] = {
    mode: repo.mode,
    objectsDir: repo.objectsDir,
    compress: opts.compress ?? defaultCompressBackend(),
    userMode: opts.userMode === true,
    requireHardlink: opts.requireHardlink === true,
    forceCopy: opts.forceCopy === true,
    overwrite: opts.overwrite ?? 'none',
    whiteouts: opts.whiteouts === true,
    passthroughWhiteouts: opts.passthroughWhiteouts === true,
    bareUserOnlyDirs: opts.bareUserOnlyDirs === true || repo.mode === 'bare-user-only',
    // ostree ignores the skip list when the checkout is of one file.
    skip: target.kind === 'file' ? null : skip,
    top: dest,
    umask: process.umask(),
    indexDir: null,
  };
  if (opts.overwrite === 'identical' && !ctx.requireHardlink) throw new GroveError('GROVE_BAD_OPTION', '--union-identical requires --require-hardlinks');
  // A skipped root: ostree makes nothing at all, not even the destination.
  if (ctx.skip?.includes('/')) return { linked: 0, copied: 0, skipped: 0, directories: 0, seconds: 0 };
  const refusal = hardlinkRefusal(ctx);
  if (refusal) throw refusal;
  const index = opts.createIndex ? await openOrCreateIndex(repo) : await openExistingIndex(repo);
  ctx.indexDir = index?.dir ?? null;
  const catalogue: CatalogueReader | null = index && catalogueReader(index);

  const pool = opts.pool ?? new WorkerPool({ mainWorks: true });
  const stats: CheckoutStats = { linked: 0, copied: 0, skipped: 0, directories: 0, seconds: 0 };
  const unfinished: UnfinishedDir[] = [];
  const learnt = index && new Learnt(index);
  try {
    const first: Omit<CheckoutTask, 'kind' | 'ctx' | 'budgetMs'> = target.kind === 'file'
      ? { roots: [], files: [{ checksum: target.checksum, dest: path.join(dest, target.name) }] }
      : { roots: [{ tree: target.tree, meta: target.meta, dest, above: [] }], files: [] };
    // ostree makes DEST a directory holding the one file, or puts the file into DEST when DEST
    // is a directory already.
    if (target.kind === 'file') makeFileTargetDir(dest, ctx.userMode);
    await runQueue(pool, ctx, catalogue, first, (r) => {
      stats.linked += r.linked;
      stats.copied += r.copied;
      stats.skipped += r.skipped;
      stats.directories += r.directories;
      unfinished.push(...r.unfinished);
      learnt?.add(r);
      opts.onProgress?.({ files: stats.linked + stats.copied + stats.skipped, directories: stats.directories });
    }, hardlinkable(ctx) ? HARDLINK_POOL_AFTER_MS : 0);
    // Deepest first, so a read-only parent is locked only after everything under it is placed.
    const depth = (d: UnfinishedDir) => d.dir.split('/').length;
    unfinished.sort((a, b) => depth(b) - depth(a));
    const finish = { userMode: ctx.userMode, forceCopy: ctx.forceCopy, bareUserOnly: ctx.bareUserOnlyDirs };
    for (const d of unfinished) finishDir(d, finish);
    learnt?.record();
  } finally {
    if (!opts.pool) await pool.close();
    await index?.close();
  }
  stats.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return stats;
}

/**
 * What the tasks learnt for the index (catalogue entries, tree listings), recorded in a few
 * large transactions: one per task, as puts were, cost 1.2 s of a first checkout of /usr
 * (300 commits of LMDB's dirty pages). Flushed every few megabytes, so memory stays bounded
 * whatever the tree. The index is a cache: a write it refuses (a full disk) leaves the checkout,
 * which is done, as it is, and the next checkout learns again.
 */
class Learnt {
  private objects: CheckoutResult['learned'] = [];
  private trees: CheckoutResult['learnedTrees'] = [];
  private bytes = 0;

  constructor(private readonly index: RepoIndex) {}

  add(r: CheckoutResult): void {
    for (const o of r.learned) this.objects.push(o);
    for (const t of r.learnedTrees) {
      this.trees.push(t);
      this.bytes += t[1].length;
    }
    this.bytes += r.learned.length * 64;
    if (this.bytes >= LEARNT_FLUSH_BYTES) this.record();
  }

  record(): void {
    const { objects, trees, index } = this;
    this.objects = [];
    this.trees = [];
    this.bytes = 0;
    if (objects.length === 0 && trees.length === 0) return;
    try {
      index.write(() => {
        for (const [c, mode, size] of objects) recordObject(index, c, mode, size);
        for (const [c, listing] of trees) recordTree(index, c, listing);
      });
    } catch {
      // kept in index.failure; see above
    }
  }
}

/**
 * Runs the first task on this thread, then keeps handing deferred subtrees out until none are
 * left and no task is running: to the pool, and to this thread itself whenever the pool's slots
 * are full (it has nothing else to do meanwhile). A small checkout thus never starts the pool's
 * threads at all. After a failure nothing new starts; the first error is thrown once the running
 * tasks have ended, so no worker is still writing when the caller sees it.
 */
async function runQueue(
  pool: WorkerPool,
  ctx: CheckoutTask['ctx'],
  catalogue: CatalogueReader | null,
  first: Omit<CheckoutTask, 'kind' | 'ctx' | 'budgetMs'>,
  onResult: (r: CheckoutResult) => void,
  poolAfterMs: number,
): Promise<void> {
  const poolFrom = performance.now() + poolAfterMs;
  const queue: CheckoutRoot[] = [];
  const slots = pool.threads * TASKS_PER_THREAD;
  let running = 0;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  /** A fair share of the queue among `takers`. */
  const take = (takers: number) => queue.splice(0, Math.min(MAX_ROOTS, Math.ceil(queue.length / takers)));
  const accept = (r: CheckoutResult) => {
    onResult(r);
    queue.push(...r.deferred);
  };
  const pump = () => {
    if (performance.now() < poolFrom) return;
    // Spread what is queued over the free slots and this thread, so no thread waits while
    // another holds a list; this thread keeps a share (the pool's threads may still be starting).
    while (!failure && queue.length > 1 && running < slots) {
      const roots = take(slots - running + 1);
      running++;
      const task: CheckoutTask = { kind: 'checkout', ctx, roots, files: [], budgetMs: BUDGET_MS };
      pool.run<CheckoutResult>(task)
        .then(accept, (e: unknown) => { failure ??= { error: e }; })
        .finally(() => {
          running--;
          pump();
          wake?.();
        });
    }
  };
  const inline = async (roots: CheckoutRoot[], files: CheckoutTask['files'], budgetMs: number) => {
    try {
      accept(await runCheckoutTask({ kind: 'checkout', ctx, roots, files, budgetMs }, catalogue));
    } catch (e) {
      failure ??= { error: e };
    }
  };

  await inline(first.roots, first.files, FIRST_BUDGET_MS);
  pump();
  while (!failure && (queue.length > 0 || running > 0)) {
    if (queue.length > 0) {
      // Until the pool may start, this thread takes what a task can hold.
      await inline(take(performance.now() < poolFrom ? 1 : slots - running + 1), [], BUDGET_MS);
      pump();
      // Let finished pool tasks report, so their deferred subtrees join the queue.
      await new Promise((r) => setImmediate(r));
    } else {
      await new Promise<void>((r) => { wake = r; });
      wake = undefined;
    }
  }
  while (running > 0) {
    await new Promise<void>((r) => { wake = r; });
    wake = undefined;
  }
  if (failure) throw failure.error;
}

/**
 * The repository's grove index if it has one (a checkout never creates it, and a repository this
 * user cannot write is checked out without it); its catalogue is read and taught as files are
 * placed.
 */
async function openExistingIndex(repo: Repo): Promise<RepoIndex | null> {
  // Never RepoIndex.open: it discards a damaged index and makes a new one.
  return RepoIndex.openExisting(repo.path);
}

/**
 * The repository's index, made when it has none; a checkout goes on without one when the index
 * cannot be made (a full disk, a read-only repository), as it does in a repository that has none.
 */
async function openOrCreateIndex(repo: Repo): Promise<RepoIndex | null> {
  try {
    return await RepoIndex.open(repo.path);
  } catch (e) {
    if (e instanceof GroveError && e.code === 'GROVE_INDEX_WRITE') return null;
    throw e;
  }
}

/** The directory a one-file checkout goes into: made, or taken as it is when it is one (ostree's words otherwise). */
function makeFileTargetDir(dest: string, userMode: boolean): void {
  const st = fs.statSync(dest, { throwIfNoEntry: false });
  if (st === undefined) {
    makeDir(dest, null, 'none', userMode);
    return;
  }
  if (!st.isDirectory()) throw new GroveError('GROVE_EXISTS', `opendir(${path.resolve(dest)}): Not a directory`, { path: dest });
}
