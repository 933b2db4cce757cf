import type { WorkerPool } from '../pool/pool.js';
import { partialOf } from '../pool/protocol.js';
import type { FetchedTotals, ImportContentResult, ImportContentTask, ImportItem, RemoteFetch } from './import-task.js';

/**
 * Groups content objects into import tasks for the pool. Objects fetched here go up to
 * BATCH_ITEMS objects or BATCH_BYTES bytes a task, a downloaded file (a large object) alone;
 * when more than MAX_PENDING bytes wait for the pool, {@link add} waits too, so a fast network
 * cannot fill memory faster than the workers verify and write. Objects the workers fetch
 * themselves (a `remote`) go REMOTE_BATCH checksums a task, at most MAX_PENDING_REMOTE waiting.
 */
const BATCH_ITEMS = 32;
const BATCH_BYTES = 2 << 20;
const MAX_PENDING = 32 << 20;
const LOCAL_BATCH = 16;
/**
 * Small enough that the last tasks of a pull spread over every thread, large enough that a
 * task's requests keep its connections busy.
 */
const REMOTE_BATCH = 48;
const MAX_PENDING_REMOTE = 1024;

export class ImportQueue {
  readonly totals = { written: 0, bytes: 0 };
  /** What the workers fetched for tasks with a remote. */
  readonly fetched: FetchedTotals = { objects: 0, bytes: 0, requests: 0, retries: 0 };
  private cur: ImportItem[] = [];
  private curBytes = 0;
  private pendingBytes = 0;
  private pendingItems = 0;
  private readonly running = new Set<Promise<void>>();
  private failure: unknown = null;
  private readonly cancelled = new Int32Array(new SharedArrayBuffer(4));

  /** `onDone` hears of each finished task: the objects it wrote, their bytes, and what it fetched. */
  constructor(
    private readonly pool: WorkerPool,
    private readonly ctx: ImportContentTask['ctx'],
    private readonly onDone: (written: string[], bytes: number, fetched: FetchedTotals | undefined) => void,
    private readonly remote: RemoteFetch | null = null,
  ) {}

  async add(item: ImportItem): Promise<void> {
    if (this.failure !== null) throw this.failure;
    if (item.archivePath !== undefined) {
      this.submit([item], 0);
    } else {
      const n = item.bytes?.length ?? 0;
      this.cur.push(item);
      this.curBytes += n;
      const limit = this.remote !== null ? REMOTE_BATCH : this.ctx.source !== null ? LOCAL_BATCH : BATCH_ITEMS;
      // A thread with nothing to do takes a short batch now rather than a full one later: while
      // the dirtrees arrive, objects to fetch trickle in.
      if (this.cur.length >= limit || this.curBytes >= BATCH_BYTES || (this.remote !== null && this.running.size < this.pool.capacity)) this.flush();
    }
    // Back-pressure: wait for tasks to finish while too much is buffered.
    while ((this.pendingBytes > MAX_PENDING || this.pendingItems > MAX_PENDING_REMOTE) && this.running.size > 0) await Promise.race(this.running);
    if (this.failure !== null) throw this.failure;
  }

  flush(): void {
    if (this.cur.length > 0) this.submit(this.cur, this.curBytes);
    this.cur = [];
    this.curBytes = 0;
  }

  /** Tells the workers to start no more fetches: the pull has failed. */
  cancel(): void {
    Atomics.store(this.cancelled, 0, 1);
  }

  /** Waits for every task (even after one fails, so none still writes into staging); throws the first failure. */
  async settle(): Promise<void> {
    if (this.remote !== null && this.cur.length > 1) {
      // The last objects, spread over every thread rather than queued behind one.
      const parts = Math.min(this.cur.length, this.pool.capacity);
      const items = this.cur;
      this.cur = [];
      for (let i = 0; i < parts; i++) this.submit(items.filter((_, j) => j % parts === i), 0);
    }
    this.flush();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    if (this.failure !== null) throw this.failure;
  }

  private submit(items: ImportItem[], bytes: number): void {
    this.pendingBytes += bytes;
    this.pendingItems += items.length;
    const task: ImportContentTask = { kind: 'import-content', ctx: this.ctx, items, ...(this.remote && { remote: this.remote, cancelled: this.cancelled }) };
    const done = (r: ImportContentResult) => {
      this.totals.written += r.written.length;
      this.totals.bytes += r.bytes;
      if (r.fetched) for (const k of ['objects', 'bytes', 'requests', 'retries'] as const) this.fetched[k] += r.fetched[k];
      this.onDone(r.written, r.bytes, r.fetched);
    };
    const p: Promise<void> = this.pool.run<ImportContentResult>(task).then(done, (e: unknown) => {
      // A failed task's stored objects are kept all the same: a rerun will not fetch them again.
      const part = partialOf<ImportContentResult>(e);
      if (part) done(part);
      this.failure ??= e;
      this.cancel();
    }).finally(() => {
      this.pendingBytes -= bytes;
      this.pendingItems -= items.length;
      this.running.delete(p);
    });
    this.running.add(p);
  }
}
