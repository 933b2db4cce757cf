import fsSync from 'node:fs';
import path from 'node:path';
import { GroveError } from '../errors.js';
import { tempName } from '../repo/fsutil.js';
import { HttpClient, HttpError, type TlsOptions } from './http/client.js';
import { basicAuthorization, redactUrl } from './redact-url.js';
import { cookieHeader, type Cookie } from './cookies.js';

export interface FetcherOptions {
  /** Requests in flight at most (and connections kept). */
  maxInFlight?: number;
  /** Attempts per file, the first included. */
  attempts?: number;
  /** First back-off delay in ms, doubled each retry. */
  backoffMs?: number;
  /** Milliseconds without any data before a request is abandoned (and retried). */
  idleTimeoutMs?: number;
  /**
   * A request slower than this many bytes a second for `lowSpeedTimeSeconds` in a row is
   * abandoned (and retried); 0 turns it off. ostree's `low-speed-limit-bytes`, default 1000.
   */
  lowSpeedLimitBytes?: number;
  /** ostree's `low-speed-time-seconds`, default 30; 0 turns the limit off. */
  lowSpeedTimeSeconds?: number;
  /** Certificates for https (the remote's tls-ca-path, tls-client-cert-path…). */
  tls?: TlsOptions;
  /** `pull --http-header NAME=VALUE`: sent with every request, in order. */
  headers?: Array<[string, string]>;
  /** The remote's cookie jar (`REMOTE.cookies.txt`): each request carries those that match it. */
  cookies?: Cookie[];
  /**
   * Requests pipelined on one connection (see HttpClient); the in-flight requests are spread
   * over `maxInFlight / pipeline` connections. Default DEFAULT_PIPELINE, or GROVE_HTTP_PIPELINE
   * (1 turns pipelining off, for a server or proxy that mishandles it).
   */
  pipeline?: number;
}

/**
 * Pulling minbase from nginx over loopback (2-core EPYC, 5 interleaved pulls each): 2.37 s
 * median with one request per connection (32 connections), 2.02 s with 8 pipelined on each of
 * 4 (ostree 2.56 s); 4 and 16 measured about the same as 8. The CPU saved is the write of each
 * request head and the read of each response apart.
 */
export const DEFAULT_PIPELINE = 8;

function defaultPipeline(): number {
  const env = Number(process.env['GROVE_HTTP_PIPELINE']);
  return Number.isInteger(env) && env >= 1 ? env : DEFAULT_PIPELINE;
}

/** Requests in flight when the caller does not say. */
export const DEFAULT_IN_FLIGHT = 32;

/** ostree's defaults for its low-speed options (OPT_LOWSPEEDLIMIT_DEFAULT, OPT_LOWSPEEDTIME_DEFAULT). */
export const DEFAULT_LOW_SPEED_LIMIT_BYTES = 1000;
export const DEFAULT_LOW_SPEED_TIME_SECONDS = 30;

export interface FetchStats { requests: number; bytes: number; retries: number }

/**
 * Fetches files of a remote repository by path relative to its URL, over a pool of kept-alive
 * HTTP(S) connections with many requests in flight. Transient failures (connection errors, 5xx,
 * 408, 429, a body cut short, a response that does not parse) are retried with exponential
 * back-off; 404 is an answer (null), not a failure; an untrusted certificate fails at once.
 * Every body is bounded by `maxBytes`, so a hostile server cannot make the client hold an
 * unbounded response. User info in the URL is sent as HTTP Basic authentication and never
 * appears in a message.
 */
