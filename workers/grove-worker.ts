import { sha256Factory, type HashBackend, type Sha256Factory } from '../src/format/hash.js';
import { replyOf, type Reply, type TaskEnvelope } from '../src/pool/protocol.js';
import type { CatalogueReader } from '../src/index/catalogue.js';
import type { WriteContentTask } from '../src/commit/task.js';
import type { CheckoutTask } from '../src/checkout/task.js';
import type { VerifyTask } from '../src/fsck/task.js';
import type { ImportContentTask } from '../src/net/import-task.js';
import type { HashFilesTask } from '../src/deploy/kernel.js';
import type { InflateXzTask } from '../src/delta/xz.js';

/**
 * The entry point Piscina loads in each worker thread: the features' tasks by kind, each loaded
 * on first use (a checkout's workers need none of commit's code). Replies are built by the
 * pool's protocol, which keeps a failure's kind across the boundary.
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

const TASKS: Record<string, (task: never) => Promise<unknown>> = {
  'write-content': async (task: WriteContentTask) => (await import('../src/commit/store-files.js')).writeContentBatch(task, await hasher(task.ctx.hash)),
  checkout: async (task: CheckoutTask) => (await import('../src/checkout/walk-subtrees.js')).runCheckoutTask(task, await catalogue(task.ctx.indexDir)),
  'verify-content': async (task: VerifyTask) => (await import('../src/fsck/verify-content.js')).verifyContentBatch(task, await hasher(task.ctx.hash)),
  'hash-files': async (task: HashFilesTask) => (await import('../src/deploy/kernel.js')).hashFiles(task.files),
  'inflate-xz': async (task: InflateXzTask) => (await import('../src/delta/xz.js')).inflateXz(task.input, task.limit, task.where),
  'import-content': async (task: ImportContentTask) => task.remote
    ? (await import('../src/net/fetch-content.js')).fetchContentBatch(task, task.remote, await hasher(task.ctx.hash))
    : (await import('../src/net/import-content.js')).importContentBatch(task, await hasher(task.ctx.hash)),
};

export default function run(task: TaskEnvelope): Promise<Reply<unknown>> {
  return replyOf(async () => {
    const f = TASKS[task.kind];
    if (f === undefined) throw new Error(`unknown worker task kind '${task.kind}'`);
    // For the tests of how a bug in a worker reaches the user (exit 70, with the worker's stack).
    if (process.env['GROVE_TEST_WORKER_BUG'] === task.kind) throw new TypeError(`a bug injected into a ${task.kind} task`);
    return f(task as never);
  });
}
