import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import fs from 'node:fs';
import { HttpClient, HttpError } from '../../../src/net/http/client.js';
import { Fetcher } from '../../../src/net/fetcher.js';
import { ROOT, tempDir } from '../../helpers.js';

/**
 * The HTTP client against small servers on loopback that each misbehave in one way a real
 * server or proxy can: connections reused and cut, HTTP/1.0, silence, too many connections,
 * certificates nobody trusts.
 */

interface RawServer { port: number; connections: number; maxOpen: number; close(): Promise<void> }

/** A TCP server that answers each request (up to its blank line) with `reply(n)`, n counting requests over all connections. */
async function rawServer(reply: (n: number, socket: net.Socket) => string | null): Promise<RawServer> {
  let n = 0;
  let open = 0;
  const sockets = new Set<net.Socket>();
  const state = { port: 0, connections: 0, maxOpen: 0 };
  const server = net.createServer((s) => {
    sockets.add(s);
    state.connections++;
    state.maxOpen = Math.max(state.maxOpen, ++open);
    s.on('close', () => { open--; sockets.delete(s); });
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let end;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        buf = buf.slice(end + 4);
        const out = reply(++n, s);
        if (out !== null && !s.destroyed) s.write(out);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as net.AddressInfo).port;
  return Object.assign(state, {
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  });
}

/** Runs `fn` against a raw server and a client, closing both however `fn` ends. */
async function withServer(
  reply: (n: number, socket: net.Socket) => string | null,
  opts: Partial<ConstructorParameters<typeof HttpClient>[1]>,
  fn: (c: HttpClient, s: RawServer) => Promise<void>,
): Promise<void> {
  const s = await rawServer(reply);
  const c = client(s.port, opts);
  try {
    await fn(c, s);
  } finally {
    c.close();
    await s.close();
  }
}

const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

async function getText(c: HttpClient, target: string): Promise<{ status: number; body: string }> {
  let status = 0;
  const chunks: Buffer[] = [];
  await c.get(target, { head: (h) => { status = h.status; }, body: (b) => chunks.push(Buffer.from(b)) });
  return { status, body: Buffer.concat(chunks).toString() };
}

const client = (port: number, opts: Partial<ConstructorParameters<typeof HttpClient>[1]> = {}) =>
  new HttpClient(new URL(`http://127.0.0.1:${port}/`), { connections: 4, idleTimeoutMs: 5000, ...opts });

describe('HTTP client', () => {
  it('reuses one kept-alive connection for requests made one after another', () => withServer((n) => ok(`r${n}`), {}, async (c, s) => {
    for (let i = 1; i <= 20; i++) assert.deepEqual(await getText(c, `/f${i}`), { status: 200, body: `r${i}` });
    assert.equal(s.connections, 1);
  }));

  it('never opens more connections than allowed, however many requests wait', () => withServer((n) => ok(`r${n}`), { connections: 3 }, async (c, s) => {
    const got = await Promise.all(Array.from({ length: 60 }, (_, i) => getText(c, `/f${i}`)));
    assert.equal(got.length, 60);
    assert.ok(s.maxOpen <= 3, `${s.maxOpen} connections were open at once`);
  }));

  it('a kept-alive connection the server dropped is replaced without an error', () => {
    // Each connection answers its first request; a second request on it finds the connection
    // cut, as when a server's keep-alive time-out races the client's next request.
    const served = new WeakSet<net.Socket>();
    return withServer((n, sock) => {
      if (served.has(sock)) {
        sock.destroy();
        return null;
      }
      served.add(sock);
      return ok(`r${n}`);
    }, {}, async (c, s) => {
      for (let i = 1; i <= 5; i++) assert.equal((await getText(c, '/x')).status, 200);
      assert.equal(s.connections, 5);
    });
  });

  it('a connection closed while idle is dropped from the pool', () => withServer((n, sock) => {
    setImmediate(() => sock.destroy());
    return ok(`r${n}`);
  }, {}, async (c, s) => {
    for (let i = 1; i <= 3; i++) {
      assert.equal((await getText(c, '/x')).status, 200);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(s.connections, 3);
  }));

  it('HTTP/1.0 and Connection: close get a new connection per request; a close-delimited body is whole', () => withServer((n, sock) => {
    setImmediate(() => sock.end());
    return n % 2 ? `HTTP/1.0 200 OK\r\n\r\nold${n}` : ok(`new${n}`, 'Connection: close\r\n');
  }, {}, async (c, s) => {
    for (let i = 1; i <= 6; i++) assert.deepEqual(await getText(c, '/x'), { status: 200, body: i % 2 ? `old${i}` : `new${i}` });
    assert.equal(s.connections, 6);
  }));

  it('a server that goes silent fails the request, as something worth retrying', () => withServer(() => null, { idleTimeoutMs: 300 }, async (c) => {
    await assert.rejects(getText(c, '/x'), (e: unknown) => e instanceof HttpError && e.transient && /no data/.test(e.message));
  }));

  it('a garbage response and a refused connection are transient errors', async () => {
    let port = 0;
    await withServer(() => 'this is not http\r\n\r\n', {}, async (c, s) => {
      port = s.port;
      await assert.rejects(getText(c, '/x'), (e: unknown) => e instanceof HttpError && e.transient && /bad response/.test(e.message));
    });
    const gone = client(port);
    try {
      await assert.rejects(getText(gone, '/x'), (e: unknown) => e instanceof HttpError && e.transient && /ECONNREFUSED/.test(e.message));
    } finally {
      gone.close();
    }
  });

  it('an error the response sink throws fails the request and closes the connection', () => withServer(() => ok('x'.repeat(100)), {}, async (c, s) => {
    const boom = new Error('too large');
    await assert.rejects(c.get('/x', { head: () => {}, body: () => { throw boom; } }), (e) => e === boom);
    assert.equal((await getText(c, '/y')).status, 200);
    assert.equal(s.connections, 2);
  }));

  it('idle kept-alive connections do not keep the process alive', () => withServer((n) => ok(`r${n}`), {}, async (_c, s) => {
    const script = `import { HttpClient } from ${JSON.stringify(path.join(ROOT, 'dist/src/net/http/client.js'))};
      const c = new HttpClient(new URL('http://127.0.0.1:${s.port}/'), { connections: 2, idleTimeoutMs: 5000 });
      await c.get('/a', { head() {}, body() {} });
      console.log('fetched');`;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (d) => { text += d; });
      const timer = setTimeout(() => { child.kill(); reject(new Error('the process did not exit within 4 s')); }, 4000);
      child.on('exit', () => { clearTimeout(timer); resolve(text); });
    });
    assert.equal(out.trim(), 'fetched');
  }));
});

