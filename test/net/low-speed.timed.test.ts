import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GROVE_BIN, tempDir, type RunResult } from '../helpers.js';
import { groveAsync as groveOk } from '../interop/support.js';
import { startRepoServer, type TestServer } from './repo-server.js';

/**
 * The low-speed limit (ostree's low-speed-limit-bytes and low-speed-time-seconds, libcurl's
 * CURLOPT_LOW_SPEED_LIMIT and _TIME): a server that sends the headers and then one byte a second
 * never trips the idle time-out, and without the limit would hold a pull for as long as it likes.
 * With it, the transfer fails, is retried --network-retries times, and the pull ends with one line
 * naming the slow object, on the main thread (metadata) as in the worker threads (content).
 */

/** grove, killed after `ms`: a pull that hangs fails the test instead of hanging it. */
function groveFor(args: string[], ms: number): Promise<RunResult & { seconds: number; killed: boolean }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GROVE_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, ms);
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, seconds: (Date.now() - started) / 1000, killed });
    });
  });
}

describe('grove pull from a server that trickles', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let src: string;
  let trickling: TestServer;
  let healthy: TestServer;
  const timers = new Set<NodeJS.Timeout>();
  let dirtree = '';
  let filez = '';
  /** The objects the trickling server trickles; the rest it serves at once. */
  let slow = new Set<string>();

  before(async () => {
    tmp = await tempDir();
    const tree = path.join(tmp.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'etc/sub'), { recursive: true });
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(tree, 'etc/sub', `f${i}`), `slow ${i}\n`.repeat(100));
    src = path.join(tmp.dir, 'src');
    await groveOk(['init', `--repo=${src}`, '--mode=archive']);
    await groveOk(['commit', `--repo=${src}`, '-b', 'main', tree]);
    await groveOk(['summary', `--repo=${src}`, '-u']);
    const objects: string[] = [];
    for (const d of fs.readdirSync(path.join(src, 'objects'))) for (const f of fs.readdirSync(path.join(src, 'objects', d))) objects.push(`objects/${d}/${f}`);
    dirtree = objects.find((o) => o.endsWith('.dirtree'))!;
    filez = objects.find((o) => o.endsWith('.filez'))!;
    trickling = await startRepoServer(src, (rel, res) => {
      if (!slow.has(rel)) return false;
      const body = fs.readFileSync(path.join(src, rel));
      // The headers at once, then a byte a second.
      res.writeHead(200, { 'content-length': body.length }).flushHeaders();
      let sent = 0;
      const t = setInterval(() => {
        if (sent < body.length) res.write(body.subarray(sent, ++sent));
        else { clearInterval(t); res.end(); }
      }, 1000);
      timers.add(t);
      res.on('close', () => { clearInterval(t); timers.delete(t); });
      return true;
    });
    healthy = await startRepoServer(src);
  });
  after(async () => {
    for (const t of timers) clearInterval(t);
    await trickling?.close();
    await healthy?.close();
    await tmp?.cleanup();
  });

  let n = 0;
  async function freshRepo(url: string, set: string[] = []): Promise<string> {
    const repo = path.join(tmp.dir, `dst-${n++}`);
    await groveOk(['init', `--repo=${repo}`, '--mode=bare-user']);
    await groveOk(['remote', 'add', `--repo=${repo}`, '--no-gpg-verify', ...set.map((s) => `--set=${s}`), 'origin', url]);
    return repo;
  }

  const csumOf = (rel: string) => rel.replace(/^objects\/(..)\/(.*)\.[a-z]+$/, '$1$2');

  it('low-speed-time-seconds from the remote\'s config: the slow metadata object fails the pull within seconds, named', async () => {
    slow = new Set([dirtree]);
    const repo = await freshRepo(trickling.url, ['low-speed-time-seconds=1']);
    const before = trickling.requests.filter((r) => r === dirtree).length;
    const r = await groveFor(['pull', `--repo=${repo}`, '--network-retries=1', 'origin', 'main'], 20_000);
    assert.equal(r.killed, false, 'the pull was still running after 20 s');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: fetching dirtree object ${csumOf(dirtree)} from http://127\\.0\\.0\\.1:\\d+/: transfer too slow: less than 1000 bytes/s for 1 s \\(gave up after 2 attempts\\)\\n$`));
    assert.ok(r.seconds < 12, `took ${r.seconds} s`);
    // --network-retries=1: one retry, as ostree counts them.
    assert.equal(trickling.requests.filter((q) => q === dirtree).length - before, 2);
    assert.equal(fs.existsSync(path.join(repo, 'refs/remotes/origin/main')), false);
    // The same settings do not disturb a pull from a healthy server.
    await groveOk(['remote', 'add', `--repo=${repo}`, '--force', '--no-gpg-verify', '--set=low-speed-time-seconds=1', 'origin', healthy.url]);
    await groveOk(['pull', `--repo=${repo}`, '--network-retries=1', 'origin', 'main']);
    assert.ok(fs.existsSync(path.join(repo, 'refs/remotes/origin/main')));
  });

  it('--low-speed-time-seconds on the command line reaches the worker threads: a slow content object fails the pull', async () => {
    slow = new Set([filez]);
    const repo = await freshRepo(trickling.url);
    const r = await groveFor(['pull', `--repo=${repo}`, '--network-retries=0', '--low-speed-time-seconds=1', '--low-speed-limit-bytes=100', 'origin', 'main'], 20_000);
    assert.equal(r.killed, false, 'the pull was still running after 20 s');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: fetching file object ${csumOf(filez)} from http://127\\.0\\.0\\.1:\\d+/: transfer too slow: less than 100 bytes/s for 1 s \\(gave up after 1 attempts\\)\\n$`));
    assert.ok(r.seconds < 12, `took ${r.seconds} s`);
    assert.equal(fs.existsSync(path.join(repo, 'refs/remotes/origin/main')), false);
  });

  it('bad values are refused, naming the option or the remote key', async () => {
    const repo = await freshRepo(healthy.url, ['low-speed-limit-bytes=fast']);
    const r = await groveFor(['pull', `--repo=${repo}`, 'origin', 'main'], 20_000);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "error: remote origin: low-speed-limit-bytes 'fast' is not a non-negative 32-bit integer\n");
    const r2 = await groveFor(['pull', `--repo=${repo}`, '--network-retries=-1', 'origin', 'main'], 20_000);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /^error: --network-retries: '-1' is not a non-negative 32-bit integer\n$/);
  });
});
