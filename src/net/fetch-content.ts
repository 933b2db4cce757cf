import { GroveError } from '../errors.js';
import type { Sha256Factory } from '../format/hash.js';
import { objectRelPath } from '../store/paths.js';
import { PartialFailure } from '../pool/protocol.js';
import { isStored } from '../store/write-content.js';
import type { FetchedTotals, ImportContentResult, ImportContentTask, RemoteFetch } from './import-task.js';
import { Fetcher } from './fetcher.js';
import { importItem } from './import-content.js';

/** Content objects up to this size are fetched into memory; larger ones go to a file in staging. */
const IN_MEMORY_CONTENT = 8 << 20;

/**
 * Worker side of an HTTP pull: the thread fetches its batch of content objects itself, over its
 * own kept-alive connections, and checks and stores each as it arrives. Bodies never cross
 * threads, and the HTTP client's work is spread over the pool instead of queueing on the main
 * thread, which then only walks the metadata.
 */

/** One fetcher per source (RemoteFetch.id), kept across tasks so its connections are reused. */
const fetchers = new Map<string, { fetcher: Fetcher; lastUsed: number }>();
/** A fetcher unused this long closes its connections (the pull it served has ended). */
const IDLE_MS = 5_000;
let sweeper: NodeJS.Timeout | null = null;

function fetcherFor(remote: RemoteFetch): Fetcher {
  let e = fetchers.get(remote.id);
  if (!e) {
    e = { fetcher: new Fetcher(remote.url, remote.options), lastUsed: 0 };
    fetchers.set(remote.id, e);
    sweeper ??= setInterval(sweepIdle, IDLE_MS).unref();
  }
  e.lastUsed = Date.now();
  return e.fetcher;
}

function sweepIdle(): void {
  for (const [key, e] of fetchers) {
    if (Date.now() - e.lastUsed < IDLE_MS) continue;
    e.fetcher.close();
    fetchers.delete(key);
  }
}

export async function fetchContentBatch(task: ImportContentTask, remote: RemoteFetch, sha: Sha256Factory): Promise<ImportContentResult> {
  const ctx = task.ctx;
  const fetcher = fetcherFor(remote);
  const fetched: FetchedTotals = { objects: 0, bytes: 0, requests: 0, retries: 0 };
  const res: ImportContentResult = { written: [], bytes: 0, fetched };
  let next = 0;
  let failure: unknown = null;
  const lane = async (): Promise<void> => {
    while (failure === null && next < task.items.length && (task.cancelled === undefined || Atomics.load(task.cancelled, 0) === 0)) {
      const { checksum } = task.items[next++]!;
      if (isStored(ctx, checksum)) continue;
      const got = await fetcher.getSpilling(`objects/${objectRelPath(checksum, 'file', 'archive')}`, {
        what: `file object ${checksum}`, inMemory: IN_MEMORY_CONTENT, spillDir: ctx.stagingDir, tally: fetched, pipeline: true,
      });
      if (got === null) throw new GroveError('GROVE_MISSING_OBJECT', `file object ${checksum} is missing from ${ctx.origin}`);
      fetched.objects++;
      const r = await importItem(ctx, Buffer.isBuffer(got) ? { checksum, bytes: got } : { checksum, archivePath: got.path }, sha);
      if (r.written) {
        res.written.push(checksum);
        res.bytes += r.bytes;
      }
    }
  };
  // As many lanes as the fetcher allows in flight; it queues any excess from other tasks.
  const lanes = Math.min(task.items.length, fetcher.maxInFlight);
  // Every lane is waited for, even after one fails, so none still writes into staging.
  await Promise.all(Array.from({ length: lanes }, () => lane().catch((e: unknown) => { failure ??= e; })));
  // What was stored before the failure is reported with it, so the pull keeps it.
  if (failure !== null) throw new PartialFailure(failure, res);
  return res;
}