describe('HTTP client over TLS', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let server: https.Server;
  let port: number;
  let ca: Buffer;

  before(async () => {
    tmp = await tempDir();
    const key = path.join(tmp.dir, 'key.pem');
    const cert = path.join(tmp.dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
      '-subj', '/CN=grove test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-days', '2'], { stdio: 'ignore' });
    ca = fs.readFileSync(cert);
    server = https.createServer({ key: fs.readFileSync(key), cert: ca }, (req, res) => res.end(`secure ${req.url}`));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await tmp.cleanup();
  });

  it('an untrusted certificate fails at once, not as something to retry', async () => {
    const c = new HttpClient(new URL(`https://127.0.0.1:${port}/`), { connections: 1, idleTimeoutMs: 5000 });
    await assert.rejects(getText(c, '/x'), (e: unknown) => e instanceof HttpError && !e.transient && /TLS: .*SELF_SIGNED/.test(e.message));
    c.close();
    const f = new Fetcher(`https://127.0.0.1:${port}/`, { attempts: 5, backoffMs: 1 });
    await assert.rejects(f.get('x', { maxBytes: 100 }), /fetching x from https:\/\/127\.0\.0\.1:\d+\/: TLS: /);
    assert.equal(f.stats.retries, 0);
    f.close();
  });

  it('with the certificate given as the CA, or checks turned off, it works', async () => {
    const c = new HttpClient(new URL(`https://127.0.0.1:${port}/`), { connections: 1, idleTimeoutMs: 5000, tls: { ca } });
    assert.deepEqual(await getText(c, '/a'), { status: 200, body: 'secure /a' });
    c.close();
    const p = new HttpClient(new URL(`https://localhost:${port}/`), { connections: 1, idleTimeoutMs: 5000, tls: { rejectUnauthorized: false } });
    assert.deepEqual(await getText(p, '/b'), { status: 200, body: 'secure /b' });
    p.close();
  });
});

/**
 * A server that answers requests in order, each after `delayMs`, and records how many were
 * outstanding on a connection at once (more than one only when the client pipelines).
 */
async function pipeServer(opts: { delayMs?: number; version?: '1.0' | '1.1'; closeAfter?: number; resetAfter?: number; dropPipelined?: boolean } = {}) {
  const state = { connections: 0, maxOutstanding: 0, firstAlone: true, requests: 0, pipelined: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    state.connections++;
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = '';
    const queue: string[] = [];
    let served = 0;
    let busy = false;
    const next = () => {
      if (busy || queue.length === 0 || s.destroyed) return;
      busy = true;
      setTimeout(() => {
        const target = queue.shift()!;
        served++;
        const close = served === opts.closeAfter;
        const head = `HTTP/${opts.version ?? '1.1'} 200 OK\r\nContent-Length: ${target.length}\r\n${close ? 'Connection: close\r\n' : opts.version === '1.0' ? 'Connection: keep-alive\r\n' : ''}\r\n`;
        s.write(head + target);
        if (close) s.end();
        if (served === opts.resetAfter) setImmediate(() => s.destroy());
        busy = false;
        next();
      }, opts.delayMs ?? 5);
    };
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let end;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const target = /^GET (\S+)/.exec(buf)![1]!;
        buf = buf.slice(end + 4);
        state.requests++;
        // A request that arrives while earlier ones wait for their answers was pipelined.
        if (served === 0 && queue.length > 0) state.firstAlone = false;
        if (queue.length > 0) state.pipelined++;
        // A broken proxy: a request sent while another is outstanding is never answered.
        if (opts.dropPipelined && queue.length > 0) continue;
        queue.push(target);
        state.maxOutstanding = Math.max(state.maxOutstanding, queue.length);
      }
      next();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(state, {
    port,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  });
}

