import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { buildTree, type Entry } from '../../fixtures/trees/build.js';
import { GroveError } from '../../src/errors.js';
import { serveRepo, type RepoServer } from '../../src/net/serve.js';
import { Repo } from '../../src/repo/repo.js';
import { GROVE_BIN, describeTree, grove, needsOstree, tempDir } from '../helpers.js';
import { ostreeAsync } from '../interop/support.js';

/**
 * `grove serve`: what a pull fetches is served with keep-alive, validators and ranges; nothing
 * else is, above all nothing outside the repository; and the real `ostree pull` pulls from it
 * into every unprivileged mode with a tree equal to the source.
 */

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: Buffer; reused: boolean }

/** One request through `agent` (keep-alive), body collected. */
function request(base: string, target: string, opts: { method?: string; headers?: Record<string, string>; agent?: http.Agent } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(target, base), { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes `data` on a fresh TCP connection and returns every byte until the server closes it. */
function rawExchange(port: number, data: string | Buffer, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`));
    }, timeoutMs);
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    sock.write(data);
  });
}

interface RawResponse { status: number; headers: Record<string, string>; body: Buffer }

/** Splits raw bytes into the responses to `methods` (Content-Length framing, as grove sends). */
function parseResponses(buf: Buffer, methods: string[]): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  for (const method of methods) {
    const end = buf.indexOf('\r\n\r\n', at);
    assert.ok(end >= 0, `a complete header block for response ${out.length + 1}`);
    const lines = buf.subarray(at, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0]!)?.[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    const hasBody = method !== 'HEAD' && status !== 304;
    const len = hasBody ? Number(headers['content-length'] ?? 0) : 0;
    out.push({ status, headers, body: buf.subarray(end + 4, end + 4 + len) });
    at = end + 4 + len;
  }
  assert.equal(at, buf.length, 'nothing after the last response');
  return out;
}

const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: grove\r\n${extra}Connection: close\r\n\r\n`;

const OBJ = `ab/${'cd'.repeat(31)}.filez`;
const COMMIT = `12/${'34'.repeat(31)}.commit`;
const SECRET = 'TOP-SECRET';

describe('grove serve', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let srv: RepoServer;
  let objBytes: Buffer;
  const logLines: string[] = [];

  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-serve-'));
    repo = path.join(dir, 'repo');
    await Repo.init(repo, { mode: 'archive' });
    // Bytes whose every offset is recognisable, so a wrong range shows.
    objBytes = Buffer.alloc(3 << 20);
    for (let i = 0; i < objBytes.length; i += 4) objBytes.writeUInt32BE(i, i);
    await buildTree(repo, [
      { path: `objects/${OBJ}`, type: 'file', content: objBytes },
      { path: `objects/${COMMIT}`, type: 'file', content: 'commit bytes' },
      { path: 'objects/ab/not-an-object', type: 'file', content: `${SECRET} odd file` },
      { path: 'refs/heads/os/x86_64/main', type: 'file', content: `${'34'.repeat(32)}\n` },
      { path: 'refs/heads/alias', type: 'symlink', target: 'os/x86_64/main' },
      { path: 'refs/heads/etc', type: 'symlink', target: '/etc' },
      { path: 'refs/heads/passwd', type: 'symlink', target: '/etc/passwd' },
      { path: 'refs/heads/outside', type: 'symlink', target: '../../../secret.txt' },
      { path: 'refs/heads/totmp', type: 'symlink', target: '../../tmp/secret' },
      { path: 'refs/heads/up', type: 'symlink', target: '../..' },
      { path: 'refs/heads/x.lock', type: 'file', content: `${SECRET} lock\n` },
      { path: 'summary', type: 'file', content: 'summary bytes' },
      { path: 'deltas/ab/cdef/superblock', type: 'file', content: 'superblock' },
      { path: 'tmp/secret', type: 'file', content: `${SECRET} in tmp\n` },
      { path: 'state/secret', type: 'file', content: `${SECRET} in state\n` },
      { path: '.lock', type: 'file', content: `${SECRET} lock\n` },
      { path: 'grove/index/data.mdb', type: 'file', content: `${SECRET} index\n` },
      { path: 'extensions/secret', type: 'file', content: `${SECRET} extension\n` },
      { path: 'empty-dir', type: 'dir' },
    ]);
    await fs.writeFile(path.join(dir, 'secret.txt'), `${SECRET} outside the repository\n`);
    spawnSync('mkfifo', [path.join(repo, 'refs/heads/fifo')]);
    srv = await serveRepo(repo, { log: (l) => logLines.push(l) });
  });

  after(async () => {
    await srv?.close();
    await cleanup();
  });

  it('listens where it says and serves config, refs, the summary and objects', async () => {
    assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(srv.url, `http://127.0.0.1:${srv.port}/`);
    const config = await request(srv.url, '/config');
    assert.equal(config.status, 200);
    assert.equal(config.body.toString(), await fs.readFile(path.join(repo, 'config'), 'utf8'));
    assert.match(config.headers['content-type']!, /^text\/plain/);
    assert.equal(config.headers['cache-control'], 'no-cache');

    const ref = await request(srv.url, '/refs/heads/os/x86_64/main');
    assert.equal(ref.status, 200);
    assert.equal(ref.body.toString(), `${'34'.repeat(32)}\n`);
    assert.equal((await request(srv.url, '/refs/heads/alias')).body.toString(), ref.body.toString(), 'a symlink within the served area is followed');

    const obj = await request(srv.url, `/objects/${OBJ}`);
    assert.equal(obj.status, 200);
    assert.equal(obj.headers['content-type'], 'application/octet-stream');
    assert.equal(obj.headers['content-length'], String(objBytes.length));
    assert.equal(obj.headers['accept-ranges'], 'bytes');
    assert.match(obj.headers['cache-control']!, /immutable/);
    assert.ok(obj.headers['etag'] && obj.headers['last-modified']);
    assert.ok(obj.body.equals(objBytes), 'the object bytes');

    for (const t of ['/summary', `/objects/${COMMIT}`, '/deltas/ab/cdef/superblock']) {
      assert.equal((await request(srv.url, t)).status, 200, t);
    }
    assert.ok(logLines.some((l) => /^127\.0\.0\.1 GET \/config 200 \d+ [\d.]+ms$/.test(l)), `a log line per request: ${logLines[0]}`);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const head = await request(srv.url, `/objects/${OBJ}`, { method: 'HEAD' });
    const getRes = await request(srv.url, `/objects/${OBJ}`);
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    for (const h of ['content-length', 'content-type', 'etag', 'last-modified', 'accept-ranges', 'cache-control']) {
      assert.equal(head.headers[h], getRes.headers[h], h);
    }
    assert.equal((await request(srv.url, '/nope', { method: 'HEAD' })).status, 404);
  });

  it('keeps one connection alive across many requests, pipelined ones included', async () => {
    assert.ok(srv.server.keepAliveTimeout >= 60_000, `keepAliveTimeout ${srv.server.keepAliveTimeout}`);
    assert.ok(srv.server.headersTimeout > srv.server.keepAliveTimeout, 'headersTimeout above keepAliveTimeout');
    let connections = 0;
    const count = () => { connections++; };
    srv.server.on('connection', count);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const targets = ['/config', `/objects/${OBJ}`, '/missing', '/refs/heads/os/x86_64/main', '/tmp/secret'];
      for (let i = 0; i < 40; i++) {
        const r = await request(srv.url, targets[i % targets.length]!, { agent, method: i % 3 === 0 ? 'HEAD' : 'GET' });
        if (i > 0) assert.ok(r.reused, `request ${i} reused the connection`);
      }
      assert.equal(connections, 1, 'one TCP connection for 40 requests, 404s and HEADs included');
    } finally {
      agent.destroy();
      srv.server.off('connection', count);
    }

    const methods = ['GET', 'HEAD', 'GET', 'GET', 'GET'];
    const raw = await rawExchange(srv.port,
      `GET /config HTTP/1.1\r\nHost: grove\r\n\r\n` +
      `HEAD /objects/${OBJ} HTTP/1.1\r\nHost: grove\r\n\r\n` +
      `GET /no/such HTTP/1.1\r\nHost: grove\r\n\r\n` +
      `GET /objects/${OBJ} HTTP/1.1\r\nHost: grove\r\nRange: bytes=4-7\r\n\r\n` +
      get('/summary'));
    const rs = parseResponses(raw, methods);
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 404, 206, 200]);
    assert.equal(rs[3]!.body.readUInt32BE(0), 4);
    assert.equal(rs[4]!.body.toString(), 'summary bytes');
  });

  it('serves single byte ranges with 206 and refuses unsatisfiable ones with 416', async () => {
    const size = objBytes.length;
    const range = async (spec: string, extra: Record<string, string> = {}) => request(srv.url, `/objects/${OBJ}`, { headers: { Range: spec, ...extra } });
    const cases: Array<[string, number, number]> = [
      ['bytes=0-99', 0, 99],
      ['bytes=1000-', 1000, size - 1],
      ['bytes=-50', size - 50, size - 1],
      ['bytes=-999999999', 0, size - 1],
      [`bytes=${size - 4}-${size * 10}`, size - 4, size - 1],
      ['bytes=8-8', 8, 8],
    ];
    for (const [spec, a, b] of cases) {
      const r = await range(spec);
      assert.equal(r.status, 206, spec);
      assert.equal(r.headers['content-range'], `bytes ${a}-${b}/${size}`, spec);
      assert.equal(r.headers['content-length'], String(b - a + 1), spec);
      assert.ok(r.body.equals(objBytes.subarray(a, b + 1)), `${spec}: the right bytes`);
    }
    for (const spec of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, 'bytes=-0']) {
      const r = await range(spec);
      assert.equal(r.status, 416, spec);
      assert.equal(r.headers['content-range'], `bytes */${size}`, spec);
      assert.equal(r.body.length, 0);
    }
    // Several ranges, malformed or foreign units: the whole file, 200.
    for (const spec of ['bytes=0-1,4-5', 'bytes=9-3', 'lines=1-2', 'bytes=abc']) {
      const r = await range(spec);
      assert.equal(r.status, 200, spec);
      assert.equal(r.body.length, size, spec);
    }
    const etag = (await request(srv.url, `/objects/${OBJ}`, { method: 'HEAD' })).headers['etag']!;
    assert.equal((await range('bytes=0-3', { 'If-Range': etag })).status, 206, 'If-Range with the current ETag');
    assert.equal((await range('bytes=0-3', { 'If-Range': '"stale"' })).status, 200, 'If-Range with another ETag: whole file');
    const head = await range('bytes=0-3');
    assert.equal(head.status, 206);
    const headOnly = await request(srv.url, `/objects/${OBJ}`, { method: 'HEAD', headers: { Range: 'bytes=10-19' } });
    assert.equal(headOnly.status, 206);
    assert.equal(headOnly.headers['content-length'], '10');
    assert.equal(headOnly.body.length, 0);
  });

  it('revalidates with ETag and Last-Modified: 304 without a body', async () => {
    const first = await request(srv.url, '/summary');
    const etag = first.headers['etag']!;
    const lastModified = first.headers['last-modified']!;
    const cond = (headers: Record<string, string>) => request(srv.url, '/summary', { headers });
    const hit = await cond({ 'If-None-Match': etag });
    assert.equal(hit.status, 304);
    assert.equal(hit.body.length, 0);
    assert.equal(hit.headers['etag'], etag);
    assert.equal((await cond({ 'If-None-Match': `"other", W/${etag}` })).status, 304, 'weak comparison, lists');
    assert.equal((await cond({ 'If-None-Match': '*' })).status, 304);
    assert.equal((await cond({ 'If-None-Match': '"other"' })).status, 200);
    assert.equal((await cond({ 'If-Modified-Since': lastModified })).status, 304);
    assert.equal((await cond({ 'If-Modified-Since': 'Thu, 01 Jan 1998 00:00:00 GMT' })).status, 200);
    assert.equal((await cond({ 'If-Modified-Since': 'not a date' })).status, 200);
    assert.equal((await cond({ 'If-None-Match': '"other"', 'If-Modified-Since': lastModified })).status, 200, 'If-None-Match wins');

    // A changed file gets a new validator.
    await fs.writeFile(path.join(repo, 'summary'), 'new summary bytes');
    const changed = await cond({ 'If-None-Match': etag });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers['etag'], etag);
    assert.equal(changed.body.toString(), 'new summary bytes');
  });

  it('404s directories, missing files and everything a pull does not need', async () => {
    const refused = [
      '/', '/objects', '/objects/', '/objects/ab', '/objects/ab/', '/refs/heads', '/refs/heads/', '/refs/heads/os',
      '/empty-dir', '/deltas/ab', '/missing', `/objects/ef/${'01'.repeat(31)}.filez`, '/objects/ab/not-an-object',
      `/objects/${OBJ.slice(0, -1)}`, '/tmp/secret', '/tmp/', '/state/secret', '/.lock', '/grove/index/data.mdb',
      '/extensions/secret', '/refs/heads/x.lock', '/refs/heads/fifo', '/refs/secret', '/Config',
    ];
    for (const t of refused) {
      const r = await request(srv.url, t);
      assert.equal(r.status, 404, t);
      assert.ok(!r.body.includes(SECRET), `${t}: no secret bytes`);
      assert.equal(r.headers['cache-control'], 'no-store', `${t}: misses are not cached`);
    }
  });

  it('answers other methods with 405 and Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'PROPFIND']) {
      const r = await request(srv.url, '/config', { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers['allow'], 'GET, HEAD', method);
    }
  });

  it('never serves anything outside the repository (raw request targets)', async () => {
    const attacks: Array<string | Buffer> = [
      '/../secret.txt', '/../../../../../../../etc/passwd', '/objects/../../secret.txt',
      '/refs/heads/../../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd',
      '/.%2e/secret.txt', '/%2e./secret.txt', '/%2e%2e%2fsecret.txt', '/..%2Fsecret.txt', '/refs%2f..%2f..%2fsecret.txt',
      '/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/objects/%2e%2e/%2e%2e/secret.txt',
      '/%2fetc%2fpasswd', '/%2Fetc/passwd', '//etc/passwd', '///etc/passwd', '//../secret.txt',
      '/..\\secret.txt', '/%5c..%5csecret.txt', '/..%5csecret.txt', '/refs\\..\\..\\secret.txt',
      '/config%00', '/config%00/../secret.txt', '/%00/../secret.txt',
      '/%c0%ae%c0%ae/secret.txt', '/%c0%af/etc/passwd', '/%252e%252e/secret.txt', '/%', '/%zz',
      '/./config', '/refs/./heads/../../secret.txt', '/..;/secret.txt', '/....//secret.txt',
      '/refs/heads/etc/passwd', '/refs/heads/etc/hostname', '/refs/heads/passwd', '/refs/heads/outside',
      '/refs/heads/totmp', '/refs/heads/up/tmp/secret', '/refs/heads/up/state/secret', '/tmp/../tmp/secret',
      '/etc/passwd', `/${dir.slice(1)}/secret.txt`, 'http://127.0.0.1/../secret.txt', `http://127.0.0.1${dir}/secret.txt`,
      '*', '../secret.txt', 'secret.txt',
      Buffer.from('GET /config\0/../../secret.txt HTTP/1.1\r\nHost: grove\r\nConnection: close\r\n\r\n', 'latin1'),
      Buffer.from('GET /\xc0\xae\xc0\xae/secret.txt HTTP/1.1\r\nHost: grove\r\nConnection: close\r\n\r\n', 'latin1'),
    ];
    for (const a of attacks) {
      const reply = await rawExchange(srv.port, typeof a === 'string' ? get(a) : a);
      const text = reply.toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1]);
      const label = JSON.stringify(typeof a === 'string' ? a : a.toString('latin1').split('\r\n')[0]);
      assert.ok(status === 400 || status === 404, `${label}: 400 or 404, got ${text.split('\r\n')[0]}`);
      assert.ok(!text.includes(SECRET), `${label}: no secret bytes`);
      assert.ok(!text.includes('root:x:0'), `${label}: no /etc/passwd`);
    }
    // The same requests do reach the server: a plain one through the same path is served.
    assert.equal(parseResponses(await rawExchange(srv.port, get('/config')), ['GET'])[0]!.status, 200);
  });

  it('survives files that vanish or shrink while being sent', async () => {
    const big = path.join(repo, 'objects', `ee/${'ff'.repeat(31)}.filez`);
    const size = 32 << 20;
    await fs.mkdir(path.dirname(big), { recursive: true });
    for (const change of ['truncate', 'unlink'] as const) {
      await fs.writeFile(big, Buffer.alloc(size, 7));
      const got = await new Promise<{ head: string; bodyBytes: number }>((resolve, reject) => {
        const sock = net.connect(srv.port, '127.0.0.1');
        const chunks: Buffer[] = [];
        let changed = false;
        sock.on('data', (c) => {
          chunks.push(c);
          if (changed) return;
          changed = true;
          // Stop reading so the server is held back by the full socket, then pull the file away.
          sock.pause();
          const act = change === 'truncate' ? fs.truncate(big, 1000) : fs.unlink(big);
          act.then(() => setTimeout(() => sock.resume(), 100), reject);
        });
        sock.on('error', () => {});
        sock.on('close', () => {
          const all = Buffer.concat(chunks);
          const end = all.indexOf('\r\n\r\n');
          resolve({ head: all.subarray(0, end).toString('latin1'), bodyBytes: all.length - end - 4 });
        });
        sock.write(get(`/objects/ee/${'ff'.repeat(31)}.filez`));
      });
      assert.match(got.head, /^HTTP\/1\.1 200 /);
      assert.match(got.head, new RegExp(`Content-Length: ${size}`));
      if (change === 'truncate') assert.ok(got.bodyBytes < size, `a shrunk file cuts the connection (${got.bodyBytes} bytes)`);
      else assert.equal(got.bodyBytes, size, 'an unlinked file is still sent whole from the open descriptor');
      assert.equal((await request(srv.url, '/config')).status, 200, `the server carries on after ${change}`);
    }
    assert.ok(logLines.some((l) => / 200-aborted /.test(l)), 'the cut response is logged as aborted');
    await fs.rm(big, { force: true });
    assert.equal((await request(srv.url, `/objects/ee/${'ff'.repeat(31)}.filez`)).status, 404);
  });

  it('close() ends idle keep-alive connections and stops listening', async () => {
    const s = await serveRepo(repo, { port: 0 });
    const agent = new http.Agent({ keepAlive: true });
    assert.equal((await request(s.url, '/config', { agent })).status, 200);
    const t0 = Date.now();
    await s.close();
    assert.ok(Date.now() - t0 < 1500, 'an idle keep-alive connection does not hold close() up');
    await assert.rejects(request(s.url, '/config'), { code: 'ECONNREFUSED' });
    agent.destroy();
  });

  it('reports a missing repository, a busy port and a bad address as GroveErrors', async () => {
    await assert.rejects(serveRepo(path.join(dir, 'nope')), (e: unknown) => e instanceof GroveError && e.code === 'GROVE_NO_REPO');
    await assert.rejects(serveRepo(repo, { port: srv.port }), (e: unknown) => e instanceof GroveError && /address already in use/.test(e.message) && e.message.includes(String(srv.port)));
    await assert.rejects(serveRepo(repo, { address: '192.0.2.1' }), (e: unknown) => e instanceof GroveError && e.code === 'GROVE_LISTEN');
    await assert.rejects(serveRepo(repo, { port: 70000 }), (e: unknown) => e instanceof GroveError && e.code === 'GROVE_BAD_OPTION');
  });

  describe('the command', () => {
    /** Starts `grove serve`, resolves with the child and the URL from its first line. */
    function startCli(args: string[]): Promise<{ child: ReturnType<typeof spawn>; url: string; out: () => string; exited: Promise<number | null> }> {
      const child = spawn(process.execPath, [GROVE_BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      return new Promise((resolve, reject) => {
        child.stdout!.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          const m = /^serving (.+) at (http:\/\/\S+)\n/.exec(out);
          if (m) resolve({ child, url: m[2]!, out: () => out, exited });
        });
        child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
        void exited.then((code) => reject(new Error(`grove serve exited ${code} before printing its URL: ${err}`)));
      });
    }

    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      it(`prints its URL, serves, and exits 0 on ${signal}`, async () => {
        const cli = await startCli([`--repo=${repo}`, '--port=0', '--log']);
        assert.match(cli.out(), new RegExp(`^serving ${await fs.realpath(repo)} at http://127\\.0\\.0\\.1:\\d+/\\n`));
        const agent = new http.Agent({ keepAlive: true });
        const r = await request(cli.url, '/config', { agent });
        assert.equal(r.status, 200);
        // An idle keep-alive connection stays open while the signal arrives.
        cli.child.kill(signal);
        assert.equal(await cli.exited, 0, `exit status 0 on ${signal}`);
        agent.destroy();
        assert.match(cli.out(), /\n127\.0\.0\.1 GET \/config 200 \d+ [\d.]+ms\n/, 'one log line per request');
      });
    }

    it('fails with one line for a missing repository, a busy port, a bad address or port', async () => {
      const cases: Array<[string[], RegExp]> = [
        [[`--repo=${path.join(dir, 'nope')}`, '--port=0'], /nope/],
        [[`--repo=${repo}`, `--port=${srv.port}`], new RegExp(`${srv.port}: address already in use`)],
        [[`--repo=${repo}`, '--port=0', '--address=192.0.2.1'], /192\.0\.2\.1/],
        [[`--repo=${repo}`, '--port=70000'], /--port: '70000'/],
        [[`--repo=${repo}`, '--port=http'], /--port: 'http'/],
      ];
      for (const [args, names] of cases) {
        // Async: the busy port belongs to this process's server, which must keep answering.
        const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, [GROVE_BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
          let stdout = '';
          let stderr = '';
          child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
          child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
          child.on('close', (code) => resolve({ code, stdout, stderr }));
        });
        assert.equal(r.code, 1, `${args.join(' ')}: exit 1 (${r.stderr})`);
        assert.match(r.stderr, /^error: [^\n]+\n$/, `${args.join(' ')}: one line`);
        assert.match(r.stderr, names);
        assert.equal(r.stdout, '');
      }
      assert.match(grove(['serve', '--help']).stdout, /--port=N .*default: 8080/s);
    });
  });
});

