import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildTree } from '../../fixtures/trees/build.js';
import { ROOT, isRoot, tempDir } from '../helpers.js';

/**
 * Neither the worker pool nor the repository lock's helper process may keep a program alive:
 * a script that uses the library from dist and simply returns must exit promptly, without
 * calling process.exit — on success, on failure, and with a pool it created and never closed.
 */

const LIB = pathToFileURL(path.join(ROOT, 'dist/src/index.js')).href;

/** How long after its last statement a script may take to exit. Generous for loaded machines. */
const EXIT_WITHIN_MS = 5000;

interface ScriptRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; exitLagMs: number }

/** Runs `body` as an ES module; it prints `done` last. Kills it if it lingers past the limit. */
async function runScript(dir: string, name: string, body: string, opts: { asNobody?: boolean } = {}): Promise<ScriptRun> {
  const file = path.join(dir, `${name}.mjs`);
  await fs.writeFile(file, `import * as grove from '${LIB}';\n${body}\nconsole.log('done');\n`);
  const argv = opts.asNobody
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, file]
    : [process.execPath, file];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: dir, env: { ...process.env, GROVE_THREADS: '2' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let doneAt = 0;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (!doneAt && /^done$/m.test(stdout)) doneAt = performance.now();
  });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  // A hung script is killed well after the limit so that the assertion, not a timeout, reports it.
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  clearTimeout(killer);
  return { code, signal, stdout, stderr, exitLagMs: doneAt ? performance.now() - doneAt : Infinity };
}

function assertExitsPromptly(r: ScriptRun): void {
  assert.equal(r.signal, null, `the script was killed: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^done$/m);
  assert.ok(r.exitLagMs < EXIT_WITHIN_MS, `exited ${Math.round(r.exitLagMs)} ms after its last statement`);
}

describe('the worker pool lets the process exit', () => {
  let dir: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-exit-'));
    await buildTree(path.join(dir, 'tree'), [
      ...Array.from({ length: 300 }, (_, i) => ({ path: `d${i % 10}/f${i}`, type: 'file' as const, content: `file ${i}\n` })),
      { path: 'link', type: 'symlink', target: 'd0/f0' },
    ]);
    const bad = path.join(dir, 'bad-tree');
    await buildTree(bad, [{ path: 'ok', type: 'file', content: 'ok\n' }]);
    assert.equal(spawnSync('mkfifo', [path.join(bad, 'fifo')]).status, 0);
  });

  after(async () => cleanup());

  it('after commit, fsck and checkout with the pools they make themselves', async () => {
    const r = await runScript(dir, 'default', `
      const repo = await grove.Repo.init('repo-default', { mode: 'archive' });
      const res = await grove.commitTree(repo, { tree: 'tree', branch: 'main' });
      const f = await grove.fsckRepo(repo);
      if (f.problems.length) throw new Error(JSON.stringify(f.problems));
      await grove.checkoutTree(repo, 'main', 'co-default');
      console.log(res.checksum);
    `);
    assertExitsPromptly(r);
    assert.match(r.stdout, /^[0-9a-f]{64}$/m);
  });

  it('after a commit that failed while walking the tree', async () => {
    const r = await runScript(dir, 'failed-walk', `
      const repo = await grove.Repo.init('repo-failed', { mode: 'bare-user' });
      try {
        await grove.commitTree(repo, { tree: 'bad-tree', branch: 'main' });
        throw new Error('the commit should have failed');
      } catch (e) {
        if (!(e instanceof grove.GroveError) || e.code !== 'GROVE_UNSUPPORTED_FILE') throw e;
      }
    `);
    assertExitsPromptly(r);
  });

  it('after a commit that failed in the pool (transaction aborted, lock released)', { skip: isRoot ? false : 'needs root to switch users' }, async () => {
    // An unreadable file is found only when a worker opens it; root reads everything, so an
    // unprivileged user runs the script, in a directory of its own.
    const own = path.join(dir, 'nobody');
    await buildTree(path.join(own, 'tree'), [
      ...Array.from({ length: 200 }, (_, i) => ({ path: `d/f${i}`, type: 'file' as const, content: `file ${i}\n` })),
      { path: 'd/zz-secret', type: 'file', content: 'secret\n', mode: 0o000 },
    ]);
    await fs.chmod(dir, 0o755);
    assert.equal(spawnSync('chown', ['-R', '65534:65534', own]).status, 0);
    const r = await runScript(own, 'failed-pool', `
      const repo = await grove.Repo.init('repo', { mode: 'bare-user' });
      try {
        await grove.commitTree(repo, { tree: 'tree', branch: 'main' });
        throw new Error('the commit should have failed');
      } catch (e) {
        if (!(e instanceof grove.GroveError) || e.code !== 'GROVE_PERMISSION') throw e;
      }
      const { readdirSync } = await import('node:fs');
      const left = readdirSync('repo/tmp').filter((n) => n !== 'cache');
      if (left.length > 0) throw new Error('left in tmp/: ' + left.join(' '));
    `, { asNobody: true });
    assertExitsPromptly(r);
  });

  it('with a pool the caller made, closed', async () => {
    const r = await runScript(dir, 'closed', `
      const pool = new grove.WorkerPool({ threads: 2 });
      const repo = await grove.Repo.init('repo-closed', { mode: 'bare-user' });
      await grove.commitTree(repo, { tree: 'tree', branch: 'main', pool });
      await grove.fsckRepo(repo, { pool });
      await pool.close();
    `);
    assertExitsPromptly(r);
  });

  it('with a pool the caller made and forgot to close', async () => {
    const r = await runScript(dir, 'unclosed', `
      const pool = new grove.WorkerPool({ threads: 2 });
      const repo = await grove.Repo.init('repo-unclosed', { mode: 'archive' });
      await grove.commitTree(repo, { tree: 'tree', branch: 'main', pool });
    `);
    assertExitsPromptly(r);
  });
});
