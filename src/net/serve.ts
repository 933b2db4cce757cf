import fsSync, { constants as fsc, type BigIntStats } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GroveError, isErrno } from '../errors.js';
import { Repo } from '../repo/repo.js';
import { cacheControl, classify, contentType, parseTarget, type ServedKind } from './serve-path.js';

export interface ServeOptions {
  /** Address to listen on (default `127.0.0.1`); a host name is resolved once. */
  address?: string;
  /** TCP port (default 0: any free port; the result says which). */
  port?: number;
  /** Called with one line per finished request: client, method, target, status, bytes, time. */
  log?: (line: string) => void;
  /** Accept pushes from the builders these options name (`grove serve --receive`); see push/receive.ts. */
  receive?: import('../push/receive.js').ReceiveOptions;
}

export interface RepoServer {
  /** `http://ADDRESS:PORT/`, the URL to give `ostree remote add`. */
  readonly url: string;
  readonly address: string;
  readonly port: number;
  /** The repository's real path: what is served. */
  readonly root: string;
  /** The node:http server underneath, for callers that want its events. */
  readonly server: http.Server;
  /**
   * Stops listening, closes idle connections, lets responses in flight finish for up to
   * `graceMs` (default 2000) and then cuts what is left. Resolves when every connection is gone.
   */
  close(opts?: { graceMs?: number }): Promise<void>;
}

/**
 * Idle time a keep-alive connection is kept open. A CDN or load balancer in front reuses idle
 * connections for up to 60 s (AWS ALB's default, CloudFront's maximum); the origin must wait
 * longer than its proxy, or the proxy sends a request on a connection the origin is closing and
 * answers the client 502. Node's default is 5 s.
 */
const KEEP_ALIVE_MS = 65_000;
/**
 * Time a client has to send a request's headers, bounded against slow-header attacks. Kept above
 * the keep-alive timeout: older Node versions counted the idle time between keep-alive requests
 * against it, and cut idle connections before the keep-alive timeout was up.
 */
const HEADERS_MS = KEEP_ALIVE_MS + 1_000;

const ALLOW = 'GET, HEAD';

/**
 * Serves the ostree repository at `repoPath` over HTTP/1.1 as static files, for `ostree pull`
 * and for a CDN in front: GET and HEAD of the files a pull fetches (see `classify` in
 * serve-path.ts), with keep-alive, ETag/Last-Modified revalidation and single byte ranges.
 * Files are streamed, never read whole. Nothing outside the repository is ever served: targets
 * are decoded strictly, and every file's real path (symlinks resolved, then confirmed on the
 * open descriptor) must lie inside the repository and be one the allowlist admits.
 *
 * Throws a GroveError when the repository cannot be opened or the address cannot be listened on.
 */
