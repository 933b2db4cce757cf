import net from 'node:net';
import tls from 'node:tls';
import { LowSpeedGuard, type LowSpeedLimit, type SpeedWatched } from './low-speed.js';
import { HttpParseError, ResponseParser, type ResponseHead } from './response-parser.js';

/**
 * A small HTTP/1.1 client for GETs of static files from one origin, over a pool of kept-alive
 * connections. A pull makes thousands of small requests, and what each costs on the client's
 * own thread is what bounds it: fetching the 6.2k objects of the minbase tree from nginx over
 * loopback, 32 in flight, took undici about 2.0 s of CPU (1.2 s wall) and this client 1.0-1.2 s
 * (0.75-0.86 s wall); undici also took 0.3 s to load in each worker thread.
 *
 * With `pipeline` above 1, a connection carries that many requests at once (HTTP/1.1
 * pipelining: GETs only, answered in order), and the request heads issued in one turn of the
 * event loop go out in one write. One write per request was the largest single cost of a pull
 * (a loopback write runs the receiver's TCP stack too: 160-330 ms of each worker's 1.7 s). A
 * connection pipelines only after its first response came back HTTP/1.1 and kept alive; a
 * request still queued when the server closes (as servers do every N requests) was never
 * answered and goes again on a new connection.
 */

export interface TlsOptions {
  /** PEM certificates to trust instead of the system's. */
  ca?: string | Buffer;
  /** Client certificate and key (PEM). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** False: accept any certificate (ostree's tls-permissive). */
  rejectUnauthorized?: boolean;
}

export interface ClientOptions {
  /** Connections at most; requests beyond wait for one. */
  connections: number;
  /** Requests in flight on one connection at most (1, the default: no pipelining). */
  pipeline?: number;
  /** A request fails when no byte arrives for this long. */
  idleTimeoutMs: number;
  /** An unused connection is closed after this long. */
  keepAliveMs?: number;
  /** A request fails when it stays slower than this (see LowSpeedGuard). */
  lowSpeed?: LowSpeedLimit;
  /** The `Authorization` header of every request (`Basic …` from the URL's user info). */
  authorization?: string;
  /** More headers for every request (`pull --http-header`), in order. */
  extraHeaders?: Array<[string, string]>;
  tls?: TlsOptions;
}

/** Receives one response: its head, then the body in pieces. Either may throw to abort the request. */
export interface ResponseSink {
  head(head: ResponseHead): void;
  body(chunk: Buffer): void;
}

/** A failed request; `transient` when trying again may well succeed (a reset, a time-out, a broken response). */
export class HttpError extends Error {
  constructor(message: string, readonly transient: boolean) {
    super(message);
  }
}

/** Certificate failures: the same certificate will fail again. */
const TLS_FATAL = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH/;

export class HttpClient {
  /** Open connections, in the order they were made. */
  private readonly conns: Connection[] = [];
  /** Callers waiting for a connection; `pipelinable` ones may join one that carries others. */
  private readonly waiting: Array<{ pipelinable: boolean; take: (c: Connection | null) => void }> = [];
  private closed = false;
  private readonly host: string;
  private readonly port: number;
  private readonly headers: string;
  private readonly lowSpeed: LowSpeedGuard | null;
  /** Requests a connection may carry at once; falls to 1 for good once pipelining failed (see distrust). */
  private depth: number;

