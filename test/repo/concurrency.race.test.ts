import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Repo } from '../../src/repo/repo.js';
import { GROVE_BIN, groveOk, needsOstree, ostree, tempDir } from '../helpers.js';

/**
 * The repository lock and staging: writers running at the same time into one repository —
 * grove and grove, on different refs and on the same ref, and grove next to the real
 * `ostree commit` — all succeed, and the repository passes `ostree fsck` afterwards.
 */

const ENV = { ...process.env, GROVE_THREADS: '2' };

interface Exit { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function run(cmd: string, args: string[]): { exited: Promise<Exit> } {
  const child = spawn(cmd, args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return { exited: new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }))) };
}

const groveRun = (args: string[]) => run(process.execPath, [GROVE_BIN, ...args]);

function ok(e: Exit, what: string): string {
  assert.equal(e.code, 0, `${what} failed: ${e.stderr}`);
  return e.stdout.trim();
}

/**
 * A tree of `files` small files, most of them shared by every `variant` (so that concurrent
 * writers race to store the same objects), some unique, plus one multi-MB file per variant.
 */
async function genTree(root: string, variant: string, files = 800): Promise<void> {
  const writes: Array<Promise<void>> = [];
  for (let i = 0; i < files; i++) {
    const dir = path.join(root, `d${i % 24}`);
    if (i < 24) await fs.mkdir(dir, { recursive: true });
    const shared = i % 5 !== 0;
    writes.push(fs.writeFile(path.join(dir, `f${i}`), shared ? `shared ${i}\n`.repeat(1 + (i % 30)) : `${variant} ${i}\n`));
  }
  await Promise.all(writes);
  const big = Buffer.alloc(5 << 20, variant);
  big.write(`${variant} big`, 0);
  await fs.writeFile(path.join(root, 'big.bin'), big);
}

function ostreeFsck(repo: string): void {
  const r = ostree(['fsck', `--repo=${repo}`], { allowFail: true });
  assert.equal(r.code, 0, `ostree fsck failed:\n${r.stdout}\n${r.stderr}`);
}

async function refOf(repo: string, ref: string): Promise<string> {
  return (await fs.readFile(path.join(repo, 'refs/heads', ref), 'utf8')).trim();
}

/** Resolves once `repo/tmp` holds a grove staging directory (the commit is writing objects). */
async function stagingExists(repo: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const names = await fs.readdir(path.join(repo, 'tmp'));
    if (names.some((n) => n.includes('grove') && n.includes('staging'))) return;
    await sleep(2);
  }
  throw new Error('no staging directory appeared');
}

describe('concurrent writers into one repository', needsOstree(), () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const trees: Record<string, string> = {};

  before(async () => {
    ({ dir, cleanup } = await tempDir('grove-race-'));
    for (const v of ['a', 'b', 'c']) {
      trees[v] = path.join(dir, `tree-${v}`);
      await genTree(trees[v]!, v);
    }
    trees['small'] = path.join(dir, 'tree-small');
    await genTree(trees['small']!, 'small', 40);
  });

  after(async () => cleanup());

  for (const mode of ['archive', 'bare-user'] as const) {
    it(`${mode}: two grove commits on different refs at once`, async () => {
      const repo = path.join(dir, `diff-${mode}`);
      groveOk(['init', `--repo=${repo}`, `--mode=${mode}`]);
      const [x, y] = await Promise.all([
        groveRun(['commit', `--repo=${repo}`, '-b', 'x', trees['a']!]).exited,
        groveRun(['commit', `--repo=${repo}`, '-b', 'y', trees['b']!]).exited,
      ]);
      const cx = ok(x, 'commit x');
      const cy = ok(y, 'commit y');
      assert.equal(await refOf(repo, 'x'), cx);
      assert.equal(await refOf(repo, 'y'), cy);
      ostreeFsck(repo);
      assert.deepEqual(await fs.readdir(path.join(repo, 'tmp')), ['cache'], 'no staging left');
    });
  }

  it('two grove commits on the same ref at once', async () => {
    const repo = path.join(dir, 'same');
    groveOk(['init', `--repo=${repo}`, '--mode=archive']);
    const first = groveOk(['commit', `--repo=${repo}`, '-b', 'main', trees['small']!]).trim();
    const [x, y] = await Promise.all([
      groveRun(['commit', `--repo=${repo}`, '-b', 'main', trees['a']!]).exited,
      groveRun(['commit', `--repo=${repo}`, '-b', 'main', trees['b']!]).exited,
    ]);
    const cx = ok(x, 'commit a');
    const cy = ok(y, 'commit b');
    const head = await refOf(repo, 'main');
    assert.ok(head === cx || head === cy, 'main names one of the two new commits');
    // Each read main when it began: its parent is the first commit, or the other new one.
    const r = await Repo.open(repo);
    assert.ok([first, cy].includes((await r.loadCommit(cx)).parent!));
    assert.ok([first, cx].includes((await r.loadCommit(cy)).parent!));
    ostreeFsck(repo);
  });

  for (const mode of ['archive', 'bare-user'] as const) {
    it(`${mode}: grove commit while the real ostree commits into the same repository`, async () => {
      const repo = path.join(dir, `ostree-${mode}`);
      groveOk(['init', `--repo=${repo}`, `--mode=${mode}`]);
      // ostree finishing its transaction while grove's is open: ostree's end-of-transaction
      // cleanup of tmp/ must leave grove's staging directory alone.
      const g1 = groveRun(['commit', `--repo=${repo}`, '-b', 'grove1', trees['a']!]);
      await stagingExists(repo);
      const o1 = await run('ostree', ['commit', `--repo=${repo}`, '-b', 'ostree1', trees['small']!]).exited;
      // And the other way round: both at once, ostree on a tree of the same size.
      const [g2, o2] = await Promise.all([
        groveRun(['commit', `--repo=${repo}`, '-b', 'grove2', trees['b']!]).exited,
        run('ostree', ['commit', `--repo=${repo}`, '-b', 'ostree2', trees['c']!]).exited,
      ]);
      const cg1 = ok(await g1.exited, 'grove commit 1');
      const co1 = ok(o1, 'ostree commit 1');
      const cg2 = ok(g2, 'grove commit 2');
      const co2 = ok(o2, 'ostree commit 2');
      for (const [ref, c] of [['grove1', cg1], ['ostree1', co1], ['grove2', cg2], ['ostree2', co2]] as const) {
        assert.equal(await refOf(repo, ref), c, ref);
      }
      ostreeFsck(repo);
      // As ostree fsck -q: progress lines, then the summary.
      const g = groveOk(['fsck', `--repo=${repo}`, '-q']);
      assert.match(g, /^object fsck of 4 commits completed successfully - no errors found\.$/m);
    });
  }
});
