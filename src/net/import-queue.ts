import type { WorkerPool } from '../pool/pool.js';
import type { ImportContentTask, ImportItem } from '../pool/protocol.js';

/**
 * Groups arriving content objects into import tasks for the pool: up to BATCH_ITEMS objects or
 * BATCH_BYTES bytes each, a downloaded file (a large object) alone. When more than MAX_PENDING
 * bytes wait for the pool, {@link add} waits too, so a fast network cannot fill memory faster
 * than the workers verify and write.
 */
const BATCH_ITEMS = 32;
const BATCH_BYTES = 2 << 20;
const MAX_PENDING = 32 << 20;

export class ImportQueue {
  readonly totals = { written: 0, bytes: 0 };
  private cur: ImportItem[] = [];
  private curBytes = 0;
  private pendingBytes = 0;
  private readonly running = new Set<Promise<void>>();
  private failure: unknown = null;

  constructor(private readonly pool: WorkerPool, private readonly ctx: ImportContentTask['ctx'], private readonly onWritten: (checksums: string[]) => void) {}

  async add(item: ImportItem): Promise<void> {
    if (this.failure !== null) throw this.failure;
    if (item.archivePath !== undefined) {
      this.submit([item], 0);
    } else {
      const n = item.bytes?.length ?? 0;
      this.cur.push(item);
      this.curBytes += n;
      if (this.cur.length >= BATCH_ITEMS || this.curBytes >= BATCH_BYTES || (this.ctx.source !== null && this.cur.length >= 16)) this.flush();
    }
    // Back-pressure: wait for tasks to finish while too much is buffered.
    while (this.pendingBytes > MAX_PENDING && this.running.size > 0) await Promise.race(this.running);
    if (this.failure !== null) throw this.failure;
  }

  flush(): void {
    if (this.cur.length > 0) this.submit(this.cur, this.curBytes);
    this.cur = [];
    this.curBytes = 0;
  }

  /** Waits for every task (even after one fails, so none still writes into staging); throws the first failure. */
  async settle(): Promise<void> {
    this.flush();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    if (this.failure !== null) throw this.failure;
  }

  private submit(items: ImportItem[], bytes: number): void {
    this.pendingBytes += bytes;
    const p: Promise<void> = this.pool.run({ kind: 'import-content', ctx: this.ctx, items }).then(
      (r) => {
        this.totals.written += r.written.length;
        this.totals.bytes += r.bytes;
        this.onWritten(r.written);
      },
      (e: unknown) => { this.failure ??= e; },
    ).finally(() => {
      this.pendingBytes -= bytes;
      this.running.delete(p);
    });
    this.running.add(p);
  }
}