/**
 * The interop point: a repository made by the real ostree, served by grove, pulled by the real
 * ostree into archive, bare-user and bare-user-only repositories; fsck passes and each checkout
 * equals the committed tree. Also through a from-scratch static delta, and without a summary
 * (ostree then reads refs/heads/… itself).
 */
describe('ostree pull from grove serve', needsOstree(), () => {
  const REF = 'os/x86_64/main';
  const random = Buffer.alloc(300_000);
  for (let i = 0, x = 1; i < random.length; i++) random[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  const TREE: Entry[] = [
    { path: 'usr/bin/tool', type: 'file', content: '#!/bin/sh\necho tool\n', mode: 0o755 },
    { path: 'usr/share/doc/grove/README', type: 'file', content: 'served by grove\n'.repeat(200) },
    { path: 'usr/share/empty', type: 'dir' },
    { path: 'etc/os-release', type: 'file', content: 'ID=grove\n' },
    { path: 'usr/lib/os-release', type: 'symlink', target: '../../etc/os-release' },
    { path: 'bin', type: 'symlink', target: 'usr/bin' },
    { path: 'data/random.bin', type: 'file', content: random },
    { path: 'data/empty', type: 'file', content: '' },
  ];

  let dir: string;
  let cleanup: () => Promise<void>;
  let src: string;
  let want: string;
  let srv: RepoServer;
  const log: string[] = [];

  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-serve-pull-'));
    const tree = path.join(dir, 'tree');
    await buildTree(tree, TREE);
    want = await describeTree(tree, { xattrs: false });
    src = path.join(dir, 'src');
    await ostreeAsync(['init', `--repo=${src}`, '--mode=archive']);
    // bare-user-only keeps no owners and refuses setuid or group/world-writable files; canonical
    // permissions commit what it can hold, so one commit suits every destination.
    await ostreeAsync(['commit', `--repo=${src}`, '-b', REF, '--canonical-permissions', '-s', 'served', tree]);
    await ostreeAsync(['summary', '-u', `--repo=${src}`]);
    srv = await serveRepo(src, { log: (l) => log.push(l) });
  });

  after(async () => {
    await srv?.close();
    await cleanup?.();
  });

  /** Pulls REF into a fresh repository of `mode`, fscks it and checks out its tree. */
  async function pullAndCheck(name: string, mode: string, pullArgs: string[] = []): Promise<void> {
    const dst = path.join(dir, name);
    await ostreeAsync(['init', `--repo=${dst}`, `--mode=${mode}`]);
    await ostreeAsync(['remote', 'add', `--repo=${dst}`, '--no-gpg-verify', 'grove', srv.url]);
    await ostreeAsync(['pull', `--repo=${dst}`, ...pullArgs, 'grove', REF]);
    const fsck = await ostreeAsync(['fsck', `--repo=${dst}`]);
    assert.match(fsck, /no errors found/, `${name}: ostree fsck`);
    const co = path.join(dir, `co-${name}`);
    await ostreeAsync(['checkout', `--repo=${dst}`, '-U', `grove:${REF}`, co]);
    assert.equal(await describeTree(co, { xattrs: false }), want, `${name}: the checkout equals the source tree`);
  }

  for (const mode of ['archive', 'bare-user', 'bare-user-only']) {
    it(`pulls into a fresh ${mode} repository`, async () => {
      await pullAndCheck(mode, mode);
      assert.ok(log.some((l) => / GET \/summary 200 /.test(l)), 'the summary was fetched');
      assert.ok(log.some((l) => / GET \/objects\/\S+\.filez 200 /.test(l)), 'objects were fetched');
    });
  }

  it('pulls through a from-scratch static delta', async () => {
    await ostreeAsync(['static-delta', 'generate', `--repo=${src}`, '--empty', `--to=${REF}`]);
    await ostreeAsync(['summary', '-u', `--repo=${src}`]);
    log.length = 0;
    await pullAndCheck('delta', 'bare-user');
    assert.ok(log.some((l) => / GET \/deltas\/\S+\/superblock 200 /.test(l)), `the delta was fetched: ${log.join('\n')}`);
  });

  it('pulls without a summary, reading the ref file', async () => {
    await fs.rm(path.join(src, 'summary'));
    log.length = 0;
    await pullAndCheck('no-summary', 'archive');
    assert.ok(log.some((l) => l.includes(` GET /refs/heads/${REF} 200 `)), `the ref was fetched: ${log.join('\n')}`);
  });
});
