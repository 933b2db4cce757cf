import os from 'node:os';
import { createRequire } from 'node:module';
import type { Piscina as PiscinaClass } from 'piscina';
import { packageFile } from '../package-files.js';
import { errorOf, type Reply, type TaskEnvelope } from './protocol.js';

/** Set to true by the CLI's bundle (src/cli/build/bundle.ts), which packs the workers' code too. */
declare const GROVE_BUNDLE: boolean | undefined;

/**
 * What each thread loads: the workers' bundle when this code runs from the CLI's bundle (one
 * CommonJS file, which a thread loads in 70–90 ms here against 120–135 ms for the graph of ES
 * modules), else the entry beside the compiled sources.
 */
function workerFile(): string {
  return typeof GROVE_BUNDLE !== 'undefined' && GROVE_BUNDLE
    ? packageFile('dist/bundle/worker.cjs')
    : new URL('../../workers/entry.cjs', import.meta.url).href;
}

/**
 * Piscina through require(): its CommonJS build loads in about half the time of its ES module
 * build. And only when threads start: commands that never start them (a small checkout, refs,
 * an unchanged re-commit) do not pay its load.
 */
let piscinaClass: typeof PiscinaClass | undefined;
function Piscina(): typeof PiscinaClass {
  piscinaClass ??= (createRequire(import.meta.url)('piscina') as { Piscina: typeof PiscinaClass }).Piscina;
  return piscinaClass;
}

/**
 * The one worker pool: a Piscina pool sized to the cores. Callers submit coarse tasks (a batch of
 * files each), declared by each feature next to its code (the pool knows none of them); a failed
 * task rejects with the error rebuilt from the worker's reply (see protocol.ts). The
 * threads start with the first task, so work that never needs them (a re-commit the stat cache
 * answers whole) does not pay for starting them.
 */
export class WorkerPool {
  private piscina: PiscinaClass | undefined;
  readonly threads: number;
  private readonly tasksPerThread: number;

  /**
   * `threads` defaults to GROVE_THREADS, else the number of cores: the threads that do the work.
   * `mainWorks` says the caller's thread takes tasks too (checkout, fsck and deploy do), and so
   * counts among them: the pool has one thread fewer, none at all with GROVE_THREADS=1 (or on
   * one core), and the caller then does all the work itself. `tasksPerThread` (default 1) lets a
   * thread hold several tasks at once: worth it only for tasks that wait on the network, whose
   * waits another task can fill.
   */
  constructor(opts: { threads?: number; mainWorks?: boolean; tasksPerThread?: number } = {}) {
    const envThreads = Number(process.env['GROVE_THREADS'] ?? '');
    const cores = Number.isInteger(envThreads) && envThreads > 0 ? envThreads : os.availableParallelism();
    this.threads = opts.threads ?? (opts.mainWorks ? cores - 1 : cores);
    this.tasksPerThread = opts.tasksPerThread ?? 1;
  }

  /** Tasks the threads take at once; more wait in the queue. */
  get capacity(): number {
    return this.threads * this.tasksPerThread;
  }

  /** Starts the threads now, for a caller that knows work is coming (none when it has none). */
  start(): void {
    if (this.threads === 0) return;
    this.piscina ??= new (Piscina())({
      filename: workerFile(), minThreads: this.threads, maxThreads: this.threads, idleTimeout: 1000, concurrentTasksPerWorker: this.tasksPerThread,
    });
  }

  /** Runs `task` on a thread; `R` is what the task's kind returns (see the feature's task type). */
  async run<R>(task: TaskEnvelope): Promise<R> {
    // A caller of a pool without threads does its tasks itself; handing one over is a bug.
    if (this.threads === 0) throw new Error('WorkerPool.run: this pool has no threads (GROVE_THREADS=1 leaves the work to the caller)');
    this.start();
    const reply = (await this.piscina!.run(task)) as Reply<R>;
    if (!reply.ok) throw errorOf(reply);
    return reply.value;
  }

  async close(): Promise<void> {
    await this.piscina?.destroy();
    this.piscina = undefined;
  }
}