export async function serveRepo(repoPath: string, opts: ServeOptions = {}): Promise<RepoServer> {
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new GroveError('GROVE_BAD_OPTION', `port: '${port}' is not a TCP port (0 to 65535)`);
  }
  const address = opts.address ?? '127.0.0.1';
  if (address === '') throw new GroveError('GROVE_BAD_OPTION', 'address: empty');
  const repo = await Repo.open(repoPath);
  const root = fsSync.realpathSync(repo.path);
  const log = opts.log;
  const receiver = opts.receive ? (await import('../push/receive.js')).createReceiver(repo, opts.receive) : null;

  let closing = false;
  const server = http.createServer({ noDelay: true }, (req, res) => {
    const started = process.hrtime.bigint();
    const sent = { bytes: 0 };
    if (closing) res.setHeader('Connection', 'close');
    res.on('close', () => {
      if (closing) setImmediate(() => server.closeIdleConnections());
      if (!log) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const status = res.writableEnded ? String(res.statusCode) : `${res.statusCode}-aborted`;
      log(`${req.socket.remoteAddress ?? '-'} ${req.method} ${printable(req.url ?? '')} ${status} ${sent.bytes} ${ms.toFixed(1)}ms`);
    });
    if (receiver?.handle(req, res)) return;
    respond(root, req, res, sent).catch(() => {
      // Unexpected (EIO, EMFILE…): the client gets a 500 if nothing was sent yet, else a cut
      // connection, which tells it the body is incomplete. The server itself carries on.
      if (!res.headersSent) sendStatus(res, 500);
      else res.destroy();
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = HEADERS_MS;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((e: unknown) => {
    throw listenError(e, address, port);
  });
  // After listening, errors are accept(2) failures (EMFILE) that libuv retries; they must not
  // take the process down.
  server.on('error', () => {});

  const bound = server.address() as net.AddressInfo;
  const host = net.isIPv6(bound.address) ? `[${bound.address}]` : bound.address;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${bound.port}/`,
    address: bound.address,
    port: bound.port,
    root,
    server,
    close({ graceMs = 2000 } = {}) {
      closed ??= new Promise<void>((resolve) => {
        closing = true;
        const cut = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(cut);
          void (receiver?.close() ?? Promise.resolve()).finally(resolve);
        });
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}

function listenError(e: unknown, address: string, port: number): unknown {
  const where = `${net.isIPv6(address) ? `[${address}]` : address}:${port}`;
  if (isErrno(e, 'EADDRINUSE')) {
    return new GroveError('GROVE_LISTEN', `cannot listen on ${where}: address already in use`, { hint: 'choose another --port, or --port=0 for any free one', cause: e });
  }
  if (isErrno(e, 'EACCES')) {
    return new GroveError('GROVE_LISTEN', `cannot listen on ${where}: permission denied`, { hint: 'ports below 1024 need privileges', cause: e });
  }
  if (isErrno(e, 'EADDRNOTAVAIL')) {
    return new GroveError('GROVE_LISTEN', `cannot listen on ${where}: no such address on this machine`, { cause: e });
  }
  if (isErrno(e, 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME')) {
    return new GroveError('GROVE_LISTEN', `cannot listen on ${where}: cannot resolve '${address}'`, { cause: e });
  }
  if (isErrno(e)) return new GroveError('GROVE_LISTEN', `cannot listen on ${where}: ${(e as Error).message}`, { cause: e });
  return e;
}

async function respond(root: string, req: http.IncomingMessage, res: http.ServerResponse, sent: { bytes: number }): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', ALLOW);
    return sendStatus(res, 405);
  }
  const target = parseTarget(req.url ?? '');
  if (!target.ok) return sendStatus(res, target.status);
  const file = openServed(root, target.segments);
  if (file === null) return sendStatus(res, 404);
  const { fd, st } = file;
  let streaming = false;
  try {
    streaming = sendFile(req, res, fd, st, target.kind, sent);
  } finally {
    if (!streaming) fsSync.closeSync(fd);
  }
}

/**
 * Opens the file `segments` names, or returns null (404) when it is missing, not a regular file,
 * or really lies outside the repository or outside what is served: symlinks are resolved and
 * the real path checked against the same allowlist. On Linux the descriptor's own path is
 * checked again after opening, so a directory swapped for a symlink in between gains nothing.
 */
function openServed(root: string, segments: string[]): { fd: number; st: BigIntStats } | null {
  // Synchronous calls: each takes microseconds on a cached file, while an async one costs a trip
  // through libuv's thread pool — five of them per request made the server, not the client,
  // the limit of a pull over loopback.
  let real: string;
  try {
    // The native realpath(3): Node's own resolves in JavaScript with an lstat call per path
    // component, and was a fifth of the server's time per request.
    real = fsSync.realpathSync.native(path.join(root, ...segments));
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR', 'ELOOP', 'EACCES', 'ENAMETOOLONG')) return null;
    throw e;
  }
  if (!servable(root, real)) return null;
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO planted in the repository must not hang the request.
    fd = fsSync.openSync(real, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR', 'ELOOP', 'EACCES', 'ENXIO', 'EISDIR')) return null;
    throw e;
  }
  try {
    let opened = real;
    try {
      opened = fsSync.readlinkSync(`/proc/self/fd/${fd}`);
    } catch { /* no /proc: the realpath check stands */ }
    const st = fsSync.fstatSync(fd, { bigint: true });
    if (opened === real && st.isFile()) return { fd, st };
  } catch (e) {
    fsSync.closeSync(fd);
    throw e;
  }
  fsSync.closeSync(fd);
  return null;
}

function servable(root: string, real: string): boolean {
  const rel = path.relative(root, real);
  if (rel === '' || path.isAbsolute(rel)) return false;
  const segments = rel.split(path.sep);
  return segments[0] !== '..' && classify(segments) !== null;
}

/** Bodies up to this size are read in one synchronous call and sent with the headers. */
const WHOLE_BODY = 256 << 10;

/** Sends headers and, for GET, the body; returns true when a stream now owns (and closes) `fd`. */
function sendFile(
  req: http.IncomingMessage, res: http.ServerResponse, fd: number, st: BigIntStats, kind: ServedKind, sent: { bytes: number },
): boolean {
  const size = Number(st.size);
  // Size and nanosecond mtime: refs and the summary are replaced by rename, which changes both
  // in practice. No inode, so mirrors of one repository (rsync -t) agree on validators.
  const etag = `"${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`;
  const mtimeSecs = Math.floor(Number(st.mtimeMs) / 1000);
  res.setHeader('ETag', etag);
  res.setHeader('Last-Modified', new Date(mtimeSecs * 1000).toUTCString());
  res.setHeader('Cache-Control', cacheControl(kind));
  res.setHeader('Accept-Ranges', 'bytes');
  if (notModified(req, etag, mtimeSecs)) {
    res.statusCode = 304;
    res.end();
    return false;
  }
  res.setHeader('Content-Type', contentType(kind));
  let start = 0;
  let end = size - 1;
  const range = rangeApplies(req, etag, mtimeSecs) ? parseRange(req.headers.range!, size) : null;
  if (range === 'unsatisfiable') {
    res.statusCode = 416;
    res.setHeader('Content-Range', `bytes */${size}`);
    res.setHeader('Content-Length', 0);
    res.end();
    return false;
  }
  if (range) {
    ({ start, end } = range);
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  } else {
    res.statusCode = 200;
  }
  const length = end - start + 1;
  res.setHeader('Content-Length', length);
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return false;
  }
  if (length <= WHOLE_BODY) {
    const body = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = fsSync.readSync(fd, body, got, length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    if (got !== length) {
      // The file shrank since fstat: cut the connection rather than send a short body.
      res.destroy();
      return false;
    }
    sent.bytes += length;
    res.end(body);
    return false;
  }
  const src = fsSync.createReadStream('', { fd, start, end, autoClose: true });
  // A file truncated under us ends early: the response must then be cut, not ended short,
  // or the client would read the next response on this connection as the rest of this body.
  const exactly = async function* (chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const c of chunks) {
      sent.bytes += c.length;
      yield c;
    }
    if (sent.bytes !== length) throw new Error(`file changed size while being sent (${sent.bytes} of ${length} bytes)`);
  };
  pipeline(src, exactly, res).catch(() => {
    // The client went away or the file shrank; pipeline has destroyed both ends already.
  });
  return true;
}

/** RFC 9110 §13.1.2 and §13.1.3: If-None-Match wins over If-Modified-Since. */
function notModified(req: http.IncomingMessage, etag: string, mtimeSecs: number): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    return inm.split(',').some((t) => {
      const tag = t.trim();
      return tag === '*' || tag.replace(/^W\//, '') === etag;
    });
  }
  const ims = req.headers['if-modified-since'];
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  return !Number.isNaN(since) && mtimeSecs * 1000 <= since;
}

/** A Range header counts unless If-Range names another version (strong ETag or exact date). */
function rangeApplies(req: http.IncomingMessage, etag: string, mtimeSecs: number): boolean {
  if (req.headers.range === undefined) return false;
  const ifRange = req.headers['if-range'];
  if (ifRange === undefined) return true;
  if (typeof ifRange !== 'string') return false;
  if (ifRange.startsWith('"') || ifRange.startsWith('W/')) return ifRange === etag;
  return Date.parse(ifRange) === mtimeSecs * 1000;
}

/**
 * One byte range of a `size`-byte file: `bytes=A-B`, `bytes=A-`, `bytes=-N`. Returns null (send
 * the whole file) for anything else, including several ranges, which RFC 9110 allows a server
 * to answer so; 'unsatisfiable' when the range starts past the end (or asks for no bytes).
 */
export function parseRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (last < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last, size - 1) };
}

function sendStatus(res: http.ServerResponse, status: number): void {
  const body = `${status} ${http.STATUS_CODES[status] ?? ''}\n`;
  res.statusCode = status;
  // A miss now may be a hit after the next commit; no cache should remember it.
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

/** A request target as it can be printed on one line: controls, spaces and non-ASCII escaped. */
function printable(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
