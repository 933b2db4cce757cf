import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { GroveError } from '../errors.js';
import { redactUrl } from '../net/redact-url.js';
import { RECEIVE_PATH } from './protocol.js';

/** A request body: bytes, or chunks made anew for each attempt (a retry sends it again). */
export type Body = Buffer | (() => AsyncIterable<Buffer | Uint8Array>);

/** Retries per request unless told (ostree pull's `--network-retries` default); a push request is idempotent (objects are deduplicated, refs compare-and-swap). */
export const DEFAULT_RETRIES = 5;
const BACKOFF_MS = 250;
/** Milliseconds without a byte from the server before a request is abandoned. */
const IDLE_MS = 60_000;

/**
 * The push requests of one server (see protocol.ts) over kept-alive connections: a bearer token
 * on each, retries with back-off for what a restarting or busy server answers (connection
 * errors, 502–504), and a one-line GroveError for a refusal, in the server's words.
 */
export class PushClient {
  readonly base: URL;
  /** Body bytes sent, retries included. */
  sent = 0;
  private readonly agent: http.Agent;

  constructor(url: string, private readonly token: string, connections: number, private readonly retries = DEFAULT_RETRIES) {
    try {
      this.base = new URL(url.endsWith('/') ? url : `${url}/`);
    } catch {
      throw new GroveError('GROVE_BAD_URL', `invalid push URL '${redactUrl(url)}'`);
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new GroveError('GROVE_BAD_URL', `unsupported URL scheme in '${redactUrl(url)}'`);
    const Agent = this.base.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  get where(): string {
    return redactUrl(this.base.href);
  }

  async getJson<T>(route: string, what: string): Promise<T> {
    return parseJson<T>(await this.request('GET', route, null, what), what);
  }

  async postJson<T>(route: string, body: unknown, what: string): Promise<T> {
    return parseJson<T>(await this.request('POST', route, Buffer.from(JSON.stringify(body)), what, 'application/json'), what);
  }

  async postText(route: string, body: Buffer, what: string): Promise<string> {
    return (await this.request('POST', route, body, what, 'text/plain')).toString('utf8');
  }

  /** Sends `body` (of `length` bytes) and returns the answer; what it refuses is thrown. */
  async request(method: string, route: string, body: Body | null, what: string, type = 'application/octet-stream', length?: number): Promise<Buffer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(method, route, body, what, type, length);
      } catch (e) {
        if (!(e instanceof Transient) || attempt > this.retries) throw e instanceof Transient ? new GroveError('GROVE_PUSH_FAILED', `push to ${this.where}: ${what}: ${e.message}`) : e;
        await new Promise((r) => setTimeout(r, BACKOFF_MS * 2 ** Math.min(attempt - 1, 4)));
      }
    }
  }

  private once(method: string, route: string, body: Body | null, what: string, type: string, length?: number): Promise<Buffer> {
    const url = new URL(`${RECEIVE_PATH}${route}`, this.base);
    const size = body === null ? 0 : Buffer.isBuffer(body) ? body.length : length!;
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<Buffer>((resolve, reject) => {
      const req = mod.request(url, {
        method, agent: this.agent,
        headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': type, 'Content-Length': size, 'User-Agent': 'grove-push' },
      });
      req.setTimeout(IDLE_MS, () => req.destroy(new Transient(`no answer for ${IDLE_MS / 1000} s`)));
      let answered = false;
      req.on('error', (e: NodeJS.ErrnoException) => {
        // A server that refuses an upload answers before it has read it all, and closes: the
        // write then fails, but the answer is what counts.
        if (answered) return;
        reject(e instanceof Transient || e instanceof GroveError ? e : new Transient(e.code ?? e.message));
      });
      req.on('response', (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', (e) => reject(new Transient(e.message)));
        res.on('end', () => {
          const text = Buffer.concat(parts);
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(text);
          if (status === 502 || status === 503 || status === 504) return reject(new Transient(`HTTP ${status}`));
          const line = text.toString('utf8').split('\n')[0]!.slice(0, 500);
          reject(new GroveError(status === 401 || status === 403 ? 'GROVE_PUSH_DENIED' : 'GROVE_PUSH_REFUSED', `push to ${this.where}: ${what}: ${line || `HTTP ${status}`}`));
        });
      });
      if (body === null) {
        req.end();
        return;
      }
      if (Buffer.isBuffer(body)) {
        this.sent += body.length;
        req.end(body);
        return;
      }
      void (async () => {
        try {
          for await (const c of body()) {
            this.sent += c.length;
            if (!req.write(c)) await new Promise<void>((r) => req.once('drain', r));
          }
          req.end();
        } catch (e) {
          req.destroy(e as Error);
        }
      })();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A failure worth another attempt. */
class Transient extends Error {}

function parseJson<T>(b: Buffer, what: string): T {
  try {
    return JSON.parse(b.toString('utf8')) as T;
  } catch {
    throw new GroveError('GROVE_PUSH_FAILED', `${what}: the server's answer is not JSON`);
  }
}

/** Chunks of a file, for a body. */
export async function* fileChunks(file: string): AsyncGenerator<Buffer> {
  for await (const c of fs.createReadStream(file, { highWaterMark: 1 << 20 })) yield c as Buffer;
}
