import net from 'node:net';
import tls from 'node:tls';
import { LowSpeedGuard, type LowSpeedLimit, type SpeedWatched } from './low-speed.js';
import { HttpParseError, ResponseParser, type ResponseHead } from './response-parser.js';

/**
 * A small HTTP/1.1 client for GETs of static files from one origin, over a pool of kept-alive
 * connections, one request at a time on each. A pull makes thousands of small requests, and
 * what each costs on the client's own thread is what bounds it: fetching the 6.2k objects of
 * the minbase tree from nginx over loopback, 32 in flight, took undici about 2.0 s of CPU
 * (1.2 s wall) and this client 1.0-1.2 s (0.75-0.86 s wall); undici also took 0.3 s to load in
 * each worker thread.
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
  private readonly idle: Connection[] = [];
  private readonly waiting: Array<(c: Connection | null) => void> = [];
  private open = 0;
  private closed = false;
  private readonly host: string;
  private readonly port: number;
  private readonly headers: string;
  private readonly lowSpeed: LowSpeedGuard | null;

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
  }

  /**
   * GETs `target` (an absolute path, already percent-encoded), handing the response to `sink`;
   * resolves when the body is complete. Rejects with an HttpError, or with what `sink` threw.
   * `cookie` is this request's Cookie header (they differ by path), when it has one.
   */
  async get(target: string, sink: ResponseSink, opts: { cookie?: string | null } = {}): Promise<void> {
    if (!/^\/[\x21-\x7e]*$/.test(target)) throw new Error(`bad request target '${target}'`);
    if (opts.cookie != null && /[\r\n\0]/.test(opts.cookie)) throw new Error('bad Cookie header');
    const request = `GET ${target} HTTP/1.1\r\n${this.headers}${opts.cookie != null ? `Cookie: ${opts.cookie}\r\n` : ''}\r\n`;
    const conn = await this.acquire();
    try {
      await conn.exchange(request, sink);
    } catch (e) {
      // A kept-alive connection the server closed while it sat idle fails before any byte of
      // the response: the request never reached the server, so it goes again on a new one.
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
    for (const c of this.idle.splice(0)) c.destroy();
    for (const w of this.waiting.splice(0)) w(null);
  }

  private async acquire(fresh = false): Promise<Connection> {
    if (this.closed) throw new HttpError('client closed', false);
    if (!fresh) {
      const c = this.idle.pop();
      if (c) return c;
    }
    if (this.open < this.opts.connections || fresh) return this.connect();
    const c = await new Promise<Connection | null>((resolve) => this.waiting.push(resolve));
    if (c === null) throw new HttpError('client closed', false);
    return c;
  }

  private connect(): Connection {
    this.open++;
    const socket = this.origin.protocol === 'https:'
      ? tls.connect({ host: this.host, port: this.port, servername: net.isIP(this.host) ? undefined : this.host, ...this.opts.tls })
      : net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    return new Connection(socket, this.opts, this.lowSpeed, (c, reusable) => this.release(c, reusable));
  }

  /** A connection finished a request: to the next waiter, to the idle list, or closed. */
  private release(c: Connection, reusable: boolean): void {
    if (!reusable || this.closed) {
      c.destroy();
      this.open--;
      // A waiter gets a new connection in place of the one that went.
      const w = this.waiting.shift();
      if (w) {
        if (this.closed) w(null);
        else w(this.connect());
      }
      return;
    }
    const w = this.waiting.shift();
    if (w) return w(c);
    this.idle.push(c);
    c.parkIdle(() => {
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
      this.open--;
    });
  }
}

/** Raised for a reused connection that failed before the response began. */
class StaleConnection extends Error {}

/** One socket, carrying one request at a time. */
class Connection implements SpeedWatched {
  private exchanges = 0;
  private current: {
    parser: ResponseParser;
    resolve: () => void;
    reject: (e: unknown) => void;
    reusable: boolean;
  } | null = null;
  private onIdleClose: (() => void) | null = null;
  private error: Error | null = null;
  // The low-speed guard's counters for the request in flight (see SpeedWatched).
  speedBytes = 0;
  speedSince = 0;
  slowSince = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly opts: ClientOptions,
    private readonly lowSpeed: LowSpeedGuard | null,
    private readonly release: (c: Connection, reusable: boolean) => void,
  ) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => { this.error ??= e; });
    socket.on('close', () => this.onClose());
    socket.on('timeout', () => {
      if (this.current) this.fail(new HttpError(`no data for ${Math.round(this.opts.idleTimeoutMs / 1000)} s`, true));
      else socket.destroy();
    });
  }

  exchange(request: string, sink: ResponseSink): Promise<void> {
    const reused = this.exchanges > 0;
    this.exchanges++;
    this.onIdleClose = null;
    this.socket.ref();
    this.socket.setTimeout(this.opts.idleTimeoutMs);
    return new Promise<void>((resolve, reject) => {
      const cur = {
        parser: null as unknown as ResponseParser,
        resolve,
        reject: (e: unknown) => reject(reused && !cur.parser.started && e instanceof HttpError && e.transient ? new StaleConnection(e.message) : e),
        reusable: false,
      };
      cur.parser = new ResponseParser({
        head: (h) => sink.head(h),
        body: (c) => sink.body(c),
        end: (keepAlive) => { cur.reusable = keepAlive; },
      });
      this.current = cur;
      this.lowSpeed?.watch(this);
      if (this.socket.destroyed) return this.onClose();
      this.socket.write(request, 'latin1');
    });
  }

  /** Waits unused: closed after keepAliveMs, and it no longer keeps the process alive. */
  parkIdle(onClose: () => void): void {
    this.onIdleClose = onClose;
    this.socket.setTimeout(this.opts.keepAliveMs ?? 30_000);
    this.socket.unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    const cur = this.current;
    if (cur === null) {
      // Bytes nobody asked for: the connection cannot be trusted for another request.
      this.socket.destroy();
      return;
    }
    this.lowSpeed?.add(this, d.length);
    let extra: Buffer;
    try {
      extra = cur.parser.feed(d);
    } catch (e) {
      return this.fail(e instanceof HttpParseError ? new HttpError(`bad response: ${e.message}`, true) : e);
    }
    if (cur.parser.finished) this.complete(cur.reusable && extra.length === 0);
  }

  private onClose(): void {
    const cur = this.current;
    if (cur === null) {
      this.onIdleClose?.();
      this.onIdleClose = null;
      return;
    }
    try {
      cur.parser.eof();
    } catch (e) {
      const cause = this.error ? describe(this.error) : (e as Error).message;
      return this.fail(this.error && isFatal(this.error) ? new HttpError(cause, false) : new HttpError(cause, true));
    }
    this.complete(false);
  }

  private complete(reusable: boolean): void {
    const cur = this.current!;
    this.current = null;
    this.unwatch();
    this.socket.setTimeout(0);
    this.release(this, reusable);
    cur.resolve();
  }

  private unwatch(): void {
    this.lowSpeed?.unwatch(this);
  }

  /** The low-speed guard found this connection's request too slow. */
  tooSlow(message: string): void {
    if (this.current !== null) this.fail(new HttpError(message, true));
  }

  private fail(e: unknown): void {
    const cur = this.current!;
    this.current = null;
    this.unwatch();
    this.socket.destroy();
    this.release(this, false);
    cur.reject(e);
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