  constructor(private readonly origin: URL, private readonly opts: ClientOptions) {
    if (origin.protocol !== 'http:' && origin.protocol !== 'https:') throw new Error(`unsupported scheme ${origin.protocol}`);
    this.host = origin.hostname.startsWith('[') ? origin.hostname.slice(1, -1) : origin.hostname;
    this.port = origin.port !== '' ? Number(origin.port) : origin.protocol === 'https:' ? 443 : 80;
    // `host` never holds user info; an Authorization value with a line break would add headers.
    if (opts.authorization !== undefined && /[\r\n]/.test(opts.authorization)) throw new Error('bad Authorization header');
    // Names are tokens and values hold no line breaks: a header cannot smuggle in another.
    for (const [n, v] of opts.extraHeaders ?? []) if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(n) || /[\r\n\0]/.test(v)) throw new Error(`bad HTTP header '${n}'`);
    const extra = (opts.extraHeaders ?? []).map(([n, v]) => `${n}: ${v}\r\n`).join('');
    this.headers = `Host: ${origin.host}\r\n${opts.authorization !== undefined ? `Authorization: ${opts.authorization}\r\n` : ''}User-Agent: grove\r\nAccept: */*\r\n${extra}`;
    this.lowSpeed = LowSpeedGuard.create(opts.lowSpeed);
    this.depth = Math.max(1, Math.floor(opts.pipeline ?? 1));
  }

  /**
   * GETs `target` (an absolute path, already percent-encoded), handing the response to `sink`;
   * resolves when the body is complete. Rejects with an HttpError, or with what `sink` threw.
   * `cookie` is this request's Cookie header (they differ by path), when it has one.
   */
  async get(target: string, sink: ResponseSink, opts: { cookie?: string | null; pipeline?: boolean } = {}): Promise<void> {
    if (!/^\/[\x21-\x7e]*$/.test(target)) throw new Error(`bad request target '${target}'`);
    if (opts.cookie != null && /[\r\n\0]/.test(opts.cookie)) throw new Error('bad Cookie header');
    const request = `GET ${target} HTTP/1.1\r\n${this.headers}${opts.cookie != null ? `Cookie: ${opts.cookie}\r\n` : ''}\r\n`;
    const conn = await this.acquire(false, opts.pipeline === true);
    try {
      await conn.exchange(request, sink);
    } catch (e) {
      // A request that got no byte of an answer never reached the server, or the server let it
      // go unanswered (a kept-alive connection it closed, a pipelined request behind the last
      // one it served): it goes again, once, on a new connection.
      if (!(e instanceof StaleConnection)) throw e;
      const fresh = await this.acquire(true);
      await fresh.exchange(request, sink).catch((e2: unknown) => {
        throw e2 instanceof StaleConnection ? new HttpError(e2.message, true) : e2;
      });
    }
  }

  /** Closes every connection; requests in flight fail. */
  close(): void {
    this.closed = true;
    this.lowSpeed?.close();
    for (const c of this.conns.splice(0)) c.destroy();
    for (const w of this.waiting.splice(0)) w.take(null);
  }

  /**
   * A connection for one more request: an idle one, else a new one while fewer than
   * `connections` are open, else (for a `pipelinable` request) the least loaded one that may
   * take another pipelined request, else the next that frees up. Only requests whose answer is
   * checked against the checksum it was asked by (objects) are pipelinable: were a broken proxy
   * to drop a pipelined request and answer the next, the answers behind it would be taken for
   * the wrong requests, and a ref file or a summary has nothing to tell. A request sent on an
   * idle connection gets the next answer on it, whatever came before.
   */
  private async acquire(fresh = false, pipelinable = false): Promise<Connection> {
    if (this.closed) throw new HttpError('client closed', false);
    if (fresh) return this.connect();
    let best: Connection | null = null;
    for (const c of this.conns) {
      if (!c.usable) continue;
      if (c.load === 0) return c.reserve();
      if (pipelinable && c.load < c.depth(this.depth) && (best === null || c.load < best.load)) best = c;
    }
    if (this.conns.length < this.opts.connections) return this.connect();
    if (best !== null) return best.reserve();
    // freed() and gone() reserve the connection they hand over.
    const c = await new Promise<Connection | null>((take) => this.waiting.push({ pipelinable, take }));
    if (c === null) throw new HttpError('client closed', false);
    return c;
  }

  private connect(): Connection {
    const socket = this.origin.protocol === 'https:'
      ? tls.connect({ host: this.host, port: this.port, servername: net.isIP(this.host) ? undefined : this.host, ...this.opts.tls })
      : net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    const c = new Connection(socket, this.opts, this.lowSpeed, {
      freed: (conn) => this.freed(conn),
      gone: (conn) => this.gone(conn),
      distrust: () => { this.depth = 1; },
    });
    this.conns.push(c);
    return c.reserve();
  }

  /**
   * A request on `c` ended: waiters get what `c` can take now (a connection that has just shown
   * it can pipeline takes several); with nothing left on it and nobody waiting, it idles.
   */
  private freed(c: Connection): void {
    if (this.closed) return;
    for (let i = 0; i < this.waiting.length && c.load < c.depth(this.depth);) {
      const w = this.waiting[i]!;
      if (!w.pipelinable && c.load > 0) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      w.take(c.reserve());
    }
    if (c.load === 0) c.parkIdle();
  }

  /** `c` closed: a waiter gets a new connection in its place. */
  private gone(c: Connection): void {
    const i = this.conns.indexOf(c);
    if (i >= 0) this.conns.splice(i, 1);
    const w = this.waiting.shift();
    if (w) w.take(this.closed ? null : this.connect());
  }
}