export class Fetcher {
  readonly stats: FetchStats = { requests: 0, bytes: 0, retries: 0 };
  private readonly base: URL;
  /** A connection pool per origin: the remote's, and any a redirect leads to. */
  private readonly clients = new Map<string, HttpClient>();
  private readonly clientOptions: ConstructorParameters<typeof HttpClient>[1];
  /** Requests this fetcher has in flight at most; callers may start that many at once. */
  readonly maxInFlight: number;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly cookies: readonly Cookie[];
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(url: string, opts: FetcherOptions = {}) {
    let base: URL;
    try {
      base = new URL(url.endsWith('/') ? url : `${url}/`);
    } catch {
      throw new GroveError('GROVE_BAD_URL', `invalid remote URL '${redactUrl(url)}'`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new GroveError('GROVE_BAD_URL', `unsupported URL scheme in '${redactUrl(url)}'`);
    this.base = base;
    this.maxInFlight = opts.maxInFlight ?? DEFAULT_IN_FLIGHT;
    this.attempts = opts.attempts ?? 5;
    this.backoffMs = opts.backoffMs ?? 200;
    this.cookies = opts.cookies ?? [];
    const pipeline = Math.max(1, Math.floor(opts.pipeline ?? defaultPipeline()));
    this.clientOptions = {
      connections: Math.ceil(this.maxInFlight / pipeline),
      pipeline,
      idleTimeoutMs: opts.idleTimeoutMs ?? 30_000,
      lowSpeed: { bytesPerSecond: opts.lowSpeedLimitBytes ?? DEFAULT_LOW_SPEED_LIMIT_BYTES, seconds: opts.lowSpeedTimeSeconds ?? DEFAULT_LOW_SPEED_TIME_SECONDS },
      ...(opts.tls && { tls: opts.tls }),
      ...(opts.headers && { extraHeaders: opts.headers }),
    };
  }

  /** The remote's URL, credentials included: for another Fetcher (a worker's), never for a message. */
  get url(): string {
    return this.base.href;
  }

  /**
   * The file at `rel` (e.g. `objects/ab/cdef….dirtree`), or null when the server has none.
   * `pipeline`: the caller checks the answer against the checksum it asked by (see HttpClient).
   */
  async get(rel: string, opts: { maxBytes: number; what?: string; pipeline?: boolean }): Promise<Buffer | null> {
    const what = opts.what ?? rel;
    const r = await this.fetch(rel, what, () => new Body(what, rel, opts.maxBytes, Infinity, ''), undefined, opts.pipeline === true);
    return r as Buffer | null;
  }

  /**
   * Like {@link get} for files of any size: up to `inMemory` bytes come back as a Buffer, larger
   * ones are written to a new file in `spillDir` as they arrive and come back as its path (the
   * caller owns the file).
   */
  async getSpilling(rel: string, opts: { what: string; inMemory: number; spillDir: string; tally?: FetchStats; pipeline?: boolean }): Promise<Buffer | { path: string } | null> {
    return this.fetch(rel, opts.what, () => new Body(opts.what, rel, Number.MAX_SAFE_INTEGER, opts.inMemory, opts.spillDir), opts.tally, opts.pipeline === true);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** `tally`, when given, counts this fetch's requests, bytes and retries as `stats` does. */
  private async fetch(rel: string, what: string, body: () => Body, tally?: FetchStats, pipeline = false): Promise<Buffer | { path: string } | null> {
    await this.slot();
    try {
      for (let i = 1; ; i++) {
        const b = body();
        try {
          return await this.once(rel, what, b, tally, pipeline);
        } catch (e) {
          b.discard();
          if (!(e instanceof TransientError)) throw e;
          if (i >= this.attempts) throw this.failed(what, rel, `${e.message} (gave up after ${i} attempts)`);
          this.count('retries', 1, tally);
          await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (i - 1)));
        }
      }
    } finally {
      this.release();
    }
  }

  private async slot(): Promise<void> {
    if (this.inFlight < this.maxInFlight) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.inFlight--;
  }

  /** The one-line error for a fetch that cannot succeed. */
  private failed(what: string, rel: string, reason: string): GroveError {
    return new GroveError('GROVE_FETCH', `fetching ${what} from ${redactUrl(this.base.href)}: ${reason}`, { path: rel });
  }

  /** Adds to `stats`, and to the caller's `tally` when it keeps one. */
  private count(key: keyof FetchStats, n: number, tally: FetchStats | undefined): void {
    this.stats[key] += n;
    if (tally) tally[key] += n;
  }

  /**
   * The client for `url`'s origin and credentials: the URL's own user info, else the remote's
   * when it is the remote's origin. As libcurl, credentials are not sent to another host a
   * redirect leads to.
   */
  private clientFor(url: URL): HttpClient {
    const auth = basicAuthorization(url) ?? (url.origin === this.base.origin ? basicAuthorization(this.base) : null);
    const key = `${url.origin} ${auth ?? ''}`;
    let c = this.clients.get(key);
    if (!c) {
      c = new HttpClient(new URL(url.origin), { ...this.clientOptions, ...(auth !== null && { authorization: auth }) });
      this.clients.set(key, c);
    }
    return c;
  }

  /** Fetches `rel`, following up to MAX_REDIRECTS redirects (each a request of its own). */
  private async once(rel: string, what: string, body: Body, tally?: FetchStats, pipeline = false): Promise<Buffer | { path: string } | null> {
    let url = new URL(rel, this.base);
    for (let hop = 0; ; hop++) {
      const r = await this.request(url, rel, what, body, tally, pipeline);
      if (!('redirect' in r)) return r.result;
      if (hop >= MAX_REDIRECTS) throw this.failed(what, rel, `more than ${MAX_REDIRECTS} redirects`);
      let next: URL;
      try {
        next = new URL(r.redirect, url);
      } catch {
        throw this.failed(what, rel, 'redirected to an invalid URL');
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw this.failed(what, rel, `redirected to a ${next.protocol} URL`);
      }
      url = next;
    }
  }

  private async request(url: URL, rel: string, what: string, body: Body, tally?: FetchStats, pipeline = false): Promise<{ result: Buffer | { path: string } | null } | { redirect: string }> {
    this.count('requests', 1, tally);
    let status = 0;
    let declared: number | null = null;
    let location: string | undefined;
    let discarded = 0;
    try {
      const cookie = this.cookies.length > 0 ? cookieHeader(this.cookies, url) : null;
      await this.clientFor(url).get(`${url.pathname}${url.search}`, {
        head: (h) => {
          status = h.status;
          location = h.headers.get('location');
          if (status !== 200) return;
          const cl = h.headers.get('content-length');
          declared = cl === undefined ? null : Number(cl);
          if (declared !== null) body.expect(declared);
        },
        body: (c) => {
          if (status === 200) return body.add(c);
          // An error page is read and dropped, unless it goes on and on.
          discarded += c.length;
          if (discarded > MAX_ERROR_BODY) throw new HttpError(`HTTP ${status} with a body over ${MAX_ERROR_BODY} bytes`, status >= 500);
        },
      }, { cookie, pipeline });
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      if (e.transient) throw new TransientError(e.message);
      throw this.failed(what, rel, e.message);
    }
    if (status === 404 || status === 410) return { result: null };
    if (REDIRECTS.has(status) && location !== undefined) return { redirect: location };
    if (status !== 200) {
      const err = `HTTP ${status}`;
      if (status >= 500 || status === 408 || status === 429) throw new TransientError(err);
      throw this.failed(what, rel, err);
    }
    this.count('bytes', body.length, tally);
    // The parser ends a body at its Content-Length; this holds for any framing.
    if (declared !== null && body.length !== declared) throw new TransientError(`body has ${body.length} bytes, Content-Length said ${declared}`);
    return { result: body.finish() };
  }
}

/** Redirects followed, as libcurl follows them for ostree; at most MAX_REDIRECTS in a row. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** Bytes of an error response's body read (and dropped) before the connection is cut instead. */
const MAX_ERROR_BODY = 64 << 10;

/**
 * A response body being received: in memory, bounded by `maxBytes`; past `inMemory` bytes it
 * moves to a file in `spillDir` (synchronous writes: the page cache takes a chunk in
 * microseconds, less than a trip through libuv's thread pool).
 */
class Body {
  length = 0;
  private chunks: Buffer[] = [];
  private fd: number | null = null;
  private file = '';

