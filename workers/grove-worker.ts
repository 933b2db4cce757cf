import { GroveError } from '../src/errors.js';
import { sha256Factory, type HashBackend, type Sha256Factory } from '../src/format/hash.js';
import type { Reply, Task } from '../src/pool/protocol.js';

/**
 * The entry point Piscina loads in each worker thread: dispatch a task by kind, and turn any
 * failure into a plain {code, message, path} reply (classes do not survive structured clone).
 */
const factories = new Map<HashBackend, Promise<Sha256Factory>>();

function hasher(backend: HashBackend): Promise<Sha256Factory> {
  let f = factories.get(backend);
  if (!f) {
    f = sha256Factory(backend);
    factories.set(backend, f);
  }
  return f;
}

export default async function run(task: Task): Promise<Reply<unknown>> {
  try {
    switch (task.kind) {
      // Each kind's code is loaded on first use: a checkout's workers need none of commit's.
      case 'write-content': {
        const { writeContentBatch } = await import('../src/commit/write-content.js');
        return { ok: true, value: await writeContentBatch(task, await hasher(task.ctx.hash)) };
      }
      case 'checkout': {
        const { runCheckoutTask } = await import('../src/checkout/walk-subtrees.js');
        return { ok: true, value: await runCheckoutTask(task) };
      }
      case 'verify-content': {
        const { verifyContentBatch } = await import('../src/fsck/verify-content.js');
        return { ok: true, value: await verifyContentBatch(task, await hasher(task.ctx.hash)) };
      }
    }
  } catch (e) {
    if (e instanceof GroveError) return { ok: false, error: e.toJSON() };
    const err = e as NodeJS.ErrnoException;
    return { ok: false, error: { code: err.code ? `GROVE_${err.code}` : 'GROVE_INTERNAL', message: err.message ?? String(e), path: err.path } };
  }
}