async function getPipelined(c: HttpClient, target: string): Promise<{ status: number; body: string }> {
  let status = 0;
  const chunks: Buffer[] = [];
  await c.get(target, { head: (h) => { status = h.status; }, body: (b) => chunks.push(Buffer.from(b)) }, { pipeline: true });
  return { status, body: Buffer.concat(chunks).toString() };
}

describe('HTTP client: pipelining', () => {
  const many = (c: HttpClient, n: number, from = 0) => Promise.all(Array.from({ length: n }, (_, i) => getPipelined(c, `/f${from + i}`)));
  const all = (n: number) => Array.from({ length: n }, (_, i) => ({ status: 200, body: `/f${i}` }));

  it('carries up to `pipeline` requests on a connection, once its first response came back HTTP/1.1 and kept alive', async () => {
    const s = await pipeServer();
    const c = client(s.port, { connections: 1, pipeline: 4 });
    try {
      assert.deepEqual(await many(c, 12), all(12));
      assert.equal(s.connections, 1);
      assert.equal(s.maxOutstanding, 4);
      assert.ok(s.firstAlone, 'requests were pipelined before the server showed it keeps connections alive');
    } finally {
      c.close();
      await s.close();
    }
  });

  it('without pipelining, or for requests not marked pipelinable, one request at a time on each connection', async () => {
    const s = await pipeServer();
    const c = client(s.port, { connections: 2 });
    const d = client(s.port, { connections: 2, pipeline: 4 });
    try {
      assert.deepEqual(await many(c, 8), all(8));
      assert.deepEqual(await Promise.all(Array.from({ length: 8 }, (_, i) => getText(d, `/f${i}`))), all(8));
      assert.equal(s.maxOutstanding, 1);
      d.close();
    } finally {
      c.close();
      await s.close();
    }
  });

  it('an HTTP/1.0 server, even keeping connections alive, is never pipelined to', async () => {
    const s = await pipeServer({ version: '1.0' });
    const c = client(s.port, { connections: 1, pipeline: 4 });
    try {
      assert.deepEqual(await many(c, 6), all(6));
      assert.equal(s.maxOutstanding, 1);
    } finally {
      c.close();
      await s.close();
    }
  });

  it('a proxy that drops pipelined requests: the others never get an answer not theirs, and after a failure nothing is pipelined', async () => {
    const s = await pipeServer({ dropPipelined: true });
    const c = client(s.port, { connections: 2, pipeline: 4, idleTimeoutMs: 300 });
    try {
      // Pipelined requests may get another's answer here (their callers check it against the
      // checksum they asked by); those not pipelinable, sent only on an idle connection, never.
      const plain = Array.from({ length: 4 }, (_, i) => getText(c, `/plain${i}`));
      await Promise.allSettled(Array.from({ length: 8 }, (_, i) => getPipelined(c, `/f${i}`)));
      assert.deepEqual(await Promise.all(plain), Array.from({ length: 4 }, (_, i) => ({ status: 200, body: `/plain${i}` })));
      // A connection failed with requests pipelined: from then on, one at a time.
      assert.ok(s.pipelined > 0, 'nothing was pipelined to begin with');
      s.pipelined = 0;
      // More requests than the connections the retries left open, so that some would share one.
      assert.deepEqual(await many(c, 40, 100), Array.from({ length: 40 }, (_, i) => ({ status: 200, body: `/f${100 + i}` })));
      assert.equal(s.pipelined, 0);
    } finally {
      c.close();
      await s.close();
    }
  });

  it('requests queued behind the last one a server answers before closing go again on a new connection', async () => {
    for (const how of [{ closeAfter: 3 }, { resetAfter: 2 }]) {
      const s = await pipeServer(how);
      const c = client(s.port, { connections: 1, pipeline: 4 });
      try {
        assert.deepEqual(await many(c, 12), all(12), JSON.stringify(how));
        assert.ok(s.connections >= 4, `${JSON.stringify(how)}: ${s.connections} connections`);
        assert.ok(s.maxOutstanding > 1, `${JSON.stringify(how)}: never pipelined`);
      } finally {
        c.close();
        await s.close();
      }
    }
  });
});
