import { GroveError } from '../src/errors.js';
import { sha256Factory, type HashBackend, type Sha256Factory } from '../src/format/hash.js';
import type { Reply, Task } from '../src/pool/protocol.js';
import type { CatalogueReader } from '../src/index/catalogue.js';

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

const catalogues = new Map<string, CatalogueReader | null>();

/** The object catalogue of a repository's index, opened once per thread. */
async function catalogue(indexDir: string | null): Promise<CatalogueReader | null> {
  if (indexDir === null) return null;
  if (!catalogues.has(indexDir)) {
    const { openCatalogueReader } = await import('../src/index/catalogue.js');
    catalogues.set(indexDir, openCatalogueReader(indexDir));
  }
  return catalogues.get(indexDir)!;
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
        return { ok: true, value: await runCheckoutTask(task, await catalogue(task.ctx.indexDir)) };
      }
      case 'verify-content': {
        const { verifyContentBatch } = await import('../src/fsck/verify-content.js');
        return { ok: true, value: await verifyContentBatch(task, await hasher(task.ctx.hash)) };
      }
      case 'import-content': {
        if (task.remote) {
          const { fetchContentBatch } = await import('../src/net/fetch-content.js');
          return { ok: true, value: await fetchContentBatch(task, task.remote, await hasher(task.ctx.hash)) };
        }
        const { importContentBatch } = await import('../src/net/import-content.js');
        return { ok: true, value: await importContentBatch(task, await hasher(task.ctx.hash)) };
      }
    }
  } catch (e) {
    if (e instanceof GroveError) return { ok: false, error: e.toJSON() };
    const err = e as NodeJS.ErrnoException;
    return { ok: false, error: { code: err.code ? `GROVE_${err.code}` : 'GROVE_INTERNAL', message: err.message ?? String(e), path: err.path } };
  }
}
