import { GroveError } from '../src/errors.js';
import { sha256Factory, type HashBackend, type Sha256Factory } from '../src/format/hash.js';
import { writeContentBatch } from '../src/commit/write-content.js';
import { placeFiles } from '../src/checkout/place-files.js';
import { verifyContentBatch } from '../src/fsck/verify-content.js';
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
      case 'write-content':
        return { ok: true, value: await writeContentBatch(task, await hasher(task.ctx.hash)) };
      case 'checkout':
        return { ok: true, value: await placeFiles(task) };
      case 'verify-content':
        return { ok: true, value: await verifyContentBatch(task, await hasher(task.ctx.hash)) };
    }
  } catch (e) {
    if (e instanceof GroveError) return { ok: false, error: e.toJSON() };
    const err = e as NodeJS.ErrnoException;
    return { ok: false, error: { code: err.code ? `GROVE_${err.code}` : 'GROVE_INTERNAL', message: err.message ?? String(e), path: err.path } };
  }
}
