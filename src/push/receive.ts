import http from 'node:http';
import { GroveError } from '../errors.js';
import { WorkerPool } from '../pool/pool.js';
import { RepoLock } from '../repo/lock.js';
import type { Repo } from '../repo/repo.js';
import { listRefs } from '../repo/refs.js';
import type { SignWith } from '../sign/signatures.js';
import { objectExists } from '../store/paths.js';
import { MAX_QUERY_NAMES, MAX_REFS_BODY, objectName, parseObjectName, RECEIVE_PATH } from './protocol.js';
import { receiveObjects } from './receive-objects.js';
import { parseRefRequest, receiveRefs } from './receive-refs.js';
import type { TokenTable } from './tokens.js';
import { publishSummary } from '../net/publish-summary.js';

export interface ReceiveOptions {
  /** Who may push, and which refs each may move. */
  tokens: TokenTable;
  /** Keys the summary is signed with after refs move. */
  sign?: SignWith;
  /**
   * Milliseconds a push request may go without sending a byte before its connection is cut
   * (default 30 s): a builder that stalls, or a client that holds a connection open on purpose,
   * frees its share of the server.
   */
  idleMs?: number;
  /** `objects` requests handled at once (default 8); more are answered 503 and retried by the client. */
  maxUploads?: number;
  /** ostree's `--disable-fsync`, for tests: objects and refs are published in the same order, unsynced. */
  fsync?: boolean;
  /**
   * After a ref moves from one commit to another, generate the static delta between them (as
   * `static-delta generate --from=OLD --to=NEW`) and list it in a new summary, so devices that
   * pull the update fetch one or a few files. Runs after the push is answered.
   */
  deltas?: boolean;
  /** Hears what goes wrong after a push was answered (a delta that could not be made). */
  log?: (line: string) => void;
}

export interface Receiver {
  /** Answers `req` when it is a push request (true), else leaves it to the file server (false). */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  close(): Promise<void>;
}

/** What a refusal's status is, by the error's code. */
const STATUS: Record<string, number> = {
  GROVE_BAD_REQUEST: 400, GROVE_CORRUPT_OBJECT: 400, GROVE_BAD_MODE: 400, GROVE_INCOMPLETE: 409, GROVE_CONFLICT: 409,
  GROVE_FORBIDDEN: 403, GROVE_TOO_LARGE: 413, GROVE_NO_SPACE: 507, GROVE_LOCKED: 503,
};

/**
 * The receiving side of `grove push` (see protocol.ts for the requests), inside `grove serve`:
 * every request must present a token of `opts.tokens`; uploads are checked as pulled objects
 * are and published durably before they are acknowledged; ref moves are compare-and-swap,
 * one request at a time, and followed by a new summary.
 */