/** Raised for a reused connection that failed before the response began. */
class StaleConnection extends Error {}

interface Exchange {
  parser: ResponseParser;
  /** Its response's status line said HTTP/1.1. */
  http11: boolean;
  resolve: () => void;
  reject: (e: unknown) => void;
  reusable: boolean;
}

/** One socket, carrying its requests in order: one at a time, or pipelined (see HttpClient). */
class Connection implements SpeedWatched {
  private answered = 0;
  private reserved = 0;
  /** Requests sent or about to be, the first being answered now. */
  private readonly queue: Exchange[] = [];
  /** Request heads waiting for this turn's write. */
  private outgoing = '';
  private flushScheduled = false;
  /** False once the socket failed or closed, or a response said no more requests. */
  usable = true;
  /** True once a response proved the server keeps HTTP/1.1 connections alive. */
  private pipelines = false;
  private error: Error | null = null;
  // The low-speed guard's counters for the requests in flight (see SpeedWatched).
  speedBytes = 0;
  speedSince = 0;
  slowSince = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly opts: ClientOptions,
    private readonly lowSpeed: LowSpeedGuard | null,
    /**
     * `distrust`: a connection failed with pipelined requests in flight. A server or proxy that
     * drops pipelined requests would otherwise let each wait for the idle time-out again on
     * every new connection; this client then sends one request at a time on each.
     */
    private readonly pool: { freed(c: Connection): void; gone(c: Connection): void; distrust(): void },
  ) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => { this.error ??= e; });
    socket.on('close', () => this.onClose());
    socket.on('timeout', () => {
      if (this.queue.length > 0) this.fail(new HttpError(`no data for ${Math.round(this.opts.idleTimeoutMs / 1000)} s`, true));
      else socket.destroy();
    });
  }

  /** Requests in flight, and promised to callers about to send them. */
  get load(): number {
    return this.queue.length + this.reserved;
  }

  /** Promises the connection to a caller that will call {@link exchange} next. */
  reserve(): this {
    this.reserved++;
    return this;
  }

  /** How many requests this connection may carry at once: `max` once it is known to pipeline safely. */
  depth(max: number): number {
    return this.pipelines ? max : 1;
  }

  exchange(request: string, sink: ResponseSink): Promise<void> {
    if (this.reserved > 0) this.reserved--;
    if (!this.usable || this.socket.destroyed) return Promise.reject(new StaleConnection('connection closed'));
    const reused = this.answered > 0 || this.queue.length > 0;
    if (this.queue.length === 0) {
      this.socket.ref();
      this.socket.setTimeout(this.opts.idleTimeoutMs);
      this.lowSpeed?.watch(this);
    }
    return new Promise<void>((resolve, reject) => {
      const x: Exchange = {
        parser: null as unknown as ResponseParser,
        http11: false,
        resolve,
        // A request that got no byte of its answer on a connection that had carried others
        // may go again (see HttpClient.get).
        reject: (e: unknown) => reject(reused && !x.parser.started && e instanceof HttpError && e.transient ? new StaleConnection(e.message) : e),
        reusable: false,
      };
      x.parser = new ResponseParser({
        head: (h) => {
          x.http11 = h.version === '1.1';
          sink.head(h);
        },
        body: (c) => sink.body(c),
        end: (keepAlive) => { x.reusable = keepAlive; },
      });
      this.queue.push(x);
      this.outgoing += request;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // The heads issued in this turn of the event loop (the lanes that a burst of responses
        // freed) go out in one write.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing === '' || this.socket.destroyed) return;
    const out = this.outgoing;
    this.outgoing = '';
    this.socket.write(out, 'latin1');
  }

  /** Waits unused: closed after keepAliveMs, and it no longer keeps the process alive. */
  parkIdle(): void {
    this.socket.setTimeout(this.opts.keepAliveMs ?? 30_000);
    this.socket.unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.lowSpeed?.add(this, d.length);
    let buf = d;
    while (buf.length > 0) {
      const x = this.queue[0];
      if (x === undefined) {
        // Bytes nobody asked for: the connection cannot be trusted for another request.
        this.shut();
        return;
      }
      try {
        buf = x.parser.feed(buf);
      } catch (e) {
        return this.fail(e instanceof HttpParseError ? new HttpError(`bad response: ${e.message}`, true) : e);
      }
      if (!x.parser.finished) return;
      this.complete(x);
      if (!this.usable) return;
    }
  }

  /** The first request's response is complete. */
  private complete(x: Exchange): void {
    this.queue.shift();
    this.answered++;
    if (x.reusable && x.http11) this.pipelines = true;
    if (!x.reusable) this.retire();
    else if (this.queue.length === 0) this.idle();
    x.resolve();
    if (this.usable) this.pool.freed(this);
  }

  /** Nothing in flight: no timeout, no watch. */
  private idle(): void {
    this.lowSpeed?.unwatch(this);
    this.socket.setTimeout(0);
  }

  /**
   * The server said this connection carries no more: the requests queued behind go again
   * elsewhere (they were never answered), and the socket closes.
   */
  private retire(): void {
    for (const r of this.shut()) r.reject(new StaleConnection('the server closed the connection before answering'));
  }

  /** Takes the connection out of use and closes it; returns the requests that were in flight. */
  private shut(): Exchange[] {
    this.usable = false;
    this.idle();
    const inFlight = this.queue.splice(0);
    this.socket.destroy();
    return inFlight;
  }

  private onClose(): void {
    this.usable = false;
    const x = this.queue[0];
    if (x !== undefined) {
      try {
        x.parser.eof();
        // A body that ends with the connection; whatever was queued behind it goes again.
        this.complete(x);
      } catch (e) {
        const cause = this.error ? describe(this.error) : (e as Error).message;
        this.fail(this.error && isFatal(this.error) ? new HttpError(cause, false) : new HttpError(cause, true));
      }
    }
    this.pool.gone(this);
  }

  /** The low-speed guard found this connection's requests too slow. */
  tooSlow(message: string): void {
    if (this.queue.length > 0) this.fail(new HttpError(message, true));
  }

  /** The first request fails with `e`; those behind it never got an answer and go again elsewhere. */
  private fail(e: unknown): void {
    const [first, ...rest] = this.shut();
    if (rest.length > 0) this.pool.distrust();
    first?.reject(e);
    for (const r of rest) r.reject(new StaleConnection(e instanceof Error ? e.message : String(e)));
  }
}

function isFatal(e: Error): boolean {
  return TLS_FATAL.test((e as NodeJS.ErrnoException).code ?? '');
}

function describe(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  // OpenSSL's messages carry a library trace over several lines; its `reason` is the part a
  // person needs ("tlsv13 alert certificate required").
  const reason = (e as { reason?: unknown }).reason;
  const text = (typeof reason === 'string' ? reason : e.message).split('\n')[0]!.trim();
  if (code !== undefined && TLS_FATAL.test(code)) return `TLS: ${text} (${code})`;
  return code ?? text;
}
