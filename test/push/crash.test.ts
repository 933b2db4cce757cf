import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Repo } from '../../src/repo/repo.js';
import { readRef } from '../../src/repo/refs.js';
import { objectPath } from '../../src/store/paths.js';
import { firstMissing } from '../../src/push/complete.js';
import { pushTo } from '../../src/push/push.js';
import { GROVE_BIN, needsOstree, ostree, spawn, tempDir } from '../helpers.js';
import { groveRun } from '../interop/support.js';
import { ALL_TOKEN, TOKENS, builderCommit, lackingOnServer, pseudoRandom, smallTree, startReceiver, startServerProcess } from './support.js';

/**
 * kill -9 of the server, and of a builder, at random moments of a push (20 trials each): the
 * server's repository stays fsck clean and no ref names a missing object; the push run again
 * completes, and sends exactly the objects (and bytes) the server does not have.
 */
const TRIALS = 20;
const REF = 'os/x86_64/main';

/** A PRNG of its own, so a failing trial can be replayed from the seed in its message. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What must hold of the server's repository whatever moment it was killed at. */
async function checkServer(server: string, where: string): Promise<void> {
  const repo = await Repo.open(server);
  const ref = await readRef(server, REF);
  const commits: string[] = [];
  for (const d of fs.readdirSync(repo.objectsDir)) {
    for (const f of fs.readdirSync(path.join(repo.objectsDir, d))) if (f.endsWith('.commit')) commits.push(d + f.slice(0, -'.commit'.length));
  }
  if (ref !== null) assert.ok(commits.includes(ref), `${where}: the ref names commit ${ref}, which is missing`);
  for (const c of commits) {
    assert.equal(firstMissing(repo, fs.readFileSync(objectPath(repo.objectsDir, c, 'commit', repo.mode)), c), null, `${where}: commit ${c} is visible but incomplete`);
  }
}

/** Runs `grove push` and kills it with SIGKILL after `ms` (if it is still running); resolves with its status. */
function pushKilledAfter(args: string[], ms: number): Promise<{ code: number | null; signal: string | null }> {
  const child = spawn(process.execPath, [GROVE_BIN, 'push', ...args], { stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  return new Promise((resolve) => child.once('exit', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal });
  }));
}

describe('kill -9 during a push', needsOstree(), () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let builder: string;
  let commit: string;
  let tokens: string;
  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-push-crash-'));
    builder = path.join(dir, 'builder');
    const entries = smallTree(0, { files: 100, big: true });
    for (let i = 0; i < 30; i++) entries.push({ path: `usr/lib/mod${i}.bin`, type: 'file', content: pseudoRandom(60_000, i + 1) });
    commit = await builderCommit(builder, 'archive', REF, path.join(dir, 'tree'), entries);
    tokens = path.join(dir, 'tokens');
    fs.writeFileSync(tokens, TOKENS);
  });
  after(() => cleanup());

  const pushArgs = (url: string, extra: string[] = []) => [`--repo=${builder}`, `--token=${ALL_TOKEN}`, '--network-retries=0', '--parallel=2', ...extra, url];

  /**
   * Runs the push again (in this process: the killed runs were real processes) and checks it
   * sends exactly what the server lacks. First waits for the server to finish with what it was
   * sent before the kill: a request received whole is still checked and stored after its
   * sender died, and while it is, its transaction's staging directory exists.
   */
  const rerun = async (server: string, url: string, where: string): Promise<void> => {
    const tmp = path.join(server, 'tmp');
    const busy = () => fs.readdirSync(tmp).some((n) => n.startsWith('grove-staging-') && alive(Number(n.split('-')[2])));
    for (let i = 0; i < 200 && busy(); i++) await new Promise((r) => setTimeout(r, 25));
    const lacking = await lackingOnServer(builder, server, commit);
    const r = await pushTo(await Repo.open(builder), url, { token: ALL_TOKEN, retries: 0 });
    // 'unchanged' when the killed push had moved the ref before it died.
    assert.ok(['moved', 'unchanged'].includes(r.refs[0]!.status), `${where}: ${r.refs[0]!.status}`);
    assert.deepEqual([r.objects.sent, r.objects.bytes], [lacking.count, lacking.bytes], `${where}: the rerun sends exactly what is missing`);
    assert.equal(await readRef(server, REF), commit, where);
  };

  it(`the server killed at ${TRIALS} random moments`, async () => {
    const seed = Date.now() % 100_000;
    const random = rng(seed);
    let cut = 0;
    for (let t = 0; t < TRIALS; t++) {
      const where = `trial ${t} (seed ${seed})`;
      const server = path.join(dir, `s${t}`);
      await Repo.init(server, { mode: 'archive' });
      const srv = await startServerProcess(server, tokens, ['--receive-idle-seconds=5']);
      const push = groveRun(['push', ...pushArgs(srv.url)]);
      await new Promise((r) => setTimeout(r, random() * 450));
      await srv.stop();
      const r = await push;
      if (r.code !== 0) {
        cut++;
        assert.equal(r.stderr.split('\n').length, 2, `${where}: one line: ${r.stderr}`);
        assert.match(r.stderr, /^error: push to http:\/\/127\.0\.0\.1:\d+\/: /, where);
      }
      await checkServer(server, where);
      // The rerun's server runs in this process: what is tested of it is what it was left with.
      const again = await startReceiver(dir, { repo: server });
      try {
        await rerun(server, again.url, where);
      } finally {
        await again.srv.close();
      }
      assert.equal(ostree(['fsck', '--quiet', `--repo=${server}`]).code, 0, where);
    }
    assert.ok(cut >= TRIALS / 4, `only ${cut} of ${TRIALS} pushes were cut by the kill`);
  });

  it(`the builder killed at ${TRIALS} random moments`, async () => {
    const seed = Date.now() % 100_000;
    const random = rng(seed);
    let cut = 0;
    const server = path.join(dir, 'builder-kills');
    await Repo.init(server, { mode: 'archive' });
    const srv = await startServerProcess(server, tokens);
    try {
      for (let t = 0; t < TRIALS; t++) {
        const where = `trial ${t} (seed ${seed})`;
        const r = await pushKilledAfter(pushArgs(srv.url), 150 + random() * 400);
        if (r.signal === 'SIGKILL') cut++;
        await checkServer(server, where);
        await rerun(server, srv.url, where);
        assert.equal(ostree(['fsck', '--quiet', `--repo=${server}`]).code, 0, where);
        // Emptied for the next trial while the server is idle: it keeps no state of its own.
        for (const d of ['objects', 'refs/heads']) {
          fs.rmSync(path.join(server, d), { recursive: true });
          fs.mkdirSync(path.join(server, d));
        }
      }
    } finally {
      await srv.stop();
    }
    assert.ok(cut >= TRIALS / 4, `only ${cut} of ${TRIALS} pushes were cut by the kill`);
  });
});
