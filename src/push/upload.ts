import type { Repo } from '../repo/repo.js';
import { fileChunks, type PushClient } from './client.js';
import { frameHeader, type ObjectName } from './protocol.js';
import { openWireObject, type WireObject } from './wire-object.js';
import type { PushProgress } from './push.js';

/**
 * A batch goes once it holds this many bytes or objects: large enough that the server's
 * per-request work (a transaction, its sync) is spread over many objects, small enough that a
 * push cut short loses little of what it sent and that the requests spread over the connections.
 */
const BATCH_BYTES = 4 << 20;
const BATCH_OBJECTS = 2000;
/** Objects read (and, from a bare repository, compressed) ahead of the batch being filled. */
const READ_AHEAD = 16;

interface Batch { names: ObjectName[]; parts: Array<{ head: Buffer; wire: WireObject }>; bytes: number }

/**
 * Sends `objects` to the server in `objects` requests, `parallel` in flight: everything but
 * commits first, then the commits and their detached metadata in a request of their own, so
 * that the server has all a commit reaches when it sees the commit. Returns how many were sent.
 */
export async function uploadObjects(repo: Repo, client: PushClient, objects: ObjectName[], opts: { parallel: number; onProgress?: (p: PushProgress) => void }): Promise<{ objects: number; bytes: number }> {
  const isCommit = (o: ObjectName) => o.type === 'commit' || o.type === 'commitmeta';
  const rank = (o: ObjectName) => (o.type === 'commit' ? 0 : 1);
  const progress: PushProgress = { objects: 0, objectsToSend: objects.length, bytesSent: 0, objectBytes: 0 };
  const commits = objects.filter(isCommit).sort((a, b) => rank(a) - rank(b));
  // An update small enough for one request sends its commits in it too (the server checks
  // them against what the request staged): one transaction, one sync, instead of two.
  const rest = await sendAll(repo, client, objects.filter((o) => !isCommit(o)), opts.parallel, progress, opts.onProgress, false, commits);
  await sendAll(repo, client, rest, 1, progress, opts.onProgress, true);
  return { objects: progress.objects, bytes: progress.objectBytes };
}

/**
 * Sends `objects`; `tail` (commits) joins the last batch when everything went in one, else it
 * is returned for the caller to send once these are all acknowledged.
 */
async function sendAll(
  repo: Repo, client: PushClient, objects: ObjectName[], parallel: number, progress: PushProgress, onProgress: ((p: PushProgress) => void) | undefined,
  oneBatch = false, tail: ObjectName[] = [],
): Promise<ObjectName[]> {
  if (objects.length === 0) return tail;
  let sentBatches = 0;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown = null;
  const send = (b: Batch): void => {
    sentBatches++;
    const p = sendBatch(client, b).then(() => {
      progress.objects += b.names.length;
      progress.objectBytes += b.parts.reduce((n, p) => n + p.wire.size, 0);
      progress.bytesSent = client.sent;
      onProgress?.({ ...progress });
    }, (e: unknown) => {
      failure ??= e;
    }).finally(() => {
      for (const part of b.parts) part.wire.release();
      inFlight.delete(p);
    });
    inFlight.add(p);
  };
  const ahead: Array<Promise<WireObject>> = [];
  let nextRead = 0;
  const readAhead = (): void => {
    while (ahead.length < READ_AHEAD && nextRead < objects.length) {
      const o = objects[nextRead++]!;
      const p = openWireObject(repo, o.checksum, o.type);
      p.catch(() => undefined); // awaited in order below; a rejection is not unhandled meanwhile
      ahead.push(p);
    }
  };
  let batch: Batch = { names: [], parts: [], bytes: 0 };
  try {
    for (let i = 0; i < objects.length && failure === null; i++) {
      readAhead();
      const wire = await ahead.shift()!;
      const o = objects[i]!;
      const head = frameHeader(o, wire.size);
      // A large object (sent from a file) goes in a request of its own.
      if (wire.file !== undefined && !oneBatch) {
        if (batch.names.length > 0) send(batch);
        batch = { names: [], parts: [], bytes: 0 };
        while (inFlight.size >= parallel) await Promise.race(inFlight);
        send({ names: [o], parts: [{ head, wire }], bytes: head.length + wire.size });
        continue;
      }
      batch.names.push(o);
      batch.parts.push({ head, wire });
      batch.bytes += head.length + wire.size;
      if (!oneBatch && (batch.bytes >= BATCH_BYTES || batch.names.length >= BATCH_OBJECTS)) {
        while (inFlight.size >= parallel) await Promise.race(inFlight);
        send(batch);
        batch = { names: [], parts: [], bytes: 0 };
      }
    }
    if (failure === null && batch.names.length > 0) {
      if (sentBatches === 0 && tail.length > 0) {
        for (const o of tail) {
          const wire = await openWireObject(repo, o.checksum, o.type);
          const head = frameHeader(o, wire.size);
          batch.names.push(o);
          batch.parts.push({ head, wire });
          batch.bytes += head.length + wire.size;
        }
        tail = [];
      }
      send(batch);
    }
  } finally {
    // Reads started ahead are released even when the push stopped early.
    for (const p of ahead) void p.then((w) => w.release(), () => undefined);
    await Promise.allSettled([...inFlight]);
  }
  if (failure !== null) throw failure;
  return tail;
}

function sendBatch(client: PushClient, b: Batch): Promise<Buffer> {
  const what = b.names.length === 1 ? `sending ${b.names[0]!.type} object ${b.names[0]!.checksum}` : `sending ${b.names.length} objects`;
  if (b.parts.every((p) => p.wire.bytes !== undefined)) {
    return client.request('POST', 'objects', Buffer.concat(b.parts.flatMap((p) => [p.head, p.wire.bytes!]), b.bytes), what);
  }
  const body = async function* (): AsyncGenerator<Buffer> {
    for (const p of b.parts) {
      yield p.head;
      if (p.wire.bytes !== undefined) yield p.wire.bytes;
      else yield* fileChunks(p.wire.file!);
    }
  };
  return client.request('POST', 'objects', body, what, 'application/octet-stream', b.bytes);
}
