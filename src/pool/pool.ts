import os from 'node:os';
import { Piscina } from 'piscina';
import { GroveError } from '../errors.js';
import type { CheckoutResult, CheckoutTask, Reply, Task, VerifyResult, VerifyTask, WriteContentResult, WriteContentTask } from './protocol.js';

const WORKER_FILE = new URL('../../workers/entry.cjs', import.meta.url).href;

type ResultOf<T extends Task> =
  T extends WriteContentTask ? WriteContentResult :
  T extends CheckoutTask ? CheckoutResult :
  T extends VerifyTask ? VerifyResult : never;

/**
 * The one worker pool: a Piscina pool sized to the cores. Callers submit coarse tasks (a batch of
 * files each); a failed task rejects with a GroveError rebuilt from the worker's reply.
 */
export class WorkerPool {
  private readonly piscina: Piscina;

  constructor(opts: { threads?: number } = {}) {
    const envThreads = Number(process.env['GROVE_THREADS'] ?? '');
    const threads = opts.threads ?? (Number.isInteger(envThreads) && envThreads > 0 ? envThreads : os.availableParallelism());
    this.piscina = new Piscina({ filename: WORKER_FILE, minThreads: threads, maxThreads: threads, idleTimeout: 1000 });
  }

  get threads(): number {
    return this.piscina.options.maxThreads;
  }

  async run<T extends Task>(task: T): Promise<ResultOf<T>> {
    const reply = (await this.piscina.run(task)) as Reply<ResultOf<T>>;
    if (!reply.ok) throw GroveError.fromJSON(reply.error);
    return reply.value;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
