import path from 'node:path';
import { defaultCompressBackend, type CompressBackend } from '../format/compress.js';
import { defaultHashBackend } from '../format/hash.js';
import { WorkerPool } from '../pool/pool.js';
import type { CheckoutResult, CheckoutRoot, CheckoutTask, Overwrite, UnfinishedDir } from '../pool/protocol.js';
import type { Repo } from '../repo/repo.js';
import { finishDir, makeDir } from './make-dir.js';
import { hardlinkRefusal } from './place-files.js';
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
  pool?: WorkerPool;
  compress?: CompressBackend;
  /** Called as tasks finish. */
  onProgress?: (p: CheckoutProgress) => void;
}

export interface CheckoutProgress { files: number; directories: number }

export interface CheckoutStats extends Omit<CheckoutResult, 'deferred' | 'unfinished'> {
  seconds: number;
}

/**
 * Operations (directories and files) a worker does before handing back what is left of its
 * subtrees. The first task is small so that the tree spreads over the threads at once; later
 * ones are large enough to amortise the trip to a worker (measured on a 6,000-file tree).
 */
const FIRST_BUDGET = 32;
const BUDGET = 256;
/** Subtrees per task at most, and tasks in flight per thread (one running, one queued). */
const MAX_ROOTS = 16;
const TASKS_PER_THREAD = 2;

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
  const target = await resolvePath(repo, commit, opts.subpath ?? '/');
  const ctx: CheckoutTask['ctx'] = {
    repoMode: repo.mode,
    objectsDir: repo.objectsDir,
    hash: defaultHashBackend(),
    compress: opts.compress ?? defaultCompressBackend(),
    userMode: opts.userMode === true,
    requireHardlink: opts.requireHardlink === true,
    forceCopy: opts.forceCopy === true,
    overwrite: opts.overwrite ?? 'none',
    whiteouts: opts.whiteouts === true,
  };
  const refusal = hardlinkRefusal(ctx);
  if (refusal) throw refusal;

  const pool = opts.pool ?? new WorkerPool();
  const stats: CheckoutStats = { linked: 0, copied: 0, skipped: 0, directories: 0, seconds: 0 };
  const unfinished: UnfinishedDir[] = [];
  try {
    const first: Omit<CheckoutTask, 'kind' | 'ctx' | 'budget'> = target.kind === 'file'
      ? { roots: [], files: [{ checksum: target.checksum, dest: path.join(dest, target.name) }] }
      : { roots: [{ tree: target.tree, meta: target.meta, dest }], files: [] };
    // ostree makes DEST a directory holding the one file.
    if (target.kind === 'file') makeDir(dest, null, ctx.overwrite, ctx.userMode);
    await runQueue(pool, ctx, first, (r) => {
      stats.linked += r.linked;
      stats.copied += r.copied;
      stats.skipped += r.skipped;
      stats.directories += r.directories;
      unfinished.push(...r.unfinished);
      opts.onProgress?.({ files: stats.linked + stats.copied + stats.skipped, directories: stats.directories });
    });
    // Deepest first, so a read-only parent is locked only after everything under it is placed.
    const depth = (d: UnfinishedDir) => d.dir.split('/').length;
    unfinished.sort((a, b) => depth(b) - depth(a));
    const finish = { userMode: ctx.userMode, forceCopy: ctx.forceCopy, bareUserOnly: repo.mode === 'bare-user-only' };
    for (const d of unfinished) finishDir(d, finish);
  } finally {
    if (!opts.pool) await pool.close();
  }
  stats.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return stats;
}

/**
 * Runs the first task, then keeps handing deferred subtrees to the pool until none are left and
 * no task is running. After a failure nothing new starts; the first error is thrown once the
 * running tasks have ended, so no worker is still writing when the caller sees it.
 */
function runQueue(
  pool: WorkerPool,
  ctx: CheckoutTask['ctx'],
  first: Omit<CheckoutTask, 'kind' | 'ctx' | 'budget'>,
  onResult: (r: CheckoutResult) => void,
): Promise<void> {
  const queue: CheckoutRoot[] = [];
  const slots = pool.threads * TASKS_PER_THREAD;
  let running = 0;
  let failure: { error: unknown } | undefined;
  return new Promise((resolve, reject) => {
    const start = (roots: CheckoutRoot[], files: CheckoutTask['files'], budget: number) => {
      running++;
      pool.run({ kind: 'checkout', ctx, roots, files, budget }).then((r) => {
        onResult(r);
        queue.push(...r.deferred);
      }, (e: unknown) => {
        failure ??= { error: e };
      }).finally(() => {
        running--;
        pump();
      });
    };
    const pump = () => {
      while (!failure && queue.length > 0 && running < slots) {
        // Spread what is queued over the free slots, so no thread waits while another has a list.
        const n = Math.min(MAX_ROOTS, Math.ceil(queue.length / (slots - running)));
        start(queue.splice(0, n), [], BUDGET);
      }
      if (running === 0) {
        if (failure) reject(failure.error);
        else resolve();
      }
    };
    start(first.roots, first.files, FIRST_BUDGET);
  });
}