  constructor(private readonly what: string, private readonly rel: string, private readonly maxBytes: number, private readonly inMemory: number, private readonly spillDir: string) {}

  expect(declared: number): void {
    if (declared > this.maxBytes) throw new GroveError('GROVE_TOO_LARGE', `${this.what} is ${declared} bytes, more than the ${this.maxBytes} allowed`, { path: this.rel });
  }

  add(c: Buffer): void {
    this.length += c.length;
    if (this.length > this.maxBytes) throw new GroveError('GROVE_TOO_LARGE', `${this.what} is more than the ${this.maxBytes} bytes allowed`, { path: this.rel });
    if (this.fd === null && this.length > this.inMemory) {
      this.file = path.join(this.spillDir, tempName('download-'));
      this.fd = fsSync.openSync(this.file, 'wx', 0o600);
      for (const b of this.chunks) writeAllSync(this.fd, b);
      this.chunks = [];
    }
    if (this.fd !== null) writeAllSync(this.fd, c);
    else this.chunks.push(c);
  }

  finish(): Buffer | { path: string } {
    if (this.fd === null) return Buffer.concat(this.chunks, this.length);
    fsSync.closeSync(this.fd);
    this.fd = null;
    return { path: this.file };
  }

  /** Drops what was received (a failed attempt). */
  discard(): void {
    if (this.fd !== null) fsSync.closeSync(this.fd);
    this.fd = null;
    if (this.file !== '') fsSync.rmSync(this.file, { force: true });
    this.chunks = [];
  }
}

function writeAllSync(fd: number, b: Uint8Array): void {
  for (let off = 0; off < b.length;) off += fsSync.writeSync(fd, b, off, b.length - off);
}

/** A failure worth retrying: the next attempt may well succeed. */
class TransientError extends Error {}