export function createReceiver(repo: Repo, opts: ReceiveOptions): Receiver {
  const pool = new WorkerPool();
  // Warm before the first push: threads take a quarter of a second to start, and the lock's
  // helper process some milliseconds, which a small update would otherwise wait for.
  pool.start();
  RepoLock.keepReady(repo);
  const idleMs = opts.idleMs ?? 30_000;
  const maxUploads = opts.maxUploads ?? 8;
  const fsync = opts.fsync !== false;
  let uploads = 0;
  const timed = new WeakSet<import('node:net').Socket>();
  /** Ref moves and the summary they lead to, one request at a time. */
  let refLock: Promise<unknown> = Promise.resolve();

  const answer = async (req: http.IncomingMessage, res: http.ServerResponse, route: string): Promise<void> => {
    const grant = opts.tokens.lookup(req.headers.authorization);
    if (grant === null) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="grove receive"');
      // The body is not read: a client without a valid token gets nothing of the server's time.
      return refuse(res, 401, req.headers.authorization === undefined ? 'push refused: no token (Authorization: Bearer TOKEN)' : 'push refused: invalid token', true);
    }
    const method = req.method ?? '';
    if (route === 'refs' && method === 'GET') {
      const refs = Object.fromEntries(await listRefs(repo.path, { remotes: false }));
      // The token's own prefixes, so a builder learns before it uploads anything that a ref is not its to move.
      return json(res, { refs, prefixes: grant.prefixes, line: grant.line });
    }
    const known = ['missing', 'objects', 'refs'].includes(route);
    if (method !== 'POST' || !known) {
      res.setHeader('Allow', route === 'refs' ? 'GET, POST' : 'POST');
      return refuse(res, known ? 405 : 404, `no such push request: ${method} ${route}`, true);
    }
    if (route === 'missing') {
      const names = (await readBody(req, MAX_QUERY_NAMES * 80, 'missing-object query')).toString('latin1').split('\n').filter((l) => l !== '');
      if (names.length > MAX_QUERY_NAMES) throw new GroveError('GROVE_BAD_REQUEST', `missing-object query names more than ${MAX_QUERY_NAMES} objects`);
      const lacking: string[] = [];
      for (const n of names) {
        const o = parseObjectName(n);
        if (o === null) throw new GroveError('GROVE_BAD_REQUEST', `missing-object query: '${n.slice(0, 100)}' is not CHECKSUM.TYPE`);
        if (!objectExists(repo.objectsDir, o.checksum, o.type, repo.mode)) lacking.push(objectName(o));
      }
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(lacking.length === 0 ? '' : `${lacking.join('\n')}\n`);
      return;
    }
    if (route === 'objects') {
      if (uploads >= maxUploads) {
        res.setHeader('Retry-After', '1');
        return refuse(res, 503, `push refused for now: ${uploads} uploads in progress`, true);
      }
      uploads++;
      try {
        const r = await receiveObjects({ repo, pool, fsync }, req, `pusher ${req.socket.remoteAddress ?? '-'} (token of line ${grant.line})`);
        return json(res, r);
      } finally {
        uploads--;
      }
    }
    const body = parseRefRequest((await readBody(req, MAX_REFS_BODY, 'ref update')).toString('utf8'));
    const run = refLock.then(() => receiveRefs(repo, grant, body, opts.sign));
    refLock = run.catch(() => undefined);
    const results = await run;
    if (opts.deltas) {
      const moved = results.filter((r) => r.status === 'moved' && r.server !== null).map((r) => ({ from: r.server!, to: r.to }));
      // Behind the ref lock, so that no summary written meanwhile is overwritten by an older one.
      if (moved.length > 0) refLock = refLock.then(() => makeDeltas(repo, moved, opts));
    }
    return json(res, { results });
  };

  return {
    handle(req, res) {
      const url = req.url ?? '';
      const at = url.indexOf(`/${RECEIVE_PATH}`);
      if (at !== 0) return false;
      const route = url.slice(RECEIVE_PATH.length + 1).split('?')[0]!;
      // A stalled pusher is cut: no data for idleMs ends the request (and frees its upload slot).
      // One listener per connection, however many requests it carries.
      const sock = req.socket;
      if (!timed.has(sock)) {
        timed.add(sock);
        sock.on('timeout', () => sock.destroy());
      }
      sock.setTimeout(idleMs);
      res.on('finish', () => sock.setTimeout(0));
      answer(req, res, route).catch((e: unknown) => {
        if (res.headersSent) return res.destroy();
        if (e instanceof GroveError) return refuse(res, STATUS[e.code] ?? 400, e.message, true);
        refuse(res, 500, `push failed on the server: ${(e as Error)?.message ?? String(e)}`, true);
      });
      return true;
    },
    close: () => pool.close(),
  };
}

/**
 * Static deltas from each moved ref's old commit to its new one, then the summary again. A delta
 * that cannot be made (the old commit was pruned, say) is logged and skipped: the push it
 * follows has succeeded.
 */
async function makeDeltas(repo: Repo, moves: Array<{ from: string; to: string }>, opts: ReceiveOptions): Promise<void> {
  const { generateDelta } = await import('../delta/generate.js');
  let made = 0;
  for (const m of moves) {
    try {
      if (!(await repo.hasObject(m.from, 'commit'))) continue;
      await generateDelta(repo, m);
      made++;
    } catch (e) {
      opts.log?.(`static delta ${m.from}-${m.to} not generated: ${(e as Error).message}`);
    }
  }
  if (made > 0) {
    await publishSummary(repo, { ...(opts.sign && { sign: opts.sign }) }).catch((e: unknown) => opts.log?.(`summary not written after deltas: ${(e as Error).message}`));
  }
}

async function readBody(req: http.IncomingMessage, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) throw new GroveError('GROVE_TOO_LARGE', `${what} is larger than ${max} bytes`);
    parts.push(c);
  }
  return Buffer.concat(parts, n);
}

function json(res: http.ServerResponse, value: unknown): void {
  const body = Buffer.from(`${JSON.stringify(value)}\n`);
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

/**
 * One line of text with `status`. `close`: the request body may be unread, so the connection
 * is not reused (Node would otherwise read and discard the rest of an upload first).
 */
function refuse(res: http.ServerResponse, status: number, message: string, close: boolean): void {
  const body = Buffer.from(`${message.split('\n')[0]}\n`);
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', body.length);
  if (close) res.setHeader('Connection', 'close');
  res.end(body);
}
